"""Measure the phantom: HU per tissue, lesion volumes, time, memory and the threshold floor.

Run ``python -m ichbench.phantom.measure --cases 20 --preset small`` (and ``--preset full
--cases 3`` for the full grid). The threshold floor is what a plain rule reaches: HU in
[50, 90] inside the skull (holes of the bone mask, 3 mm in from the inner table), then
connected components; it must stay far below a trained model.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy import ndimage

from ichbench.data.dataset import synthetic_case_ids
from ichbench.phantom.anatomy import REGIONS
from ichbench.phantom.generate import case_seed
from ichbench.phantom.scan import render_case, sample_case

_IN_PLANE = np.zeros((3, 3, 3), bool)
_IN_PLANE[1] = True


def dice(gt: np.ndarray, pred: np.ndarray) -> float:
    """Dice coefficient of two boolean masks (1.0 when both are empty)."""
    denom = int(gt.sum()) + int(pred.sum())
    return 1.0 if denom == 0 else 2.0 * int((gt & pred).sum()) / denom


def intracranial(ct: np.ndarray, spacing_zyx_mm: tuple[float, float, float],
                 margin_mm: float = 3.0) -> np.ndarray:
    """Inside the skull, per slice: holes of the bone mask minus a margin from the bone."""
    bone = ct > 300
    inside = np.zeros_like(bone)
    for k in range(ct.shape[0]):
        inside[k] = ndimage.binary_fill_holes(bone[k]) & ~bone[k]
    dist = ndimage.distance_transform_edt(inside, sampling=(1e3, *spacing_zyx_mm[1:]))
    return inside & (dist > margin_mm)


def threshold_floor(ct: np.ndarray, spacing_zyx_mm: tuple[float, float, float], *,
                    lo_hu: float = 50.0, hi_hu: float = 90.0) -> dict[str, np.ndarray]:
    """Masks of the plain threshold rule and its connected-component variants."""
    cand = intracranial(ct, spacing_zyx_mm) & (ct >= lo_hu) & (ct <= hi_hu)
    lab, n = ndimage.label(cand)
    out = {"threshold": cand}
    if n == 0:
        out["largest"] = out["min_0.5ml"] = cand
        return out
    sizes = np.bincount(lab.ravel())[1:]
    out["largest"] = lab == (int(np.argmax(sizes)) + 1)
    voxel_ml = float(np.prod(spacing_zyx_mm)) / 1000.0
    keep = np.flatnonzero(sizes * voxel_ml >= 0.5) + 1
    out["min_0.5ml"] = np.isin(lab, keep)
    return out


def measure(cases: int = 20, preset: str = "small", seed: int = 0) -> dict[str, object]:
    """Generate ``cases`` cases in-process and collect the numbers (see module doc)."""
    ids = [cid for split in synthetic_case_ids(max(cases, 3)).values() for cid in split][:cases]
    hu: dict[str, list[np.ndarray]] = {name: [] for name in REGIONS.values()}
    label_hu, seconds, cpu, volumes, per_kind = [], [], [], [], []
    dices: dict[str, list[float]] = {}
    for cid in ids:
        start, start_cpu = time.perf_counter(), time.process_time()
        params, render_seed = sample_case(case_seed(seed, cid))
        ct, label, geom, vols, regions = render_case(params, render_seed, preset, regions=True)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        volumes.append(vols["total"])
        per_kind.append({k: v for k, v in vols.items() if k != "total"})
        lab = label > 0
        label_hu.append(ct[lab])
        # Pure voxels; on fine grids also ~1 mm in-plane away from other tissues (the blur
        # spreads bone into its neighbours).
        steps = round(1.0 / geom.spacing_xyz_mm[0])
        for code, name in REGIONS.items():
            core = regions == code
            if steps > 0:
                core = ndimage.binary_erosion(core, _IN_PLANE, iterations=steps)
            hu[name].append(ct[core])
        for name, mask in threshold_floor(ct, geom.spacing_zyx_mm).items():
            dices.setdefault(name, []).append(dice(lab, mask))
    stats = {}
    for name, parts in [*hu.items(), ("label", label_hu)]:
        v = np.concatenate(parts).astype(float) if parts else np.empty(0)
        if v.size:
            stats[name] = {"n": int(v.size), "mean": float(v.mean()), "std": float(v.std()),
                           "p5": float(np.percentile(v, 5)), "median": float(np.median(v)),
                           "p95": float(np.percentile(v, 95))}
    vol = np.asarray(volumes)
    return {
        "preset": preset, "cases": len(ids), "seconds_per_case": float(np.mean(seconds)),
        "cpu_seconds_per_case": float(np.mean(cpu)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "hu": stats,
        "volumes_ml": {"min": float(vol.min()), "q1": float(np.percentile(vol, 25)),
                       "median": float(np.median(vol)), "q3": float(np.percentile(vol, 75)),
                       "max": float(vol.max()), "below_1": int((vol < 1).sum()),
                       "above_100": int((vol > 100).sum())},
        "kinds": {k: sum(k in d for d in per_kind) for k in ("IPH", "IVH", "SDH", "EDH", "SAH")},
        "threshold_dice": {k: {"mean": float(np.mean(v)), "median": float(np.median(v))}
                           for k, v in dices.items()},
    }


def _print(result: dict[str, object]) -> None:
    print(f"preset {result['preset']}, {result['cases']} cases: "
          f"{result['seconds_per_case']:.1f} s per case ({result['cpu_seconds_per_case']:.1f} s "
          f"CPU), peak RSS {result['peak_rss_mb']:.0f} MB")
    print(f"{'tissue (pure, eroded)':22s} {'n':>9s} {'mean':>7s} {'std':>6s} {'p5':>7s} "
          f"{'median':>7s} {'p95':>7s}")
    for name, s in result["hu"].items():  # type: ignore[attr-defined]
        print(f"{name:22s} {s['n']:9d} {s['mean']:7.1f} {s['std']:6.1f} {s['p5']:7.1f} "
              f"{s['median']:7.1f} {s['p95']:7.1f}")
    v = result["volumes_ml"]
    print("lesion volume mL: " + ", ".join(f"{k} {x:.2f}" if isinstance(x, float) else
                                           f"{k} {x}" for k, x in v.items()))  # type: ignore[union-attr]
    print("cases with subtype: " + ", ".join(f"{k} {n}" for k, n in
                                             result["kinds"].items()))  # type: ignore[union-attr]
    print("threshold floor Dice (50-90 HU inside the skull): " + ", ".join(
        f"{k} mean {d['mean']:.3f} median {d['median']:.3f}"
        for k, d in result["threshold_dice"].items()))  # type: ignore[union-attr]


def main() -> None:
    """Command-line entry: ``python -m ichbench.phantom.measure``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--preset", choices=["small", "full"], default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _print(measure(args.cases, args.preset, args.seed))


if __name__ == "__main__":  # pragma: no cover
    main()
