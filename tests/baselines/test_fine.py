"""``fine``: a real nnU-Net v2 plan/preprocess/train/predict on a tiny dataset (CPU, slow)."""

import csv
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from nnunet_fixtures import make_context, make_dataset, tiny_nnunet_config

from ichbench.baselines.fine import FineMethod
from ichbench.baselines.nnunet_config import NnunetConfig
from ichbench.baselines.nnunet_raw import DATASET_NAME
from ichbench.baselines.nnunet_settings import (
    TRAINER_CONFIG_FILE,
    NnunetTrainerSettings,
    TrainerSettingsError,
)
from ichbench.harness.config import from_dict, to_dict
from ichbench.harness.methods import PRESETS
from ichbench.io.volumes import read_geometry, read_volume

MODEL = "IchbenchTrainer__ichbenchPlans__3d_fullres"


@pytest.fixture(scope="module")
def fine_run(tmp_path_factory):
    data = make_dataset(tmp_path_factory.mktemp("data"), n_train=6)
    method = FineMethod()
    # One spawned worker (the paper preset's way); the cascade test plans in threads.
    config = replace(tiny_nnunet_config(method.presets["cpu"]), num_processes=1)
    ctx = make_context(data, tmp_path_factory.mktemp("run") / "fine", config, n_folds=2)
    env_before = {k: os.environ.get(k) for k in ("nnUNet_raw", "nnUNet_results")}
    method.run(ctx)
    return ctx, env_before


