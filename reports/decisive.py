"""Which cases decide a ranking: leave-one-case-out and capped-HD reruns of the ranking.

INSTANCE 2022's order was decided by one or two cases: 8 of 13 teams left test case 192
and/or 159 empty, an empty prediction has HD = inf, so their mean HD was infinite and
they shared the last HD rank whatever their Dice. An organiser should see that before
publishing. For the paired teams and cases of a leaderboard, :func:`decisive_cases`
reruns the leaderboard's own ranking (INSTANCE aggregate-then-rank, lesion-wise, or
rank-then-aggregate, on the same metrics) under three changes and records every team
whose rank moves:

- ``removed``: one case left out of every team's results (each case in turn);
- ``hd_capped``: on one case, every infinite HD (an empty prediction, or a prediction on
  an empty truth) replaced by ``hd_cap_mm`` (default 374 mm, BraTS 2023's penalty: a
  distance no real error reaches, finite so that a mean stays a number); each case with
  an infinite HD in turn;
- ``all_hd_capped`` (case ``*``): every infinite HD capped at once.

A row says what moved: ``scenario, case, team, rank, new_rank, podium_changed`` (whether
the teams on ranks 1–3 or their order changed), ``teams_with_inf_hd`` (on that case) and
the team's own DC and HD on the case. A case with no row changes no rank. Teams with
means only (published CSVs) cannot be rerun and are left out (the leaderboard notes it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ichbench.reports.ranking import instance_ranking, rank_then_aggregate
from ichbench.submissions.columns import mean

DEFAULT_HD_CAP_MM = 374.0
"""HD given to an empty prediction by the ``hd_capped`` scenarios (BraTS 2023's penalty)."""

#: Columns of decisive_cases.csv, in order.
DECISIVE_COLUMNS: tuple[str, ...] = ("scenario", "case", "team", "rank", "new_rank",
                                     "podium_changed", "teams_with_inf_hd", "team_dc",
                                     "team_hd")


def ranks_of(teams: Sequence[str], values: np.ndarray, metrics: Sequence[str], *,
             scheme: str) -> dict[str, int]:
    """Team → final rank for ``values`` (n_metrics, n_teams, n_cases) under ``scheme``.

    ``scheme`` is ``"rank-then-aggregate"`` or anything else for aggregate-then-rank
    (INSTANCE and lesion-wise: the :func:`ichbench.submissions.columns.mean` of each
    metric ranked, then the mean rank ranked).
    """
    if scheme == "rank-then-aggregate":
        rows = rank_then_aggregate(list(teams), values, metrics)
    else:
        means = {t: {m: mean(values[k, i]) for k, m in enumerate(metrics)}
                 for i, t in enumerate(teams)}
        rows = instance_ranking(means, metrics)
    return {r["team"]: int(r["rank"]) for r in rows}


def _podium(ranks: dict[str, int]) -> list[tuple[str, int]]:
    return sorted((t, r) for t, r in ranks.items() if r <= 3)


def decisive_cases(teams: Sequence[str], case_ids: Sequence[str], values: np.ndarray,
                   metrics: Sequence[str], *, scheme: str = "instance",
                   hd_cap_mm: float = DEFAULT_HD_CAP_MM) -> list[dict[str, Any]]:
    """The rank changes caused by single cases (module docstring).

    Parameters
    ----------
    teams : sequence of str
        Paired teams, axis 1 of ``values``.
    case_ids : sequence of str
        Their shared cases, axis 2.
    values : numpy.ndarray
        Shape (n_metrics, n_teams, n_cases), the leaderboard's ranked metrics.
    metrics : sequence of str
        Names of axis 0 (``hd`` enables the capped scenarios).
    scheme : str
        The leaderboard's ranking (``instance``, ``lesionwise``, ``rank-then-aggregate``).
    hd_cap_mm : float
        The finite HD given to an infinite one in the capped scenarios.

    Returns
    -------
    list of dict
        :data:`DECISIVE_COLUMNS` rows, scenario by scenario, cases in order, teams by
        baseline rank.
    """
    teams, metrics = list(teams), list(metrics)
    base = ranks_of(teams, values, metrics, scheme=scheme)
    hd = metrics.index("hd") if "hd" in metrics else None
    dc = metrics.index("dc") if "dc" in metrics else None
    rows: list[dict[str, Any]] = []

    def record(scenario: str, case: str, column: int | None, changed: np.ndarray) -> None:
        new = ranks_of(teams, changed, metrics, scheme=scheme)
        if new == base:
            return
        inf_teams = ([t for i, t in enumerate(teams) if math.isinf(values[hd, i, column])]
                     if hd is not None and column is not None else [])
        podium = _podium(new) != _podium(base)
        for team in sorted(teams, key=lambda t: (base[t], t)):
            if new[team] == base[team]:
                continue
            i = teams.index(team)
            rows.append({
                "scenario": scenario, "case": case, "team": team, "rank": base[team],
                "new_rank": new[team], "podium_changed": int(podium),
                "teams_with_inf_hd": ";".join(inf_teams),
                "team_dc": (float(values[dc, i, column]) if dc is not None
                            and column is not None else math.nan),
                "team_hd": (float(values[hd, i, column]) if hd is not None
                            and column is not None else math.nan)})

    n_cases = values.shape[2]
    if n_cases > 1:
        for j, case in enumerate(case_ids):
            record("removed", case, j, np.delete(values, j, axis=2))
    if hd is not None:
        for j, case in enumerate(case_ids):
            column = values[hd, :, j]
            if np.isinf(column).any():
                capped = values.copy()
                capped[hd, :, j] = np.where(np.isinf(column), hd_cap_mm, column)
                record("hd_capped", case, j, capped)
        if np.isinf(values[hd]).any():
            capped = values.copy()
            capped[hd] = np.where(np.isinf(capped[hd]), hd_cap_mm, capped[hd])
            record("all_hd_capped", "*", None, capped)
    return rows


def decisive_summary(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (scenario, case): what moved, for the report page.

    Returns
    -------
    list of dict
        ``scenario, case, podium_changed, teams_moved, changes`` (``a 3→1, b 1→2``),
        ``teams_with_inf_hd``; podium changes first, then by number of teams moved.
    """
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["scenario"], row["case"]), []).append(row)
    out = [{"scenario": scenario, "case": case,
            "podium_changed": "yes" if group[0]["podium_changed"] else "no",
            "teams_moved": len(group),
            "changes": ", ".join(f"{r['team']} {r['rank']}→{r['new_rank']}" for r in group),
            "teams_with_inf_hd": len(group[0]["teams_with_inf_hd"].split(";"))
            if group[0]["teams_with_inf_hd"] else 0}
           for (scenario, case), group in grouped.items()]
    out.sort(key=lambda r: (r["podium_changed"] != "yes", -r["teams_moved"],
                            r["scenario"], r["case"]))
    return out
