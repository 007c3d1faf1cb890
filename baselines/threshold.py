"""``threshold``: the floor every table needs, an HU window inside the skull.

An HU window plus connected components, with a few parameters picked by grid search on
the training folds only.

Per case: optional in-plane Gaussian smoothing (σ in voxels) against noise; the
intracranial region is, slice by slice, the holes of the bone mask (HU ≥ ``bone_hu``,
dilated by one voxel so partial-volume voxels at the inner table are excluded); voxels in
[``hu_low``, ``hu_high``] HU inside it are candidates; then either the largest
26-connected component is kept, or every component of at least ``min_component_ml``.

Tuning never sees a case it is scored on: the Dice of every grid point is computed once per
training case, fold k picks the grid point with the best mean Dice over ``fold_train(k)``
and predicts ``fold_val(k)`` (its out-of-fold masks) and the evaluation splits; the
evaluation masks are the majority of the fold masks (the mean of 0/1 "probabilities" at
or above 0.5, as for the learned methods). ``folds/<k>/tuning.json`` records the cases each
fold was tuned on and the chosen parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

from ichbench.harness.config import check_ranges, shown
from ichbench.harness.stages import Stage, run_inline
from ichbench.io.atomic import write_json
from ichbench.io.volumes import read_volume

if TYPE_CHECKING:
    from ichbench.harness.methods import RunContext


@dataclass(frozen=True)
class ThresholdParams:
    """One point of the grid.

    Attributes
    ----------
    hu_low, hu_high
        Candidate window in HU (acute blood is 50–90 HU, brain 20–45).
    smooth_sigma_vox
        In-plane Gaussian σ in voxels before thresholding (0 = none).
    keep
        ``"largest"`` (one component) or ``"all"`` (every component ≥ ``min_component_ml``).
    min_component_ml
        Smallest component kept with ``keep="all"``, in mL.
    """

    hu_low: float
    hu_high: float
    smooth_sigma_vox: float
    keep: str
    min_component_ml: float


#: HU a CT can hold (16-bit data); thresholds outside are typing errors.
HU_MIN, HU_MAX = -32768.0, 32767.0


@dataclass(frozen=True)
class ThresholdConfig:
    """The search grid and fixed parts of the floor (lists are the grid's axes)."""

    hu_low: tuple[float, ...] = (45.0, 55.0, 65.0)
    hu_high: tuple[float, ...] = (90.0, 110.0)
    smooth_sigma_vox: tuple[float, ...] = (0.0, 1.0)
    keep: tuple[str, ...] = ("largest", "all")
    min_component_ml: tuple[float, ...] = (0.05, 0.5)
    bone_hu: float = 300.0

    def __post_init__(self) -> None:
        for name in ("hu_low", "hu_high", "smooth_sigma_vox", "keep", "min_component_ml"):
            if not getattr(self, name):
                raise ValueError(f"threshold config {name}: the grid axis is empty; give at "
                                 "least one value")
        if not any(low < high for low in self.hu_low for high in self.hu_high):
            raise ValueError("threshold config: no grid point has hu_low < hu_high")
        bad = sorted(set(self.keep) - {"largest", "all"})
        if bad:
            raise ValueError(f"threshold config keep={shown(list(self.keep))}: "
                             f"{shown(bad)} not in ['largest', 'all']")
        # Ranges a run can use (issue 23: hu_high=inf was accepted); at most 50 values per
        # grid axis, so that the search stays a grid search.
        check_ranges("threshold config ", [
            ("hu_low", self.hu_low, HU_MIN, HU_MAX), ("hu_high", self.hu_high, HU_MIN, HU_MAX),
            ("bone_hu", self.bone_hu, HU_MIN, HU_MAX),
            ("smooth_sigma_vox", self.smooth_sigma_vox, 0.0, 100.0),
            ("min_component_ml", self.min_component_ml, 0.0, 10_000.0),
        ])
        for name in ("hu_low", "hu_high", "smooth_sigma_vox", "keep", "min_component_ml"):
            if len(getattr(self, name)) > 50:
                raise ValueError(f"threshold config {name} has {len(getattr(self, name))} "
                                 "values: expected at most 50 per grid axis")

    def grid(self) -> list[ThresholdParams]:
        """Every valid combination, in a fixed order (ties go to the first).

        Only ``hu_low < hu_high`` is valid; ``min_component_ml`` varies only with
        ``keep="all"``.
        """
        out = []
        for low, high, sigma, keep in itertools.product(self.hu_low, self.hu_high,
                                                        self.smooth_sigma_vox, self.keep):
            if low >= high:
                continue
            sizes = self.min_component_ml if keep == "all" else (0.0,)
            out.extend(ThresholdParams(float(low), float(high), float(sigma), keep, float(m))
                       for m in sizes)
        if not out:
            raise ValueError("threshold config: no grid point has hu_low < hu_high")
        return out


#: The presets, the one place where threshold values are chosen (the same small grid for
#: both: tuning costs seconds).
PRESETS: dict[str, ThresholdConfig] = {"paper": ThresholdConfig(), "cpu": ThresholdConfig()}


def intracranial_mask(ct_hu: np.ndarray, bone_hu: float) -> np.ndarray:
    """Per axial slice, the area enclosed by bone (≥ ``bone_hu``), minus the dilated bone."""
    bone = ndimage.binary_dilation(ct_hu >= bone_hu, structure=np.ones((1, 3, 3), bool))
    inside = np.zeros_like(bone)
    for z in range(bone.shape[0]):
        inside[z] = ndimage.binary_fill_holes(bone[z])
    return inside & ~bone


def _smooth(ct_hu: np.ndarray, sigma_vox: float) -> np.ndarray:
    if sigma_vox <= 0:
        return ct_hu
    return ndimage.gaussian_filter(ct_hu, sigma=(0.0, sigma_vox, sigma_vox))


def _components(candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, _ = ndimage.label(candidates, structure=np.ones((3, 3, 3), bool))
    return labels, np.bincount(labels.ravel())


def _select(labels: np.ndarray, sizes: np.ndarray, keep: str, min_voxels: float) -> np.ndarray:
    if sizes.size <= 1:
        return np.zeros(labels.shape, np.uint8)
    counts = sizes.copy()
    counts[0] = 0
    if keep == "largest":
        chosen = np.zeros(counts.size, bool)
        chosen[int(np.argmax(counts))] = True
    else:
        chosen = counts >= max(min_voxels, 1)
        chosen[0] = False
    return chosen[labels].astype(np.uint8)


def segment(ct_hu: np.ndarray, voxel_volume_ml: float, params: ThresholdParams, *,
            bone_hu: float = 300.0, inside: np.ndarray | None = None) -> np.ndarray:
    """The floor's mask (uint8, same shape) of a (z, y, x) CT in HU."""
    if inside is None:
        inside = intracranial_mask(ct_hu, bone_hu)
    ct = _smooth(ct_hu.astype(np.float32, copy=False), params.smooth_sigma_vox)
    labels, sizes = _components((ct >= params.hu_low) & (ct <= params.hu_high) & inside)
    return _select(labels, sizes, params.keep, params.min_component_ml / voxel_volume_ml)


def _dice(truth: np.ndarray, pred: np.ndarray) -> float:
    denom = int(truth.sum()) + int(pred.sum())
    return 1.0 if denom == 0 else 2.0 * int((truth & pred.astype(bool)).sum()) / denom


def grid_scores(ct_hu: np.ndarray, truth: np.ndarray, voxel_volume_ml: float,
                config: ThresholdConfig) -> np.ndarray:
    """Dice of every grid point on one case (labelling once per window and smoothing)."""
    grid = config.grid()
    inside = intracranial_mask(ct_hu, config.bone_hu)
    truth = truth.astype(bool)
    scores = np.empty(len(grid))
    cache: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]] = {}
    smoothed: dict[float, np.ndarray] = {}
    for i, p in enumerate(grid):
        key = (p.hu_low, p.hu_high, p.smooth_sigma_vox)
        if key not in cache:
            if p.smooth_sigma_vox not in smoothed:
                smoothed[p.smooth_sigma_vox] = _smooth(ct_hu.astype(np.float32, copy=False),
                                                       p.smooth_sigma_vox)
            ct = smoothed[p.smooth_sigma_vox]
            cache[key] = _components((ct >= p.hu_low) & (ct <= p.hu_high) & inside)
        labels, sizes = cache[key]
        scores[i] = _dice(truth, _select(labels, sizes, p.keep,
                                         p.min_component_ml / voxel_volume_ml))
    return scores


