"""Reading what a leaderboard ranks: score folders, run folders and published means.

Three kinds of input give one :class:`TeamResults` each:

- a **score folder** (``cases.csv`` + ``summary.json`` written by
  ``ichbench.submissions.score_folder``): per-case results, so every statistic is possible;
- a **run folder** (``config.json`` + ``scores/<split>/``): the same, for one split;
- a **published CSV** with one row per team and columns ``team,dc,nsd,hd,rvd`` (``hd`` may
  be ``inf``): means only, so only the INSTANCE ranking is possible. One CSV gives several
  teams.

Means are recomputed from ``cases.csv`` (not copied from ``summary.json``) so that the
leaderboard, the bootstrap and the per-case tables all use one set of numbers, with the one
definition of :func:`ichbench.submissions.columns.mean` (the same as ``summary.json``'s):
NaN values (RVD of an empty truth, every metric of a ``truth_unreadable`` case) are left
out and counted; HD may be ``inf`` (an empty prediction), which makes the mean ``inf``.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichbench.submissions.columns import SUMMARY_METRICS, VALID_RANGE, mean
from ichbench.submissions.lesions import LESION_COLUMNS

#: Metrics the INSTANCE ranking uses, in leaderboard order, with their direction.
RANKED_METRICS: tuple[str, ...] = ("dc", "nsd", "hd", "rvd")
HIGHER_IS_BETTER: dict[str, bool] = {"dc": True, "nsd": True, "hd": False, "hd95": False,
                                     "rvd": False}
#: Per-case numeric columns read from ``cases.csv`` when present (declared once, in
#: :mod:`ichbench.submissions.columns`).
CASE_COLUMNS: tuple[str, ...] = SUMMARY_METRICS
#: Metrics of ``--ranking lesionwise``, with their direction.
LESIONWISE_METRICS: tuple[str, ...] = ("lesionwise_dc", "lesionwise_hd95", "lesion_f1")
HIGHER_IS_BETTER.update({"lesionwise_dc": True, "lesionwise_hd95": False,
                         "lesion_f1": True})
#: Lesion columns read from ``cases.csv`` when present (declared by the scorer).
LESION_CASE_COLUMNS: tuple[str, ...] = LESION_COLUMNS
CASE_COLUMNS += LESION_CASE_COLUMNS
PUBLISHED_COLUMNS: tuple[str, ...] = ("team", "dc", "nsd", "hd", "rvd")


class ReportInputError(ValueError):
    """An input that cannot be read as scores. The message names the file and the fix."""


@dataclass(frozen=True)
class CaseTable:
    """Per-case results of one team (rows in ``cases.csv`` order).

    Attributes
    ----------
    ids : tuple of str
        Case ids.
    status : tuple of str
        Scoring status per case (``ok``, ``missing`` ...); ``ok`` where the file has none.
    values : dict of str to ndarray
        Float arrays of shape (n_cases,) for the columns of :data:`CASE_COLUMNS` present in
        the file; ``inf`` and ``nan`` kept as written.
    """

    ids: tuple[str, ...]
    status: tuple[str, ...]
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, ids: Sequence[str]) -> CaseTable:
        """Return the rows of ``ids``, in that order (every id must be present)."""
        where = {case: i for i, case in enumerate(self.ids)}
        index = np.array([where[case] for case in ids], dtype=int)
        return CaseTable(tuple(ids), tuple(self.status[i] for i in index),
                         {k: v[index] for k, v in self.values.items()})


@dataclass(frozen=True)
class TeamResults:
    """One leaderboard entry.

    Attributes
    ----------
    name : str
        Team or method name shown in tables.
    kind : str
        ``"score"``, ``"run"`` or ``"published"``.
    source : str
        The folder or CSV it came from.
    means : dict of str to float
        Mean of each metric (``dc, nsd, hd, rvd`` always; ``hd95`` where known).
    cases : CaseTable or None
        Per-case results; None for published means.
    n_rvd_excluded : int
        Cases left out of the RVD mean because RVD is undefined (empty truth).
    summary : dict
        The ``summary.json`` content (empty for published means).
    run_config : dict
        A run folder's ``config.json`` (empty otherwise).
    run_dir : str or None
        The run folder, for learning curves and the dataset path.
    split : str or None
        The run folder's split that was read.
    """

    name: str
    kind: str
    source: str
    means: dict[str, float]
    cases: CaseTable | None = None
    n_rvd_excluded: int = 0
    summary: dict = field(default_factory=dict)
    run_config: dict = field(default_factory=dict)
    run_dir: str | None = None
    split: str | None = None


def parse_float(text: str) -> float:
    """Read a number as written by the scorer: ``inf``, ``-inf``, ``nan`` or empty (nan)."""
    text = text.strip()
    if text == "":
        return math.nan
    return float(text)


def _csv_rows(path: Path, expected: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a UTF-8 CSV file, or a one-line ReportInputError.

    Refused with a message: a file that cannot be opened, text that is not UTF-8 (a
    byte-order mark is accepted), a field over the csv module's limit (131,072
    characters) and malformed CSV.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v if isinstance(v, str) else "")
                     for k, v in row.items() if k} for row in reader]
    except UnicodeDecodeError as exc:
        raise ReportInputError(f"{path}: not UTF-8 text (byte {exc.start:,} is "
                               f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8 "
                               f"CSV ({expected})") from None
    except csv.Error as exc:
        raise ReportInputError(f"{path}: not a readable CSV ({exc}); expected "
                               f"{expected}") from None
    except OSError as exc:
        raise ReportInputError(f"{path}: cannot be read ({exc.strerror or exc}); expected "
                               f"{expected}") from None
    return columns, rows


def _check_range(path: Path, line: int, metric: str, value: float, *,
                 allow_nan: bool) -> None:
    """Refuse a value no scorer can produce (DC above 1, a negative distance, -inf)."""
    low, high = VALID_RANGE.get(metric, (-math.inf, math.inf))
    if math.isnan(value):
        if allow_nan:
            return
        raise ReportInputError(f"{path}:{line}: {metric} is nan; a published mean must be a "
                               "number (or inf for HD)")
    if not low <= value <= high:
        raise ReportInputError(f"{path}:{line}: {metric} = {value:g} is outside "
                               f"[{low:g}, {high:g}], so it is not a {metric.upper()}; fix the "
                               "row or leave the team out")


def read_cases_csv(path: Path) -> CaseTable:
    """Read a score folder's ``cases.csv``.

    Raises
    ------
    ReportInputError
        If the file is missing, empty, lacks ``case``/``dc``/``nsd``/``hd``/``rvd`` or holds a
        value that is not a number.
    """
    if not path.is_file():
        raise ReportInputError(f"{path}: file not found; expected cases.csv written by "
                               "'ichbench score'")
    columns, rows = _csv_rows(path, "cases.csv written by 'ichbench score'")
    missing = [c for c in ("case", *RANKED_METRICS) if c not in columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}; found "
                               f"{', '.join(columns) or 'no header'}; rescore with "
                               "'ichbench score'")
    if not rows:
        raise ReportInputError(f"{path}: no cases; expected one row per truth case")
    present = [c for c in CASE_COLUMNS if c in columns]
    values: dict[str, list[float]] = {c: [] for c in present}
    for line, row in enumerate(rows, start=2):
        for column in present:
            try:
                value = parse_float(row.get(column) or "")
            except ValueError:
                raise ReportInputError(f"{path}:{line}: column {column} is "
                                       f"{_shown(row.get(column))}, expected a number, 'inf' "
                                       "or 'nan'") from None
            _check_range(path, line, column, value, allow_nan=True)
            values[column].append(value)
    ids = tuple(str(row["case"]) for row in rows)
    if len(set(ids)) != len(ids):
        raise ReportInputError(f"{path}: case ids repeat; expected one row per case")
    status = tuple((row.get("status") or "ok") for row in rows)
    return CaseTable(ids, status, {c: np.asarray(v, dtype=float) for c, v in values.items()})


def case_means(cases: CaseTable) -> tuple[dict[str, float], int]:
    """Mean of every metric over cases, and the number of cases without an RVD.

    Every mean is :func:`ichbench.submissions.columns.mean`, the ``mean`` of
    ``summary.json``: over the cases whose value is not NaN (a ``truth_unreadable`` case,
    the RVD of an empty truth), ``inf`` kept (one ``inf`` HD makes the mean ``inf``, as in
    the challenge).
    """
    means = {metric: mean(cases.values[metric])
             for metric in ("dc", "nsd", "hd", "hd95", "rvd", *LESIONWISE_METRICS)
             if metric in cases.values}
    return means, int(np.isnan(cases.values["rvd"]).sum())


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:  # ValueError: JSON errors and non-UTF-8 text
        raise ReportInputError(f"{path}: cannot read JSON ({' '.join(str(exc).split())[:200]}); "
                               "expected summary.json written by 'ichbench score'") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object")
    return data


def read_score_folder(folder: Path, name: str | None = None) -> TeamResults:
    """Read a score folder (``cases.csv`` and, optionally, ``summary.json``)."""
    cases = read_cases_csv(folder / "cases.csv")
    summary = _read_json(folder / "summary.json") if (folder / "summary.json").is_file() else {}
    means, n_excluded = case_means(cases)
    return TeamResults(name or folder.resolve().name, "score", str(folder.resolve()), means,
                       cases, n_excluded, summary)


def is_run_folder(path: Path) -> bool:
    """Whether ``path`` looks like a run folder written by the harness."""
    return path.is_dir() and (path / "config.json").is_file() and (path / "scores").is_dir()


def read_run_folder(folder: Path, split: str = "test", name: str | None = None) -> TeamResults:
    """Read ``scores/<split>/`` of a run folder; the name defaults to config's method."""
    config = _read_json(folder / "config.json")
    scores = folder / "scores" / split
    if not (scores / "cases.csv").is_file():
        found = sorted(p.name for p in (folder / "scores").iterdir() if p.is_dir())
        raise ReportInputError(f"{folder}: no scores for split {split!r} (found "
                               f"{', '.join(found) or 'none'}); choose one with --split")
    team = read_score_folder(scores, name)
    folder = folder.resolve()
    return TeamResults(name or str(config.get("method") or folder.name), "run", str(folder),
                       team.means, team.cases, team.n_rvd_excluded, team.summary, config,
                       str(folder), split)


