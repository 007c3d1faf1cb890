"""Speed of ichbench's metrics and scoring against DeepMind ``surface-distance``.

Run ``python -m ichbench.perf.speed [--cases N] [--slices 70] [--jobs 1] [--family F]``. It
builds head-CT sized pairs (``--size``² × ``--slices`` voxels, spacing 0.45 × 0.45 × 5 mm)
of three families (:data:`FAMILIES`), one after the other:

- ``lesion+far-fp``: a truth with one to three hemorrhage-like blobs, a prediction that
  follows it with errors of one to two voxels at the boundary plus a small false
  positive far away (other hemisphere, other slices), the case where
  ``surface-distance``'s distance transform over the bounding box of both masks spans
  most of the head;
- ``lesion``: the same without the far false positive;
- ``large+specks``: a large hematoma (50-150 mL), under-segmented, and 20-60
  false-positive specks scattered across the head;
- ``ragged``: what users submit: a ragged 75-90 mL hematoma on a head-sized case
  (28-70 slices), predicted shifted by one to three voxels in-plane and dilated by zero
  to two voxels, plus two far specks, so that the two surfaces nowhere coincide (the
  smooth families above are under-segmented copies whose surfaces often do).

For each family it prints:

1. per case, the time of :func:`ichbench.metrics.evaluate_case` and of
   ``surface-distance`` (``compute_surface_distances`` + Dice, NSD, HD, HD95) on the same
   boolean arrays, their ratio, and the largest difference between the two results;
2. for the whole folder written as NIfTI, the time of
   :func:`ichbench.submissions.score_folder` (``jobs=--jobs``) against a plain script
   (SimpleITK read of each pair + ``surface-distance``), their ratio, and the share of
   ichbench's scoring time spent reading NIfTI (``ichbench.io.volumes.read_volume`` of the
   pairs, timed separately);
3. whole process against whole process (start-up, imports and decoding included):
   ``ichbench score --jobs 1`` as a command against the plain script run as
   ``python -c``, interleaved ``--process-repeat`` times, fastest of each, and their
   ratio: what a user waits for either way.

and at the end one line per family: the three ratios and the decoding share. This is a
measurement, not a test: timings depend on the machine. ``surface-distance`` is
a test extra (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPACING_ZYX_MM = (5.0, 0.45, 0.45)
"""Axial head CT: 5 mm slices of 0.45 mm pixels, in array axis order (z, y, x)."""


@dataclass(frozen=True)
class Pair:
    """One synthetic case: truth and prediction masks (z, y, x), uint8."""

    case_id: str
    gt: np.ndarray
    pred: np.ndarray


def _add_ellipsoid(mask: np.ndarray, center: np.ndarray, radii_vox: np.ndarray) -> None:
    """Set an axis-aligned ellipsoid to 1, computing only on its bounding box."""
    low = np.maximum(np.floor(center - radii_vox).astype(int), 0)
    high = np.minimum(np.ceil(center + radii_vox).astype(int) + 1, mask.shape)
    if np.any(high <= low):
        return
    grid = np.ogrid[tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))]
    inside = sum(((g - c) / r) ** 2 for g, c, r in zip(grid, center, radii_vox, strict=True))
    mask[tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))] |= (
        inside <= 1).astype(np.uint8)


def make_pair(rng: np.random.Generator, case_id: str, *, size: int, slices: int,
              far_false_positive: bool = True) -> Pair:
    """Build one truth/prediction pair of shape (slices, size, size).

    The truth is one to three overlapping ellipsoids (radii 3-15 mm in-plane, 1-3 slices)
    inside the central part of the image; the prediction is the same blobs with centres
    and radii perturbed by about a voxel, so its boundary is off by one to two voxels, and
    (``far_false_positive``) a 2-4 mm blob in the other hemisphere, a third of the slices
    away.
    """
    shape = np.array((slices, size, size))
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    spacing = np.array(SPACING_ZYX_MM)
    # the head fills the central ~80 % of the image; the lesion sits in one hemisphere
    center = np.array([rng.uniform(0.3, 0.7) * slices, rng.uniform(0.3, 0.7) * size,
                       rng.uniform(0.25, 0.4) * size])
    for _ in range(int(rng.integers(1, 4))):
        radii_mm = np.array([rng.uniform(5.0, 15.0), rng.uniform(3.0, 15.0),
                             rng.uniform(3.0, 15.0)])
        blob_center = center + rng.normal(0, 1, 3) * radii_mm / spacing / 2
        radii_vox = np.maximum(radii_mm / spacing, 0.6)
        _add_ellipsoid(gt, blob_center, radii_vox)
        _add_ellipsoid(pred, blob_center + rng.normal(0, 0.7, 3),
                       radii_vox * rng.uniform(0.9, 1.1, 3))
    if far_false_positive:
        far = np.array([(center[0] + slices / 3) % slices, rng.uniform(0.2, 0.8) * size,
                        size - center[2] + rng.uniform(0.0, 0.1) * size])
        _add_ellipsoid(pred, far, np.array([0.6, *(rng.uniform(2.0, 4.0, 2) / spacing[1:])]))
    return Pair(case_id, gt, pred)


def make_large_with_specks(rng: np.random.Generator, case_id: str, *, size: int,
                           slices: int) -> Pair:
    """A large hematoma (50-150 mL at full size) and false-positive specks across the head.

    The truth is one ellipsoid whose volume is drawn in 50-150 mL (scaled down with the
    image for a smoke run); the prediction follows it, under-segmented by up to a fifth
    of each radius (so that many truth points lie beyond a few voxels), and adds 20-60
    specks of one to a few voxels scattered over the whole head (central ~80 % in-plane,
    every slice): the shape where a distance transform over the bounding box of both
    masks spans the head.
    """
    shape = np.array((slices, size, size))
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    spacing = np.array(SPACING_ZYX_MM)
    scale = min(1.0, size / 512) * min(1.0, slices / 30)  # 1 at head size
    volume_mm3 = rng.uniform(50_000.0, 150_000.0) * scale ** 3
    shape_ratio = rng.uniform(0.7, 1.3, 3)
    radius_mm = (volume_mm3 * 3 / (4 * np.pi) / np.prod(shape_ratio)) ** (1 / 3)
    radii_vox = np.maximum(radius_mm * shape_ratio / spacing, 0.6)
    center = np.array([slices / 2, rng.uniform(0.35, 0.65) * size,
                       rng.uniform(0.3, 0.45) * size])
    _add_ellipsoid(gt, center, radii_vox)
    # under-segmented by up to a fifth of the radius (often more than the lattice reach)
    _add_ellipsoid(pred, center + rng.normal(0, 0.7, 3), radii_vox * rng.uniform(0.8, 1.02, 3))
    for _ in range(int(rng.integers(20, 61))):
        speck = np.array([rng.uniform(0, slices - 1), rng.uniform(0.1, 0.9) * size,
                          rng.uniform(0.1, 0.9) * size])
        _add_ellipsoid(pred, speck, np.array([0.5, *rng.uniform(0.5, 2.0, 2)]))
    return Pair(case_id, gt, pred)


def make_ragged(rng: np.random.Generator, case_id: str, *, size: int, slices: int) -> Pair:
    """A ragged 75-90 mL hematoma, predicted shifted and dilated, with two far specks.

    The truth is an ellipsoid whose border is roughened by smooth noise (a few mm), its
    largest connected part kept, its volume set to 75-90 mL at head size (scaled down
    with the image for a smoke run), on ``min(28, slices)``-``slices`` slices. The
    prediction is the truth shifted by one to three voxels along both in-plane axes,
    dilated in-plane by zero to two voxels, plus two one-voxel specks in the other
    hemisphere: no surface point of one lies on the other.
    """
    from scipy import ndimage

    slices = int(rng.integers(min(28, slices), slices + 1))
    shape = np.array((slices, size, size))
    spacing = np.array(SPACING_ZYX_MM)
    scale = min(1.0, size / 512) * min(1.0, slices / 28)
    volume_mm3 = rng.uniform(75_000.0, 90_000.0) * scale ** 3
    ratio = rng.uniform(0.8, 1.25, 3)
    radius_mm = (volume_mm3 * 3 / (4 * np.pi) / np.prod(ratio)) ** (1 / 3)
    radii_vox = np.maximum(radius_mm * ratio * 1.25 / spacing, 1.0)
    center = np.array([slices / 2, rng.uniform(0.4, 0.6) * size, rng.uniform(0.3, 0.4) * size])
    low = np.maximum(np.floor(center - radii_vox).astype(int), 0)
    high = np.minimum(np.ceil(center + radii_vox).astype(int) + 1, shape)
    grid = np.ogrid[tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))]
    radial = np.sqrt(sum(((g - c) / r) ** 2
                         for g, c, r in zip(grid, center, radii_vox, strict=True)))
    noise = ndimage.gaussian_filter(rng.standard_normal(radial.shape), (0.6, 6.0, 6.0))
    field = radial + 0.35 * noise / max(float(noise.std()), 1e-9)
    voxel_mm3 = float(np.prod(spacing))
    keep = min(field.size, max(1, round(1.03 * volume_mm3 / voxel_mm3)))  # crumbs dropped
    threshold = np.partition(field.ravel(), keep - 1)[keep - 1]
    gt = np.zeros(shape, np.uint8)
    box = tuple(slice(lo, hi) for lo, hi in zip(low, high, strict=True))
    labels, _ = ndimage.label(field <= threshold, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    gt[box] = labels == int(sizes.argmax())  # one hematoma: the noise's crumbs dropped
    shift = rng.integers(1, 4, 2) * rng.choice((-1, 1), 2)
    pred = np.roll(gt, tuple(int(v) for v in shift), axis=(1, 2))
    dilation = int(rng.integers(0, 3))
    if dilation:
        pred = ndimage.binary_dilation(pred, np.ones((1, 3, 3), bool),
                                       iterations=dilation).astype(np.uint8)
    for _ in range(2):
        pred[int(rng.integers(0, slices)), int(rng.uniform(0.2, 0.8) * size),
             int(rng.uniform(0.7, 0.85) * size)] = 1
    return Pair(case_id, gt, pred)


#: Case families timed by ``python -m ichbench.perf.speed``, in order.
FAMILIES = ("lesion+far-fp", "lesion", "large+specks", "ragged")


def make_family(rng: np.random.Generator, family: str, case_id: str, *, size: int,
                slices: int) -> Pair:
    """One pair of a family of :data:`FAMILIES`."""
    if family == "large+specks":
        return make_large_with_specks(rng, case_id, size=size, slices=slices)
    if family == "ragged":
        return make_ragged(rng, case_id, size=size, slices=slices)
    return make_pair(rng, case_id, size=size, slices=slices,
                     far_false_positive=family == "lesion+far-fp")


def _time(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _reference_metrics(surface_distance: Any, gt: np.ndarray, pred: np.ndarray,
                       spacing_mm: Sequence[float], tolerance_mm: float) -> dict[str, float]:
    """What a plain script computes with ``surface-distance`` (bool masks, non-empty)."""
    with warnings.catch_warnings():  # the library imports deprecated scipy namespaces
        warnings.simplefilter("ignore", DeprecationWarning)
        distances = surface_distance.compute_surface_distances(gt, pred, spacing_mm)
    return {
        "dc": float(surface_distance.compute_dice_coefficient(gt, pred)),
        "nsd": float(surface_distance.compute_surface_dice_at_tolerance(distances,
                                                                         tolerance_mm)),
        "hd": float(surface_distance.compute_robust_hausdorff(distances, 100)),
        "hd95": float(surface_distance.compute_robust_hausdorff(distances, 95)),
    }


def compare_per_case(pairs: Sequence[Pair], surface_distance: Any, *,
                     tolerance_mm: float, out: Callable[[str], None]) -> float:
    """Time both metric implementations on each pair; print a table; return the ratio.

    The ratio is total surface-distance time / total ichbench time over the pairs.
    """
    from ichbench.metrics import evaluate_case

    out(f"{'case':>6} {'shape (z,y,x)':>16} {'gt mL':>7} {'pred mL':>7} {'ichbench s':>11} "
        f"{'surf-dist s':>11} {'ratio':>6} {'max |diff|':>10}")
    total_ours = total_theirs = 0.0
    for pair in pairs:
        gt, pred = pair.gt.astype(bool), pair.pred.astype(bool)
        ours_s, ours = _time(lambda g=gt, p=pred: evaluate_case(
            g, p, spacing_mm=SPACING_ZYX_MM, tolerance_mm=tolerance_mm))
        theirs_s, theirs = _time(lambda g=gt, p=pred: _reference_metrics(
            surface_distance, g, p, SPACING_ZYX_MM, tolerance_mm))
        # DC differs by the challenge's ε smoothing only (≤ 1e-5 / volume)
        diff = max(abs(getattr(ours, k) - v) for k, v in theirs.items() if k != "dc")
        total_ours += ours_s
        total_theirs += theirs_s
        shape = "×".join(str(n) for n in gt.shape)
        out(f"{pair.case_id:>6} {shape:>16} {ours.gt_volume_ml:7.2f} {ours.pred_volume_ml:7.2f} "
            f"{ours_s:11.3f} {theirs_s:11.3f} {theirs_s / ours_s:6.1f} {diff:10.1e}")
    ratio = total_theirs / total_ours
    out(f"{'total':>6} {'':>16} {'':>7} {'':>7} {total_ours:11.3f} {total_theirs:11.3f} "
        f"{ratio:6.1f}")
    return ratio


def _plain_script(surface_distance: Any, pred_dir: Path, truth_dir: Path,
                  case_ids: Sequence[str], tolerance_mm: float) -> None:
    """The baseline: read each pair with SimpleITK and call surface-distance."""
    import SimpleITK as sitk

    for case_id in case_ids:
        truth = sitk.ReadImage(str(truth_dir / f"{case_id}.nii.gz"))
        pred = sitk.ReadImage(str(pred_dir / f"{case_id}.nii.gz"))
        spacing_zyx = tuple(reversed(truth.GetSpacing()))
        _reference_metrics(surface_distance, sitk.GetArrayFromImage(truth) != 0,
                           sitk.GetArrayFromImage(pred) != 0, spacing_zyx, tolerance_mm)


#: The plain script as a user would run it, for the whole-process comparison:
#: ``python -c PLAIN_SCRIPT PRED_DIR TRUTH_DIR TOLERANCE CASE...``.
PLAIN_SCRIPT = """
import sys, warnings
import numpy as np
import SimpleITK as sitk
warnings.simplefilter("ignore", DeprecationWarning)
import surface_distance
pred_dir, truth_dir, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
for case in sys.argv[4:]:
    truth = sitk.ReadImage(f"{truth_dir}/{case}.nii.gz")
    pred = sitk.ReadImage(f"{pred_dir}/{case}.nii.gz")
    spacing = tuple(reversed(truth.GetSpacing()))
    gt, pr = sitk.GetArrayFromImage(truth) != 0, sitk.GetArrayFromImage(pred) != 0
    d = surface_distance.compute_surface_distances(gt, pr, spacing)
    print(case, surface_distance.compute_dice_coefficient(gt, pr),
          surface_distance.compute_surface_dice_at_tolerance(d, tolerance),
          surface_distance.compute_robust_hausdorff(d, 100),
          surface_distance.compute_robust_hausdorff(d, 95))
