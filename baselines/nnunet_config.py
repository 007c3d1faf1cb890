"""The typed settings of an nnU-Net stage: presets, their checks, the trainer's record.

One frozen :class:`NnunetConfig` per preset (``cpu``, ``paper``), varied with ``--set``;
:func:`trainer_settings` turns it into the record nnU-Net's trainer reads, so nnU-Net's
knobs have their defaults here and nowhere else. Running nnU-Net is
:mod:`ichbench.baselines.nnunet`'s job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ichbench.baselines.nnunet_settings import MAX_STEPS, OPTIMIZERS, NnunetTrainerSettings
from ichbench.harness.config import check_choice, check_ranges

#: Largest patch edge and patch volume (voxels): 256³ is beyond what any GPU trains.
MAX_PATCH_EDGE = 1024
MAX_PATCH_VOXELS = 256**3

PATCH_NOTE = (
    "paper: nnU-Net 3d_fullres with a 128x128x128 patch. On 5 mm slices a head has 20-70 "
    "slices, so 128 along z would be mostly padding; ichbench keeps 128x128 in-plane (as the "
    "paper) and nnU-Net's own planned extent along z (null = planned; <= the median slice "
    "count). The patch actually used is in nnunet/preprocessed/Dataset001_ICH/"
    "ichbenchPlans.json (key 'ichbench') and in the log."
)


@dataclass(frozen=True)
class NnunetConfig:
    """Settings of an nnU-Net stage (one preset = one instance; variants via ``replace``).

    Attributes
    ----------
    num_epochs, num_iterations_per_epoch, num_val_iterations_per_epoch
        Training budget (nnU-Net defaults: 1000, 250, 50).
    initial_lr
        SGD learning rate at epoch 0 (poly decay), nnU-Net's 0.01.
    oversample_foreground_percent
        Share of each batch's patches centred on a foreground voxel (nnU-Net's 0.33).
    optimizer
        ``"sgd"`` (nnU-Net's: momentum 0.99, Nesterov) or ``"adam"``; both with poly decay.
    output_prior
        Initial foreground probability of the output layers (``None``: nnU-Net's init).
    mask_prior
        Cascade only: the untrained network's foreground probability INSIDE the coarse
        mask (``None``: off, the paper's plain two-channel nnU-Net). The network's output
        becomes f(CT, mask) + c·mask with a fixed c, so training starts from "copy the coarse
        mask" and learns corrections (the plans name
        :class:`~ichbench.baselines.nnunet_network.MaskPriorUNet`).
    patch_size_zyx
        Patch edges (z, y, x) in voxels of nnU-Net's target spacing; ``None`` = nnU-Net's plan.
    features_per_stage, max_stages, batch_size
        Network size and batch; ``None`` = nnU-Net's plan (smaller values: ``cpu`` only).
    use_mirroring
        Test-time mirroring (nnU-Net's default; 8× slower prediction in 3D).
    tile_step_size
        Sliding-window overlap (0.5 = nnU-Net's default).
    tile_batch
        Sliding-window tiles per network call (1 = nnU-Net's; see
        :mod:`ichbench.baselines.nnunet_predictor`).
    perturb_masks
        Cascade only: nnU-Net-cascade-style random morphology on the coarse-mask channel.
    num_processes
        Worker processes for fingerprinting/preprocessing; 0 = threads of this process, one
        per CPU (:func:`~ichbench.baselines.nnunet_env.thread_pools`: no 4-5 s interpreter
        start per worker, which is most of the planning time for small data).
    plot_progress
        nnU-Net's per-epoch ``progress.png`` (off in ``cpu``: seconds per epoch on a CPU).
    patch_note
        Why the patch is what it is (recorded in config.json).
    """

    num_epochs: int
    num_iterations_per_epoch: int
    num_val_iterations_per_epoch: int
    initial_lr: float = 0.01
    oversample_foreground_percent: float = 0.33
    optimizer: str = "sgd"
    output_prior: float | None = None
    mask_prior: float | None = None
    patch_size_zyx: tuple[int | None, int | None, int | None] = (None, None, None)
    features_per_stage: tuple[int, ...] | None = None
    max_stages: int | None = None
    batch_size: int | None = None
    use_mirroring: bool = True
    tile_step_size: float = 0.5
    tile_batch: int = 1
    perturb_masks: bool = True
    num_processes: int = 2
    plot_progress: bool = True
    patch_note: str = ""

    def __post_init__(self) -> None:
        budget = {"num_epochs": self.num_epochs,
                  "num_iterations_per_epoch": self.num_iterations_per_epoch,
                  "num_val_iterations_per_epoch": self.num_val_iterations_per_epoch,
                  "tile_batch": self.tile_batch}
        for name, value in budget.items():
            if value < 1:
                raise ValueError(f"nnU-Net config {name}={value}: expected ≥ 1")
        if self.num_processes < 0:
            raise ValueError(f"nnU-Net config num_processes={self.num_processes}: expected ≥ 0 "
                             "(0 = threads of this process)")
        if not self.initial_lr > 0:
            raise ValueError(f"nnU-Net config initial_lr={self.initial_lr}: expected > 0")
        if any(v is not None and v < 1 for v in self.patch_size_zyx):
            raise ValueError(f"nnU-Net config patch_size_zyx={list(self.patch_size_zyx)}: "
                             "expected positive sizes or null (nnU-Net's plan)")
        for name in ("output_prior", "mask_prior"):
            p = getattr(self, name)
            if p is not None and not 0 < p < 1:
                raise ValueError(f"nnU-Net config {name}={p}: expected a probability in (0, 1) "
                                 "or null (off)")
        if not 0 < self.tile_step_size <= 1:
            raise ValueError(f"nnU-Net config tile_step_size={self.tile_step_size}: expected "
                             "a value in (0, 1]")
        # Ranges a run can use (issue 23: optimizer='rm -rf /', features_per_stage=[],
        # oversample_foreground_percent=2 and a 100000³ patch were accepted).
        check_choice("nnU-Net config ", "optimizer", self.optimizer, OPTIMIZERS)
        check_ranges("nnU-Net config ", [
            ("num_epochs", self.num_epochs, 1, MAX_STEPS),
            ("num_iterations_per_epoch", self.num_iterations_per_epoch, 1, MAX_STEPS),
            ("num_val_iterations_per_epoch", self.num_val_iterations_per_epoch, 1, MAX_STEPS),
            ("initial_lr", self.initial_lr, 1e-12, 10.0),
            ("oversample_foreground_percent", self.oversample_foreground_percent, 0.0, 1.0),
            ("patch_size_zyx", self.patch_size_zyx, 1, MAX_PATCH_EDGE),
            ("features_per_stage", self.features_per_stage, 1, 4096),
            ("max_stages", self.max_stages, 1, 12),
            ("batch_size", self.batch_size, 1, 4096),
            ("tile_batch", self.tile_batch, 1, 1024),
            ("num_processes", self.num_processes, 0, 1024),
        ])
        edges = [e for e in self.patch_size_zyx if e is not None]
        if math.prod(edges) > MAX_PATCH_VOXELS:
            raise ValueError(f"nnU-Net config patch_size_zyx={list(self.patch_size_zyx)}: "
                             f"{math.prod(edges):,} voxels per patch, more than "
                             f"{MAX_PATCH_VOXELS:,} (256³) that any GPU could train on")
        if self.features_per_stage is not None and not 1 <= len(self.features_per_stage) <= 12:
            raise ValueError(f"nnU-Net config features_per_stage has "
                             f"{len(self.features_per_stage)} entries: expected 1 to 12 (one "
                             "per network stage) or null (nnU-Net's plan)")
        if len(self.patch_note) > 2000:
            raise ValueError(f"nnU-Net config patch_note has {len(self.patch_note):,} "
                             "characters: expected at most 2,000")


#: The presets, the one place where nnU-Net values are chosen (``fine``, and the cascade's
#: fine stage).
PRESETS: dict[str, NnunetConfig] = {
    # The paper's budget: 3d_fullres, 500 epochs (nnU-Net's 250 iterations each), patch
    # 128 in-plane (see PATCH_NOTE), nnU-Net's network and batch size.
    "paper": NnunetConfig(num_epochs=500, num_iterations_per_epoch=250,
                          num_val_iterations_per_epoch=50, patch_size_zyx=(None, 128, 128),
                          use_mirroring=True, patch_note=PATCH_NOTE),
    # CPU minutes, in which nnU-Net learns (README, "Methods and presets"): a small network
    # (8/16/32 features, 3 stages), 30 epochs x 10 iterations of batch 2 per fold (45 s of
    # training per fold on 2 cores: the time the coarse stage saves at the paper's coarse
    # grid goes here; cross-validation DC of the cascade 0.586 against 0.580 for its coarse
    # stage), no test-time mirroring, sliding window without overlap. On a 2-core CPU a 3D
    # U-Net's time per tile is dominated by per-layer overhead (8x48x48 and 16x64x64 tiles
    # cost about the same), so the patch covers a small-preset head (~37x100x100 at
    # nnU-Net's spacing) in 2x2x2 tiles. nnU-Net's SGD (momentum 0.99, lr 1e-2) stayed in
    # the all-background phase for 200 steps (pseudo Dice 0, held-out DC 0.000); with the
    # output layers biased to a 1 % foreground prior and Adam 2e-3 the Dice term wakes
    # within 20 steps. All patches centred on foreground (oversampling 1.0) learned fast but
    # over-segmented held-out heads (RVD 6-13); nnU-Net's 0.33 did not. The cascade's mask
    # perturbations (FFT-based 3D morphology) would multiply an epoch's time by 5-10: off.
    # The cascade starts from its coarse mask (mask_prior 0.9 inside, 1 % outside): with
    # 300 steps the plain two-channel nnU-Net reached cross-validation DC 0.577, from the
    # copy 0.586 (its coarse stage: 0.580). Tiles are predicted 8 at a time (0.105 s for one
    # 24x64x64 tile, 0.040 s each in a batch of 4). Planning and preprocessing run in
    # threads (num_processes=0): nnU-Net's spawned workers each re-import torch, which cost
    # more than the small cases' work.
    "cpu": NnunetConfig(num_epochs=30, num_iterations_per_epoch=10,
                        num_val_iterations_per_epoch=1, initial_lr=2e-3, optimizer="adam",
                        output_prior=0.01, mask_prior=0.9, oversample_foreground_percent=0.33,
                        patch_size_zyx=(24, 64, 64), features_per_stage=(8, 16, 32),
                        max_stages=3, batch_size=2, use_mirroring=False, tile_step_size=1.0,
                        tile_batch=8, perturb_masks=False, num_processes=0, plot_progress=False,
                        patch_note="cpu: small network and budget for 2 CPU cores; the "
                                   "paper's patch and budget need a GPU"),
}


def trainer_settings(cfg: NnunetConfig, *, mask_channels: tuple[int, ...],
                     seed: int) -> NnunetTrainerSettings:
    """The record :class:`~ichbench.baselines.nnunet_trainers.IchbenchTrainer` trains by.

    Every value comes from ``cfg`` (the one place where nnU-Net defaults and presets live)
    or from the run: ``seed`` and the input's ``mask_channels``. Mask perturbations need a
    mask channel, so a CT-only model never has them.
    """
    return NnunetTrainerSettings(
        seed=seed, num_epochs=cfg.num_epochs,
        num_iterations_per_epoch=cfg.num_iterations_per_epoch,
        num_val_iterations_per_epoch=cfg.num_val_iterations_per_epoch,
        initial_lr=cfg.initial_lr,
        oversample_foreground_percent=cfg.oversample_foreground_percent,
        optimizer=cfg.optimizer, output_prior=cfg.output_prior,
        mask_channels=tuple(mask_channels),
        perturb_masks=cfg.perturb_masks and bool(mask_channels),
        plot_progress=cfg.plot_progress)
