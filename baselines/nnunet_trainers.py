"""ichbench's nnU-Net v2 trainer: budgets from a JSON file, mask channels kept binary.

One trainer class serves every preset and both methods. Its settings are data, not
subclasses: :class:`IchbenchTrainer` reads ``ichbench_trainer.json`` from the nnU-Net
preprocessed dataset folder (written by :mod:`ichbench.baselines.nnunet`), next to the plans
but not inside them, as a strictly parsed
:class:`~ichbench.baselines.nnunet_settings.NnunetTrainerSettings` (a missing file or key is
an error, never nnU-Net's default). nnU-Net finds the class by name through
``nnUNet_extTrainer`` (see :mod:`ichbench.baselines.nnunet_env`) both for training and when
a predictor rebuilds the network from a checkpoint.

Differences from ``nnUNetTrainer`` (nnunetv2 2.8.1):

* epochs, iterations per epoch, validation iterations, learning rate, optimiser (nnU-Net's
  SGD or Adam), the share of foreground-centred patches
  (``oversample_foreground_percent``) and an optional foreground prior for the output
  layers' bias (``output_prior``) from the JSON file;
* seeded: the network's initial weights from ``(seed, fold)`` and every epoch's patch
  sampling and augmentation from ``(seed, fold, epoch)`` (:func:`seed_everything`, drawn at
  the epoch's start), so the same run gives the same weights, and a run resumed from
  ``checkpoint_latest.pth`` draws what the uninterrupted run would have drawn; nnU-Net
  seeds nothing and its CPU runs differed by about 0.01 held-out DC;
* on CPU the network trains in channels-last memory order (:func:`channels_last`; speed
  only);
* a checkpoint (``checkpoint_latest.pth``) after EVERY epoch, written atomically, so an
  interrupted run resumes where it stopped;
* ``history.csv`` (epoch, train_loss, val_loss, val_dc, seconds) in the fold's output
  folder after every epoch; ``val_dc`` is nnU-Net's pseudo Dice on validation patches;
* mask channels (the cascade's coarse mask): intensity augmentations (noise, blur,
  brightness, contrast, low resolution, gamma) act on the other channels only; the mask is
  re-binarised (>= 0.5) after the spatial transform, whose interpolation and nnU-Net's
  resampling to the target spacing would otherwise blur it; optionally the perturbations
  nnU-Net's own cascade applies to previous-stage masks (random dilation/erosion/opening/
  closing, removal of a connected component).

The cascade's mask prior is not the trainer's business: it is part of the network the
plans name (:class:`~ichbench.baselines.nnunet_network.MaskPriorUNet`), so every predictor
builds it; this module only computes its logit (:func:`mask_prior_logit`).
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from batchgeneratorsv2.transforms.base.basic_transform import BasicTransform
from batchgeneratorsv2.transforms.intensity.brightness import MultiplicativeBrightnessTransform
from batchgeneratorsv2.transforms.intensity.contrast import ContrastTransform
from batchgeneratorsv2.transforms.intensity.gamma import GammaTransform
from batchgeneratorsv2.transforms.intensity.gaussian_noise import GaussianNoiseTransform
from batchgeneratorsv2.transforms.nnunet.random_binary_operator import (
    ApplyRandomBinaryOperatorTransform,
)
from batchgeneratorsv2.transforms.nnunet.remove_connected_components import (
    RemoveRandomConnectedComponentFromOneHotEncodingTransform,
)
from batchgeneratorsv2.transforms.noise.gaussian_blur import GaussianBlurTransform
from batchgeneratorsv2.transforms.spatial.low_resolution import SimulateLowResolutionTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.compose import ComposeTransforms
from batchgeneratorsv2.transforms.utils.deep_supervision_downsampling import (
    DownsampleSegForDSTransform,
)
from batchgeneratorsv2.transforms.utils.pseudo2d import Convert2DTo3DTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from ichbench.baselines.nnunet_settings import (
    TRAINER_CONFIG_FILE,
    NnunetTrainerSettings,
    TrainerSettingsError,
)
from ichbench.io.atomic import atomic_path, write_text

#: nnU-Net intensity transforms (2.8.1 default pipeline) that must not touch a mask channel.
INTENSITY_TRANSFORMS: tuple[type, ...] = (
    GaussianNoiseTransform, GaussianBlurTransform, MultiplicativeBrightnessTransform,
    ContrastTransform, SimulateLowResolutionTransform, GammaTransform,
)

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_dc", "seconds")


class OnImageChannels(BasicTransform):
    """Apply an image-only transform to a subset of the image channels.

    Used to keep the coarse-mask channel out of intensity augmentation: the wrapped
    transform sees an image made of ``channels`` only, and its result is written back.
    """

    def __init__(self, transform: BasicTransform, channels: tuple[int, ...]):
        super().__init__()
        self.transform = transform
        self.channels = tuple(channels)

    def get_parameters(self, **data_dict: Any) -> dict:
        """No parameters of its own; the wrapped transform samples its own."""
        return {}

    def apply(self, data_dict: dict, **params: Any) -> dict:
        """Run the wrapped transform on the selected channels."""
        image = data_dict["image"]
        if not self.channels:
            return data_dict
        index = list(self.channels)
        out = self.transform(image=image[index].clone())
        image[index] = out["image"].to(image.dtype)
        data_dict["image"] = image
        return data_dict

    def __repr__(self) -> str:
        return f"OnImageChannels(channels={self.channels}, transform={self.transform!r})"


class BinarizeChannels(BasicTransform):
    """Set image channels ``channels`` to ``value >= threshold`` (0/1), e.g. after warping."""

    def __init__(self, channels: tuple[int, ...], threshold: float = 0.5):
        super().__init__()
        self.channels = tuple(channels)
        self.threshold = threshold

    def get_parameters(self, **data_dict: Any) -> dict:
        """Deterministic: no parameters."""
        return {}

    def apply(self, data_dict: dict, **params: Any) -> dict:
        """Threshold the selected channels in place."""
        image = data_dict["image"]
        for c in self.channels:
            image[c] = (image[c] >= self.threshold).to(image.dtype)
        return data_dict

    def __repr__(self) -> str:
        return f"BinarizeChannels(channels={self.channels}, threshold={self.threshold})"


def restrict_intensity_transforms(pipeline: ComposeTransforms, n_channels: int,
                                  mask_channels: tuple[int, ...], *,
                                  perturb_masks: bool) -> ComposeTransforms:
    """Adapt nnU-Net's training pipeline to inputs with binary mask channels.

    Parameters
    ----------
    pipeline
        ``nnUNetTrainer.get_training_transforms(...)``'s result.
    n_channels
        Number of input channels.
    mask_channels
        Indices of the binary mask channels (empty: the pipeline is returned unchanged).
    perturb_masks
        Add nnU-Net-cascade-style random morphology and component removal on the masks.

    Returns
    -------
    ComposeTransforms
        A new pipeline: intensity transforms wrapped in :class:`OnImageChannels` over the
        other channels, a :class:`BinarizeChannels` right after the spatial transform (and
        after the pseudo-2D conversion back to 3D, if present), perturbations last before
        the deep-supervision downsampling.
    """
    if not mask_channels:
        return pipeline
    image_channels = tuple(c for c in range(n_channels) if c not in mask_channels)
    out: list[BasicTransform] = []
    transforms = list(pipeline.transforms)
    spatial_at = max(i for i, t in enumerate(transforms) if isinstance(t, SpatialTransform))
    if spatial_at + 1 < len(transforms) and isinstance(transforms[spatial_at + 1],
                                                       Convert2DTo3DTransform):
        spatial_at += 1
    for i, t in enumerate(transforms):
        inner = t.transform if isinstance(t, RandomTransform) else t
        if isinstance(inner, INTENSITY_TRANSFORMS):
            t = OnImageChannels(t, image_channels)
        if isinstance(t, DownsampleSegForDSTransform) and perturb_masks:
            out.extend(_mask_perturbations(mask_channels))
            perturb_masks = False
        out.append(t)
        if i == spatial_at:
            out.append(BinarizeChannels(mask_channels))
    if perturb_masks:
        out.extend(_mask_perturbations(mask_channels))
    return ComposeTransforms(out)


def _mask_perturbations(mask_channels: tuple[int, ...]) -> list[BasicTransform]:
    # The same perturbations and probabilities as nnU-Net's 3d_cascade_fullres applies to
    # the one-hot previous-stage segmentation.
    channels = list(mask_channels)
    return [
        RandomTransform(ApplyRandomBinaryOperatorTransform(
            channel_idx=channels, strel_size=(1, 8), p_per_label=0.5), apply_probability=0.4),
        RandomTransform(RemoveRandomConnectedComponentFromOneHotEncodingTransform(
            channel_idx=channels, fill_with_other_class_p=0,
            dont_do_if_covers_more_than_x_percent=0.15, p_per_label=0.5),
            apply_probability=0.2),
    ]


class IchbenchTrainer(nnUNetTrainer):
    """nnU-Net's default trainer with ichbench's budgets, checkpoints and mask channels."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):  # noqa: B008 (nnU-Net's signature)
        super().__init__(plans, configuration, fold, dataset_json, device)
        if self.preprocessed_dataset_folder_base is None:
            raise TrainerSettingsError("nnUNet_preprocessed is not set: IchbenchTrainer reads "
                                       f"its settings from {TRAINER_CONFIG_FILE} there")
        settings = NnunetTrainerSettings.read(self.preprocessed_dataset_folder_base)
        #: The record this trainer runs by (nnU-Net's debug.json lists it).
        self.settings = settings
        self.num_epochs = settings.num_epochs
        self.num_iterations_per_epoch = settings.num_iterations_per_epoch
        self.num_val_iterations_per_epoch = settings.num_val_iterations_per_epoch
        self.initial_lr = settings.initial_lr
        self.oversample_foreground_percent = settings.oversample_foreground_percent
        self.optimizer_name = settings.optimizer
        self.output_prior = settings.output_prior
        self.seed = settings.seed
        self.save_every = 1
        self.mask_channels = settings.mask_channels
        self.perturb_masks = settings.perturb_masks
        if not settings.plot_progress:
            # nnU-Net redraws progress.png with matplotlib after every epoch (seconds on a
            # busy CPU); short CPU-preset epochs skip it. history.csv has the same numbers.
            self.logger.plot_progress_png = _no_plot  # type: ignore[method-assign]

    def initialize(self) -> None:
        """nnU-Net's initialisation, then the output prior, if set, and on CPU channels-last.

        With ``output_prior`` p the foreground logit of each (deep-supervision) head starts
        log(p / (1 − p)) above the background logit, so the untrained network predicts
        foreground with probability p everywhere (RetinaNet's prior initialisation, as the
        coarse DenseNet does). ICH is ~0.2 % of a head: from nnU-Net's even start the first
        hundreds of steps only learn "background", which a CPU budget cannot afford.
        """
        initialized = self.was_initialized
        if not initialized:
            seed_everything(self.seed, self.fold)
        super().initialize()
        if initialized:
            return
        if self.output_prior is not None:
            set_output_prior(self.network, self.output_prior)
        if self.device.type == "cpu":
            channels_last(self.network)
            self.print_to_log_file("ichbench: training channels-last (CPU)")

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        """nnU-Net's SGD (momentum 0.99, Nesterov) or Adam, both with nnU-Net's poly decay.

        Adam is a CPU-budget option: nnU-Net's SGD is tuned for 250,000 steps, and with a
        few hundred a small network stays in the all-background phase (measured in the
        README's CPU preset table).
        """
        if self.optimizer_name == "sgd":
            return super().configure_optimizers()
        from nnunetv2.training.lr_scheduler.polylr import PolyLRScheduler

        optimizer = torch.optim.Adam(self.network.parameters(), self.initial_lr,
                                     weight_decay=self.weight_decay)
        return optimizer, PolyLRScheduler(optimizer, self.initial_lr, self.num_epochs)

    def get_training_transforms(  # type: ignore[no-untyped-def,override]
            self, patch_size, rotation_for_DA, deep_supervision_scales,
                                mirror_axes, do_dummy_2d_data_aug, use_mask_for_norm=None,
                                is_cascaded=False, foreground_labels=None, regions=None,
                                ignore_label=None):
        """nnU-Net's pipeline with the mask channels protected (see module docstring)."""
        pipeline = nnUNetTrainer.get_training_transforms(
            patch_size, rotation_for_DA, deep_supervision_scales, mirror_axes,
            do_dummy_2d_data_aug, use_mask_for_norm=use_mask_for_norm, is_cascaded=is_cascaded,
            foreground_labels=foreground_labels, regions=regions, ignore_label=ignore_label)
        n_channels = len(self.dataset_json["channel_names"])
        return restrict_intensity_transforms(pipeline, n_channels, self.mask_channels,
                                             perturb_masks=self.perturb_masks)

    def get_validation_transforms(  # type: ignore[no-untyped-def,override]
            self, deep_supervision_scales, is_cascaded=False,
                                  foreground_labels=None, regions=None, ignore_label=None):
        """nnU-Net's validation pipeline, with mask channels thresholded first."""
        pipeline = nnUNetTrainer.get_validation_transforms(
            deep_supervision_scales, is_cascaded=is_cascaded, foreground_labels=foreground_labels,
            regions=regions, ignore_label=ignore_label)
        if not self.mask_channels:
            return pipeline
        return ComposeTransforms([BinarizeChannels(self.mask_channels),
                                  *pipeline.transforms])

    def on_epoch_start(self) -> None:
        """Reseed from ``(seed, fold, epoch)``, then nnU-Net's epoch start.

        Augmentation runs in this process on the CPU (``nnUNet_n_proc_DA=0``), so every
        random number of the epoch (which cases, where the patches lie, every augmentation
        parameter) comes from the generators seeded here, in a fixed order.
        """
        seed_everything(self.seed, self.fold, self.current_epoch + 1)
        super().on_epoch_start()

    def save_checkpoint(self, filename: str) -> None:
        """nnU-Net's checkpoint, written to a temporary file and renamed (atomic)."""
        if self.local_rank != 0 or self.disable_checkpointing:
            super().save_checkpoint(filename)
            return
        with atomic_path(filename) as tmp:
            super().save_checkpoint(str(tmp))

    def on_epoch_end(self) -> None:
        """nnU-Net's epoch end (checkpoints every epoch), then ``history.csv``."""
        super().on_epoch_end()
        if self.local_rank == 0:
            # The final epoch's checkpoint_latest is skipped by nnU-Net (checkpoint_final
            # follows); every other epoch has one.
            self.write_history(Path(self.output_folder) / "history.csv")

    def write_history(self, path: Path) -> None:
        """Write the per-epoch history logged so far as CSV (atomically)."""
        log = self.logger.get_checkpoint()
        n = min(len(log.get(k, [])) for k in ("train_losses", "val_losses", "mean_fg_dice",
                                                "epoch_start_timestamps",
                                                "epoch_end_timestamps"))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for e in range(n):
            seconds = log["epoch_end_timestamps"][e] - log["epoch_start_timestamps"][e]
            writer.writerow([e, f"{float(log['train_losses'][e]):.6g}",
                             f"{float(log['val_losses'][e]):.6g}",
                             f"{float(log['mean_fg_dice'][e]):.6g}", f"{seconds:.3f}"])
        write_text(path, buffer.getvalue())


