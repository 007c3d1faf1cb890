"""Adjusting nnU-Net's plans to an ichbench preset (patch size, network size, batch size).

nnU-Net plans a ``3d_fullres`` configuration from the dataset fingerprint. ichbench keeps
that plan (target spacing, normalisation, resampling) and changes only what a preset asks
for, writing the result as a separate plans file (``ichbenchPlans.json``) so nnU-Net's own
``nnUNetPlans.json`` stays as planned. When the patch size changes, the pooling and
convolution topology is recomputed with nnU-Net's own rule
(``get_pool_and_conv_props``), so the network always fits the patch. The cascade's mask
prior changes the network class (:class:`~ichbench.baselines.nnunet_network.MaskPriorUNet`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

PLANS_NAME = "ichbenchPlans"
CONFIGURATION = "3d_fullres"

#: nnU-Net's default for the smallest edge of a bottleneck feature map (3D).
MIN_FEATURE_MAP_SIZE = 4


def _divisible_patch(patch: Sequence[int], strides: Sequence[Sequence[int]]) -> list[int]:
    """Round each patch edge up to a multiple of the network's total stride on that axis."""
    total = [1] * len(patch)
    for stride in strides:
        total = [t * s for t, s in zip(total, stride, strict=True)]
    return [int(-(-p // t) * t) for p, t in zip(patch, total, strict=True)]


def adjust_plans(plans: dict[str, Any], *, patch_size_zyx: Sequence[int | None],
                 features_per_stage: Sequence[int] | None = None,
                 max_stages: int | None = None, batch_size: int | None = None,
                 mask_channel: int | None = None, mask_logit: float | None = None,
                 configuration: str = CONFIGURATION) -> dict[str, Any]:
    """Return a copy of ``plans`` with ``configuration`` changed as a preset asks.

    Parameters
    ----------
    plans
        nnU-Net's planned ``nnUNetPlans.json`` content.
    patch_size_zyx
        Patch edge per ORIGINAL array axis (z, y, x) in voxels of the target spacing;
        ``None`` keeps nnU-Net's planned edge for that axis. Axes are mapped through the
        plans' ``transpose_forward``.
    features_per_stage
        Feature maps per encoder stage (truncated/extended to the number of stages);
        None keeps nnU-Net's rule (32 doubling per stage up to 320).
    max_stages
        Upper bound on encoder stages (resolution levels); None keeps nnU-Net's topology.
    batch_size
        None keeps the planned batch size.
    mask_channel, mask_logit
        Both set: the network becomes
        :class:`~ichbench.baselines.nnunet_network.MaskPriorUNet`, which adds
        ``mask_logit`` inside the mask of input channel ``mask_channel`` (nnU-Net builds
        the same network for training and for every predictor from these plans).

    Raises
    ------
    ValueError
        If only one of ``mask_channel`` and ``mask_logit`` is set, or the planned network
        is not nnU-Net's ``PlainConvUNet`` (the class the mask prior extends).

    Returns
    -------
    dict
        New plans named :data:`PLANS_NAME`, with an ``"ichbench"`` entry recording what was
        planned and what was changed (for the run's records).
    """
    from nnunetv2.experiment_planning.experiment_planners.network_topology import (
        get_pool_and_conv_props,
    )

    from ichbench.baselines.nnunet_network import MASK_PRIOR_UNET, PLAIN_UNET

    if (mask_channel is None) != (mask_logit is None):
        raise ValueError(f"mask prior: mask_channel={mask_channel} and mask_logit={mask_logit}; "
                         "set both or neither")
    new = copy.deepcopy(plans)
    conf = new["configurations"][configuration]
    if mask_channel is not None and mask_logit is not None:  # both or neither (checked above)
        planned_class = conf["architecture"]["network_class_name"]
        if planned_class != PLAIN_UNET:
            raise ValueError(f"mask prior: nnU-Net planned {planned_class}; the mask prior "
                             f"extends {PLAIN_UNET} only (set fine.mask_prior=null)")
        conf["architecture"]["network_class_name"] = MASK_PRIOR_UNET
        conf["architecture"]["arch_kwargs"].update(mask_channel=int(mask_channel),
                                                   mask_logit=float(mask_logit))
    planned_patch = [int(p) for p in conf["patch_size"]]
    transpose = list(new.get("transpose_forward", [0, 1, 2]))
    requested = [patch_size_zyx[t] for t in transpose]
    patch = [int(r) if r is not None else planned_patch[i] for i, r in enumerate(requested)]
    arch = conf["architecture"]["arch_kwargs"]
    planned_arch = {"n_stages": arch["n_stages"],
                    "features_per_stage": list(arch["features_per_stage"]),
                    "strides": [list(s) for s in arch["strides"]]}

    _, strides, kernels, patch, _ = get_pool_and_conv_props(
        [float(s) for s in conf["spacing"]], patch, MIN_FEATURE_MAP_SIZE, 999999)
    strides = [list(s) for s in strides]
    kernels = [list(k) for k in kernels]
    if max_stages is not None and len(strides) > max_stages:
        strides, kernels = strides[:max_stages], kernels[:max_stages]
    patch = _divisible_patch(patch, strides)
    n_stages = len(strides)
    if features_per_stage is None:
        features = [min(32 * 2 ** i, 320) for i in range(n_stages)]
    else:
        base = list(features_per_stage)
        features = [base[min(i, len(base) - 1)] for i in range(n_stages)]

    conf["patch_size"] = patch
    arch["n_stages"] = n_stages
    arch["features_per_stage"] = features
    arch["kernel_sizes"] = kernels
    arch["strides"] = strides
    arch["n_conv_per_stage"] = [2] * n_stages
    arch["n_conv_per_stage_decoder"] = [2] * (n_stages - 1)
    if batch_size is not None:
        conf["batch_size"] = int(batch_size)
    new["plans_name"] = PLANS_NAME
    new["ichbench"] = {
        "planned_patch_size": planned_patch,
        "planned_architecture": planned_arch,
        "requested_patch_size_zyx": [None if p is None else int(p) for p in patch_size_zyx],
        "patch_size": patch,
        "n_stages": n_stages,
        "features_per_stage": features,
        "batch_size": conf["batch_size"],
        "network": conf["architecture"]["network_class_name"],
        "mask_logit": None if mask_logit is None else float(mask_logit),
        "spacing": [float(s) for s in conf["spacing"]],
        "median_image_size_in_voxels": [float(s) for s in conf["median_image_size_in_voxels"]],
    }
    return new
