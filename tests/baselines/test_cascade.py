"""``cascade``: coarse masks in, out-of-fold for training cases, nnU-Net on two channels.

The coarse stage is replaced by a stub that writes a DIFFERENT mask pattern per fold, so the
test can tell which coarse model's mask each training case received. nnU-Net itself runs
for real (tiny, CPU, one fold).
"""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from nnunet_fixtures import make_context, make_dataset, tiny_nnunet_config

import ichbench.harness.methods
from ichbench.baselines import coarse, nnunet_config
from ichbench.baselines.cascade import CascadeMethod
from ichbench.baselines.nnunet_raw import DATASET_NAME
from ichbench.harness.config import apply_overrides
from ichbench.harness.methods import PRESETS
from ichbench.harness.stages import Stage
from ichbench.io.volumes import read_geometry, read_volume, write_volume

ENSEMBLE = 99


def pattern(shape, fold):
    """A binary mask that identifies the fold (ENSEMBLE for the coarse fold ensemble)."""
    mask = np.zeros(shape, np.uint8)
    start = 2 + 3 * (fold % 8)
    mask[2:6, start:start + 3, 4:12] = 1
    return mask


class StubCoarse:
    name = "coarse"

    def __init__(self):
        self.folds_run = None

    def stages(self, ctx):
        return [Stage(key="coarse.stub", home=ctx.run_dir, work=lambda: self.run(ctx))]

    def run(self, ctx):
        self.folds_run = ctx.folds
        for k in ctx.folds:
            for cid in ctx.protocol.fold_val(k):
                assert cid not in ctx.protocol.fold_train(k)
                geom = read_geometry(ctx.dataset.case(cid).image)
                write_volume(pattern(geom.shape, k), geom, ctx.oof_dir(k) / f"{cid}.nii.gz")
        for split in ctx.protocol.predict_splits():
            for cid in getattr(ctx.protocol, split):
                geom = read_geometry(ctx.dataset.case(cid).image)
                write_volume(pattern(geom.shape, ENSEMBLE), geom,
                             ctx.prediction_dir(split) / f"{cid}.nii.gz")


@pytest.fixture(scope="module")
def cascade_run(tmp_path_factory):
    stub = StubCoarse()
    patcher = pytest.MonkeyPatch()
    patcher.setattr(ichbench.harness.methods, "get_method",
                    lambda name: stub if name == "coarse" else None)
    try:
        data = make_dataset(tmp_path_factory.mktemp("data"), n_train=6)
        method = CascadeMethod()
        smoke = method.presets["cpu"]
        # exercise nnU-Net-cascade perturbations for real; priors so strong that neither the
        # heads' random initial weights nor two training steps can override them (logit −46
        # outside the mask, +27.6 inside; at 1e-6 / 1 − 1e-6, ±13.8, the +45 HU blob's
        # features sometimes crossed it), so predictions must reproduce the coarse mask
        torch.manual_seed(0)
        config = replace(smoke, fine=replace(tiny_nnunet_config(smoke.fine), perturb_masks=True,
                                             output_prior=1e-20, mask_prior=1 - 1e-12))
        ctx = make_context(data, tmp_path_factory.mktemp("run") / "cascade", config,
                           n_folds=3, folds=(0,))
        method.run(ctx)
    finally:
        patcher.undo()
    return ctx, stub


def test_cascade_presets_are_the_coarse_and_fine_presets_of_the_same_name():
    for preset in PRESETS:
        config = CascadeMethod().presets[preset]
        assert config.coarse == coarse.PRESETS[preset]
        assert config.fine == nnunet_config.PRESETS[preset]
    smoke = CascadeMethod().presets["cpu"]
    changed = apply_overrides(smoke, ["coarse.train.epochs=2", "fine.num_epochs=7"])
    assert (changed.coarse.train.epochs, changed.fine.num_epochs) == (2, 7)
    assert changed.coarse.model == smoke.coarse.model
    # the CPU cascade starts from its coarse mask; the paper's is plain nnU-Net
    assert smoke.fine.mask_prior == 0.9
    assert CascadeMethod().presets["paper"].fine.mask_prior is None
    with pytest.raises(ValueError, match=r"mask_prior=1\.5: expected a probability"):
        apply_overrides(smoke, ["fine.mask_prior=1.5"])


