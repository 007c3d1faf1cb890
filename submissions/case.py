"""Reading, checking and scoring one case: the unit of work of a scoring run.

:func:`score_case` never raises for a bad file: whatever is wrong with the prediction
becomes a :class:`~ichbench.submissions.status.Status` and a one-line message, and the
case is then scored as an empty prediction; a bad truth file becomes ``truth_unreadable``.

Order of the checks, chosen so that hostile files cost nothing:

1. ``lstat`` again (no link, a regular file, not a truth file);
2. the header only (:func:`ichbench.io.volumes.open_volume`): absurd sizes, non-3D and
   non-NIfTI files are refused here;
3. the header's size must equal the truth's **before** any voxel is read. This bounds
   what reading can cost: the NIfTI reader allocates and decompresses exactly the
   voxels the header claims, so a gzip bomb can make it decompress at most
   ``truth voxels × 8`` bytes and is otherwise never inflated;
4. spacing, origin and direction (:meth:`ichbench.io.geometry.Geometry.mismatch`);
5. the voxels, read by ``OpenedVolume.load`` (for NIfTI: exact length, intact gzip,
   scaling applied, NaN kept): whole, finite numbers; non-zero is foreground.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichbench.io.volumes import Geometry, NiftiError, OpenedVolume, open_volume, reorient
from ichbench.metrics.case import evaluate_case_with_distances
from ichbench.submissions.classes import (
    CLASS_METRICS,
    class_rows,
    foreground_box,
    is_single_class,
    label_values,
    subtype_rows,
)
from ichbench.submissions.folder import CaseTask, entry_problem
from ichbench.submissions.lesions import lesion_columns  # issue 13: lesion-wise columns
from ichbench.submissions.status import Status

NAN = float("nan")

#: The end of the note on a mask holding labels other than 0/1 (dropped for label maps,
#: where several labels are what is expected: :func:`without_label_notes`).
LABEL_NOTE = "every non-zero voxel counted as foreground (0/1 expected)"


@dataclass(frozen=True)
class CaseScore:
    """One row of cases.csv: a truth case, its status, metrics and raw voxel counts.

    Metrics follow :func:`ichbench.metrics.evaluate_case` (DC, NSD at the run's tolerance,
    HD, HD95 in mm, RVD, volumes in mL). For a status other than ``ok`` they are those of
    an empty prediction; for ``truth_unreadable`` every number is NaN (unknown).

    Attributes
    ----------
    warnings : tuple of str
        Remarks on a case that was scored anyway (labels other than 0/1, lenient
        geometry); they also appear in ``message`` and in the summary's warnings.
    lesion : dict
        The lesion-wise and clinical-volume columns
        (:data:`ichbench.submissions.lesions.LESION_COLUMNS`); empty (written as NaN) for
        ``truth_unreadable``.
    truth_labels, pred_labels : tuple of int
        The distinct non-zero values of the truth and of the prediction as scored (empty
        for an unusable prediction): what decides whether a folder is a label map.
    classes : dict or None
        Per class present in either mask, the rows of classes.csv
        (:mod:`ichbench.submissions.classes`); None when they were not computed (a
        prediction holding only 0 and 1 is scored per class only once the folder turns
        out to be a label-map submission).
    subtypes : dict or None
        Per truth class, the strata of subtypes.csv (empty for an empty truth); None when
        not computed (a truth holding only 0 and 1).
    """

    case: str
    status: Status
    dc: float
    nsd: float
    hd: float
    hd95: float
    rvd: float
    gt_volume_ml: float
    pred_volume_ml: float
    gt_voxels: float | int
    pred_voxels: float | int
    tp_voxels: float | int
    message: str = ""
    warnings: tuple[str, ...] = ()
    # --- issue 13: lesion-wise and clinical-volume columns (appended to cases.csv) ---
    lesion: dict[str, float | int] = field(default_factory=dict)
    # --- issue 22: label maps (classes.csv, subtypes.csv) ---
    truth_labels: tuple[int, ...] = ()
    pred_labels: tuple[int, ...] = ()
    classes: dict[int, dict[str, float | int]] | None = None
    subtypes: dict[int, dict[str, float | int]] | None = None

    @classmethod
    def unmeasured(cls, case: str, status: Status, message: str) -> CaseScore:
        """A row whose numbers are all unknown (NaN), e.g. when the truth is unusable."""
        return cls(case, status, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, message)


def score_case(task: CaseTask, *, tolerance_mm: float, lenient_geometry: bool,
               classes: bool | None = None, subtypes: bool | None = None) -> CaseScore:
    """Check and score one case; never raises for a bad prediction or truth file.

    Parameters
    ----------
    task
        The case, with the folder scan's verdict.
    tolerance_mm
        NSD tolerance τ in mm.
    lenient_geometry
        Score a mask whose spacing, origin or direction differ from the truth's (with a
        warning) instead of refusing it. A different size is always refused.
    classes
        Score every class of the two masks separately (classes.csv): True always, False
        never, None when the prediction holds a value other than 0 and 1 (a label-map
        submission; the folder rescores its other cases with True when it is one).
    subtypes
        Stratify the (merged) prediction by the truth's classes (subtypes.csv): True
        always, False never, None when the truth holds a value other than 0 and 1 (the
        folder rescores a case whose truth holds only 1, e.g. a BHSD case with EDH alone,
        with True when the truth folder is a label map).

    Returns
    -------
    CaseScore
        The row for cases.csv. Spacing for the metrics is the truth header's, per array
        axis (z, y, x).
    """
    try:
        truth_volume = open_volume(task.truth)
        truth_geometry = truth_volume.geometry
        truth_array = truth_volume.load(writable=False)
    except NiftiError as exc:
        return CaseScore.unmeasured(task.case_id, Status.TRUTH_UNREADABLE,
                                    f"truth {_one_line(exc)}; fix the truth file")
    gt, problem, note = mask_values(truth_array)
    if problem is not None:
        return CaseScore.unmeasured(task.case_id, Status.TRUTH_UNREADABLE,
                                    f"truth {task.truth}: {problem}; fix the truth file")
    warnings = [f"truth {task.truth.name}: {note}"] if note else []

    status, message, pred, pred_array = Status.OK, "", None, None
    if task.status is not None:
        status, message = task.status, task.message
    else:
        assert task.prediction is not None  # the scan sets a path whenever status is None
        status, message, pred, pred_warnings, pred_array = _read_prediction(
            task.prediction, task.truth, truth_geometry, lenient_geometry)
        warnings += pred_warnings
    if pred is None:
        pred = np.zeros(gt.shape, dtype=bool)
        pred_array = pred
    metrics, distances = evaluate_case_with_distances(
        gt, pred, spacing_mm=truth_geometry.spacing_zyx_mm, tolerance_mm=tolerance_mm)
    # --- issue 13: lesion-wise and clinical-volume columns ---
    lesion = lesion_columns(gt, pred, spacing_mm=truth_geometry.spacing_zyx_mm,
                            gt_volume_ml=metrics.gt_volume_ml,
                            pred_volume_ml=metrics.pred_volume_ml, case_hd95_mm=metrics.hd95,
                            case_distances=distances)
    del distances
    if status is Status.OK:
        message = "; ".join(warnings)
    # --- issue 22: per-class rows and subtype strata of a label map ---
    truth_labels, pred_labels = label_values(truth_array, gt), label_values(pred_array, pred)
    merged = {m: getattr(metrics, m) for m in CLASS_METRICS} | lesion
    single = is_single_class(truth_labels) and is_single_class(pred_labels)
    per_class = strata = None
    want_classes = classes or (classes is None and not is_single_class(pred_labels))
    want_strata = subtypes or (subtypes is None and not is_single_class(truth_labels))
    if want_classes or want_strata:
        box = foreground_box(gt, pred)  # exact: outside it every class is background
        if want_classes:
            per_class = class_rows(truth_array[box], pred_array[box],
                                   sorted(set(truth_labels) | set(pred_labels)),
                                   spacing_mm=truth_geometry.spacing_zyx_mm,
                                   tolerance_mm=tolerance_mm,
                                   merged=merged if single else None)
        if want_strata:
            strata = subtype_rows(truth_array[box], pred[box],
                                  spacing_mm=truth_geometry.spacing_zyx_mm)
    return CaseScore(
        case=task.case_id, status=status, dc=metrics.dc, nsd=metrics.nsd, hd=metrics.hd,
        hd95=metrics.hd95, rvd=metrics.rvd, gt_volume_ml=metrics.gt_volume_ml,
        pred_volume_ml=metrics.pred_volume_ml, gt_voxels=metrics.gt_voxels,
        pred_voxels=metrics.pred_voxels, tp_voxels=metrics.tp_voxels, message=message,
        warnings=tuple(warnings), lesion=lesion, truth_labels=truth_labels,
        pred_labels=pred_labels, classes=per_class, subtypes=strata)


def without_label_notes(score: CaseScore, *, truth: bool, pred: bool) -> CaseScore:
    """The row without the "non-zero labels" notes on the truth and/or the prediction.

    For a folder of label maps several labels are what is expected, not news.
    """
    def dropped(warning: str) -> bool:
        is_truth = warning.startswith("truth ")
        return warning.endswith(LABEL_NOTE) and (truth if is_truth else pred)

    kept = tuple(w for w in score.warnings if not dropped(w))
    if kept == score.warnings:
        return score
    message = "; ".join(kept) if score.status is Status.OK else score.message
    return dataclasses.replace(score, warnings=kept, message=message)


def _read_prediction(path: Path, truth_path: Path, truth: Geometry, lenient: bool,
                     ) -> tuple[Status, str, np.ndarray | None, list[str], np.ndarray | None]:
    """(status, message, foreground mask or None, warnings, the values as read) for a file."""
    name = path.name
    try:
        st = os.stat(truth_path)
        truth_inodes = {(st.st_dev, st.st_ino)}
    except OSError:
        truth_inodes = set()
    refused = entry_problem(path, truth_inodes)
    if refused is not None:
        return refused[0], refused[1], None, [], None
    try:
        opened = open_volume(path)
        geometry = opened.geometry
    except NiftiError as exc:
        return Status.UNREADABLE, _named(exc, path), None, [], None
    voxel_map = truth.voxel_map(geometry)
    if voxel_map is not None and voxel_map != ((0, 1, 2), (False, False, False)):
        if not lenient:
            return (Status.GEOMETRY_MISMATCH,
                    f"{name}: the same voxel grid as the truth's with axes flipped or "
                    "swapped (array and direction); write the mask on its CT's own grid (or "
                    "score with --lenient-geometry to reorient it exactly)", None, [], None)
        return _read_mask(path, opened, truth, voxel_map,
                          [f"{name}: axes flipped or swapped relative to the truth, on the "
                           "same physical grid; reoriented exactly onto it (lenient "
                           "geometry)"])
    if geometry.size_xyz != truth.size_xyz:
        return (Status.GEOMETRY_MISMATCH,
                f"{name}: size {_xyz(geometry.size_xyz)} (x × y × z) differs from the "
                f"truth's {_xyz(truth.size_xyz)}; write the mask on its CT's own grid",
                None, [], None)
    warnings = []
    mismatch = truth.mismatch(geometry)
    if mismatch is not None:
        if not lenient:
            return (Status.GEOMETRY_MISMATCH,
                    f"{name}: {mismatch}; copy the CT's header onto the mask (or score with "
                    "--lenient-geometry)", None, [], None)
        if truth.mismatch(geometry, spacing_rtol=1e9, origin_atol_mm=1e12) is not None:
            return (Status.GEOMETRY_MISMATCH,
                    f"{name}: {mismatch}, and its voxels do not lie on the truth's grid "
                    "(even with --lenient-geometry); resample the mask onto its CT's grid",
                    None, [], None)
        warnings.append(f"{name}: {mismatch}; scored anyway (lenient geometry) with the "
                        "truth's spacing")
    return _read_mask(path, opened, truth, None, warnings)


def _read_mask(path: Path, opened: OpenedVolume, truth: Geometry,
               voxel_map: tuple[tuple[int, int, int], tuple[bool, bool, bool]] | None,
               warnings: list[str],
               ) -> tuple[Status, str, np.ndarray | None, list[str], np.ndarray | None]:
    """Read a mask whose header passed, optionally reorienting it onto the truth grid."""
    name = path.name
    try:
        array = opened.load(writable=False)
    except NiftiError as exc:
        return Status.UNREADABLE, _named(exc, path), None, [], None
    if voxel_map is not None:
        array = reorient(array, *voxel_map)
    if array.shape != truth.shape:  # pragma: no cover - the header was checked
        return Status.GEOMETRY_MISMATCH, f"{name}: shape {array.shape} (z, y, x)", None, [], None
    mask, problem, note = mask_values(array)
    if problem is not None:
        return Status.NOT_A_MASK, f"{name}: {problem}", None, [], None
    if note is not None:
        warnings.append(f"{name}: {note}")
    return Status.OK, "", mask, warnings, array


def mask_values(array: np.ndarray, *, nonfinite: int = 0,
                ) -> tuple[np.ndarray, str | None, str | None]:
    """Binarise a label array, or say why it is not a mask.

    Non-zero is foreground. Integer and boolean arrays are masks; float arrays are masks
    only if every value is a finite whole number (a 0.0/1.0 float mask is fine, a
    probability map is not). Labels other than 0/1 are accepted with a note.

    Parameters
    ----------
    array
        The voxels as read.
    nonfinite
        NaN/inf voxels counted elsewhere, for an array read by a reader that turns them
        into 0 (ichbench's own reader keeps them in the array).

    Returns
    -------
    mask : numpy.ndarray of bool
        Foreground, same shape as ``array`` (a view of a one-byte 0/1 array, read-only
        when it is).
    problem : str or None
        Why the array is not a mask (with the fix), else None.
    note : str or None
        A remark on an accepted mask (labels other than 0 and 1), else None.
    """
    kind = array.dtype.kind
    if not nonfinite and kind in "biu" and _zero_one(array):
        # what users submit: nothing to check or note; one-byte 0/1 voxels are booleans
        mask = array.view(np.bool_) if array.dtype.itemsize == 1 else array != 0
        return mask, None, None
    mask = array != 0  # NaN is != 0, so it lands in the foreground values checked below
    values = array[mask]
    if nonfinite:
        return mask, (f"{nonfinite} NaN or infinite voxel(s) in the file; a mask holds whole "
                      "numbers only, save 0/1 as uint8"), None
    if kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            n_nan = int(np.isnan(values).sum())
            what = f"{n_nan} NaN" if n_nan else f"{int(bad.sum())} infinite"
            return mask, (f"{what} voxel(s); a mask holds whole numbers only, save 0/1 as "
                          "uint8"), None
        fraction = values != np.round(values)
        if fraction.any():
            example = float(values[fraction][0])
            return mask, (f"values such as {example:.4g} are not whole numbers (a "
                          "probability map?); threshold it and save 0/1 as uint8"), None
    elif kind not in "biu":
        return mask, f"voxel type {array.dtype} is not a label type; save 0/1 as uint8", None
    note = None
    if values.size and (values != 1).any():
        labels = np.unique(values)
        shown = ", ".join(f"{v:g}" for v in labels[:6].tolist()) + (
            ", ..." if labels.size > 6 else "")
        note = f"non-zero labels {shown} found; {LABEL_NOTE}"
    return mask, None, note


def _zero_one(array: np.ndarray) -> bool:
    """Whether an integer or boolean array holds only 0 and 1 (two SIMD reductions)."""
    if array.size == 0:
        return True
    return bool(array.max() <= 1 and (array.dtype.kind != "i" or array.min() >= 0))


def _named(exc: NiftiError, path: Path) -> str:
    """The reader's message with the full path shortened to the file name."""
    return _one_line(exc).replace(str(path), path.name)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _xyz(size: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in size)
