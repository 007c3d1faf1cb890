"""The cascade's fine network: nnU-Net's U-Net plus a fixed coarse-mask term (the mask prior).

nnU-Net builds its network from the plans (``architecture.network_class_name`` and its
``arch_kwargs``), for training and in every predictor, its own ``nnUNetv2_predict``
included. The cascade's plans name :class:`MaskPriorUNet` with ``mask_channel`` and
``mask_logit`` (:func:`~ichbench.baselines.nnunet_plans.adjust_plans`), so the term is part
of the model definition that travels with the model folder: a model trained with it cannot
be predicted without it. The term has no parameters, so the state dict is a plain
``PlainConvUNet`` one.
"""

from __future__ import annotations

from typing import Any

import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet

#: ``network_class_name`` of nnU-Net's default 3D plan, the class :class:`MaskPriorUNet` extends.
PLAIN_UNET = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
#: ``network_class_name`` nnU-Net locates (``pydoc.locate``) for the cascade's network.
MASK_PRIOR_UNET = "ichbench.baselines.nnunet_network.MaskPriorUNet"


def add_mask_term(logits: torch.Tensor, mask: torch.Tensor, logit: float) -> torch.Tensor:
    """``logits`` with ``logit`` × ``mask`` added to every foreground class.

    ``mask`` (batch, 1, *spatial) is average-pooled to the logits' size first, so a coarser
    deep-supervision head gets the mask's share of each of its voxels.
    """
    if mask.shape[2:] != logits.shape[2:]:
        mask = torch.nn.functional.interpolate(mask, size=logits.shape[2:], mode="area")
    foreground = logits[:, 1:] + logit * mask.to(logits.dtype)
    return torch.cat([logits[:, :1], foreground], dim=1)


class MaskPriorUNet(PlainConvUNet):
    """nnU-Net's ``PlainConvUNet`` whose output is f(x) + ``mask_logit`` · x[mask_channel].

    With ``mask_logit`` = logit(p_in) − logit(p_out) and the heads' output prior p_out
    (:func:`~ichbench.baselines.nnunet_trainers.set_output_prior`), the untrained network
    predicts p_in inside the coarse mask and p_out outside it, so training learns the
    corrections to the coarse mask instead of first learning to copy it (the ``cpu``
    preset's ``fine.mask_prior``; README, "Methods and presets").

    Parameters
    ----------
    *args, **kwargs
        ``PlainConvUNet``'s, as nnU-Net passes them from the plans.
    mask_channel
        Input channel holding the coarse mask (0/1).
    mask_logit
        The fixed logit added inside the mask (to every head, deep supervision included).
    """

    def __init__(self, *args: Any, mask_channel: int, mask_logit: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.mask_channel = int(mask_channel)
        self.mask_logit = float(mask_logit)

    def forward(self, x: torch.Tensor) -> Any:
        """The U-Net's output (a list of heads under deep supervision) with the mask term."""
        out = super().forward(x)
        mask = x[:, self.mask_channel:self.mask_channel + 1]
        if isinstance(out, (list, tuple)):
            return type(out)(add_mask_term(o, mask, self.mask_logit) for o in out)
        return add_mask_term(out, mask, self.mask_logit)


__all__ = ["MASK_PRIOR_UNET", "PLAIN_UNET", "MaskPriorUNet", "add_mask_term"]