"""


def compare_processes(pred_dir: Path, truth_dir: Path, case_ids: Sequence[str], *,
                      tolerance_mm: float, repeat: int, out: Callable[[str], None]) -> float:
    """Time ``ichbench score --jobs 1`` and the plain script as whole processes.

    Start-up, imports and decoding count on both sides (what a user waits for). The two
    run alternately ``repeat`` times; the fastest run of each counts. Returns the ratio
    plain / ichbench.
    """
    import subprocess

    score = [sys.executable, "-c", "from ichbench.cli import main; main()", "score",
             str(pred_dir), "--truth", str(truth_dir), "--tolerance-mm", str(tolerance_mm),
             "--jobs", "1", "--out"]
    plain = [sys.executable, "-c", PLAIN_SCRIPT, str(pred_dir), str(truth_dir),
             str(tolerance_mm), *case_ids]
    ours, theirs = [], []
    for k in range(repeat):
        out_dir = truth_dir.parent / f"process-scores-{k}"
        ours.append(_time(lambda o=out_dir: subprocess.run(
            [*score, str(o)], check=True, capture_output=True))[0])
        theirs.append(_time(lambda: subprocess.run(plain, check=True,
                                                   capture_output=True))[0])
    ratio = min(theirs) / min(ours)
    out(f"process: ichbench score --jobs 1 {min(ours):.2f} s, plain script "
        f"{min(theirs):.2f} s (fastest of {repeat}, interleaved; each pair's ratio "
        + ", ".join(f"{t / o:.2f}" for o, t in zip(ours, theirs, strict=True))
        + f"), ratio {ratio:.1f}")
    return ratio


def write_folders(pairs: Sequence[Pair], root: Path) -> tuple[Path, Path]:
    """Write the pairs as ``root/truth`` and ``root/pred`` folders of ``<case>.nii.gz``."""
    from ichbench.io.volumes import Geometry, write_volume

    truth_dir, pred_dir = root / "truth", root / "pred"
    truth_dir.mkdir()
    pred_dir.mkdir()
    for pair in pairs:
        z, y, x = pair.gt.shape
        geometry = Geometry(size_xyz=(x, y, z), spacing_xyz_mm=SPACING_ZYX_MM[::-1],
                            origin_mm=(0.0, 0.0, 0.0),
                            direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        write_volume(pair.gt, geometry, truth_dir / f"{pair.case_id}.nii.gz")
        write_volume(pair.pred, geometry, pred_dir / f"{pair.case_id}.nii.gz")
    return truth_dir, pred_dir


def compare_folder(pairs: Sequence[Pair], surface_distance: Any, *, jobs: int,
                   tolerance_mm: float, out: Callable[[str], None], process_repeat: int = 0,
                   ) -> tuple[float, float, float | None] | None:
    """Write the pairs as NIfTI, time score_folder against the plain script; print both.

    Returns the ratio plain / ichbench, the share of ichbench's time spent reading
    NIfTI and (``process_repeat`` > 0) the whole-process ratio of
    :func:`compare_processes`, or None when ``ichbench.submissions`` is missing.
    """
    from ichbench.io.volumes import read_volume

    try:
        from ichbench.submissions import score_folder
    except ImportError as exc:  # the scoring package is developed alongside
        out(f"folder: skipped, ichbench.submissions.score_folder is not available ({exc})")
        return None
    with tempfile.TemporaryDirectory(prefix="ichbench-speed-") as tmp:
        root = Path(tmp)
        truth_dir, pred_dir = write_folders(pairs, root)
        case_ids = [pair.case_id for pair in pairs]
        # warm-up: imports and first-call costs of both sides are paid before any timing
        read_volume(truth_dir / f"{case_ids[0]}.nii.gz")
        _plain_script(surface_distance, pred_dir, truth_dir, case_ids[:1], tolerance_mm)
        ours_s, result = _time(lambda: score_folder(pred_dir, truth_dir, root / "scores",
                                                    tolerance_mm=tolerance_mm, jobs=jobs,
                                                    progress=False))
        plain_s, _ = _time(lambda: _plain_script(surface_distance, pred_dir, truth_dir,
                                                 case_ids, tolerance_mm))
        read_s, _ = _time(lambda: [read_volume(folder / f"{c}.nii.gz")
                                   for c in case_ids for folder in (truth_dir, pred_dir)])
        process = (compare_processes(pred_dir, truth_dir, case_ids, tolerance_mm=tolerance_mm,
                                     repeat=process_repeat, out=out)
                   if process_repeat else None)
    n = len(pairs)
    ratio = plain_s / ours_s
    out(f"folder: {n} cases, score_folder(jobs={jobs}) {ours_s:.2f} s "
        f"({ours_s / n:.2f} s/case), plain SimpleITK + surface-distance script "
        f"{plain_s:.2f} s ({plain_s / n:.2f} s/case), ratio {ratio:.1f}")
    share = read_s / ours_s
    out(f"folder: reading the {2 * n} NIfTI files with ichbench.io.volumes.read_volume takes "
        f"{read_s:.2f} s, {share:.0%} of score_folder's time"
        + (" (jobs > 1: share of wall time)" if jobs > 1 else ""))
    out(f"folder: statuses {_nonzero(result.status_counts)}")
    return ratio, share, process


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {status: n for status, n in counts.items() if n}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ichbench.perf.speed",
        description="Time ichbench's metrics and scoring against surface-distance on "
                    "head-CT-sized synthetic cases (a measurement, not a test).")
    parser.add_argument("--cases", type=int, default=5, help="number of cases (default 5)")
    parser.add_argument("--slices", type=int, default=70,
                        help="slices per case, 512×512×N with N up to 70 (default 70)")
    parser.add_argument("--size", type=int, default=512,
                        help="in-plane size in voxels (default 512; small for a smoke run)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="worker processes for score_folder (default 1)")
    parser.add_argument("--tolerance-mm", type=float, default=0.42, help="NSD tolerance")
    parser.add_argument("--family", choices=("all", *FAMILIES), default="all",
                        help="case family to time (default: all, one after the other)")
    parser.add_argument("--no-far-fp", action="store_true",
                        help="leave out the family with a far false positive")
    parser.add_argument("--skip-folder", action="store_true",
                        help="only the per-case comparison (no NIfTI writing)")
    parser.add_argument("--process-repeat", type=int, default=3,
                        help="whole-process runs of each side, interleaved (default 3; 0 "
                             "skips the whole-process comparison)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code (2 for unusable arguments or no extra)."""
    args = _parser().parse_args(argv)
    if (args.cases < 1 or args.slices < 1 or args.size < 8 or args.jobs < 1
            or args.process_repeat < 0):
        print("speed: --cases, --slices and --jobs must be ≥ 1, --size ≥ 8 and "
              "--process-repeat ≥ 0", file=sys.stderr)
        return 2
    try:
        import surface_distance
    except ImportError:
        print("speed: needs the reference library surface-distance, a test extra; "
              "install it with pip install -e '.[test]'", file=sys.stderr)
        return 2

    def out(line: str) -> None:
        print(line, flush=True)

    families = FAMILIES if args.family == "all" else (args.family,)
    if args.no_far_fp:
        families = tuple(f for f in families if f != "lesion+far-fp") or ("lesion",)
    rng = np.random.default_rng(args.seed)
    table = []
    for family in families:  # families interleaved: ichbench and the script per family
        pairs = [make_family(rng, family, f"{k + 1:03d}", size=args.size, slices=args.slices)
                 for k in range(args.cases)]
        out(f"ichbench speed, family {family}: {args.cases} cases of {args.size}×{args.size}×"
            f"{args.slices} voxels, spacing (z, y, x) {SPACING_ZYX_MM} mm")
        ratio = compare_per_case(pairs, surface_distance, tolerance_mm=args.tolerance_mm,
                                 out=out)
        out(f"per case: ichbench metrics {ratio:.1f}× faster than surface-distance")
        folder = None
        if not args.skip_folder:
            folder = compare_folder(pairs, surface_distance, jobs=args.jobs,
                                    tolerance_mm=args.tolerance_mm, out=out,
                                    process_repeat=args.process_repeat)
            if folder is not None:
                out(f"folder: score_folder {folder[0]:.1f}× faster than the plain script")
        table.append((family, ratio, folder))
    out("")
    out(f"{'family':<14} {'vs surface-distance':>20} {'vs plain script':>16} "
        f"{'decoding share':>15} {'whole process':>14}")
    for family, ratio, folder in table:
        plain = f"{folder[0]:.1f}×" if folder else "-"
        share = f"{folder[1]:.0%}" if folder else "-"
        process = f"{folder[2]:.1f}×" if folder and folder[2] is not None else "-"
        out(f"{family:<14} {ratio:>19.1f}× {plain:>16} {share:>15} {process:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
