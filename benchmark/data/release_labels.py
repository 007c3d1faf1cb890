"""One usable label per release case: on its CT's grid, one mask from several raters.

Methods and scoring read ``Case.label``, a single file on the CT's grid. A release's label
file is used as is when its header matches its CT's. Otherwise ichbench derives a label
once and caches it under ``<cache>/release-labels/`` (the release folder is never
written), and ``Case.sources`` keeps the release's own files:

* **Header differs from the CT's** (BHSD has such cases): the grids coincide physically
  (axes permuted or reversed, same box) → the label is reoriented exactly; the array has
  the CT's shape but spacing, origin or direction differ → the label is taken voxel for
  voxel with the CT's header (the annotation tool's header is wrong, its voxels follow the
  CT's array); any other shape → an error naming the case (``ichbench data check`` lists
  every such case).
* **Several raters** (MBH-Seg25): the training and scoring truth is their majority vote
  (:func:`consensus`): ICH where more than half of the raters mark label > 0 (2 of 3,
  both of 2; one rater alone is that rater's mask), each such voxel with the subtype code
  most raters who marked it gave (ties: the lower code). Scoring against the raters one by
  one is the rater-set scoring's job, which reads ``Case.sources``.

The cache is keyed by the rule version and every release file's path, size and
modification time, so an edited label is derived again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichbench.io.atomic import write_json
from ichbench.data.cases import SPLITS, Case, Dataset, DatasetError, cache_root
from ichbench.data.releases import (
    BHSD_LABELS,
    Release,
    ReleaseCase,
    ReleaseError,
    read_release,
    release_split,
)
from ichbench.io.volumes import (
    Geometry,
    NiftiError,
    read_geometry,
    read_volume,
    reorient,
    write_volume,
)

#: Bumped when the derivation rules change (part of the cache key).
LABEL_RULES_VERSION = 1
#: Tolerances of :meth:`ichbench.io.geometry.Geometry.mismatch` (float32 header rounding).
SPACING_RTOL, ORIGIN_ATOL_MM, DIRECTION_ATOL = 1e-3, 1e-2, 1e-3


def header_differences(ct: Geometry, label: Geometry) -> list[str]:
    """Every header field in which ``label`` differs from its CT, each with both values.

    Shape (x, y, z), spacing (mm), origin (mm) and direction are compared with the
    tolerances of :meth:`~ichbench.io.geometry.Geometry.mismatch`; an empty list means the label
    is on its CT's grid.
    """
    out = []
    if label.size_xyz != ct.size_xyz:
        out.append(f"shape {_fmt(label.size_xyz)} vs CT {_fmt(ct.size_xyz)} (x, y, z)")
    if not np.allclose(label.spacing_xyz_mm, ct.spacing_xyz_mm, rtol=SPACING_RTOL, atol=0):
        out.append(f"spacing {_fmt(label.spacing_xyz_mm)} vs CT {_fmt(ct.spacing_xyz_mm)} mm")
    if not np.allclose(label.origin_mm, ct.origin_mm, rtol=0, atol=ORIGIN_ATOL_MM):
        out.append(f"origin {_fmt(label.origin_mm)} vs CT {_fmt(ct.origin_mm)} mm")
    if not np.allclose(label.direction, ct.direction, rtol=0, atol=DIRECTION_ATOL):
        out.append(f"direction {_fmt(label.direction)} vs CT {_fmt(ct.direction)}")
    return out


def grid_rule(ct: Geometry, label: Geometry) -> str | None:
    """How a label is put on its CT's grid (:func:`onto_ct_grid`).

    Returns ``"same"``, ``"reoriented"``, ``"voxel for voxel"``, or None when it cannot be
    (its array has another shape).
    """
    if not header_differences(ct, label):
        return "same"
    if ct.voxel_map(label) is not None:
        return "reoriented"
    if label.shape == ct.shape:
        return "voxel for voxel"
    return None


def onto_ct_grid(array: np.ndarray, ct: Geometry, label: Geometry) -> np.ndarray:
    """A label's (z, y, x) array on its CT's grid, per :func:`grid_rule`.

    Raises
    ------
    ValueError
        If the label cannot be put on the CT's grid (its array has another shape).
    """
    rule = grid_rule(ct, label)
    if rule == "reoriented":
        mapping = ct.voxel_map(label)
        assert mapping is not None  # grid_rule said so
        return reorient(array, *mapping)
    if rule is None:
        raise ValueError("; ".join(header_differences(ct, label)))
    return array


def consensus(masks: list[np.ndarray]) -> np.ndarray:
    """The raters' majority vote: a subtype label map (uint8, the masks' shape).

    A voxel is ICH where more than half of the masks are non-zero; it takes the non-zero
    code most of those masks give it, a tie going to the lower code. One mask is returned
    as its codes unchanged.

    Parameters
    ----------
    masks : list of np.ndarray of int, (z, y, x)
        One label map per rater, on one grid (0 background, codes 1-255).
    """
    for mask in masks:
        if mask.size and (np.min(mask) < 0 or np.max(mask) > 255):
            raise ValueError("label values outside 0-255")
    stack = np.stack([np.asarray(m).astype(np.uint8) for m in masks])  # uint8: ~N bytes/voxel
    voted = (stack > 0).sum(axis=0, dtype=np.uint16) * 2 > len(masks)
    codes = np.zeros(stack.shape[1:], np.uint8)
    best = np.zeros(stack.shape[1:], np.uint8)
    for code in np.unique(stack[stack > 0]):  # ascending: a tie keeps the lower code
        given = (stack == code).sum(axis=0, dtype=np.uint8)
        more = given > best
        codes[more], best[more] = code, given[more]
    return np.where(voted, codes, 0).astype(np.uint8)


@dataclass(frozen=True)
class LabelPlan:
    """What a release case's label becomes: the release file itself, or a derived file."""

    case_id: str
    label: Path | None
    note: str | None


