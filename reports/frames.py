"""Results as pandas DataFrames, for notebooks.

One row per case × team, with the status and every metric column that ``cases.csv``
holds (the INSTANCE columns and, from scores written by this version on, the lesion-wise
and clinical-volume ones)::

    from ichbench.reports.frames import load_results, load_leaderboard, describe_by

    cases = load_results(["scores/team_a", "runs/cascade-20261125-161500"])
    cases.groupby("team")[["dc", "lesion_f1"]].mean()
    describe_by(cases, "dc", by=["team", "split"])       # mean, std, median, ... per group
    board = load_leaderboard("leaderboard/")              # leaderboard.csv, by rank

Numbers are read as the scorer wrote them: ``inf`` stays infinite (HD of an empty
prediction) and ``nan`` stays NaN (undefined, e.g. RVD on an empty truth); pandas' own
statistics skip NaN and propagate inf, as ``summary.json`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ichbench.reports.inputs import ReportInputError, is_run_folder

#: Columns that are text; every other column of cases.csv is read as a float.
TEXT_COLUMNS = ("team", "split", "case", "status", "message")


def _read_cases(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ReportInputError(f"{path}: file not found; expected cases.csv written by "
                               "'ichbench score'")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: not a readable CSV ({exc}); rescore with "
                               "'ichbench score'") from None
    if "case" not in frame.columns:
        raise ReportInputError(f"{path}: no 'case' column; expected cases.csv written by "
                               "'ichbench score'")
    for column in frame.columns:
        if column in TEXT_COLUMNS:
            continue
        values = frame[column].str.strip().replace("", "nan")
        try:
            frame[column] = values.astype(float)
        except ValueError:
            bad = next(v for v in values if not _is_number(v))
            raise ReportInputError(f"{path}: column {column} holds {bad!r}, expected a "
                                   "number, 'inf' or 'nan'") from None
    return frame


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_scores(folder: str | os.PathLike[str], *, team: str | None = None,
                split: str | None = None) -> pd.DataFrame:
    """One score folder's ``cases.csv`` as a DataFrame.

    Parameters
    ----------
    folder : path
        A score folder (``cases.csv`` + ``summary.json``).
    team : str, optional
        Value of the ``team`` column (default: the folder name).
    split : str, optional
        Value of the ``split`` column (default: empty).

    Returns
    -------
    pandas.DataFrame
        ``team, split, case, status`` then the other columns of cases.csv, numbers as
        float64 (``inf``/``nan`` kept).

    Raises
    ------
    ReportInputError
        If ``cases.csv`` is missing or holds something that is not a number.
    """
    path = Path(folder)
    frame = _read_cases(path / "cases.csv")
    frame.insert(0, "split", split or "")
    frame.insert(0, "team", team or path.resolve().name)
    if "status" not in frame.columns:
        frame.insert(3, "status", "ok")
    return frame


def load_run(run_dir: str | os.PathLike[str], *, splits: Sequence[str] = (),
             team: str | None = None) -> pd.DataFrame:
    """Every scored split of a run folder (or those named), stacked.

    The ``team`` column is the run's method (``config.json``) unless given.
    """
    import json

    run = Path(run_dir)
    if not is_run_folder(run):
        raise ReportInputError(f"{run}: not a run folder (config.json + scores/)")
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    name = team or str(config.get("method") or run.name)
    found = sorted(p.name for p in (run / "scores").iterdir() if (p / "cases.csv").is_file())
    wanted = list(splits) or found
    missing = [s for s in wanted if s not in found]
    if missing:
        raise ReportInputError(f"{run}: no scores for split(s) {', '.join(missing)} (found "
                               f"{', '.join(found) or 'none'})")
    if not wanted:
        raise ReportInputError(f"{run}: no scores/<split>/cases.csv yet")
    return pd.concat([load_scores(run / "scores" / s, team=name, split=s) for s in wanted],
                     ignore_index=True)


def load_results(paths: Sequence[str | os.PathLike[str]], *,
                 names: Sequence[str] = ()) -> pd.DataFrame:
    """Score folders and run folders as one long DataFrame (one row per case × team × split).

    Parameters
    ----------
    paths : sequence of path
        Score folders or run folders, in any mix.
    names : sequence of str
        Team names replacing the defaults, one per path in order; empty for the defaults.
    """
    if names and len(names) != len(paths):
        raise ReportInputError(f"{len(names)} name(s) for {len(paths)} path(s); give one "
                               "per path")
    frames = []
    for i, raw in enumerate(paths):
        path = Path(raw)
        name = names[i] if names else None
        if is_run_folder(path):
            frames.append(load_run(path, team=name))
        elif (path / "cases.csv").is_file():
            frames.append(load_scores(path, team=name))
        else:
            raise ReportInputError(f"{path}: neither a score folder (cases.csv) nor a run "
                                   "folder (config.json + scores/)")
    if not frames:
        raise ReportInputError("no inputs; give score folders or run folders")
    return pd.concat(frames, ignore_index=True)


def load_leaderboard(folder: str | os.PathLike[str], *, cases: bool = False
                     ) -> pd.DataFrame:
    """A leaderboard folder's ``leaderboard.csv`` (by rank) or, with ``cases``, its
    ``cases_long.csv`` (every team's cases)."""  # noqa: D205, D209
    path = Path(folder) / ("cases_long.csv" if cases else "leaderboard.csv")
    if not path.is_file():
        raise ReportInputError(f"{path}: file not found; build the folder with "
                               "'ichbench leaderboard'")
    if cases:
        return _read_cases(path)
    return pd.read_csv(path)


def describe_by(frame: pd.DataFrame, metric: str, *, by: Sequence[str] = ("team",)
                ) -> pd.DataFrame:
    """``summary.json``'s statistics of one metric per group.

    The same function as ``summary.json``
    (:func:`ichbench.submissions.summary.describe`): mean and std (population) are inf as
    soon as one value is; median and quartiles interpolate linearly and stay inf next to
    an inf; NaN values are left out and ``count`` says how many were used.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``; columns ``mean, std, median, q1, q3, min, max, count``.
    """
    if metric not in frame.columns:
        raise ReportInputError(f"no column {metric!r}; found {', '.join(frame.columns)}")

    from ichbench.submissions.summary import describe

    rows = {key: describe(group[metric].to_numpy(dtype=float))
            for key, group in frame.groupby(list(by), sort=False)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(list(rows), names=list(by)) if len(by) > 1 \
        else pd.Index([k[0] if isinstance(k, tuple) else k for k in rows], name=by[0])
    return table
