"""Validating a dataset folder (INSTANCE, BHSD, MBH-Seg25, CT-ICH, synthetic), read-only.

:func:`check_dataset` reads every header and voxel array once and reports:

* errors (the folder cannot be used as is; ``ichbench data check`` exits 1): no training
  folder, a training CT without label, an unreadable file (also a FIFO, device or link to
  one with a NIfTI name: never read, always reported), image and label on different
  grids, label values that are not a mask (negative, fractional, NaN), NaN or infinite
  CT voxels;
* warnings (usable, but look): label values other than 0/1 (non-zero is hemorrhage; a
  subtype map's codes 1-5 and CT-ICH's 255 are expected), a release label whose header
  differs from its CT's but whose array fits the CT's grid (every differing field named;
  :mod:`ichbench.data.release_labels` says how it is used), a label without its CT, field of
  view, slice spacing or count outside the INSTANCE ranges, flipped or oblique
  orientation, blank (constant) slices, intensities that do not look like HU, empty
  training labels.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ichbench.data.dataset import LAYOUT_HINT, SYNTH_MANIFEST, evaluation_split, find_train_dir
from ichbench.io.nifti import printable
from ichbench.io.volumes import Geometry, NiftiError, list_cases, read_geometry, read_volume

if TYPE_CHECKING:
    from ichbench.data.releases import Release

#: Ranges seen in INSTANCE 2022 (DESIGN.md §3); outside them is a warning, not an error.
FOV_MM = (140.0, 400.0)
SLICE_MM = (0.5, 10.0)
SLICES = (10, 100)


@dataclass(frozen=True)
class Problem:
    """One finding: ``severity`` is ``"error"`` or ``"warning"``; ``path`` relative to root."""

    severity: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper():7s} {self.path}: {self.message}"


@dataclass(frozen=True)
class CaseInfo:
    """What the check learned about one case."""

    case_id: str
    split: str
    geometry: Geometry | None
    orientation: str             # "standard", "flipped" or "oblique"
    label_ml: float | None


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`."""

    root: Path
    cases: list[CaseInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    layout: str = ""

    @property
    def usable(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not any(p.severity == "error" for p in self.problems) and bool(self.cases)

    def add(self, severity: str, path: Path | str, message: str) -> None:
        """Record a finding for ``path`` (shown relative to the root)."""
        p = Path(path)
        rel = p.relative_to(self.root).as_posix() if p.is_relative_to(self.root) else str(p)
        self.problems.append(Problem(severity, _printable(rel), _printable(message)))

    def summary(self) -> str:
        """A plain-text table: cases per split, spacing, slices, lesion volumes, orientation."""
        lines = [f"dataset {self.root}"]
        geoms = [c.geometry for c in self.cases if c.geometry is not None]
        if self.layout:
            lines.append(f"layout     {self.layout}")
        counts = {s: sum(c.split == s for c in self.cases) for s in ("train", "validation",
                                                                       "test", "unlabeled")}
        lines.append("cases      " + ", ".join(f"{s} {n}" for s, n in counts.items()
                                               if n or s != "unlabeled")
                     + f" (total {len(self.cases)})")

        def row(name: str, values: list[float], fmt: str) -> None:
            if values:
                v = np.asarray(values, float)
                lines.append(f"{name:10s} min {v.min():{fmt}}  median {np.median(v):{fmt}}  "
                             f"max {v.max():{fmt}}")

        row("in-plane", [min(g.spacing_xyz_mm[:2]) for g in geoms], ".3f")
        row("slice mm", [g.spacing_xyz_mm[2] for g in geoms], ".2f")
        row("slices", [g.size_xyz[2] for g in geoms], ".0f")
        row("matrix", [max(g.size_xyz[:2]) for g in geoms], ".0f")
        row("lesion mL", [c.label_ml for c in self.cases if c.label_ml is not None], ".2f")
        orient = {o: sum(c.orientation == o for c in self.cases)
                  for o in ("standard", "flipped", "oblique")}
        lines.append("orientation " + ", ".join(f"{k} {v}" for k, v in orient.items() if v))
        n_err = sum(p.severity == "error" for p in self.problems)
        n_warn = len(self.problems) - n_err
        lines.append(f"problems   {n_err} error(s), {n_warn} warning(s)"
                     + ("" if self.usable else "  -> NOT USABLE as is"))
        return "\n".join(lines)


def orientation(geometry: Geometry) -> str:
    """"standard" (identity direction), "flipped" (axis-aligned with flips) or "oblique"."""
    d = np.asarray(geometry.direction).reshape(3, 3)
    if np.allclose(d, np.eye(3), atol=1e-3):
        return "standard"
    if np.allclose(np.abs(d), np.eye(3), atol=1e-3):
        return "flipped"
    return "oblique"


def check_dataset(root: str | os.PathLike[str], *,
                  progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Validate a dataset folder; read-only.

    Parameters
    ----------
    root
        Folder in the INSTANCE layout (``train/`` or ``train_2/``, ``evaluation/``,
        optionally ``evaluation_label/``), or a BHSD, MBH-Seg25 or PhysioNet CT-ICH
        release as it unpacks (:mod:`ichbench.data.releases`; each rater's mask is checked).
    progress
        Called as ``progress(done, total)`` after each case.
    """
    root = Path(root).expanduser().resolve()
    report = CheckReport(root)
    if not root.is_dir():
        report.add("error", root, "no such folder")
        return report
    train_dir = find_train_dir(root)
    if train_dir is None:
        from ichbench.data.releases import ReleaseError, read_release

        try:
            release = read_release(root)
        except ReleaseError as exc:
            report.add("error", root, str(exc))
            return report
        if release is not None:
            _check_release(report, release, progress)
            return report
        report.add("error", root, "no train/data/ (or train_2/data/) folder; expected the "
                   "INSTANCE layout train/data/001.nii.gz + train/label/001.nii.gz, or "
                   f"{LAYOUT_HINT}")
        return report
    report.layout = "INSTANCE"
    allowed = _manifest_codes(root)
    pairs: list[tuple[str, str, Path, Path | None]] = []
    try:
        images = list_cases(train_dir / "data")
        labels = list_cases(train_dir / "label") if (train_dir / "label").is_dir() else {}
        evaluation = list_cases(root / "evaluation") if (root / "evaluation").is_dir() else {}
        eval_labels = (list_cases(root / "evaluation_label")
                       if (root / "evaluation_label").is_dir() else {})
    except NiftiError as exc:
        report.add("error", root, str(exc))
        return report
    for cid, path in images.items():
        if cid not in labels:
            report.add("error", path, f"training CT without label (expected "
                       f"{(train_dir / 'label' / path.name).relative_to(root)})")
        pairs.append((cid, "train", path, labels.get(cid)))
    for cid, path in labels.items():
        if cid not in images:
            report.add("warning", path, "label without a CT in data/; ignored")
    for cid, path in evaluation.items():
        pairs.append((cid, evaluation_split(cid), path, eval_labels.get(cid)))
    for cid, path in eval_labels.items():
        if cid not in evaluation:
            report.add("warning", path, "evaluation label without a CT in evaluation/; ignored")
    if eval_labels and len(eval_labels) < len(evaluation):
        report.add("warning", root / "evaluation_label",
                   f"labels for {len(eval_labels)} of {len(evaluation)} evaluation cases; "
                   "the protocol will treat evaluation cases as unlabeled")
    if not images:
        report.add("error", train_dir / "data", "no .nii/.nii.gz training CTs")
    for n, (cid, split, image, label) in enumerate(pairs, start=1):
        report.cases.append(_check_case(report, cid, split, image,
                                        () if label is None else (label,), allowed=allowed))
        if progress is not None:
            progress(n, len(pairs))
    return report


def _manifest_codes(root: Path) -> frozenset[int] | None:
    """The label codes a synthetic dataset's manifest declares (phantom v6: 1-5), else None."""
    import json

    try:
        raw = json.loads((root / SYNTH_MANIFEST).read_text(encoding="utf-8"))
        return frozenset(int(k) for k in raw["label_map"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _check_release(report: CheckReport, release: Release,
                   progress: Callable[[int, int], None] | None) -> None:
    """Check a BHSD, MBH-Seg25 or CT-ICH release: every CT and every rater's mask.

    Cases are listed under the split a run would give them (the seeded 100:30:70 split of
    the labelled cases; ``unlabeled`` for a CT without a mask).
    """
    from ichbench.data.releases import RELEASE_VALUES, ReleaseError, release_split

    report.layout = f"{release.name} ({release.folder})"
    labelled = [c.case_id for c in release.cases if c.labels]
    try:
        split_of = {cid: split for split, ids in release_split(labelled).items()
                    for cid in ids}
    except ReleaseError as exc:
        report.add("error", release.folder, str(exc))
        split_of = {}
    for path in release.orphans:
        report.add("warning", path, "label without a CT; ignored")
    for n, case in enumerate(release.cases, start=1):
        report.cases.append(_check_case(
            report, case.case_id, split_of.get(case.case_id, "unlabeled"), case.image,
            case.labels, allowed=RELEASE_VALUES[release.layout], adopt_header=True))
        if progress is not None:
            progress(n, len(release.cases))


def _check_case(report: CheckReport, cid: str, split: str, image: Path,
                labels: tuple[Path, ...], *, allowed: frozenset[int] | None = None,
                adopt_header: bool = False) -> CaseInfo:
    try:
        vol = read_volume(image)
    except NiftiError as exc:
        report.add("error", image, str(exc).removeprefix(f"{image}: "))
        return CaseInfo(cid, split, None, "standard", None)
    geom = vol.geometry
    orient = orientation(geom)
    if orient != "standard":
        report.add("warning", image, f"{orient} orientation (direction {_fmt(geom.direction)});"
                   " ichbench keeps it, viewers may show it turned")
    sx, sy, sz = geom.spacing_xyz_mm
    fov = (geom.size_xyz[0] * sx, geom.size_xyz[1] * sy)
    if not (FOV_MM[0] <= min(fov) and max(fov) <= FOV_MM[1]):
        report.add("warning", image, f"field of view {fov[0]:.0f} × {fov[1]:.0f} mm outside "
                   f"the usual {FOV_MM[0]:.0f}-{FOV_MM[1]:.0f} mm (spacing {sx:.3g} mm)")
    if not SLICE_MM[0] <= sz <= SLICE_MM[1]:
        report.add("warning", image, f"slice spacing {sz:.3g} mm outside the usual "
                   f"{SLICE_MM[0]}-{SLICE_MM[1]} mm")
    if not SLICES[0] <= geom.size_xyz[2] <= SLICES[1]:
        report.add("warning", image, f"{geom.size_xyz[2]} slices, outside the usual "
                   f"{SLICES[0]}-{SLICES[1]}")
    arr = vol.array
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            report.add("error", image, f"{arr.size - int(np.count_nonzero(finite)):,} NaN or "
                       "infinite voxel(s); a CT holds finite HU values, write it again")
            arr = np.where(finite, arr, 0)
    flat = arr.reshape(arr.shape[0], -1)
    blank = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
    if blank.size:
        report.add("warning", image, f"{blank.size} blank slice(s) (constant value), "
                   f"e.g. slice {int(blank[0])}; not image data")
    lo, hi = float(arr.min()), float(arr.max())
    if lo > -500 or hi < 300:
        report.add("warning", image, f"intensities {lo:.0f}..{hi:.0f} do not look like HU "
                   "(expected air near -1000 and bone above 300)")
    volumes = [_check_label(report, label, geom, split, allowed=allowed,
                            adopt_header=adopt_header) for label in labels]
    known = [v for v in volumes if v is not None]
    label_ml = float(np.mean(known)) if known else None  # several raters: their mean
    return CaseInfo(cid, split, geom, orient, label_ml)


def _check_label(report: CheckReport, label: Path, geom: Geometry, split: str, *,
                 allowed: frozenset[int] | None, adopt_header: bool) -> float | None:
    from ichbench.data.release_labels import grid_rule, header_differences

    try:
        lgeom = read_geometry(label)
    except NiftiError as exc:
        report.add("error", label, str(exc).removeprefix(f"{label}: "))
        return None
    differences = header_differences(geom, lgeom)
    rule = grid_rule(geom, lgeom)
    if differences and (not adopt_header or rule is None):
        report.add("error", label, f"label grid differs from its CT: "
                   f"{'; '.join(differences)}; a label must share its CT's header"
                   + ("" if not adopt_header else " (or at least its array shape)"))
        return None
    if differences:
        report.add("warning", label, f"label header differs from its CT: "
                   f"{'; '.join(differences)}; ichbench uses the label {rule} on the CT's "
                   "grid")
    try:
        lab = read_volume(label).array
    except NiftiError as exc:
        report.add("error", label, str(exc).removeprefix(f"{label}: "))
        return None
    if lab.dtype.kind == "f" and not np.isfinite(lab).all():
        n_bad = lab.size - int(np.count_nonzero(np.isfinite(lab)))
        report.add("error", label, f"{n_bad:,} NaN or infinite voxel(s); a label holds 0 "
                   "(background) and 1 (hemorrhage), save it as uint8")
        return None
    values = np.unique(lab)
    if values.size > 64 or np.any(values < 0) or np.any(values != np.round(values)):
        shown = ", ".join(f"{v:g}" for v in values[:6])
        report.add("error", label, f"label values {shown}{' ...' if values.size > 6 else ''} "
                   "are not a mask; expected 0 (background) and 1 (hemorrhage)")
        return None
    expected = {0, 1} if allowed is None else {0, *allowed}
    if not set(values.tolist()) <= expected:
        codes = ", ".join(f"{v:g}" for v in sorted(expected))
        report.add("warning", label, f"label values {', '.join(f'{v:g}' for v in values)}; "
                   f"expected {codes}, every non-zero value is counted as hemorrhage")
    n = int(np.count_nonzero(lab))
    if n == 0 and split == "train":
        report.add("warning", label, "empty label (no hemorrhage)")
    return n * geom.voxel_volume_ml


def _printable(text: str) -> str:
    """``text`` with bytes that are not UTF-8 (from file names) shown as escapes."""
    return printable(text)


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"
