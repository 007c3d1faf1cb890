"""The cascade's mask prior as a network class that nnU-Net builds from the plans."""

import math

import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from nnunetv2.utilities.get_network_from_plans import get_network_from_plans

from ichbench.baselines.nnunet_network import (
    MASK_PRIOR_UNET,
    PLAIN_UNET,
    MaskPriorUNet,
    add_mask_term,
)
from ichbench.baselines.nnunet_plans import adjust_plans
from ichbench.baselines.nnunet_trainers import mask_prior_logit, set_output_prior

ARGS = (2, 3, (4, 8, 8), torch.nn.Conv3d, [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
        [[1, 1, 1], [1, 2, 2], [2, 2, 2]], 2, 2, 2)
KWARGS = dict(conv_bias=True, norm_op=torch.nn.InstanceNorm3d,
              norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=torch.nn.LeakyReLU)


def _mask() -> torch.Tensor:
    mask = torch.zeros(8, 32, 32)
    mask[2:6, 8:20, 4:16] = 1
    return mask


@pytest.mark.parametrize("deep_supervision", [True, False])
def test_untrained_mask_prior_unet_predicts_the_coarse_mask_on_every_head(deep_supervision):
    torch.manual_seed(0)
    logit = mask_prior_logit(0.9, 0.01)
    net = MaskPriorUNet(*ARGS, **KWARGS, deep_supervision=deep_supervision, mask_channel=1,
                        mask_logit=logit)
    set_output_prior(net, 0.01)
    for head in net.decoder.seg_layers:  # output = bias: the "untrained" network
        torch.nn.init.zeros_(head.weight)
    image = torch.randn(1, 2, 8, 32, 32)
    mask = _mask()
    image[0, 1] = mask
    out = net(image)
    heads = out if deep_supervision else [out]
    full = heads[0].softmax(1)[0, 1]
    torch.testing.assert_close(full[mask == 1], torch.full_like(full[mask == 1], 0.9))
    torch.testing.assert_close(full[mask == 0], torch.full_like(full[mask == 0], 0.01))
    for head in heads[1:]:  # coarser heads: the mask's share of each coarse voxel
        share = torch.nn.functional.adaptive_avg_pool3d(mask[None, None], head.shape[2:])[0, 0]
        expected = math.log(0.01 / 0.99) + logit * share
        torch.testing.assert_close(head[0, 1] - head[0, 0], expected)


def test_mask_prior_unet_is_a_plain_unet_plus_a_parameter_free_term():
    torch.manual_seed(0)
    plain = PlainConvUNet(*ARGS, **KWARGS, deep_supervision=False)
    prior = MaskPriorUNet(*ARGS, **KWARGS, deep_supervision=False, mask_channel=1,
                          mask_logit=2.5)
    assert prior.state_dict().keys() == plain.state_dict().keys()
    prior.load_state_dict(plain.state_dict())  # checkpoints load either way
    image = torch.randn(2, 2, 8, 32, 32)
    image[:, 1] = _mask()
    with torch.no_grad():
        expected = plain(image)
        expected[:, 1:] += 2.5 * image[:, 1:2]
        torch.testing.assert_close(prior(image), expected)
    # background (class 0) is untouched; a mask on channel 0 would shift other voxels
    assert torch.equal(add_mask_term(expected, image[:, 1:2], 0.0), expected)


def _plans() -> dict:
    arch = {"n_stages": 3, "features_per_stage": [32, 64, 128],
            "conv_op": "torch.nn.modules.conv.Conv3d",
            "kernel_sizes": [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
            "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2]], "n_conv_per_stage": [2, 2, 2],
            "n_conv_per_stage_decoder": [2, 2], "conv_bias": True,
            "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
            "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
            "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True}}
    conf = {"patch_size": [16, 64, 64], "spacing": [5.0, 2.0, 2.0], "batch_size": 2,
            "median_image_size_in_voxels": [36.0, 128.0, 128.0],
            "architecture": {"network_class_name": PLAIN_UNET, "arch_kwargs": arch,
                             "_kw_requires_import": ["conv_op", "norm_op", "dropout_op",
                                                     "nonlin"]}}
    return {"plans_name": "nnUNetPlans", "transpose_forward": [0, 1, 2],
            "configurations": {"3d_fullres": conf}}


def test_adjusted_plans_make_nnunet_build_the_mask_prior_network():
    plans = adjust_plans(_plans(), patch_size_zyx=(16, 64, 64), features_per_stage=(4, 8, 8),
                         mask_channel=1, mask_logit=6.8)
    arch = plans["configurations"]["3d_fullres"]["architecture"]
    assert arch["network_class_name"] == MASK_PRIOR_UNET
    assert plans["ichbench"]["network"] == MASK_PRIOR_UNET
    assert plans["ichbench"]["mask_logit"] == 6.8
    net = get_network_from_plans(arch["network_class_name"], arch["arch_kwargs"],
                                 arch["_kw_requires_import"], 2, 2, deep_supervision=True)
    assert isinstance(net, MaskPriorUNet)
    assert (net.mask_channel, net.mask_logit) == (1, 6.8)
    plain = adjust_plans(_plans(), patch_size_zyx=(16, 64, 64))
    arch = plain["configurations"]["3d_fullres"]["architecture"]
    assert arch["network_class_name"] == PLAIN_UNET and "mask_logit" not in arch["arch_kwargs"]


def test_adjust_plans_refuses_half_a_mask_prior_and_other_networks():
    with pytest.raises(ValueError, match="set both or neither"):
        adjust_plans(_plans(), patch_size_zyx=(None, None, None), mask_channel=1)
    other = _plans()
    other["configurations"]["3d_fullres"]["architecture"]["network_class_name"] = (
        "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet")
    with pytest.raises(ValueError, match=r"extends .*PlainConvUNet only"):
        adjust_plans(other, patch_size_zyx=(None, None, None), mask_channel=1, mask_logit=1.0)
