"""Building a leaderboard: ranking, statistics, tables and figures in one folder.

:func:`analyse` is pure (teams in, numbers out); :func:`build_leaderboard` reads the
inputs, analyses them and writes ``OUT_DIR``:

- ``leaderboard.csv/.md/.tex`` — ``rank,team,score,dc,nsd,hd,rvd,rank_dc,rank_nsd,rank_hd,
  rank_rvd`` (+ ``hd95`` where every team has it), ordered by rank;
- with per-case results: ``ci.csv/.md`` (bootstrap 95 % CIs of every mean),
  ``rank_stability.csv/.md`` (bootstrap rank distribution), ``rank_then_aggregate.csv/.md``,
  ``instance_ranking.csv/.md``, ``pairwise_wilcoxon.csv/.md`` (Holm-corrected),
  ``cases_long.csv`` (every team's cases), ``decisive_cases.csv/.md`` (the cases whose
  removal or capped HD changes a rank, :mod:`ichbench.reports.decisive`),
  ``classes_leaderboard.csv/.md`` and ``subtypes.csv/.md`` for label maps
  (:mod:`ichbench.reports.classes_report`), and ``figures/*.png``;
- ``leaderboard.json`` — settings, inputs and notes, enough for ``ichbench report`` to
  rebuild everything (the bootstrap is seeded, so the numbers are identical).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichbench import __version__
from ichbench.atomic import write_json, write_text
from ichbench.reports.inputs import (
    CASE_COLUMNS,
    LESIONWISE_METRICS,
    RANKED_METRICS,
    CaseTable,
    ReportInputError,
    TeamResults,
    case_means,
    common_cases,
    load_inputs,
    parse_float,
)
from ichbench.reports.ranking import instance_ranking, rank_then_aggregate
from ichbench.reports.stats import Bootstrap, bootstrap, nanmean, pairwise_wilcoxon
from ichbench.reports.tables import markdown_text, write_tables

if TYPE_CHECKING:
    from ichbench.reports.challenger_analysis import ChallengerResults

RANKINGS = ("instance", "rank-then-aggregate", "lesionwise")
LEADERBOARD_COLUMNS = ("rank", "team", "score", "dc", "nsd", "hd", "rvd", "rank_dc",
                       "rank_nsd", "rank_hd", "rank_rvd")
#: Metrics ranked by each scheme; ``lesionwise`` ranks lesion-wise DC, HD95 and F1 means
#: as INSTANCE ranks its four (mean rank of the per-metric ranks).
RANKING_METRICS: dict[str, tuple[str, ...]] = {
    "instance": RANKED_METRICS, "rank-then-aggregate": RANKED_METRICS,
    "lesionwise": LESIONWISE_METRICS}


@dataclass
class Analysis:
    """Everything a leaderboard shows.

    Attributes
    ----------
    teams : list of TeamResults
        In input order.
    ranking : str
        The scheme of :attr:`table`.
    metrics : tuple of str
        The metrics it ranks (:data:`RANKING_METRICS`); ``values`` holds them.
    table : list of dict
        Leaderboard rows ordered by rank (:data:`LEADERBOARD_COLUMNS`, ``hd95`` if known).
    instance_table, rta_table : list of dict
        Both schemes (``rta_table`` empty without paired per-case results).
    paired : tuple of str
        Teams in the paired statistics; ``case_ids`` their shared cases.
    values : ndarray or None
        Paired values, shape (n_metrics, n_paired, n_cases) for :attr:`metrics`.
    boot : Bootstrap or None
    ci_rows, stability_rows, pairwise_rows : list of dict
    notes : list of str
        What was left out and why.
    challenger : ChallengerResults or None
        Test-then-rank, ranking methods, Kendall's τ and the consensus over lesion-size
        strata (:mod:`ichbench.reports.challenger_analysis`), with two or more paired teams.
    """

    teams: list[TeamResults]
    ranking: str
    table: list[dict]
    instance_table: list[dict]
    rta_table: list[dict] = field(default_factory=list)
    paired: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()
    values: np.ndarray | None = None
    boot: Bootstrap | None = None
    ci_rows: list[dict] = field(default_factory=list)
    stability_rows: list[dict] = field(default_factory=list)
    pairwise_rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_bootstrap: int = 0
    seed: int = 0
    metrics: tuple[str, ...] = RANKED_METRICS
    challenger: ChallengerResults | None = None

    def team(self, name: str) -> TeamResults:
        """Return the team called ``name``."""
        return next(t for t in self.teams if t.name == name)


def analyse(teams: Sequence[TeamResults], *, ranking: str = "instance",
            n_bootstrap: int = 1000, seed: int = 0) -> Analysis:
    """Rank teams and, where per-case results exist, compute the paired statistics.

    Parameters
    ----------
    teams : sequence of TeamResults
    ranking : {"instance", "rank-then-aggregate", "lesionwise"}
        Which scheme orders the leaderboard; INSTANCE and rank-then-aggregate are both
        computed when possible; ``lesionwise`` ranks lesion-wise DC, HD95 and F1 (needs
        the lesion columns of cases.csv).
    n_bootstrap : int
        Bootstrap samples (0 skips the bootstrap).
    seed : int
        Seed of the ``numpy.random.Generator`` that draws the bootstrap cases.

    Raises
    ------
    ReportInputError
        For rank-then-aggregate with a team that has means only, or an unknown scheme.
    """
    if ranking not in RANKINGS:
        raise ReportInputError(f"--ranking is {ranking!r}; expected one of {', '.join(RANKINGS)}")
    teams = list(teams)
    means = {t.name: t.means for t in teams}
    metrics = RANKING_METRICS[ranking]
    for t in teams:
        missing = [m for m in RANKED_METRICS if m not in t.means]
        if missing:
            raise ReportInputError(f"team {t.name!r} ({t.source}) lacks {', '.join(missing)}")
        missing = [m for m in metrics if m not in t.means]
        if missing:
            raise ReportInputError(f"team {t.name!r} ({t.source}) has no {', '.join(missing)}; "
                                   "--ranking lesionwise needs the lesion columns of "
                                   "cases.csv: rescore with 'ichbench score'")
    instance = instance_ranking(means)
    paired, case_ids, notes = common_cases(teams)
    result = Analysis(teams, ranking, [], instance, notes=notes, seed=seed,
                      n_bootstrap=n_bootstrap, metrics=metrics)
    if ranking == "rank-then-aggregate" and len(paired) < len(teams):
        lacking = [t.name for t in teams if t.cases is None]
        raise ReportInputError("rank-then-aggregate needs per-case results; means only for "
                               f"{', '.join(lacking)}; use --ranking instance")
    if paired and case_ids:
        names = tuple(t.name for t in paired)
        values = np.stack([np.stack([t.cases.subset(case_ids).values[m]  # type: ignore[union-attr]
                                     for t in paired]) for m in metrics])
        result.paired, result.case_ids, result.values = names, case_ids, values
        result.rta_table = rank_then_aggregate(names, values, metrics)
        for row in result.rta_table:
            row.update({m: means[row["team"]][m] for m in metrics})
        if n_bootstrap > 0:
            rng = np.random.default_rng(seed)
            result.boot = bootstrap(names, values, rng, n_samples=n_bootstrap,
                                    metrics=metrics,
                                    ranking="instance" if ranking == "lesionwise" else ranking)
            result.ci_rows = _ci_rows(result.boot, values)
            result.stability_rows = _stability_rows(result.boot)
        if len(paired) >= 2:
            result.pairwise_rows = pairwise_wilcoxon(names, values, metrics)
        n_rvd_nan = (int(np.isnan(values[metrics.index("rvd")]).all(axis=0).sum())
                     if "rvd" in metrics else 0)
        if n_rvd_nan:
            result.notes.append(f"{n_rvd_nan} case(s) with an empty truth have no RVD and are "
                                "left out of RVD means and ranks")
    if ranking == "lesionwise":
        table = instance_ranking(means, metrics)
    else:
        table = instance if ranking == "instance" else result.rta_table
    if ranking != "lesionwise" and all("hd95" in means[r["team"]] for r in table):
        for row in table:
            row["hd95"] = means[row["team"]]["hd95"]
    result.table = table
    if len(result.paired) >= 2 and result.case_ids:
        from ichbench.reports.challenger_analysis import challenger_results

        result.challenger = challenger_results(result)
    return result


def _ci_rows(boot: Bootstrap, values: np.ndarray) -> list[dict]:
    ci = boot.ci()
    rows = []
    for i, team in enumerate(boot.teams):
        for k, metric in enumerate(boot.metrics):
            column = values[k, i]
            rows.append({"team": team, "metric": metric,
                         "mean": float(nanmean(column, axis=0)),
                         "ci_low": float(ci[k, i, 0]), "ci_high": float(ci[k, i, 1]),
                         "n": int((~np.isnan(column)).sum()),
                         "n_excluded": int(np.isnan(column).sum())})
    return rows


def _stability_rows(boot: Bootstrap) -> list[dict]:
    counts = boot.rank_counts()
    summary = boot.rank_summary()
    rows = []
    for i, team in enumerate(boot.teams):
        row: dict = {"team": team, "median_rank": float(summary[i, 0]),
                     "rank_ci_low": int(summary[i, 1]), "rank_ci_high": int(summary[i, 2])}
        row.update({f"p_rank_{r + 1}": float(counts[i, r] / boot.n_samples)
                    for r in range(len(boot.teams))})
        rows.append(row)
    rows.sort(key=lambda r: (r["median_rank"], r["team"]))
    return rows


def leaderboard_columns(analysis: Analysis) -> list[str]:
    """Columns of ``leaderboard.csv`` for this analysis."""
    if analysis.ranking == "lesionwise":
        return ["rank", "team", "score", *analysis.metrics,
                *(f"rank_{m}" for m in analysis.metrics)]
    columns = list(LEADERBOARD_COLUMNS)
    if analysis.table and "hd95" in analysis.table[0]:
        columns.append("hd95")
    return columns


def write_outputs(analysis: Analysis, out_dir: Path, *, split: str = "test",
                  figures: bool = True, images: Path | None = None) -> list[Path]:
    """Write every table (and figure) of ``analysis`` into ``out_dir``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = {"instance": "Leaderboard (INSTANCE 2022 ranking: mean rank of DC, NSD, HD, "
                           "RVD means)",
               "rank-then-aggregate": "Leaderboard (rank-then-aggregate: per-case ranks "
                                      "averaged per metric)",
               "lesionwise": "Leaderboard (lesion-wise: mean rank of lesion-wise DC, HD95 "
                             "and lesion F1 means)"}[analysis.ranking]
    written = write_tables(out_dir / "leaderboard", analysis.table,
                           leaderboard_columns(analysis), latex=True, caption=caption)
    if analysis.values is not None:
        written += write_tables(out_dir / "instance_ranking", analysis.instance_table,
                                list(LEADERBOARD_COLUMNS))
        written += write_tables(out_dir / "rank_then_aggregate", analysis.rta_table,
                                ["rank", "team", "score", *analysis.metrics,
                                 *(f"rank_{m}" for m in analysis.metrics),
                                 *(f"mean_rank_{m}" for m in analysis.metrics)])
        written.append(out_dir / "cases_long.csv")
        write_text(written[-1], cases_long_text(analysis.teams))
    if analysis.ci_rows:
        written += write_tables(out_dir / "ci", analysis.ci_rows,
                                ["team", "metric", "mean", "ci_low", "ci_high", "n",
                                 "n_excluded"],
                                caption=f"Bootstrap 95% CIs ({analysis.n_bootstrap} samples, "
                                        f"seed {analysis.seed})")
        written += write_tables(out_dir / "rank_stability", analysis.stability_rows,
                                list(analysis.stability_rows[0]))
    if analysis.pairwise_rows:
        written += write_tables(out_dir / "pairwise_wilcoxon", analysis.pairwise_rows,
                                ["metric", "team_a", "team_b", "n", "median_diff",
                                 "statistic", "p", "p_holm", "better"],
                                caption="Wilcoxon signed-rank, Holm-corrected per metric")
    if analysis.challenger is not None:
        from ichbench.reports.challenger_analysis import write_challenger_tables

        written += write_challenger_tables(analysis, out_dir)
    if analysis.values is not None and len(analysis.paired) >= 2:  # issue 22: decisive cases
        from ichbench.reports.decisive import DECISIVE_COLUMNS, decisive_cases

        written += write_tables(out_dir / "decisive_cases",
                                decisive_cases(analysis.paired, analysis.case_ids,
                                               analysis.values, analysis.metrics,
                                               scheme=analysis.ranking),
                                list(DECISIVE_COLUMNS),
                                caption="Cases whose removal or capped HD changes a rank")
    from ichbench.reports.classes_report import (
        CLASS_RANKING_COLUMNS,
        RATER_BOARD_COLUMNS,
        SUBTYPE_COLUMNS,
        class_ranking_rows,
        rater_rows,
        subtype_rows,
    )

    class_rows = class_ranking_rows(analysis.teams)  # issue 22: label maps
    if class_rows:
        written += write_tables(out_dir / "classes_leaderboard", class_rows,
                                list(CLASS_RANKING_COLUMNS),
                                caption="Ranking per class and macro-averaged (INSTANCE "
                                        "scheme on each class's means)")
    raters = rater_rows(analysis.teams)
    if raters:
        written += write_tables(out_dir / "raters_leaderboard", raters,
                                list(RATER_BOARD_COLUMNS),
                                caption="Against several raters: the model beside the "
                                        "inter-rater Dice (its ceiling)")
    strata = subtype_rows(analysis.teams)
    if strata:
        written += write_tables(out_dir / "subtypes", strata, list(SUBTYPE_COLUMNS),
                                caption="Detection and DC within each truth subtype")
    if figures:
        from ichbench.reports.figures import leaderboard_figures

        fig_dir = out_dir / "figures"
        fig_dir.mkdir(exist_ok=True)
        for name, fig in leaderboard_figures(analysis, images=images).items():
            path = fig_dir / f"{name}.png"
            fig.savefig(path, dpi=110)
            written.append(path)
    written.append(out_dir / "leaderboard.json")  # last: it carries the figures' notes too
    write_json(written[-1], _meta(analysis, split, images))
    return written


