"""TileBatchPredictor: nnU-Net's sliding window, tiles batched, same logits."""

import types

import pytest
import torch
from dynamic_network_architectures.architectures.unet import PlainConvUNet
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

from ichbench.baselines.nnunet_predictor import TileBatchPredictor

PATCH = [8, 16, 16]


def _network() -> torch.nn.Module:
    torch.manual_seed(0)
    return PlainConvUNet(
        2, 2, (4, 8), torch.nn.Conv3d, [[1, 3, 3], [3, 3, 3]], [[1, 1, 1], [2, 2, 2]], 2, 2, 2,
        conv_bias=True, norm_op=torch.nn.InstanceNorm3d,
        norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=torch.nn.LeakyReLU,
        deep_supervision=False).eval()


def _predictor(cls: type, network: torch.nn.Module, *, mirroring: bool,
               **kwargs: int) -> nnUNetPredictor:
    predictor = cls(tile_step_size=0.5, use_gaussian=True, use_mirroring=mirroring,
                    perform_everything_on_device=False, device=torch.device("cpu"),
                    verbose=False, allow_tqdm=False, **kwargs)
    predictor.network = network
    predictor.configuration_manager = types.SimpleNamespace(patch_size=PATCH)
    predictor.label_manager = types.SimpleNamespace(num_segmentation_heads=2)
    predictor.allowed_mirroring_axes = (0, 1, 2)
    return predictor


@pytest.mark.parametrize("mirroring", [False, True])
def test_batched_tiles_give_nnunets_logits(mirroring):
    network = _network()
    image = torch.randn(2, 13, 30, 21)  # not a multiple of the patch: padded, overlapping
    reference = _predictor(nnUNetPredictor, network, mirroring=mirroring) \
        .predict_sliding_window_return_logits(image).float()
    one = _predictor(TileBatchPredictor, network, mirroring=mirroring, tile_batch=1) \
        .predict_sliding_window_return_logits(image).float()
    five = _predictor(TileBatchPredictor, network, mirroring=mirroring, tile_batch=5) \
        .predict_sliding_window_return_logits(image).float()
    assert one.shape == reference.shape == (2, 13, 30, 21)
    assert torch.equal(one, reference)
    # Batched convolutions round differently; both accumulate in half precision.
    assert torch.allclose(five, reference, atol=2e-2, rtol=0)
    assert (five.argmax(0) == reference.argmax(0)).float().mean() > 0.99


def test_tile_batch_must_be_positive():
    with pytest.raises(ValueError, match="tile_batch 0"):
        TileBatchPredictor(device=torch.device("cpu"), tile_batch=0)
