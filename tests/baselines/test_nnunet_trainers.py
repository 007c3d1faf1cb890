"""IchbenchTrainer's augmentation: the coarse-mask channel stays binary and out of intensity
augmentation; settings come from the JSON file beside the plans."""

import numpy as np
import pytest
import torch
from batchgeneratorsv2.transforms.spatial.mirroring import MirrorTransform
from batchgeneratorsv2.transforms.spatial.spatial import SpatialTransform
from batchgeneratorsv2.transforms.utils.random import RandomTransform
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

from ichbench.baselines.nnunet_settings import (
    TRAINER_CONFIG_FILE,
    NnunetTrainerSettings,
    TrainerSettingsError,
)
from ichbench.baselines.nnunet_trainers import (
    INTENSITY_TRANSFORMS,
    BinarizeChannels,
    IchbenchTrainer,
    OnImageChannels,
    channels_last,
    mask_prior_logit,
    restrict_intensity_transforms,
)

PATCH = (8, 32, 32)


def nnunet_pipeline(*, dummy_2d: bool):
    rotation = (-np.pi, np.pi) if dummy_2d else (-np.pi / 6, np.pi / 6)
    return nnUNetTrainer.get_training_transforms(
        PATCH, rotation, None, (0, 1, 2), dummy_2d, use_mask_for_norm=[False, False],
        is_cascaded=False, foreground_labels=[1], regions=None, ignore_label=None)


def always(pipeline):
    """Make every random transform fire (probabilities 1) to test the worst case."""
    for t in pipeline.transforms:
        inner = t.transform if isinstance(t, OnImageChannels) else t
        if isinstance(inner, RandomTransform):
            inner.apply_probability = 1.0
            if hasattr(inner.transform, "p_per_channel"):
                inner.transform.p_per_channel = 1.0
        if isinstance(t, SpatialTransform):
            t.p_rotation, t.p_scaling = 1.0, 1.0
    return pipeline


def sample(rng):
    ct = torch.from_numpy(rng.normal(0, 1, (1, *PATCH)).astype(np.float32))
    mask = torch.zeros((1, *PATCH))
    mask[0, 2:6, 8:20, 10:24] = 1
    seg = mask.clone().to(torch.int16)
    return torch.cat([ct, mask]), seg


def test_every_intensity_transform_is_restricted_to_the_ct_channel():
    pipeline = restrict_intensity_transforms(nnunet_pipeline(dummy_2d=True), 2, (1,),
                                             perturb_masks=True)
    for t in pipeline.transforms:
        inner = t.transform if isinstance(t, RandomTransform) else t
        assert not isinstance(inner, INTENSITY_TRANSFORMS), f"{t} can touch the mask"
        if isinstance(t, OnImageChannels):
            assert t.channels == (0,)
    wrapped = [t for t in pipeline.transforms if isinstance(t, OnImageChannels)]
    assert len(wrapped) == 7  # noise, blur, brightness, contrast, low-res, 2x gamma
    kinds = [type(t) for t in pipeline.transforms]
    assert kinds.index(BinarizeChannels) > kinds.index(SpatialTransform)


def test_no_mask_channels_keeps_nnunet_pipeline():
    pipeline = nnunet_pipeline(dummy_2d=False)
    assert restrict_intensity_transforms(pipeline, 1, (), perturb_masks=True) is pipeline


@pytest.mark.parametrize("dummy_2d", [True, False])
@pytest.mark.parametrize("perturb", [True, False])
def test_mask_channel_stays_binary_through_training_augmentation(dummy_2d, perturb):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    pipeline = always(restrict_intensity_transforms(nnunet_pipeline(dummy_2d=dummy_2d), 2, (1,),
                                                    perturb_masks=perturb))
    for _ in range(4):
        image, seg = sample(rng)
        out = pipeline(image=image, segmentation=seg)
        mask = out["image"][1]
        assert out["image"].shape == (2, *PATCH)
        values = set(torch.unique(mask).tolist())
        assert values <= {0.0, 1.0}, values


def test_intensity_augmentation_leaves_mask_channel_untouched():
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    pipeline = always(restrict_intensity_transforms(nnunet_pipeline(dummy_2d=True), 2, (1,),
                                                    perturb_masks=False))
    pipeline.transforms = [t for t in pipeline.transforms
                           if not isinstance(t, SpatialTransform | MirrorTransform)
                           and type(t).__name__ not in ("Convert3DTo2DTransform",
                                                        "Convert2DTo3DTransform")]
    image, seg = sample(rng)
    before = image.clone()
    out = pipeline(image=image, segmentation=seg)
    assert torch.equal(out["image"][1], before[1])
    assert not torch.allclose(out["image"][0], before[0])