def build_leaderboard(inputs: Sequence[str | Path], out_dir: str | Path, *,
                      names: Sequence[str] = (), ranking: str = "instance",
                      n_bootstrap: int = 1000, seed: int = 0, split: str = "test",
                      figures: bool = True, images: str | Path | None = None) -> Analysis:
    """Read ``inputs``, rank them and write the leaderboard folder (see module docstring).

    Raises
    ------
    ReportInputError
        On unreadable inputs (one-line message naming the file).
    """
    teams = load_inputs(inputs, names=names, split=split)
    analysis = analyse(teams, ranking=ranking, n_bootstrap=n_bootstrap, seed=seed)
    write_outputs(analysis, Path(out_dir), split=split, figures=figures,
                  images=Path(images) if images else None)
    return analysis


def cases_long_text(teams: Sequence[TeamResults]) -> str:
    """Every team's per-case rows as one CSV (``team`` first, then ``cases.csv`` columns)."""
    columns = ["team", "case", "status", *CASE_COLUMNS]
    lines = [",".join(columns)]
    for team in teams:
        if team.cases is None:
            continue
        for i, case in enumerate(team.cases.ids):
            cells = [team.name, case, team.cases.status[i]]
            for c in CASE_COLUMNS:
                v = team.cases.values.get(c)
                cells.append("" if v is None else repr(float(v[i])))
            lines.append(",".join(_csv_cell(c) for c in cells))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def _meta(analysis: Analysis, split: str, images: Path | None) -> dict:
    inputs = []
    for t in analysis.teams:
        inputs.append({"team": t.name, "kind": t.kind, "source": t.source, "split": t.split,
                       "run_dir": t.run_dir, "n_cases": len(t.cases) if t.cases else None,
                       "n_rvd_excluded": t.n_rvd_excluded,
                       "means": {k: _json_float(v) for k, v in t.means.items()},
                       "truth": t.summary.get("truth"),
                       "predictions": t.summary.get("predictions"),
                       "data": t.run_config.get("data"),
                       "tolerance_mm": t.summary.get("tolerance_mm"),
                       "hd_percentile": t.summary.get("hd_percentile")})
    return {"ichbench_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "ranking": analysis.ranking, "bootstrap": analysis.n_bootstrap,
            "seed": analysis.seed, "split": split,
            "images": str(images.resolve()) if images else None,
            "paired_teams": list(analysis.paired), "paired_cases": len(analysis.case_ids),
            "notes": analysis.notes, "inputs": inputs}


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def load_leaderboard_dir(folder: Path) -> tuple[list[TeamResults], dict]:
    """Rebuild the teams of a leaderboard folder from ``leaderboard.json`` + ``cases_long.csv``.

    Per-case results come from the folder itself, so it stays usable after the input
    folders move; truth, prediction and image paths are kept for figures that need them.

    Raises
    ------
    ReportInputError
        One line, for a folder whose files are missing, not UTF-8 or not as written.
    """
    try:
        return _load_leaderboard_dir(folder)
    except ReportInputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, csv.Error) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise ReportInputError(f"{folder}: not a leaderboard folder as 'ichbench leaderboard' "
                               f"writes it ({reason}); build it again") from None