def read_published_csv(path: Path) -> list[TeamResults]:
    """Read per-team means (``team,dc,nsd,hd,rvd`` and optionally ``hd95``).

    A UTF-8 byte-order mark (as spreadsheet programs write) is accepted. Means no scorer
    can produce (DC or NSD outside [0, 1], a negative or NaN HD or RVD) are refused with
    the line, so an implausible row can never be ranked.
    """
    expected = f"one row per team, columns {','.join(PUBLISHED_COLUMNS)}"
    columns, rows = _csv_rows(path, expected)
    missing = [c for c in PUBLISHED_COLUMNS if c not in columns]
    if missing:
        raise ReportInputError(f"{path}: missing column(s) {', '.join(missing)}; found "
                               f"{', '.join(columns) or 'no header'}; expected "
                               f"{','.join(PUBLISHED_COLUMNS)}")
    if not rows:
        raise ReportInputError(f"{path}: no teams; expected one row per team")
    teams = []
    for line, row in enumerate(rows, start=2):
        means = {}
        for metric in (*RANKED_METRICS, "hd95"):
            text = row.get(metric, "")
            if metric not in row or (metric == "hd95" and not text.strip()):
                continue
            try:
                means[metric] = parse_float(text)
            except ValueError:
                raise ReportInputError(f"{path}:{line}: {metric} is {_shown(text)}, "
                                       "expected a number or 'inf'") from None
            _check_range(path, line, metric, means[metric], allow_nan=False)
        if not row.get("team", "").strip():
            raise ReportInputError(f"{path}:{line}: empty team name")
        teams.append(TeamResults(row["team"].strip(), "published", str(path.resolve()),
                                 means))
    return teams


