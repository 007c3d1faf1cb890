import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ichbench.baselines import training
from ichbench.baselines.coarse import PRESETS, CoarseConfig, CoarseMethod
from ichbench.dataset import open_dataset
from ichbench.methods import RunContext
from ichbench.nifti import read_geometry
from ichbench.protocol import make_protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmark"))
import tiny_ich_data

TINY = replace(PRESETS["smoke"], epochs=1, grid_zyx=(4, 32, 32))


def test_presets_keep_the_paper_recipe_and_shrink_only_smoke():
    paper, smoke = PRESETS["paper"], PRESETS["smoke"]
    assert (paper.grid_zyx, paper.epochs, paper.patience, paper.batch_size, paper.lr) == (
        (16, 256, 256), 200, 20, 2, 4e-4)
    assert (paper.block_layers, paper.growth_rate, paper.bn_size) == ((6,) * 5, 32, 4)
    assert (paper.hflip_p, paper.vflip_p, paper.gamma_p, paper.pos_weight) == (
        0.5, 0.5, 0.8, 1.0)
    assert (smoke.batch_size, smoke.lr, smoke.hu_window) == (2, 4e-4, paper.hu_window)


def test_config_round_trips_through_json_and_refuses_bad_values():
    cfg = PRESETS["smoke"]
    assert CoarseConfig.from_mapping(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="divisible by 32"):
        replace(cfg, grid_zyx=(8, 48, 64))
    with pytest.raises(ValueError, match="unknown key"):
        CoarseConfig.from_mapping({"epoch": 3})


@pytest.mark.slow
def test_each_fold_model_only_predicts_cases_it_never_trained_on(tmp_path, monkeypatch):
    dataset = open_dataset(tiny_ich_data.build(tmp_path / "data"))
    protocol = make_protocol(dataset, n_folds=5, seed=0)
    trained_on: dict[str, tuple[str, ...]] = {}
    real_train = training.train_fold

    def spy(model, train, val, settings, fold_dir, **kwargs):
        trained_on[fold_dir.name] = train.case_ids
        return real_train(model, train, val, settings, fold_dir, **kwargs)

    monkeypatch.setattr(training, "train_fold", spy)
    ctx = RunContext(run_dir=tmp_path / "run", dataset=dataset, protocol=protocol,
                     preset="smoke", config=TINY.to_dict(), device="cpu",
                     folds=tuple(range(5)), seed=0, log=lambda s: None)
    CoarseMethod().run(ctx)
    for k in range(5):
        recorded = json.loads((ctx.fold_dir(k) / "cases.json").read_text())
        assert tuple(recorded["train"]) == trained_on[str(k)] == protocol.fold_train(k)
        oof = sorted(p.name[:-7] for p in ctx.oof_dir(k).glob("*.nii.gz"))
        assert oof == sorted(recorded["val"]) == sorted(protocol.fold_val(k))
        assert not set(oof) & set(trained_on[str(k)])
        for cid in oof:
            assert read_geometry(ctx.oof_dir(k) / f"{cid}.nii.gz") == read_geometry(
                dataset.case(cid).image)
            prob = np.load(ctx.fold_dir(k) / "oof_prob" / f"{cid}.npy")
            assert prob.shape == TINY.grid_zyx and prob.dtype == np.float16
    for split in ("validation", "test"):
        names = sorted(p.name[:-7] for p in ctx.prediction_dir(split).glob("*.nii.gz"))
        assert names == sorted(protocol.ids(split))
    # a second run finds every fold finished and only predicts again
    monkeypatch.setattr(training, "train_fold", None)
    CoarseMethod().run(ctx)