def _load_leaderboard_dir(folder: Path) -> tuple[list[TeamResults], dict]:
    meta_path = folder / "leaderboard.json"
    if not meta_path.is_file():
        raise ReportInputError(f"{folder}: no leaderboard.json; build it with "
                               "'ichbench leaderboard'")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    per_team: dict[str, list[dict]] = {}
    long_path = folder / "cases_long.csv"
    if long_path.is_file():
        with open(long_path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                per_team.setdefault(row["team"], []).append(row)
    teams = []
    for item in meta["inputs"]:
        cases = None
        rows = per_team.get(item["team"])
        if rows:
            values = {c: np.array([parse_float(r[c]) for r in rows]) for c in CASE_COLUMNS
                      if rows[0].get(c, "") != "" or c in RANKED_METRICS}
            cases = CaseTable(tuple(r["case"] for r in rows), tuple(r["status"] for r in rows),
                              values)
        if cases is not None:
            means, n_excluded = case_means(cases)
        else:
            means = {k: float(v) for k, v in item["means"].items()}
            n_excluded = item.get("n_rvd_excluded", 0)
        summary = {k: item.get(k) for k in ("truth", "predictions", "tolerance_mm",
                                            "hd_percentile") if item.get(k) is not None}
        config = {"data": item["data"]} if item.get("data") else {}
        if item.get("run_dir"):
            config_path = Path(item["run_dir"]) / "config.json"
            if config_path.is_file():
                config = json.loads(config_path.read_text(encoding="utf-8"))
        teams.append(TeamResults(item["team"], item["kind"], item["source"], means, cases,
                                 n_excluded, summary, config, item.get("run_dir"),
                                 item.get("split")))
    return teams, meta


def summary_markdown(analysis: Analysis) -> str:
    """A short Markdown digest: the leaderboard, notes and CI table."""
    parts = ["# Leaderboard\n", markdown_text(analysis.table, leaderboard_columns(analysis))]
    if analysis.notes:
        parts.append("\n" + "\n".join(f"- {n}" for n in analysis.notes) + "\n")
    if analysis.ci_rows:
        parts.append("\n## Bootstrap 95% CIs\n\n" + markdown_text(
            analysis.ci_rows, ["team", "metric", "mean", "ci_low", "ci_high", "n",
                               "n_excluded"]))
    return "".join(parts)