@pytest.fixture
def bare_trainer(monkeypatch, tmp_path):
    """IchbenchTrainer on nnU-Net's base class stubbed to set only what the trainer reads."""
    from types import SimpleNamespace

    def stub_init(self, plans, configuration, fold, dataset_json, device):
        self.preprocessed_dataset_folder_base = str(tmp_path)
        self.logger = SimpleNamespace(plot_progress_png=lambda folder: None)
        self.num_epochs, self.oversample_foreground_percent = 1000, 0.33  # nnU-Net's

    monkeypatch.setattr(nnUNetTrainer, "__init__", stub_init)
    return lambda: IchbenchTrainer({}, "3d_fullres", 0, {}, torch.device("cpu"))


def test_trainer_takes_every_setting_from_the_record_beside_the_plans(bare_trainer, tmp_path):
    record = NnunetTrainerSettings(
        seed=7, num_epochs=3, num_iterations_per_epoch=4, num_val_iterations_per_epoch=2,
        initial_lr=0.002, oversample_foreground_percent=0.5, optimizer="adam",
        output_prior=0.01, mask_channels=(1,), perturb_masks=True, plot_progress=False)
    record.write(tmp_path)
    trainer = bare_trainer()
    assert trainer.settings == record
    assert (trainer.seed, trainer.num_epochs, trainer.num_iterations_per_epoch,
            trainer.num_val_iterations_per_epoch) == (7, 3, 4, 2)
    assert (trainer.initial_lr, trainer.oversample_foreground_percent) == (0.002, 0.5)
    assert (trainer.optimizer_name, trainer.output_prior) == ("adam", 0.01)
    assert (trainer.mask_channels, trainer.perturb_masks) == ((1,), True)
    assert trainer.logger.plot_progress_png.__name__ == "_no_plot"


def test_trainer_refuses_a_missing_or_renamed_setting_instead_of_nnunets_default(
        bare_trainer, tmp_path):
    import json

    with pytest.raises(TrainerSettingsError, match=f"{TRAINER_CONFIG_FILE}: not found"):
        bare_trainer()  # used to train nnU-Net's 1,000 epochs
    record = NnunetTrainerSettings(
        seed=0, num_epochs=3, num_iterations_per_epoch=4, num_val_iterations_per_epoch=2,
        initial_lr=0.01, oversample_foreground_percent=0.33, optimizer="sgd",
        output_prior=None, mask_channels=(), perturb_masks=False, plot_progress=True).to_json()
    record["epochs"] = record.pop("num_epochs")
    (tmp_path / TRAINER_CONFIG_FILE).write_text(json.dumps(record))
    with pytest.raises(TrainerSettingsError, match=r"unknown key.*epochs"):
        bare_trainer()


def test_mask_prior_logit_moves_the_outside_probability_to_the_inside_one():
    import math

    logit = mask_prior_logit(0.9, 0.01)
    assert logit == pytest.approx(math.log(9) + math.log(99))
    assert 1 / (1 + math.exp(-(math.log(0.01 / 0.99) + logit))) == pytest.approx(0.9)
    assert mask_prior_logit(0.5, None) == 0.0  # nnU-Net's init: even odds outside
    with pytest.raises(ValueError, match=r"mask_prior 1\.0"):
        mask_prior_logit(1.0, 0.01)
    with pytest.raises(ValueError, match="output_prior 0"):
        mask_prior_logit(0.9, 0)


@pytest.mark.parametrize("dims", [3, 2])
def test_channels_last_changes_strides_not_values_nor_the_optimisers_parameters(dims):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    conv = torch.nn.Conv3d if dims == 3 else torch.nn.Conv2d
    norm = torch.nn.InstanceNorm3d if dims == 3 else torch.nn.InstanceNorm2d
    torch.manual_seed(0)
    net = PlainConvUNet(2, 3, (4, 8, 16), conv, 3, (1, 2, 2), 2, 2, (2, 2), False, norm,
                        {"affine": True}, None, None, torch.nn.LeakyReLU, None,
                        deep_supervision=True)
    x = torch.randn(2, 2, *([8, 16, 16] if dims == 3 else [16, 16]))
    with torch.no_grad():
        expected = net(x)
    optimizer = torch.optim.Adam(net.parameters())  # nnU-Net builds it before the conversion
    fmt = torch.channels_last_3d if dims == 3 else torch.channels_last
    assert channels_last(net) is net
    convs = [m for m in net.modules() if isinstance(m, conv)]
    assert all(m.weight.is_contiguous(memory_format=fmt) for m in convs)
    assert {id(p) for p in optimizer.param_groups[0]["params"]} == {id(p) for p in
                                                                      net.parameters()}
    seen = []
    convs[0].register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        out = net(x)  # a contiguous input, converted by the network's own hook
    assert seen[0].is_contiguous(memory_format=fmt)
    for a, b in zip(out, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    loss = sum(o.square().mean() for o in net(x))
    loss.backward()  # and it trains: every parameter gets a gradient
    assert all(p.grad is not None for p in net.parameters())