def plan_labels(release: Release, *, cache: Path | None = None) -> dict[str, LabelPlan]:
    """A usable label for every labelled case of ``release`` (derived files written once).

    Raises
    ------
    ReleaseError
        If a label is unreadable or cannot be put on its CT's grid; the message names the
        case and says to run ``ichbench data check``.
    """
    base = (cache or cache_root()) / "release-labels" / _key(release)
    index_path = base / "index.json"
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        plans = {cid: LabelPlan(cid, Path(entry["label"]) if entry["label"] else None,
                                entry["note"]) for cid, entry in index.items()}
        if all(p.label is not None and p.label.is_file() for p in plans.values()):
            return plans  # else a derived file was removed from the cache: derive again
    plans = {case.case_id: _plan_case(case, base) for case in release.cases if case.labels}
    write_json(index_path, {cid: {"label": str(p.label) if p.label else None, "note": p.note}
                            for cid, p in plans.items()})
    return plans


def _plan_case(case: ReleaseCase, base: Path) -> LabelPlan:
    try:
        ct = read_geometry(case.image)
        geoms = [read_geometry(path) for path in case.labels]
        rules = [grid_rule(ct, g) for g in geoms]
        bad = [(p, g) for p, g, r in zip(case.labels, geoms, rules, strict=True) if r is None]
        if bad:
            path, geom = bad[0]
            raise ReleaseError(f"{path}: label of case {case.case_id} cannot be put on its "
                               f"CT's grid ({'; '.join(header_differences(ct, geom))}); "
                               "'ichbench data check' lists every such case")
        if len(case.labels) == 1 and rules[0] == "same":
            return LabelPlan(case.case_id, case.labels[0], None)
        arrays = [onto_ct_grid(read_volume(p).array, ct, g)
                  for p, g in zip(case.labels, geoms, strict=True)]
    except NiftiError as exc:
        raise ReleaseError(f"{exc}; 'ichbench data check' lists every unreadable file"
                           ) from None
    for array, path in zip(arrays, case.labels, strict=True):
        if array.dtype.kind == "f" and not (np.isfinite(array).all()
                                            and np.array_equal(array, np.round(array))):
            raise ReleaseError(f"{path}: label values are not whole numbers; "
                               "'ichbench data check' names the values")
    try:
        label = consensus(arrays)
    except ValueError as exc:
        raise ReleaseError(f"{case.labels[0].parent}: case {case.case_id}: {exc}; "
                           "'ichbench data check' names the values") from None
    target = base / f"{case.case_id}.nii.gz"
    write_volume(label, ct, target)
    notes = []
    if len(case.labels) > 1:
        notes.append(f"majority vote of {len(case.labels)} raters")
    fixed = sorted({r for r in rules if r != "same"})
    if fixed:
        notes.append(f"label header differs from the CT's: taken {', '.join(fixed)}")
    return LabelPlan(case.case_id, target, "; ".join(notes))


def _key(release: Release) -> str:
    digest = hashlib.sha256(f"rules {LABEL_RULES_VERSION} {release.layout}".encode())
    for case in release.cases:
        for path in (case.image, *case.labels):
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def open_release(root: Path, *, cache: Path | None = None) -> Dataset | None:
    """A BHSD, MBH-Seg25 or CT-ICH folder as a :class:`~ichbench.data.dataset.Dataset`.

    Labelled cases get the seeded 100:30:70 split of
    :func:`~ichbench.data.releases.release_split`; unlabeled cases are listed under ``test``
    without a label (the protocol makes them ``unlabeled``). Returns None when ``root`` is
    none of these releases.

    Raises
    ------
    DatasetError
        If the release cannot be read or a label cannot be made usable.
    """
    release = None
    try:
        release = read_release(root)
        if release is None:
            return None
        plans = plan_labels(release, cache=cache)
        split_of = {cid: split for split, ids in
                    release_split([c.case_id for c in release.cases if c.labels]).items()
                    for cid in ids}
    except ReleaseError as exc:
        raise DatasetError(f"{release.name if release else 'release'}: {exc}") from None
    cases = [Case(c.case_id, c.image, plans[c.case_id].label if c.labels else None,
                  split_of.get(c.case_id, "test"), sources=c.labels)
             for c in release.cases]
    order = {s: i for i, s in enumerate(SPLITS)}
    cases.sort(key=lambda c: (order[c.split], c.case_id))
    notes = tuple(f"{p.case_id}: {p.note}" for p in plans.values() if p.note)
    return Dataset(root=root, cases=tuple(cases), kind=release.layout,
                   label_map=None if release.layout == "physionet" else dict(BHSD_LABELS),
                   notes=notes)


def _fmt(values: tuple[float, ...] | tuple[int, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
