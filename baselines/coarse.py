"""``coarse``: the 2D DenseNet of Qayyum et al. (2023), trained per fold on axial slices.

Pipeline per case: CT clipped to each of ``hu_windows`` and scaled to [0, 1] (the paper's
min–max normalisation, see :func:`ichbench.baselines.volumes.window_normalise`), one input
channel per window, linearly resampled to ``grid_zyx`` (paper 16 × 256 × 256), each axial
slice one 2D sample. Labels are resampled the same way and used as soft BCE targets. Each
fold's best model predicts its validation cases (out-of-fold masks, ``folds/<k>/oof/``) and,
with the other folds' models, the non-training splits: the mean of the fold models'
probabilities on the grid, resampled linearly to the CT's grid, thresholded at ``threshold``
and written with the CT's header.

Why the HU window [-100, 200]: raw HU span −1024 (air) to > 2000 (bone, metal), so min–max
of the raw volume would squeeze brain (20–45 HU) and blood (50–90 HU) into about 2 % of
[0, 1] and tie the scale to the brightest bone voxel of each scan. The window keeps every
density that matters for ICH (fat, CSF, brain, acute blood, calcification edge) on a linear
scale and saturates air and bone; it is wider than a brain window (0–80 HU) so that random
gamma does not push hyperdense blood into saturation.

Why a second window in ``cpu``: a radiologist reads ICH in a brain window (~0–80 HU), where
blood is 20–50 HU above brain and fills much of the grey scale; in [-100, 200] that contrast
is a tenth of the range. A large network learns to stretch it; the ``cpu`` preset's 0.1 M
parameter network, with a few hundred steps, did not. Feeding the 0–100 HU window as a
second channel (as ICH classifiers read several windows at once) raised the 5-fold coarse
ensemble's held-out DC from 0.449 to 0.633 at the same time per fold (README, "Methods and
presets").
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichbench.baselines.augment import AugmentSettings
from ichbench.baselines.densenet import DenseNetConfig
from ichbench.baselines.training import TrainSettings
from ichbench.harness.config import check_ranges, shown
from ichbench.harness.stages import Stage, run_inline, shards
from ichbench.io.atomic import write_json
from ichbench.io.volumes import Geometry, read_volume

if TYPE_CHECKING:
    from ichbench.harness.methods import RunContext

#: HU a CT can hold (air −1000, metal and dense bone up to ~3,000; 16-bit data ±32,768
#: with margin): window limits outside are typing errors.
HU_MIN, HU_MAX = -32768.0, 32767.0
#: Largest model grid (voxels of one resampled volume).
MAX_GRID_VOXELS = 128 * 1024 * 1024


@dataclass(frozen=True)
class CoarseConfig:
    """Everything that defines a coarse run: the model, its training and its augmentation.

    Defaults are the paper's recipe; the presets (:data:`PRESETS`) are the one place where
    values are chosen, ``--set`` changes them (``--set train.epochs=10``).

    Attributes
    ----------
    hu_windows
        CT clip windows (HU), each scaled to [0, 1] and fed as one input channel; as many
        as ``model.in_channels``.
    grid_zyx
        Model grid (slices, rows, columns); rows and columns divisible by 2 ** blocks.
    model
        Architecture and output-bias initialisation
        (:class:`ichbench.baselines.densenet.DenseNetConfig`).
    train
        Optimisation recipe (:class:`ichbench.baselines.training.TrainSettings`).
    augment
        Augmentation probabilities and ranges
        (:class:`ichbench.baselines.augment.AugmentSettings`; paper: 0.5, 0.5, 0.8).
    keep_oof_probabilities
        Also save each out-of-fold case's probabilities on the model grid
        (``folds/<k>/oof_prob/<id>.npy``, float16).
    cpu_threads
        ``torch.set_num_threads`` while training on the CPU (0: torch's default, one per
        core). ``cpu`` uses 0: on a quiet 2-core machine two threads make a step 1.6× faster
        than one (0.28 s against 0.45 s at batch 8). On a machine busy with other work,
        ``--set cpu_threads=1``: there two spinning OpenMP threads made a step 12× slower
        (1.76 s against 0.14 s, measured at load average 8).
    """

    hu_windows: tuple[tuple[float, float], ...] = ((-100.0, 200.0),)
    grid_zyx: tuple[int, int, int] = (16, 256, 256)
    model: DenseNetConfig = field(default_factory=DenseNetConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    keep_oof_probabilities: bool = True
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        windows = shown([list(w) for w in self.hu_windows])  # one line, cut
        if not self.hu_windows or any(not low < high for low, high in self.hu_windows):
            raise ValueError(f"coarse config hu_windows={windows}: expected one or more "
                             "(low, high) windows with low < high")
        if len(self.hu_windows) > 16:
            raise ValueError(f"coarse config hu_windows has {len(self.hu_windows)} windows: "
                             "expected 1 to 16")
        if self.model.in_channels != len(self.hu_windows):
            raise ValueError(f"coarse config hu_windows={windows} gives "
                             f"{len(self.hu_windows)} input channel(s) but model.in_channels="
                             f"{self.model.in_channels}; set model.in_channels="
                             f"{len(self.hu_windows)}")
        if min(self.grid_zyx) < 1:
            raise ValueError(f"coarse config grid_zyx={list(self.grid_zyx)!r}: expected three "
                             "positive sizes (z, y, x)")
        if self.cpu_threads < 0:
            raise ValueError(f"coarse config cpu_threads={self.cpu_threads}: expected ≥ 0")
        # Ranges a run can use (issue 23): HU windows within what CT encodes, a grid whose
        # volume a machine could hold, at most 16 windows (input channels).
        check_ranges("coarse config ", [
            ("hu_windows", tuple(v for w in self.hu_windows for v in w), HU_MIN, HU_MAX),
            ("grid_zyx", self.grid_zyx, 1, 4096), ("cpu_threads", self.cpu_threads, 0, 1024),
        ])
        if math.prod(self.grid_zyx) > MAX_GRID_VOXELS:
            raise ValueError(f"coarse config grid_zyx={list(self.grid_zyx)!r}: "
                             f"{math.prod(self.grid_zyx):,} voxels, more than "
                             f"{MAX_GRID_VOXELS:,} (128 × 1024 × 1024) per resampled volume")
        factor = self.model.downsampling
        patch = self.train.patch_size
        if patch is not None and (patch % factor or patch > min(self.grid_zyx[1:])):
            raise ValueError(f"coarse config train.patch_size={patch}: expected a multiple of "
                             f"{factor} (2 ** {len(self.model.block_layers)} blocks) no larger "
                             f"than the grid's rows and columns {list(self.grid_zyx[1:])}")
        if self.grid_zyx[1] % factor or self.grid_zyx[2] % factor:
            raise ValueError(f"coarse config grid_zyx={list(self.grid_zyx)!r}: rows and "
                             f"columns must be divisible by {factor} (2 ** "
                             f"{len(self.model.block_layers)} blocks)")


#: The presets, the one place where coarse values are chosen. ``paper``: the paper's recipe
#: (a GPU; 18 h on a V100 in the paper). ``cpu`` (the default): a scaled copy of it that
#: runs in minutes on 2 CPU cores; each departure measured on the default synthetic data by
#: cross-validation (``train_oof``, the 50 training cases' out-of-fold masks; README,
#: "Methods and presets"):
#:
#: * grid 16 × 64 × 64: the paper's fixed 16 slices and, in-plane, the same half of the
#:   CT's matrix as the paper's 256 of INSTANCE's 512 (the phantom's 128), so that the
#:   coarse mask lacks what the paper's lacks and the fine stage has something to recover
#:   (a grid sized for another CT matrix: ``--set grid_zyx=16,256,256``);
#: * a second input channel, the CT in a 0–100 HU brain window (module docstring):
#:   cross-validation DC 0.411 with the paper's window alone, 0.580 with both;
#: * a narrow DenseNet (2 layers per block, growth 8, 0.1 M parameters): a step of the
#:   paper's network costs ~9 s at batch 8 on one core; a 6-layer narrow variant (0.37 M)
#:   was 3× slower per step and no better on fold 0 within the budget;
#: * 256 slices per epoch, half of them slices with ICH, batch 8, Adam 1e-3 with poly decay,
#:   20 epochs with the best kept (no early stop within 20): cross-validation DC 0.535 at
#:   7 epochs, 0.580 at 20, 0.588 at 40 (2.5 minutes more per run, which the fine stage
#:   needs more); with a constant rate validation DC swung from epoch to epoch;
#: * whole slices, not 64-pixel patches (``train.patch_size``): patches at half the time
#:   per fold scored fold validation DC 0.32 / 0.25 / 0.40 against 0.52 / 0.33 / 0.44
#:   (native grid, earlier data);
#: * BCE with foreground weight 5 plus a soft-Dice term: plain BCE leaves every mask empty
#:   at this budget.
PRESETS: dict[str, CoarseConfig] = {
    "paper": CoarseConfig(),
    "cpu": CoarseConfig(
        grid_zyx=(16, 64, 64),
        hu_windows=((-100.0, 200.0), (0.0, 100.0)),
        model=DenseNetConfig(in_channels=2, growth_rate=8, bn_size=2,
                             block_layers=(2, 2, 2, 2, 2), init_features=16,
                             decoder_channels=(32, 32, 16, 16, 16)),
        train=TrainSettings(epochs=20, patience=20, batch_size=8, lr=1e-3, pos_weight=5.0,
                            samples_per_epoch=256, foreground_fraction=0.5, dice_weight=1.0,
                            lr_schedule="poly"),
        cpu_threads=0),
}


def build_model(config: CoarseConfig, seed: int):  # type: ignore[no-untyped-def]
    """The DenseNet of ``config``, initialised from ``torch.manual_seed(seed)``."""
    import torch

    from ichbench.baselines.densenet import DenseNet2D

    torch.manual_seed(seed)
    return DenseNet2D(config.model)


def load_fold_model(ctx: RunContext[CoarseConfig], config: CoarseConfig, fold: int):  # type: ignore[no-untyped-def]
    """Fold ``fold``'s best model (``folds/<k>/model.pt``) on ``ctx.device``.

    Raises
    ------
    ValueError
        If the fold has not finished training.
    """
    from ichbench.baselines.training import load_checkpoint

    path = ctx.fold_dir(fold) / "model.pt"
    if not path.is_file():
        raise ValueError(f"{path}: fold {fold} has not finished training; run its stage "
                         f"coarse.fold{fold} first (ichbench run --resume)")
    model = build_model(config, ctx.seed + fold)
    model.load_state_dict(load_checkpoint(path, "cpu")["model"])
    return model.to(ctx.device)


@contextlib.contextmanager
def _cpu_threads(config: CoarseConfig, device: str) -> Iterator[None]:
    """``torch.set_num_threads(config.cpu_threads)`` on the CPU while the block runs."""
    import torch

    threads = torch.get_num_threads()
    if config.cpu_threads > 0 and device == "cpu":
        torch.set_num_threads(config.cpu_threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class GridCache:
    """Cases read once per run and kept on the model grid (images in [0, 1], soft label)."""

    def __init__(self, dataset: Any, config: CoarseConfig) -> None:
        self._dataset = dataset
        self._config = config
        self._images: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}
        self._geometry: dict[str, Geometry] = {}

    def image(self, case_id: str) -> np.ndarray:
        """CT of ``case_id`` on the grid, one channel per window: (z, window, y, x) float32."""
        from ichbench.baselines.volumes import to_grid, window_normalise

        if case_id not in self._images:
            ct = read_volume(self._dataset.case(case_id).image, dtype=np.float32)
            self._geometry[case_id] = ct.geometry
            self._images[case_id] = np.stack(
                [to_grid(window_normalise(ct.array, window), self._config.grid_zyx)
                 for window in self._config.hu_windows], axis=1)
        return self._images[case_id]

    def geometry(self, case_id: str) -> Geometry:
        """The CT's geometry (read with the image)."""
        self.image(case_id)
        return self._geometry[case_id]

    def label(self, case_id: str) -> np.ndarray:
        """ICH label of ``case_id`` on the grid (linear resampling of 0/1: soft targets)."""
        from ichbench.baselines.volumes import to_grid

        if case_id not in self._labels:
            case = self._dataset.case(case_id)
            if case.label is None:
                raise ValueError(f"case {case_id} has no label; only labelled cases can be "
                                 "used for training")
            lab = read_volume(case.label)
            problem = self.geometry(case_id).mismatch(lab.geometry)
            if problem is not None:
                raise ValueError(f"{case.label}: label geometry does not match its CT "
                                 f"{case.image}: {problem}")
            self._labels[case_id] = to_grid((lab.array > 0).astype(np.float32),
                                            self._config.grid_zyx)
        return self._labels[case_id]

    def slice_set(self, case_ids: tuple[str, ...]):  # type: ignore[no-untyped-def]
        """Stack ``case_ids`` into a :class:`~ichbench.baselines.training.SliceSet`."""
        from ichbench.baselines.training import SliceSet

        return SliceSet(case_ids=tuple(case_ids),
                        images=np.stack([self.image(c) for c in case_ids]),
                        labels=np.stack([self.label(c) for c in case_ids]))


