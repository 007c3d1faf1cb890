"""Label maps: per-class scores (classes.csv) and subtype strata (subtypes.csv).

``cases.csv`` is always the merged ICH (label > 0). When the truth is a label map
(BHSD's 1 EDH, 2 IPH, 3 IVH, 4 SAH, 5 SDH, or another ``--label-map``), two more tables
are written beside it:

- **classes.csv** (the submission is a label map too): one row per case and class present
  in the truth or the prediction, the class scored as its own binary task: every number
  is :func:`ichbench.metrics.evaluate_case` and the lesion columns of cases.csv applied to
  ``truth == c`` and ``prediction == c``, the one scoring path. A lesion found with the
  wrong subtype is therefore a false negative of its true class *and* a false positive of
  the predicted class (and, in cases.csv, a found lesion).
- **subtypes.csv** (always, with a label-map truth): the binary (merged) prediction
  stratified by the truth's classes, :func:`ichbench.metrics.subtypes.stratify_by_class`:
  lesion detection and DC within each subtype's lesions.

Which files a scoring run writes is decided over the folder, not per case (a BHSD case
may hold EDH alone, label 1, and look binary): the truth is a label map when a
``label_map`` is given or any truth file holds a value other than 0 and 1; the submission
is a label map when any of its readable masks does. A binary submission against a binary
truth is scored exactly as before: no new file, no extra work (a case whose masks hold
only the value 1 reuses the merged numbers).

**A class absent from both masks** of a case gets no row (nothing to measure) and is left
out of that class's statistics: nnU-Net's NaN policy, the default
(``absent_class="nan"``). BraTS instead scores it as a perfect answer (DC 1);
``absent_class="one"`` adds, per class, one perfect row (DC 1, NSD 1, HD 0, HD95 0,
RVD 0: ichbench's both-empty row of :mod:`ichbench.metrics.case`) for every scored case
without the class. NaN is the default because BHSD's classes are rare per case (EDH in a
small share of scans): counted as 1, the absent cases would dominate a rare class's mean,
and a model that never predicts EDH would score an EDH Dice near the share of scans
without EDH. False positives of a class absent from the truth are kept either way (DC 0).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ichbench.io.atomic import write_text
from ichbench.metrics import evaluate_case
from ichbench.metrics.subtypes import stratify_by_class
from ichbench.submissions.columns import SUMMARY_METRICS, describe, format_number, mean
from ichbench.submissions.lesions import LESION_COLUMNS, LESION_SUMMARY_METRICS, lesion_columns

#: BHSD's (and MBH-Seg24/25's) label convention.
BHSD_LABELS: dict[int, str] = {1: "EDH", 2: "IPH", 3: "IVH", 4: "SAH", 5: "SDH"}

#: Policies for a class absent from both masks of a case.
ABSENT_CLASS_POLICIES: tuple[str, ...] = ("nan", "one")

#: The metric columns of a class row, as in cases.csv (between status and message).
CLASS_METRICS: tuple[str, ...] = ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml",
                                  "pred_volume_ml", "gt_voxels", "pred_voxels", "tp_voxels")

#: classes.csv, in order.
CLASS_COLUMNS: tuple[str, ...] = ("case", "class", "status", *CLASS_METRICS, *LESION_COLUMNS)

#: subtypes.csv, in order.
SUBTYPE_COLUMNS: tuple[str, ...] = (
    "case", "class", "status", "gt_lesions", "detected", "lesion_recall", "dc",
    "voxel_recall", "gt_voxels", "tp_voxels", "pred_voxels", "gt_volume_ml",
    "missed_volume_ml")

#: What a class absent from both masks scores under ``absent_class="one"``.
_PERFECT = {"dc": 1.0, "nsd": 1.0, "hd": 0.0, "hd95": 0.0, "rvd": 0.0, "lesion_f1": 1.0,
            "lesionwise_dc": 1.0, "lesionwise_hd95": 0.0, "fp_volume_ml": 0.0,
            "abs_volume_error_ml": 0.0, "gt_volume_ml": 0.0, "pred_volume_ml": 0.0}


class LabelMapError(ValueError):
    """A ``--label-map`` that cannot be parsed; the message names what and the fix."""


def parse_label_map(text: str) -> dict[int, str]:
    """Read a label map from ``1=EDH,2=IPH`` or a JSON file/object ``{"1": "EDH"}``.

    Parameters
    ----------
    text
        Either a path to a JSON file holding an object value → name, a JSON object
        itself, or comma-separated ``value=name`` pairs.

    Returns
    -------
    dict
        Label value → class name.

    Raises
    ------
    LabelMapError
        Not one of the forms above, a value that is not a non-zero integer, an empty or
        repeated name.

    Examples
    --------
    >>> parse_label_map("1=EDH, 2=IPH")
    {1: 'EDH', 2: 'IPH'}
    """
    source = text.strip()
    path = Path(source)
    if not source.startswith("{") and path.suffix.lower() == ".json":
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LabelMapError(f"label map {text}: cannot read the file ({exc.strerror}); "
                                "give a JSON file or value=name pairs") from None
    pairs: list[tuple[str, object]]
    if source.lstrip().startswith("{"):
        try:
            loaded = json.loads(source)
        except json.JSONDecodeError as exc:
            raise LabelMapError(f"label map {text}: not valid JSON ({exc.msg}); write e.g. "
                                '{"1": "EDH", "2": "IPH"}') from None
        if not isinstance(loaded, dict):
            raise LabelMapError(f"label map {text}: a JSON object value → name is expected")
        pairs = list(loaded.items())
    else:
        pairs = []
        for item in filter(None, (part.strip() for part in source.split(","))):
            key, sep, name = item.partition("=")
            if not sep:
                raise LabelMapError(f"label map: {item!r} is not value=name; write e.g. "
                                    "1=EDH,2=IPH")
            pairs.append((key.strip(), name.strip()))
    result: dict[int, str] = {}
    for key, name in pairs:
        try:
            value = int(str(key))
        except ValueError:
            value = 0
        if value == 0 or not isinstance(name, str) or not name.strip():
            raise LabelMapError(f"label map: {key!r}={name!r}: the value must be a non-zero "
                                "integer and the name a non-empty text")
        if name.strip() in result.values():
            raise LabelMapError(f"label map: the name {name.strip()!r} is given twice")
        result[value] = name.strip()
    if not result:
        raise LabelMapError(f"label map {text!r} names no class; write e.g. 1=EDH,2=IPH")
    return result


def class_names(values: Iterable[int], label_map: Mapping[int, str] | None) -> dict[int, str]:
    """The name of every label value seen: the map's, BHSD's when all lie in 1–5, else the value.

    Examples
    --------
    >>> class_names([2, 5], None)
    {2: 'IPH', 5: 'SDH'}
    >>> class_names([2, 7], None)
    {2: '2', 7: '7'}
    """
    seen = sorted(set(values))
    if label_map is not None:
        return {v: label_map.get(v, str(v)) for v in seen}
    if all(v in BHSD_LABELS for v in seen):
        return {v: BHSD_LABELS[v] for v in seen}
    return {v: str(v) for v in seen}


def label_values(array: np.ndarray, mask: np.ndarray) -> tuple[int, ...]:
    """The distinct non-zero values of a checked mask array (whole numbers), ascending.

    A 0/1 array (what a binary submission holds) is answered from its extremes, without
    gathering its foreground.
    """
    if array.size and array.dtype.kind in "biuf":
        low, high = array.min(), array.max()
        if low >= 0 and high <= 1:  # whole numbers (checked) in [0, 1]: 0 and 1 only
            return (1,) if high == 1 else ()
    values = np.unique(array[mask])
    return tuple(int(v) for v in values.tolist())


def is_single_class(labels: Sequence[int]) -> bool:
    """True when a mask holds nothing or only the value 1 (it is its merged mask)."""
    return all(v == 1 for v in labels)


def foreground_box(*masks: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of the union of ``masks`` (an empty box for empty masks).

    Per-class and per-subtype scores are computed on this crop only: outside it every
    class mask is background, and the metrics treat what lies outside an array as
    background, so the numbers are exactly those of the whole volume (a 5-class case then
    costs five passes over the bleed's box, not over the head).
    """
    union = np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
    box = []
    for axis in range(union.ndim):
        other = tuple(a for a in range(union.ndim) if a != axis)
        hit = np.flatnonzero(union.any(axis=other))
        box.append(slice(int(hit[0]), int(hit[-1]) + 1) if hit.size else slice(0, 0))
    return tuple(box)