@pytest.mark.slow
def test_cascade_training_cases_get_their_out_of_fold_coarse_mask(cascade_run):
    ctx, stub = cascade_run
    assert stub.folds_run == (0, 1, 2)  # every fold, although the fine stage trains fold 0
    raw = ctx.run_dir / "nnunet" / "raw" / DATASET_NAME
    for cid in ctx.protocol.train:
        (fold,) = [k for k in range(ctx.protocol.n_folds) if cid in ctx.protocol.fold_val(k)]
        mask = read_volume(raw / "imagesTr" / f"{cid}_0001.nii.gz").array
        np.testing.assert_array_equal(mask, pattern(mask.shape, fold))
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            mask = read_volume(raw / "imagesTs" / f"{cid}_0001.nii.gz").array
            np.testing.assert_array_equal(mask, pattern(mask.shape, ENSEMBLE))


@pytest.mark.slow
def test_cascade_trains_nnunet_on_ct_plus_nonorm_mask_and_predicts_on_ct_grid(cascade_run):
    ctx, _ = cascade_run
    pre = ctx.run_dir / "nnunet" / "preprocessed" / DATASET_NAME
    assert json.loads((pre / "dataset.json").read_text())["channel_names"] == {
        "0": "CT", "1": "noNorm"}
    settings = json.loads((pre / "ichbench_trainer.json").read_text())
    assert settings["mask_channels"] == [1] and settings["perturb_masks"] is True
    assert sorted(p.name for p in ctx.oof_dir(0).iterdir()) == sorted(
        f"{cid}.nii.gz" for cid in ctx.protocol.fold_val(0))
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            pred = read_volume(ctx.prediction_dir(split) / f"{cid}.nii.gz")
            assert read_geometry(ctx.dataset.case(cid).image).mismatch(pred.geometry) is None
            assert set(np.unique(pred.array)) <= {0, 1}


@pytest.mark.slow
def test_cascade_predictor_applies_the_mask_prior_it_trained_with(cascade_run):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    from ichbench.baselines.nnunet_env import NnunetPaths, nnunet_environment
    from ichbench.baselines.nnunet_network import MaskPriorUNet

    ctx, _ = cascade_run
    # nnU-Net's own predictor (nnUNetv2_predict's) builds the mask-prior network from the
    # model folder's plans: the term cannot be lost outside ichbench
    paths = NnunetPaths(ctx.run_dir / "nnunet")
    model = paths.results / DATASET_NAME / "IchbenchTrainer__ichbenchPlans__3d_fullres"
    with nnunet_environment(paths):
        predictor = nnUNetPredictor(device=torch.device("cpu"), allow_tqdm=False)
        predictor.initialize_from_trained_model_folder(str(model), use_folds=(0,),
                                                       checkpoint_name="checkpoint_final.pth")
    assert isinstance(predictor.network, MaskPriorUNet)
    assert predictor.network.mask_channel == 1 and predictor.network.mask_logit > 73
    logged = ctx.log.__self__  # make_context logs into a list
    assert any("mask prior: MaskPriorUNet adds" in line for line in logged)
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            pred = read_volume(ctx.prediction_dir(split) / f"{cid}.nii.gz").array > 0
            coarse_mask = pattern(pred.shape, ENSEMBLE) > 0
            dice = 2 * (pred & coarse_mask).sum() / (pred.sum() + coarse_mask.sum())
            assert dice > 0.9, f"case {cid}: cascade vs its coarse mask DC {dice:.3f}"