def test_presets_are_valid_configs_and_round_trip_through_json():
    for preset in PRESETS:
        cfg = FineMethod().presets[preset]
        assert from_dict(NnunetConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    paper = FineMethod().presets["paper"]
    assert paper.num_epochs == 500 and paper.patch_size_zyx == (None, 128, 128)
    with pytest.raises(ValueError, match="unknown key"):
        from_dict(NnunetConfig, {**to_dict(paper), "num_epoch": 3})
    with pytest.raises(ValueError, match="patch_size_zyx"):
        from_dict(NnunetConfig, {**to_dict(paper), "patch_size_zyx": [None, 128]})


@pytest.mark.slow
def test_fine_predictions_sit_exactly_on_the_ct_grid(fine_run):
    ctx, _ = fine_run
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            path = ctx.prediction_dir(split) / f"{cid}.nii.gz"
            ct = read_geometry(ctx.dataset.case(cid).image)
            pred = read_volume(path)
            assert ct.mismatch(pred.geometry) is None
            assert pred.geometry.size_xyz == ct.size_xyz
            np.testing.assert_allclose(pred.geometry.direction, ct.direction, atol=1e-6)
            np.testing.assert_allclose(pred.geometry.origin_mm, ct.origin_mm, atol=1e-4)
            np.testing.assert_allclose(pred.geometry.spacing_xyz_mm, ct.spacing_xyz_mm,
                                       rtol=1e-6)
            assert set(np.unique(pred.array)) <= {0, 1}


@pytest.mark.slow
def test_fine_writes_oof_history_and_protocol_splits(fine_run):
    ctx, env_before = fine_run
    for k in ctx.folds:
        written = sorted(p.name for p in ctx.oof_dir(k).iterdir())
        assert written == sorted(f"{cid}.nii.gz" for cid in ctx.protocol.fold_val(k))
        for cid in ctx.protocol.fold_val(k):
            oof = read_volume(ctx.oof_dir(k) / f"{cid}.nii.gz")
            assert read_geometry(ctx.dataset.case(cid).image).mismatch(oof.geometry) is None
        with open(ctx.fold_dir(k) / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "val_dc", "seconds"]
        assert len(rows) == 1
    pre = ctx.run_dir / "nnunet" / "preprocessed" / DATASET_NAME
    splits = json.loads((pre / "splits_final.json").read_text())
    assert [tuple(s["val"]) for s in splits] == [ctx.protocol.fold_val(k)
                                                 for k in range(ctx.protocol.n_folds)]
    plan = json.loads((ctx.run_dir / "nnunet" / "plan_used.json").read_text())
    assert plan["patch_size"] == [12, 40, 40] and plan["features_per_stage"] == [4, 8, 16]
    # the trainer nnU-Net used is ichbench's, found through nnUNet_extTrainer
    ckpt = torch.load(ctx.run_dir / "nnunet" / "results" / DATASET_NAME / MODEL / "fold_0" /
                      "checkpoint_final.pth", map_location="cpu", weights_only=False)
    assert ckpt["trainer_name"] == "IchbenchTrainer"
    # the nnU-Net environment is restored after the run
    assert {k: os.environ.get(k) for k in env_before} == env_before


@pytest.mark.slow
def test_fine_resumes_from_checkpoint_latest(fine_run):
    ctx, _ = fine_run
    fold_dir = ctx.run_dir / "nnunet" / "results" / DATASET_NAME / MODEL / "fold_0"
    (fold_dir / "checkpoint_final.pth").rename(fold_dir / "checkpoint_latest.pth")
    for k in ctx.folds:  # force the OOF masks of fold 0 to be predicted again
        for path in ctx.oof_dir(k).iterdir():
            if k == 0:
                path.unlink()
    # fold 0 as if killed mid-training (its stage never finished); fold 1's stage is run
    # again too, to check that a finished nnU-Net fold inside a stage is kept
    for k in (0, 1):
        (ctx.run_dir / "stages" / f"fine.fold{k}.json").unlink()
    # a settings file of an older ichbench (no seed) is refused with the way to continue ...
    pre = ctx.run_dir / "nnunet" / "preprocessed" / DATASET_NAME
    old = json.loads((pre / TRAINER_CONFIG_FILE).read_text())
    del old["seed"]
    (pre / TRAINER_CONFIG_FILE).write_text(json.dumps(old))
    with pytest.raises(TrainerSettingsError, match=r"missing key\(s\) seed.*delete "
                                                   r"stages/fine\.prepare\.json"):
        NnunetTrainerSettings.read(pre)
    # ... which works: the prepare stage rewrites the trainer's budget from the config (here
    # the 2-epoch config below)
    (ctx.run_dir / "stages" / "fine.prepare.json").unlink()
    lines = []
    resumed = ctx.__class__(**{**ctx.__dict__, "config": replace(ctx.config, num_epochs=2),
                               "log": lines.append})
    FineMethod().run(resumed)
    assert any("fold 0: resuming nnU-Net at epoch 1" in line for line in lines), lines
    assert any("fold 1: nnU-Net training already finished" in line for line in lines), lines
    with open(ctx.fold_dir(0) / "history.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert sorted(p.name for p in ctx.oof_dir(0).iterdir()) == sorted(
        f"{cid}.nii.gz" for cid in ctx.protocol.fold_val(0))


@pytest.mark.slow
def test_trainer_uses_the_presets_optimiser_prior_and_oversampling(fine_run):
    ctx, _ = fine_run
    fold_dir = ctx.run_dir / "nnunet" / "results" / DATASET_NAME / MODEL / "fold_0"
    debug = json.loads((fold_dir / "debug.json").read_text())
    cpu = FineMethod().presets["cpu"]
    assert debug["optimizer_name"] == cpu.optimizer == "adam"
    assert float(debug["output_prior"]) == cpu.output_prior == 0.01
    assert float(debug["oversample_foreground_percent"]) == cpu.oversample_foreground_percent
    assert "Adam" in debug["optimizer"]
    record = NnunetTrainerSettings.read(ctx.run_dir / "nnunet" / "preprocessed" / DATASET_NAME)
    assert debug["settings"] == repr(record)  # the trainer ran by the record ...
    assert (int(debug["num_epochs"]), int(debug["num_iterations_per_epoch"]),
            int(debug["seed"])) == (record.num_epochs, record.num_iterations_per_epoch,
                                    ctx.seed)  # ... built from the run's config
    assert record.num_iterations_per_epoch == ctx.config.num_iterations_per_epoch == 2
    logs = sorted(fold_dir.glob("training_log_*.txt"))  # one more per resumption
    assert logs and all("ichbench: training channels-last (CPU)" in log.read_text()
                        for log in logs)


def test_output_prior_sets_every_head_to_the_foreground_probability():
    from ichbench.baselines.nnunet_trainers import set_output_prior
    from ichbench.perf.gpucheck import fine_network

    net, _, _ = fine_network((8, 32, 32), (5.0, 2.0, 2.0), in_channels=2,
                                 features=(4, 8, 16))
    assert set_output_prior(net, 0.01) == len(net.decoder.seg_layers)
    with torch.no_grad():
        for head in net.decoder.seg_layers:  # zero features: softmax of the bias alone
            prob = torch.softmax(head.bias, 0)
            assert float(prob[1]) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="probability"):
        set_output_prior(net, 1.5)


@pytest.mark.slow
def test_ct_only_fine_keeps_nnunets_plain_unet_although_the_preset_has_a_mask_prior(fine_run):
    from ichbench.baselines.nnunet_network import PLAIN_UNET

    ctx, _ = fine_run
    assert ctx.config.mask_prior == 0.9  # the shared preset's value: inactive without a mask
    plans = json.loads((ctx.run_dir / "nnunet" / "preprocessed" / DATASET_NAME
                        / "ichbenchPlans.json").read_text())
    arch = plans["configurations"]["3d_fullres"]["architecture"]
    assert arch["network_class_name"] == PLAIN_UNET
    assert "mask_logit" not in arch["arch_kwargs"] and plans["ichbench"]["mask_logit"] is None
    assert not any("mask prior" in line for line in ctx.log.__self__)