def seed_everything(*key: int) -> int:
    """Seed Python's, NumPy's and torch's global generators from ``key``; return the seed.

    nnU-Net and batchgeneratorsv2 draw from the global generators (``np.random``,
    ``torch.rand``), so seeding them is what makes a CPU training run repeatable. The key
    (run seed, fold, epoch) is mixed by NumPy's ``SeedSequence``, so neighbouring keys give
    unrelated streams.
    """
    seed = int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (nnU-Net draws from the legacy global generator)
    torch.manual_seed(seed)
    return seed


def channels_last(network: torch.nn.Module) -> torch.nn.Module:
    """``network`` (a 3D or 2D CNN) and its inputs in channels-last memory order, in place.

    Training speed on CPU only: oneDNN's 3D convolutions run forward + backward faster on
    channels-last tensors (a step of the ``cpu`` preset's 3-stage U-Net, batch 2 of
    2 × 24 × 64 × 64: 0.39 s → 0.35 s on 2 cores, 0.71 s → 0.53 s on one). Inference is not
    converted: there the same network was slower channels-last (batch of 8 tiles: 0.35 s →
    0.44 s), and predictors rebuild the network from the checkpoint anyway. The values are
    unchanged; only the strides of weights and activations differ.
    """
    net = getattr(network, "module", network)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.modules.conv._ConvNd)]
    if not convs:
        return network
    ndim = convs[0].weight.dim()
    fmt = {5: torch.channels_last_3d, 4: torch.channels_last}.get(ndim)
    if fmt is None:
        return network
    net.to(memory_format=fmt)

    def to_channels_last(_: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x, *rest = args
        if isinstance(x, torch.Tensor) and x.dim() == ndim:
            x = x.contiguous(memory_format=fmt)
        return (x, *rest)

    net.register_forward_pre_hook(to_channels_last)
    return network


def set_output_prior(network: torch.nn.Module, prior: float) -> int:
    """Bias every segmentation head of an nnU-Net U-Net to foreground probability ``prior``.

    Returns the number of heads changed (class 0 = background gets bias 0, every other
    class log(prior / (1 − prior)), so softmax gives each foreground class about ``prior``
    when the features are near zero).
    """
    logit = log_odds(prior, "output_prior")
    net = getattr(network, "module", network)
    heads = getattr(getattr(net, "decoder", None), "seg_layers", None)
    if heads is None:
        raise ValueError(f"{type(net).__name__} has no decoder.seg_layers to set a prior on")
    with torch.no_grad():
        for head in heads:
            head.bias.zero_()
            head.bias[1:] = logit
    return len(heads)


def mask_prior_logit(inside: float, outside: float | None) -> float:
    """Logit shift that takes foreground probability ``outside`` to ``inside``.

    The ``mask_logit`` of :class:`~ichbench.baselines.nnunet_network.MaskPriorUNet`.

    ``outside`` None means nnU-Net's own initialisation (about even odds, logit 0).
    """
    base = 0.0 if outside is None else log_odds(outside, "output_prior")
    return log_odds(inside, "mask_prior") - base


def log_odds(p: float, name: str) -> float:
    """log(p / (1 − p)) of a prior probability; ``name`` is the setting named in the error."""
    import math

    if not 0 < p < 1:
        raise ValueError(f"{name} {p}: expected a probability in (0, 1)")
    return math.log(p / (1 - p))


def _no_plot(output_folder: str) -> None:
    """Stand-in for nnU-Net's per-epoch progress plot."""


__all__ = ["TRAINER_CONFIG_FILE", "BinarizeChannels", "IchbenchTrainer",
           "OnImageChannels", "channels_last", "mask_prior_logit",
           "restrict_intensity_transforms", "seed_everything", "set_output_prior"]

