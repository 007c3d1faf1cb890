"""Scoring a submission against several raters per case (MBH-Seg25's layout).

The truth folder holds one subfolder per case with one mask per rater, as MBH-Seg25
unpacks: ``<case>/label_annot_<k>.nii.gz`` (``.nii`` and ``.mha`` too; k = 1, 2, …). The
submission is a flat folder of ``<case>.nii.gz`` masks, as for ``ichbench score``, read
and checked by the same code (:mod:`ichbench.submissions.case`) against the first
rater's grid; every rater must share that grid.

Written to the output folder:

- ``cases.csv`` and the usual ``summary.json`` keys: the merged prediction against the
  raters' **consensus** (a voxel marked by at least half of the raters, K/2 votes
  included: with two raters their union), by the one scorer, so that a rater folder
  enters leaderboards and reports like any score folder;
- ``raters.csv``: one row per case, class and rater, ``case,class,rater,status`` and the
  metric columns of cases.csv (``dc … tp_voxels``), each from
  :func:`ichbench.metrics.evaluate_case` of the prediction against that rater;
- ``multirater.csv``: one row per case and class, ``n_raters, dice_mean, dice_max,
  dice_max_reverse, dice_max_mean, dice_match, dice_soft, ged,
  interrater_dice_mean/min/max`` (:mod:`ichbench.metrics.raters` defines them, as
  MBH-Seg25's toolkit does);
- ``summary.json``'s ``raters`` block: the statistics of every multirater column per
  class, and the model's mean per-rater Dice beside the inter-rater Dice (its ceiling).

Class ``ICH`` is the merged label (> 0); when the raters' masks and the submission are
label maps (MBH-Seg25 labels subtypes as BHSD does) every class present in a rater or the
prediction of a case gets its rows too, scored on ``== c`` masks (names as
:func:`class_names`). A binary submission gets the ``ICH`` rows only (its 1 names no
subtype). A missing or
unusable prediction is scored as an empty mask and flagged, as in ``score``; a case with
an unusable rater file is ``truth_unreadable`` (no numbers).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ichbench import __version__
from ichbench.io.atomic import write_json
from ichbench.io.volumes import NiftiError, case_id, open_volume
from ichbench.metrics import evaluate_case
from ichbench.metrics.raters import multirater_metrics
from ichbench.submissions.case import CaseScore, _read_prediction, mask_values
from ichbench.submissions.classes import (
    CLASS_METRICS,
    class_names,
    label_values,
    write_rows_csv,
)
from ichbench.submissions.columns import describe, mean
from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM
from ichbench.submissions.folder import CaseTask, ScoreError, plan_submission
from ichbench.submissions.lesions import lesion_columns
from ichbench.submissions.status import Status
from ichbench.submissions.summary import summarize, write_cases_csv

_RATER_FILE = re.compile(r"^label_annot_(\d+)$")

#: multirater.csv, in order.
MULTIRATER_COLUMNS: tuple[str, ...] = (
    "case", "class", "status", "n_raters", "dice_mean", "dice_max", "dice_max_reverse",
    "dice_max_mean", "dice_match", "dice_soft", "ged", "interrater_dice_mean",
    "interrater_dice_min", "interrater_dice_max")

#: raters.csv, in order.
RATER_COLUMNS: tuple[str, ...] = ("case", "class", "rater", "status", *CLASS_METRICS)

_SUMMARISED = MULTIRATER_COLUMNS[4:]


def rater_cases(truth_dir: str | os.PathLike[str]) -> dict[str, tuple[Path, ...]]:
    """Case id → its rater masks, from ``<case>/label_annot_<k>.<suffix>`` subfolders.

    Raters are ordered by k. Subfolders without a rater file are skipped.

    Raises
    ------
    ScoreError
        The folder is missing or holds no case with a rater file, or a rater number
        appears twice in a case.
    """
    folder = Path(truth_dir)
    if not folder.is_dir():
        raise ScoreError(f"truth folder {folder}: not a folder; give the folder of "
                         "<case>/label_annot_<k>.nii.gz rater masks")
    found: dict[str, tuple[Path, ...]] = {}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        numbered: dict[int, Path] = {}
        for path in sorted(sub.iterdir()):
            stem = case_id(path.name)
            match = _RATER_FILE.match(stem) if stem else None
            if match is None:
                continue
            k = int(match.group(1))
            if k in numbered:
                raise ScoreError(f"truth folder {sub}: rater {k} appears twice "
                                 f"({numbered[k].name}, {path.name}); keep one")
            numbered[k] = path
        if numbered:
            found[sub.name] = tuple(numbered[k] for k in sorted(numbered))
    if not found:
        raise ScoreError(f"truth folder {folder}: no <case>/label_annot_<k>.nii.gz rater "
                         "masks; give MBH-Seg25's case folders (or score without --raters)")
    return found


@dataclass(frozen=True)
class RaterCase:
    """The rows of one case: per class and rater, and per class the multirater values."""

    case: str
    status: Status
    message: str = ""
    per_rater: list[dict[str, Any]] = field(default_factory=list)
    multirater: list[dict[str, Any]] = field(default_factory=list)
    labels: tuple[int, ...] = ()
    consensus: CaseScore | None = None
    pred_labels: tuple[int, ...] = ()
    per_class: bool = False


def score_rater_case(task: CaseTask, *, raters: Mapping[str, Sequence[Path]],
                     tolerance_mm: float, lenient_geometry: bool,
                     classes: bool | None = None) -> RaterCase:
    """Read the raters and the prediction of one case and score them; never raises.

    ``classes``: score every class on its own too: True always, False never, None when
    the prediction holds a value other than 0/1 (a binary prediction names no class; the
    folder rescores the other cases with True once the submission is a label map).
    """
    arrays, geometry = [], None
    for path in raters[task.case_id]:
        try:
            volume = open_volume(path)
            if geometry is not None and geometry.mismatch(volume.geometry) is not None:
                return RaterCase(task.case_id, Status.TRUTH_UNREADABLE,
                                 f"rater {path.name}: its grid differs from "
                                 f"{raters[task.case_id][0].name}'s; fix the rater files")
            geometry = geometry or volume.geometry
            array = volume.load(writable=False)
        except NiftiError as exc:
            return RaterCase(task.case_id, Status.TRUTH_UNREADABLE,
                             f"rater {' '.join(str(exc).split())}; fix the rater file")
        _, problem, _ = mask_values(array)
        if problem is not None:
            return RaterCase(task.case_id, Status.TRUTH_UNREADABLE,
                             f"rater {path.name}: {problem}")
        arrays.append(array)
    assert geometry is not None
    status, message, pred_array = task.status or Status.OK, task.message, None
    if task.status is None and task.prediction is not None:
        status, message, _, _, pred_array = _read_prediction(
            task.prediction, raters[task.case_id][0], geometry, lenient_geometry)
    if pred_array is None:
        pred_array = np.zeros(arrays[0].shape, np.uint8)
    pred_labels = label_values(pred_array, pred_array != 0)
    labels = sorted({v for a in (*arrays, pred_array) for v in label_values(a, a != 0)})
    todo: list[tuple[int, np.ndarray, list[np.ndarray]]] = [
        (0, pred_array != 0, [a != 0 for a in arrays])]
    per_class = classes or (classes is None and any(v != 1 for v in pred_labels))
    if per_class:  # (a case holding EDH alone, 1, is a class of a label-map submission)
        todo += [(v, pred_array == v, [a == v for a in arrays]) for v in labels]
    per_rater, multirater = [], []
    spacing = geometry.spacing_zyx_mm
    for value, pred, masks in todo:
        for k, mask in enumerate(masks, start=1):
            metrics = evaluate_case(mask, pred, spacing_mm=spacing, tolerance_mm=tolerance_mm)
            per_rater.append({"label": value, "rater": k,
                              **{m: getattr(metrics, m) for m in CLASS_METRICS}})
        result = multirater_metrics(masks, [pred])
        pairs = result.interrater_dice
        multirater.append({
            "label": value, "n_raters": len(masks), "dice_mean": result.dice_mean,
            "dice_max": result.dice_max, "dice_max_reverse": result.dice_max_reverse,
            "dice_max_mean": result.dice_max_mean, "dice_match": result.dice_match,
            "dice_soft": result.dice_soft, "ged": result.ged,
            "interrater_dice_mean": result.interrater_mean,
            "interrater_dice_min": min(pairs) if pairs else float("nan"),
            "interrater_dice_max": max(pairs) if pairs else float("nan")})
    # cases.csv: the merged prediction against the raters' consensus, by the one scorer
    votes = np.add.reduce([(a != 0).astype(np.uint8) for a in arrays])
    consensus, pred_mask = 2 * votes >= len(arrays), pred_array != 0
    m = evaluate_case(consensus, pred_mask, spacing_mm=spacing, tolerance_mm=tolerance_mm)
    lesion = lesion_columns(consensus, pred_mask, spacing_mm=spacing,
                            gt_volume_ml=m.gt_volume_ml, pred_volume_ml=m.pred_volume_ml,
                            case_hd95_mm=m.hd95)
    row = CaseScore(task.case_id, status, m.dc, m.nsd, m.hd, m.hd95, m.rvd, m.gt_volume_ml,
                    m.pred_volume_ml, m.gt_voxels, m.pred_voxels, m.tp_voxels, message,
                    lesion=lesion)
    return RaterCase(task.case_id, status, message, per_rater, multirater, tuple(labels),
                     row, pred_labels, bool(per_class))


def score_raters(pred_dir: str | os.PathLike[str], truth_dir: str | os.PathLike[str],
                 out_dir: str | os.PathLike[str], *,
                 tolerance_mm: float = DEFAULT_TOLERANCE_MM, jobs: int | None = None,
                 lenient_geometry: bool = False,
                 label_map: Mapping[int, str] | None = None) -> dict[str, Any]:
    """Score a submission folder against MBH-Seg25-style rater folders; write the tables.

    Parameters
    ----------
    pred_dir
        The submission: ``<case>.nii.gz`` masks (binary or label maps).
    truth_dir
        ``<case>/label_annot_<k>.nii.gz`` rater masks (:func:`rater_cases`).
    out_dir
        Where raters.csv, multirater.csv and summary.json are written.
    tolerance_mm, jobs, lenient_geometry
        As :func:`ichbench.submissions.score_folder`.
    label_map
        Class names (:func:`ichbench.submissions.classes.class_names`).

    Returns
    -------
    dict
        The content of summary.json.

    Raises
    ------
    ScoreError
        Missing folders, no rater masks, an output folder inside the submission or
        truth folder, or results that cannot be written.
    """
    from ichbench.submissions.score import _map_cases, default_jobs

    pred_dir, truth_dir, out_dir = Path(pred_dir), Path(truth_dir), Path(out_dir)
    if not pred_dir.is_dir():
        raise ScoreError(f"submission folder {pred_dir}: not a folder; give the folder that "
                         "holds one <case>.nii.gz mask per case")
    raters = rater_cases(truth_dir)
    for inside in (pred_dir, truth_dir):
        if out_dir.resolve().is_relative_to(inside.resolve()):
            raise ScoreError(f"output folder {out_dir} lies inside {inside}; write the "
                             "scores elsewhere")
    plan = plan_submission(pred_dir, {cid: paths[0] for cid, paths in raters.items()})
    run = partial(score_rater_case, raters=raters, tolerance_mm=float(tolerance_mm),
                  lenient_geometry=lenient_geometry)
    n_jobs = min(jobs or default_jobs(), len(plan.tasks))
    results: dict[str, RaterCase] = {}
    for result in _map_cases(run, plan.tasks, n_jobs):  # type: ignore[arg-type]
        if not isinstance(result, RaterCase):  # a worker crashed: its fallback row
            result = RaterCase(result.case, result.status, result.message)
        results[result.case] = result
    if any(v != 1 for r in results.values() for v in r.pred_labels):  # a label-map submission
        redo = [t for t in plan.tasks if not results[t.case_id].per_class
                and results[t.case_id].status is not Status.TRUTH_UNREADABLE]
        for result in _map_cases(partial(run, classes=True), redo,  # type: ignore[arg-type]
                                 min(n_jobs, max(len(redo), 1))):
            if isinstance(result, RaterCase):
                results[result.case] = result
    cases = [results[task.case_id] for task in plan.tasks]
    names = {0: "ICH", **class_names({v for c in cases for v in c.labels}, label_map)}
    per_rater = [{"case": c.case, "class": names[r["label"]], "status": c.status.value, **r}
                 for c in cases for r in c.per_rater]
    multi = [{"case": c.case, "class": names[r["label"]], "status": c.status.value, **r}
             for c in cases for r in c.multirater]
    rows = tuple(c.consensus or CaseScore.unmeasured(c.case, Status.TRUTH_UNREADABLE,
                                                     c.message) for c in cases)
    summary = summarize(rows, tolerance_mm=float(tolerance_mm), version=__version__,
                        predictions=str(pred_dir), truth=str(truth_dir),
                        ignored_files=plan.ignored_files, warnings=plan.warnings)
    summary["raters"] = _summary(cases, multi, names)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_cases_csv(out_dir / "cases.csv", rows)
        write_rows_csv(out_dir / "raters.csv", RATER_COLUMNS, per_rater)
        write_rows_csv(out_dir / "multirater.csv", MULTIRATER_COLUMNS, multi)
        write_json(out_dir / "summary.json", summary)
    except OSError as exc:
        raise ScoreError(f"output folder {out_dir}: cannot write the scores "
                         f"({exc.strerror or exc}); choose a writable folder") from None
    return summary


def _summary(cases: Sequence[RaterCase], multi: Sequence[Mapping[str, Any]],
             names: Mapping[int, str]) -> dict[str, Any]:
    """The ``raters`` block of summary.json: per class, the multirater statistics."""
    per_class: dict[str, Any] = {}
    for value, name in sorted(names.items()):
        rows = [r for r in multi if r["label"] == value]
        if not rows:
            continue
        block = {c: describe(float(r[c]) for r in rows) for c in _SUMMARISED}
        ceiling = block["interrater_dice_mean"]["mean"]
        per_class[name] = {
            "cases": len(rows), "metrics": block,
            # the model beside its ceiling: mean per-rater Dice vs mean inter-rater Dice
            "model_dice_mean": block["dice_mean"]["mean"], "interrater_dice_mean": ceiling,
            "model_to_ceiling": (block["dice_mean"]["mean"] / ceiling
                                 if ceiling and not math.isnan(ceiling) else math.nan)}
    return {"consensus": "cases.csv scores the merged prediction against the voxels marked "
                         "by at least half of the raters",
            "raters_per_case": describe(float(c.multirater[0]["n_raters"])
                                        for c in cases if c.multirater),
            "classes": per_class,
            "macro": ({c: mean(per_class[n]["metrics"][c]["mean"] for n in per_class
                               if n != "ICH") for c in _SUMMARISED}
                      if len(per_class) > 1 else {})}