def class_rows(gt_labels: np.ndarray, pred_labels: np.ndarray, values: Sequence[int], *,
               spacing_mm: tuple[float, float, float], tolerance_mm: float,
               merged: Mapping[str, float | int] | None = None
               ) -> dict[int, dict[str, float | int]]:
    """Score each class as a binary task: the columns of cases.csv for ``== c`` masks.

    Parameters
    ----------
    gt_labels, pred_labels : numpy.ndarray
        Truth and prediction label arrays (z, y, x), whole numbers.
    values : sequence of int
        The classes present in either mask.
    spacing_mm, tolerance_mm
        As :func:`ichbench.metrics.evaluate_case`.
    merged : mapping, optional
        The merged case's columns; reused for class 1 when both masks hold only 0 and 1
        (then ``== 1`` is the merged mask and the numbers are the same).

    Returns
    -------
    dict
        Class value → :data:`CLASS_METRICS` and lesion columns.
    """
    rows: dict[int, dict[str, float | int]] = {}
    for value in values:
        if merged is not None and tuple(values) == (1,):
            rows[value] = dict(merged)
            continue
        gt, pred = gt_labels == value, pred_labels == value
        metrics = evaluate_case(gt, pred, spacing_mm=spacing_mm, tolerance_mm=tolerance_mm)
        row: dict[str, float | int] = {m: getattr(metrics, m) for m in CLASS_METRICS}
        row.update(lesion_columns(gt, pred, spacing_mm=spacing_mm,
                                  gt_volume_ml=metrics.gt_volume_ml,
                                  pred_volume_ml=metrics.pred_volume_ml,
                                  case_hd95_mm=metrics.hd95))
        rows[value] = row
    return rows


