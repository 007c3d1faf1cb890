"""Finding and reading the NIfTI files behind a team's scores: truth, predictions, CTs.

Figures such as ABC/2 and the overlays need the masks themselves, which a score folder only
points to (``summary.json``'s ``truth`` and ``predictions``) and a run folder reaches via its
dataset (``config.json``'s ``data``) and ``predictions/<split>/``. Anything that cannot be
found returns None: those figures are then left out, never an error. :func:`read_case`
reads one case's truth, CT and prediction for every figure that shows them;
:func:`file_inputs` gathers what a leaderboard's figures read, with a note for each piece
left out.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from ichbench.reports.inputs import TeamResults

if TYPE_CHECKING:
    from ichbench.io.volumes import Volume
    from ichbench.reports.analysis import Analysis

T = TypeVar("T")


@functools.lru_cache(maxsize=8)
def _dataset(root: str):  # type: ignore[no-untyped-def]
    try:
        from ichbench.data.dataset import open_dataset

        return open_dataset(root)
    except Exception:  # any failure means "no dataset": the figures that need it are skipped
        return None


def _folder_cases(folder: object) -> dict[str, Path] | None:
    if not isinstance(folder, str | Path) or not Path(folder).is_dir():
        return None
    from ichbench.io.volumes import list_cases

    try:
        cases = list_cases(folder)
    except Exception:  # an unreadable folder: the figures that need it are skipped
        return None
    return cases or None


def truth_files(team: TeamResults) -> dict[str, Path] | None:
    """Truth label per case id, or None when unknown."""
    if team.run_config.get("data"):
        dataset = _dataset(str(team.run_config["data"]))
        if dataset is not None:
            return dict(dataset.labels()) or None
    return _folder_cases(team.summary.get("truth"))


def prediction_files(team: TeamResults) -> dict[str, Path] | None:
    """Predicted mask per case id, or None when unknown."""
    if team.run_dir and team.split:
        found = _folder_cases(Path(team.run_dir) / "predictions" / team.split)
        if found:
            return found
    return _folder_cases(team.summary.get("predictions"))


def image_files(team: TeamResults, images: object = None) -> dict[str, Path] | None:
    """CT image per case id: from ``images`` (a folder) if given, else the run's dataset."""
    if images is not None:
        return _folder_cases(images)
    if team.run_config.get("data"):
        dataset = _dataset(str(team.run_config["data"]))
        if dataset is not None:
            return {c.case_id: c.image for c in dataset.cases}
    return None


@functools.lru_cache(maxsize=4)
def _abc2_cached(items: tuple[tuple[str, str], ...]) -> dict[str, tuple[float, float]]:
    from ichbench.reports.volumes import abc2_for_cases

    truth = {case: Path(path) for case, path in items}
    return abc2_for_cases(truth, list(truth))