def _shown(text: str | None, limit: int = 40) -> str:
    """A cell for an error message: quoted, cut to ``limit`` characters."""
    text = text or ""
    return repr(text if len(text) <= limit else text[:limit] + "…")


def load_inputs(paths: Sequence[str | Path], *, names: Sequence[str] = (),
                split: str = "test") -> list[TeamResults]:
    """Read every input into teams, in order.

    Parameters
    ----------
    paths : sequence of path
        Score folders, run folders or published CSV files.
    names : sequence of str
        Team names replacing the default ones, one per folder input in order (a CSV names its
        own teams); empty to keep the defaults.
    split : str
        Which ``scores/<split>/`` to read from run folders.

    Raises
    ------
    ReportInputError
        On an unreadable input, a wrong number of names or a repeated team name.
    """
    folders = [Path(p) for p in paths if not Path(p).is_file()]
    if names and len(names) != len(folders):
        raise ReportInputError(f"--name given {len(names)} time(s) for {len(folders)} folder "
                               "input(s); give one name per folder, in order")
    name_iter = iter(names)
    teams: list[TeamResults] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            if path.suffix.lower() != ".csv":
                raise ReportInputError(f"{path}: expected a score folder, a run folder or a "
                                       "CSV of per-team means")
            teams.extend(read_published_csv(path))
            continue
        name = next(name_iter, None)
        if not path.exists():
            raise ReportInputError(f"{path}: not found; expected a score folder, a run "
                                   "folder or a CSV of per-team means")
        if is_run_folder(path):
            teams.append(read_run_folder(path, split, name))
        elif (path / "cases.csv").is_file():
            teams.append(read_score_folder(path, name))
        else:
            raise ReportInputError(f"{path}: neither a score folder (cases.csv) nor a run "
                                   "folder (config.json + scores/)")
    seen: set[str] = set()
    for team in teams:
        if team.name in seen:
            raise ReportInputError(f"team name {team.name!r} appears twice; give distinct "
                                   "names with --name")
        seen.add(team.name)
    if not teams:
        raise ReportInputError("no inputs; give score folders, run folders or a CSV")
    return teams


def common_cases(teams: Sequence[TeamResults]) -> tuple[list[TeamResults], tuple[str, ...],
                                                        list[str]]:
    """Teams with per-case results, the case ids they all share, and warnings.

    Paired statistics (bootstrap, rank-then-aggregate, Wilcoxon) need the same cases for
    every team; cases that some team lacks are left out and the count is reported.
    """
    with_cases = [t for t in teams if t.cases is not None]
    notes: list[str] = []
    if not with_cases:
        return [], (), notes
    first = with_cases[0].cases
    assert first is not None
    shared = [c for c in first.ids if all(c in set(t.cases.ids) for t in with_cases[1:])]  # type: ignore[union-attr]
    union = set().union(*(set(t.cases.ids) for t in with_cases))  # type: ignore[union-attr]
    if len(union) != len(shared):
        notes.append(f"{len(union) - len(shared)} case(s) not scored for every team were left "
                     "out of the paired statistics")
    if len(with_cases) < len(teams):
        notes.append(f"{len(teams) - len(with_cases)} team(s) without per-case results are "
                     "ranked on means only and left out of the paired statistics")
    if not shared:
        warnings.warn("the teams share no case ids", stacklevel=2)
    return with_cases, tuple(shared), notes