def subtype_rows(gt_labels: np.ndarray, pred: np.ndarray, *,
                 spacing_mm: tuple[float, float, float]) -> dict[int, dict[str, float | int]]:
    """The strata of :func:`~ichbench.metrics.subtypes.stratify_by_class`, as row values."""
    rows = {}
    for s in stratify_by_class(gt_labels, pred, spacing_mm=spacing_mm):
        rows[s.label] = _with_ratios({
            "gt_lesions": s.gt_lesions, "detected": s.detected, "gt_voxels": s.gt_voxels,
            "tp_voxels": s.tp_voxels, "pred_voxels": s.pred_voxels,
            "gt_volume_ml": s.gt_volume_ml, "missed_volume_ml": s.missed_volume_ml})
    return rows


def _with_ratios(row: dict[str, float | int]) -> dict[str, float | int]:
    gt, tp = int(row["gt_voxels"]), int(row["tp_voxels"])
    row["lesion_recall"] = (int(row["detected"]) / int(row["gt_lesions"])
                            if row["gt_lesions"] else math.nan)
    row["dc"] = 2.0 * tp / (gt + int(row["pred_voxels"])) if gt else math.nan
    row["voxel_recall"] = tp / gt if gt else math.nan
    return row


def classes_summary(rows: Sequence[Mapping[str, Any]], names: Mapping[int, str], *,
                    n_scored_cases: int, absent_class: str) -> dict[str, Any]:
    """The ``classes`` block of summary.json.

    Parameters
    ----------
    rows : sequence of mapping
        The rows of classes.csv (with ``label`` and ``class``).
    names : mapping
        Class value → name, every class of the folder.
    n_scored_cases : int
        Cases with a usable truth (the cases a class could be absent from).
    absent_class : {"nan", "one"}
        The policy for a class absent from both masks (module docstring).

    Returns
    -------
    dict
        ``{"absent_class", "label_map", "per_class": {name: {"label", "rows",
        "absent_cases", "metrics": {m: statistics}, "lesions": pooled counts}},
        "macro": {m: mean of the class means}}``.
    """
    per_class: dict[str, Any] = {}
    for value, name in sorted(names.items()):
        mine = [r for r in rows if r["label"] == value and not math.isnan(float(r["dc"]))]
        absent = max(n_scored_cases - len(mine), 0) if absent_class == "one" else 0
        metrics = {}
        for m in (*SUMMARY_METRICS, *LESION_SUMMARY_METRICS):
            values = [float(r[m]) for r in mine] + [_PERFECT[m]] * absent
            metrics[m] = describe(values)
        tp = sum(int(r["lesion_tp"]) for r in mine)
        fp = sum(int(r["lesion_fp"]) for r in mine)
        fn = sum(int(r["lesion_fn"]) for r in mine)
        per_class[name] = {
            "label": value, "rows": len(mine),
            "absent_cases": max(n_scored_cases - len(mine), 0), "metrics": metrics,
            "lesions": {"gt_lesions": sum(int(r["gt_lesions"]) for r in mine),
                        "lesion_tp": tp, "lesion_fp": fp, "lesion_fn": fn,
                        "lesion_f1_pooled": (2 * tp / (2 * tp + fp + fn)
                                             if tp + fp + fn else math.nan)}}
    macro = {m: mean([c["metrics"][m]["mean"] for c in per_class.values()
                      if c["metrics"][m]["count"]])
             for m in (*SUMMARY_METRICS, *LESION_SUMMARY_METRICS)}
    return {"absent_class": absent_class,
            "label_map": {str(v): n for v, n in sorted(names.items())},
            "per_class": per_class, "macro": macro}