def _write_fold_cases(fold_dir: Path, fold: int, train_ids: tuple[str, ...],
                      val_ids: tuple[str, ...]) -> None:
    """Record (or, on resume, check) which cases fold ``fold`` trains and validates on."""
    record = {"fold": fold, "train": list(train_ids), "val": list(val_ids)}
    path = fold_dir / "cases.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in record} != record:
            raise ValueError(f"{path}: the fold's cases differ from the protocol's; the run "
                             "folder belongs to another protocol, start a new run")
    write_json(path, record)


class CoarseMethod:
    """The coarse 2D DenseNet as an :class:`ichbench.harness.methods.Method`."""

    name = "coarse"

    config_type = CoarseConfig
    presets = PRESETS

    def stages(self, ctx: RunContext[CoarseConfig]) -> list[Stage]:
        """``coarse.fold<k>`` per fold in ``ctx.folds``, then ``coarse.predict.<split>``.

        A fold stage trains (or resumes) one fold and writes its out-of-fold masks; a
        prediction stage needs every fold stage and writes the fold ensemble's masks of one
        non-training split.
        """
        folds = [Stage(key=f"coarse.fold{k}", home=ctx.run_dir, group="coarse.fold", fold=k,
                       work=functools.partial(self._fold_stage, ctx, k)) for k in ctx.folds]
        predictions = [Stage(key=f"coarse.predict.{split}{part}", home=ctx.run_dir,
                             group="coarse.predict", needs=tuple(folds),
                             work=functools.partial(self._predict_stage, ctx, split, ids))
                       for split in ctx.protocol.predict_splits()
                       for part, ids in shards(ctx.protocol.ids(split))]
        return folds + predictions

    def run(self, ctx: RunContext[CoarseConfig]) -> None:
        """Every stage in this process: train ``ctx.folds``, OOF masks, predict splits."""
        run_inline(self.stages(ctx), ctx.log)

    def _fold_stage(self, ctx: RunContext[CoarseConfig], fold: int) -> None:
        config = ctx.config
        with _cpu_threads(config, ctx.device):
            self.train_fold(ctx, config, GridCache(ctx.dataset, config), fold)

    def _predict_stage(self, ctx: RunContext[CoarseConfig], split: str,
                       ids: tuple[str, ...]) -> None:
        config = ctx.config
        with _cpu_threads(config, ctx.device):
            models = {k: load_fold_model(ctx, config, k) for k in ctx.folds}
            self.predict_splits(ctx, config, GridCache(ctx.dataset, config), models,
                                splits=(split,), ids=ids)

    # -- the two halves, public so that a cascade can reuse them --------------------------
    def train_fold(self, ctx: RunContext[CoarseConfig], config: CoarseConfig,  # type: ignore[no-untyped-def]
                   cache: GridCache, fold: int):
        """Train (or resume, or reload) fold ``fold``; write its out-of-fold masks."""
        from ichbench.baselines.training import (
            load_checkpoint,
            predict_volume,
            read_fold_result,
            train_fold,
        )
        from ichbench.baselines.volumes import binarise, from_grid, write_mask

        fold_dir = ctx.fold_dir(fold)
        fold_dir.mkdir(parents=True, exist_ok=True)
        train_ids = tuple(ctx.protocol.fold_train(fold))
        val_ids = tuple(ctx.protocol.fold_val(fold))
        _write_fold_cases(fold_dir, fold, train_ids, val_ids)
        seed = ctx.seed + fold
        model = build_model(config, seed)
        done = read_fold_result(fold_dir)
        if done is None:
            ctx.log(f"fold {fold}: training on {len(train_ids)} cases "
                    f"({len(train_ids) * config.grid_zyx[0]} slices), validating on "
                    f"{len(val_ids)}: {', '.join(val_ids)}")
            done = train_fold(model, cache.slice_set(train_ids), cache.slice_set(val_ids),
                              config.train, fold_dir, augment=config.augment, seed=seed,
                              device=ctx.device, log=ctx.log, label=f"fold {fold}")
        else:
            model.load_state_dict(load_checkpoint(fold_dir / "model.pt", "cpu")["model"])
            model.to(ctx.device)
        ctx.log(f"fold {fold}: best validation DC {done.best_val_dc:.4f} at epoch "
                f"{done.best_epoch} of {done.epochs_run}")
        oof_dir = ctx.oof_dir(fold)
        for cid in val_ids:
            prob = predict_volume(model, cache.image(cid), device=ctx.device,
                                  batch_size=config.train.predict_batch_size)
            if config.keep_oof_probabilities:
                path = fold_dir / "oof_prob" / f"{cid}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, prob.astype(np.float16))
            geometry = cache.geometry(cid)
            write_mask(binarise(from_grid(prob, geometry), config.train.threshold), geometry,
                       oof_dir / f"{cid}.nii.gz")
        return model

    def predict_splits(self, ctx: RunContext[CoarseConfig], config: CoarseConfig, cache: GridCache,
                       models: Mapping[int, Any], *, splits: tuple[str, ...] | None = None,
                       ids: tuple[str, ...] | None = None) -> None:
        """Fold-ensemble masks for ``splits`` (default: every non-training split).

        ``ids`` limits a single split to those cases (one prediction stage's share).
        """
        from ichbench.baselines.training import predict_volume
        from ichbench.baselines.volumes import binarise, ensemble_mean, from_grid, write_mask

        if not models:
            raise ValueError("no folds to predict with: --folds selected none")
        for split in ctx.protocol.predict_splits() if splits is None else splits:
            ids = tuple(getattr(ctx.protocol, split)) if ids is None else ids
            t0 = time.perf_counter()
            out_dir = ctx.prediction_dir(split)
            out_dir.mkdir(parents=True, exist_ok=True)
            for cid in ids:
                image = cache.image(cid)
                prob = ensemble_mean(
                    predict_volume(m, image, device=ctx.device,
                                   batch_size=config.train.predict_batch_size)
                    for m in models.values())
                geometry = cache.geometry(cid)
                write_mask(binarise(from_grid(prob, geometry), config.train.threshold), geometry,
                           out_dir / f"{cid}.nii.gz")
            ctx.log(f"predicted {split}: {len(ids)} cases with the mean of folds "
                    f"{sorted(models)} in {time.perf_counter() - t0:.1f} s")
