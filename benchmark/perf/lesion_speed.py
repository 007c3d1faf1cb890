"""What lesion-wise scoring costs: ``ichbench score`` time with and without it.

Run ``python -m ichbench.perf.lesion_speed [--cases N] [--slices 70] [--size 512]``. It builds
the head-CT sized pairs of :mod:`ichbench.perf.speed` (512² × N voxels, 0.45 × 0.45 × 5 mm,
one to three blobs, a boundary error of one to two voxels and, by default, a small far
false positive), then prints:

1. per case, the time of :func:`ichbench.metrics.evaluate_case` (the INSTANCE metrics)
   and of :func:`ichbench.metrics.evaluate_lesions` (components, matching, per-lesion
   HD95), and the lesion counts found;
2. for the folder written as NIfTI, the time of
   :func:`ichbench.submissions.score_folder` (one process) as it is, and with the
   lesion-wise columns switched off (the benchmark replaces
   ``ichbench.submissions.case.lesion_columns`` by a stub for that run only), and the
   ratio of the two: the extra cost of lesion-wise scoring on ``ichbench score``; and the
   same ratio from the time spent inside the lesion columns within one scoring run,
   which a busy machine disturbs less than the difference of two runs (the two variants
   run in alternating order, the fastest of ``--repeat`` runs counts).

The files are read once before timing, so both runs find them in the page cache. This is
a measurement, not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ichbench.perf.speed import SPACING_ZYX_MM, Pair, make_pair, write_folders


def _time(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare_per_case(pairs: Sequence[Pair], *, repeat: int,
                     out: Callable[[str], None]) -> float:
    """Time the case metrics and the lesion-wise metrics per pair; return lesion / case.

    Each is run ``repeat`` times per pair and its fastest run counts.
    """
    from ichbench.metrics import evaluate_case, evaluate_lesions

    out(f"{'case':>6} {'shape (z,y,x)':>16} {'case s':>8} {'lesion s':>9} {'share':>6} "
        f"{'gt':>3} {'pred':>4} {'TP':>3} {'FP':>3} {'FN':>3}")
    total_case = total_lesion = 0.0
    for pair in pairs:
        gt, pred = pair.gt.astype(bool), pair.pred.astype(bool)
        case_s = lesion_s = math.inf
        for _ in range(repeat):
            seconds, _ = _time(lambda g=gt, p=pred: evaluate_case(g, p,
                                                                 spacing_mm=SPACING_ZYX_MM))
            case_s = min(case_s, seconds)
            seconds, m = _time(lambda g=gt, p=pred: evaluate_lesions(
                g, p, spacing_mm=SPACING_ZYX_MM))
            lesion_s = min(lesion_s, seconds)
        total_case += case_s
        total_lesion += lesion_s
        shape = "×".join(str(n) for n in gt.shape)
        out(f"{pair.case_id:>6} {shape:>16} {case_s:8.3f} {lesion_s:9.3f} "
            f"{lesion_s / case_s:6.0%} {m.gt_lesions:>3} {m.pred_lesions:>4} "
            f"{m.lesion_tp:>3} {m.lesion_fp:>3} {m.lesion_fn:>3}")
    share = total_lesion / total_case
    out(f"{'total':>6} {'':>16} {total_case:8.3f} {total_lesion:9.3f} {share:6.0%}")
    return share


def compare_folder(pairs: Sequence[Pair], *, repeat: int, out: Callable[[str], None]) -> float:
    """Time score_folder with and without the lesion columns; return with / without.

    Each variant runs ``repeat`` times, interleaved, and its fastest run counts.
    """
    import ichbench.submissions.case as case_module
    from ichbench.io.volumes import read_volume
    from ichbench.submissions import score_folder

    with tempfile.TemporaryDirectory(prefix="ichbench-lesion-speed-") as tmp:
        root = Path(tmp)
        truth_dir, pred_dir = write_folders(pairs, root)
        for folder in (truth_dir, pred_dir):  # warm the page cache for both runs
            for pair in pairs:
                read_volume(folder / f"{pair.case_id}.nii.gz")
        real = case_module.lesion_columns
        inside = [0.0]

        def timed(*args: Any, **kwargs: Any) -> dict:
            start = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                inside[0] += time.perf_counter() - start

        without_s = with_s = share = math.inf
        for k in range(repeat):  # best of ``repeat``, order alternating: a shared machine
            for lesions_on in ((False, True) if k % 2 == 0 else (True, False)):  # is noisy
                inside[0] = 0.0
                case_module.lesion_columns = timed if lesions_on else (lambda *a, **kw: {})
                try:
                    seconds, scored = _time(functools.partial(
                        score_folder, pred_dir, truth_dir, root / f"{k}-{lesions_on}", jobs=1,
                        progress=False))
                finally:
                    case_module.lesion_columns = real
                if lesions_on:
                    with_s, result = min(with_s, seconds), scored
                    share = min(share, inside[0] / seconds)
                else:
                    without_s = min(without_s, seconds)
    n = len(pairs)
    ratio = with_s / without_s
    f1 = result.summary["lesions"]["lesion_f1_pooled"]
    out(f"folder: {n} cases, best of {repeat}, score_folder(jobs=1) without lesion columns "
        f"{without_s:.2f} s ({without_s / n:.2f} s/case), with {with_s:.2f} s "
        f"({with_s / n:.2f} s/case)")
    out(f"folder: lesion-wise scoring adds {ratio - 1:.0%} to score time "
        f"(ratio {ratio:.2f}); pooled lesion F1 {f1:.3f}")
    # the same question timed inside one run, immune to load changing between runs
    out(f"folder: time inside the lesion columns: {share:.0%} of a scoring run with them, "
        f"i.e. they add {share / (1 - share):.0%} (ratio {1 / (1 - share):.2f})")
    return ratio


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ichbench.perf.lesion_speed",
        description="Time ichbench score with and without the lesion-wise columns on "
                    "head-CT-sized synthetic cases (a measurement, not a test).")
    parser.add_argument("--cases", type=int, default=5, help="number of cases (default 5)")
    parser.add_argument("--slices", type=int, default=50,
                        help="slices per case, 512×512×N with N in [30, 70] (default 50)")
    parser.add_argument("--size", type=int, default=512,
                        help="in-plane size in voxels (default 512; small for a smoke run)")
    parser.add_argument("--no-far-fp", action="store_true",
                        help="predictions without the far false positive")
    parser.add_argument("--skip-folder", action="store_true",
                        help="only the per-case comparison (no NIfTI writing)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per variant, the fastest counts (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit code (2 for unusable arguments)."""
    args = _parser().parse_args(argv)
    if args.cases < 1 or args.slices < 1 or args.size < 8 or args.repeat < 1:
        print("lesion_speed: --cases, --slices and --repeat must be ≥ 1 and --size ≥ 8",
              file=sys.stderr)
        return 2

    def out(line: str) -> None:
        print(line, flush=True)

    rng = np.random.default_rng(args.seed)
    pairs = [make_pair(rng, f"{k + 1:03d}", size=args.size, slices=args.slices,
                       far_false_positive=not args.no_far_fp) for k in range(args.cases)]
    out(f"ichbench lesion_speed: {args.cases} cases of {args.size}×{args.size}×{args.slices} "
        f"voxels, spacing (z, y, x) {SPACING_ZYX_MM} mm, "
        f"{'no far false positive' if args.no_far_fp else 'with a far false positive'}")
    share = compare_per_case(pairs, repeat=args.repeat, out=out)
    out(f"per case: lesion-wise metrics take {share:.0%} of the INSTANCE metrics' time")
    if not args.skip_folder:
        compare_folder(pairs, repeat=args.repeat, out=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