def subtypes_summary(rows: Sequence[Mapping[str, Any]], names: Mapping[int, str]
                     ) -> dict[str, Any]:
    """The ``subtypes`` block of summary.json: pooled detection and DC per truth class.

    ``lesion_recall`` pools the lesions of every case (detected / lesions);
    ``dc_pooled`` = 2 Σ|P ∩ G_c| / Σ(|G_c| + |P_c|); ``dc`` gives the statistics of the
    per-case values (cases holding the class).
    """
    out: dict[str, Any] = {}
    for value, name in sorted(names.items()):
        mine = [r for r in rows if r["label"] == value]
        if not mine:
            continue
        lesions = sum(int(r["gt_lesions"]) for r in mine)
        found = sum(int(r["detected"]) for r in mine)
        gt = sum(int(r["gt_voxels"]) for r in mine)
        tp = sum(int(r["tp_voxels"]) for r in mine)
        pc = sum(int(r["pred_voxels"]) for r in mine)
        out[name] = {
            "label": value, "cases": len(mine), "gt_lesions": lesions, "detected": found,
            "lesion_recall": found / lesions if lesions else math.nan,
            "dc_pooled": 2.0 * tp / (gt + pc) if gt else math.nan,
            "voxel_recall_pooled": tp / gt if gt else math.nan,
            "gt_volume_ml": sum(float(r["gt_volume_ml"]) for r in mine),
            "missed_volume_ml": sum(float(r["missed_volume_ml"]) for r in mine),
            "dc": describe(float(r["dc"]) for r in mine)}
    return out


def write_rows_csv(path: str | os.PathLike[str], columns: Sequence[str],
                   rows: Iterable[Mapping[str, Any]]) -> None:
    """Write a table atomically; numbers as cases.csv writes them (``inf``, ``nan``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] if isinstance(row.get(c), str)
                         else format_number(row.get(c, math.nan)) for c in columns])
    write_text(path, buffer.getvalue())