def truth_abc2(teams: Sequence[TeamResults], case_ids: Sequence[str]
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """(true volume, ABC/2 volume) in mL, both from the truth masks that can be read."""
    for team in teams:
        truth = truth_files(team)
        if not truth:
            continue
        wanted = tuple((c, str(truth[c])) for c in case_ids if c in truth)
        if not wanted:
            continue
        estimates = _abc2_cached(wanted)
        if estimates:
            pairs = np.array([estimates[c] for c in case_ids if c in estimates])
            return pairs[:, 0], pairs[:, 1]
    return None


def pick_cases(team: TeamResults) -> list[tuple[str, str]]:
    """Best, median and worst case by DC among cases with a non-empty truth."""
    cases = team.cases
    if cases is None:
        return []
    dc = cases.values["dc"]
    gt = cases.values.get("gt_volume_ml")
    keep = np.isfinite(dc) & (gt > 0 if gt is not None else True)
    index = np.flatnonzero(keep)
    if index.size == 0:
        return []
    order = index[np.argsort(-dc[index], kind="stable")]
    picks = [("best", order[0]), ("median", order[len(order) // 2]), ("worst", order[-1])]
    return [(label, cases.ids[i]) for label, i in picks]


def read_case(truth: Path, ct: Path, pred: Path | None
              ) -> tuple[Volume, np.ndarray, np.ndarray] | None:
    """One case's truth volume, CT (float32) and predicted mask, all of the truth's size.

    The CT and the prediction are read only when their headers give the truth's size, so
    memory stays that of three volumes of the truth's size whatever was submitted; a
    missing prediction (``pred`` None) is an empty mask. None when a file cannot be read
    or has another size: the figure then leaves the case out.
    """
    from ichbench.io.volumes import NiftiError, read_geometry, read_volume

    try:  # headers first: no file is read unless it has the truth's size
        gt = read_volume(truth)
        if any(read_geometry(p).shape != gt.array.shape for p in (ct, pred) if p is not None):
            return None
        ct_array = read_volume(ct, dtype=np.float32).array
        pred_array = (read_volume(pred).array if pred is not None
                      else np.zeros(gt.array.shape, np.uint8))
    except NiftiError:
        return None
    if ct_array.shape != gt.array.shape or pred_array.shape != gt.array.shape:
        return None
    return gt, ct_array, pred_array


def overlay_panels(team: TeamResults, *, images: object = None) -> list[dict]:
    """Panels for :func:`~ichbench.reports.figures.case_overlays` (empty if files are missing).

    Each panel shows the axial slice with the largest truth area (files read by
    :func:`read_case`).
    """
    truth, preds, cts = truth_files(team), prediction_files(team), image_files(team, images)
    if not (truth and preds and cts and team.cases is not None):
        return []
    panels = []
    for label, case in pick_cases(team):
        if case not in truth or case not in cts:
            continue
        found = read_case(truth[case], cts[case], preds.get(case))
        if found is None:
            continue
        gt, ct, pred = found
        k = int(np.argmax((gt.array != 0).sum(axis=(1, 2))))
        _, dy, dx = gt.geometry.spacing_zyx_mm
        i = team.cases.ids.index(case)
        dc = float(team.cases.values["dc"][i])
        panels.append({"title": f"{label}: case {case}, DC {dc:.3f}, slice {k}",
                       "ct": ct[k], "truth": gt.array[k], "pred": pred[k],
                       "aspect": dy / dx})
    return panels


def optional(build: Callable[[], T], what: str, notes: list[str]) -> T | None:
    """Run ``build`` for a figure that reads NIfTI files; on any error note it and go on.

    These figures read truth, prediction and CT files found through paths recorded
    elsewhere; a stale path or an odd file must not cost the run its report. The note
    (``"<what> left out: <error>"``) is appended to ``notes``.
    """
    try:
        return build()
    except Exception as exc:  # the note carries the reason
        notes.append(f"{what} left out: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return None


@dataclass(frozen=True)
class FigureFiles:
    """What a leaderboard's figures read from NIfTI files (:func:`file_inputs`).

    Attributes
    ----------
    abc2 : (true_ml, abc2_ml) or None
        Truth volume and ABC/2 estimate per paired case that could be read, mL.
    overlays : (team, panels) or None
        The best-ranked team whose files could be read, and its overlay panels.
    notes : tuple of str
        One line per piece left out on an error, and why.
    """

    abc2: tuple[np.ndarray, np.ndarray] | None = None
    overlays: tuple[str, list[dict]] | None = None
    notes: tuple[str, ...] = ()


def file_inputs(analysis: Analysis, *, images: object = None) -> FigureFiles:
    """What the figures read from NIfTI files: ABC/2 volumes and overlay panels.

    Anything that cannot be read is left out with a note in the result's ``notes``;
    nothing without paired per-case results.
    """
    if analysis.values is None:
        return FigureFiles()
    notes: list[str] = []
    abc2 = optional(lambda: truth_abc2(analysis.teams, analysis.case_ids), "ABC/2", notes)
    overlays = None
    order = [r["team"] for r in analysis.table if r["team"] in analysis.paired]
    for name in order:  # the best-ranked team whose images and masks can be found
        panels = optional(lambda n=name: overlay_panels(analysis.team(n), images=images),
                          "overlays", notes)
        if panels:
            overlays = (name, panels)
            break
    return FigureFiles(abc2, overlays, tuple(notes))


def read_history(path: Path) -> dict[str, np.ndarray] | None:
    """A ``history.csv`` as columns of floats, or None if missing/unreadable."""
    import csv

    from ichbench.reports.inputs import parse_float

    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError:
        return None
    if not rows:
        return None
    try:
        return {k: np.array([parse_float(r[k] or "") for r in rows]) for k in rows[0]}
    except ValueError:
        return None


def run_histories(run_dir: Path, method: str = "model"
                  ) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Learning curves of a run: {stage: {fold: columns}}.

    The stage of ``folds/`` is called ``method``; a cascade also has ``coarse/folds/`` (or,
    with ``--method all``, the coarse run it shares, recorded as ``shared.coarse`` in
    ``config.json``), and then its own stage is called ``fine``.
    """
    coarse_base = run_dir / "coarse"
    try:
        shared = json.loads((run_dir / "config.json").read_text(encoding="utf-8")).get("shared")
    except (OSError, ValueError, AttributeError):
        shared = None
    if isinstance(shared, dict) and isinstance(shared.get("coarse"), str):
        coarse_base = Path(shared["coarse"])
    stages = {}
    for stage, base in (("coarse", coarse_base / "folds"), ("model", run_dir / "folds")):
        folds = {}
        if base.is_dir():
            for fold_dir in sorted(base.iterdir()):
                history = read_history(fold_dir / "history.csv")
                if history:
                    folds[fold_dir.name] = history
        if folds:
            stages[stage] = folds
    if "model" in stages:
        stages["fine" if "coarse" in stages else method] = stages.pop("model")
    return stages


def learning_notes(histories: dict[str, dict[str, dict[str, np.ndarray]]]) -> list[str]:
    """One line per stage and fold whose validation DC never rose above its first epoch.

    A best epoch equal to the first (or a validation DC that stays 0) means the stage kept
    its initial, untrained behaviour: its scores then say nothing about the method, and the
    report says so next to the curves.
    """
    notes = []
    for stage, folds in histories.items():
        for fold, cols in sorted(folds.items()):
            dc = cols.get("val_dc")
            if dc is None or dc.size == 0 or not np.isfinite(dc).any():
                continue
            best = int(np.nanargmax(dc))
            if np.nanmax(dc) <= 0:
                notes.append(f"{stage} fold {fold}: validation DC stayed 0 for all {dc.size} "
                             "epochs: this stage did not learn")
            elif best == 0 and dc.size > 1:
                notes.append(f"{stage} fold {fold}: best validation DC ({dc[0]:.3f}) at its "
                             f"first epoch of {dc.size}: this stage did not improve")
    return notes