def choose(scores: Mapping[str, np.ndarray], case_ids: Sequence[str],
           grid: Sequence[ThresholdParams]) -> tuple[ThresholdParams, float]:
    """The grid point with the best mean Dice over ``case_ids`` (first on ties)."""
    if not case_ids:
        raise ValueError("threshold: no training cases to tune on")
    mean = np.mean([scores[c] for c in case_ids], axis=0)
    best = int(np.argmax(mean))
    return grid[best], float(mean[best])


class ThresholdMethod:
    """The threshold floor as an :class:`ichbench.harness.methods.Method`."""

    name = "threshold"

    config_type = ThresholdConfig
    presets = PRESETS

    def stages(self, ctx: RunContext[ThresholdConfig]) -> list[Stage]:
        """One stage, ``threshold``: the grid scores are shared by every fold's tuning."""
        return [Stage(key="threshold", home=ctx.run_dir, group="threshold",
                      work=functools.partial(self.tune_and_predict, ctx))]

    def run(self, ctx: RunContext[ThresholdConfig]) -> None:
        """The stage in this process."""
        run_inline(self.stages(ctx), ctx.log)

    def tune_and_predict(self, ctx: RunContext[ThresholdConfig]) -> None:
        """Tune per fold on its training cases, write OOF masks and evaluation masks."""
        from ichbench.baselines.volumes import binarise, ensemble_mean, write_mask

        config = ctx.config
        grid = config.grid()
        needed = sorted({c for k in ctx.folds for c in ctx.protocol.fold_train(k)})
        ctx.log(f"threshold: scoring {len(grid)} grid points on {len(needed)} training cases")
        scores: dict[str, np.ndarray] = {}
        for cid in needed:
            case = ctx.dataset.case(cid)
            ct = read_volume(case.image, dtype=np.float32)
            truth = read_volume(case.label).array > 0
            scores[cid] = grid_scores(ct.array, truth, ct.geometry.voxel_volume_ml, config)
        chosen: dict[int, ThresholdParams] = {}
        for k in ctx.folds:
            train_ids = ctx.protocol.fold_train(k)
            params, mean_dc = choose(scores, train_ids, grid)
            chosen[k] = params
            write_json(ctx.fold_dir(k) / "tuning.json", {
                "fold": k, "tuned_on": list(train_ids), "val": list(ctx.protocol.fold_val(k)),
                "params": dataclasses.asdict(params), "mean_train_dc": mean_dc,
                "grid_size": len(grid)})
            ctx.log(f"fold {k}: {params} (mean training DC {mean_dc:.4f} over "
                    f"{len(train_ids)} cases)")
            for cid in ctx.protocol.fold_val(k):
                ct = read_volume(ctx.dataset.case(cid).image, dtype=np.float32)
                mask = segment(ct.array, ct.geometry.voxel_volume_ml, params,
                               bone_hu=config.bone_hu)
                write_mask(mask, ct.geometry, ctx.oof_dir(k) / f"{cid}.nii.gz")
        for split in ctx.protocol.predict_splits():
            for cid in ctx.protocol.ids(split):
                ct = read_volume(ctx.dataset.case(cid).image, dtype=np.float32)
                inside = intracranial_mask(ct.array, config.bone_hu)
                votes = ensemble_mean(
                    segment(ct.array, ct.geometry.voxel_volume_ml, p, bone_hu=config.bone_hu,
                            inside=inside).astype(np.float32) for p in chosen.values())
                write_mask(binarise(votes, 0.5), ct.geometry,
                           ctx.prediction_dir(split) / f"{cid}.nii.gz")
            ctx.log(f"predicted {split}: {len(ctx.protocol.ids(split))} cases (majority of "
                    f"folds {sorted(chosen)})")
