import json
from dataclasses import replace

import numpy as np
import pytest
import tiny_ich_data

from ichbench.baselines import training
from ichbench.baselines.coarse import PRESETS, CoarseConfig, CoarseMethod
from ichbench.data.dataset import open_dataset
from ichbench.data.protocol import make_protocol
from ichbench.harness.config import apply_overrides, from_dict, to_dict
from ichbench.harness.methods import PRESETS as PRESET_NAMES
from ichbench.harness.methods import RunContext
from ichbench.io.volumes import read_geometry

TINY = apply_overrides(PRESETS["cpu"], ["train.epochs=1", "grid_zyx=4,32,32"])


def test_presets_keep_the_paper_recipe_and_change_only_cpu():
    paper, cpu = PRESETS["paper"], PRESETS["cpu"]
    assert (paper.grid_zyx, paper.train.epochs, paper.train.patience, paper.train.batch_size,
            paper.train.lr) == ((16, 256, 256), 200, 20, 2, 4e-4)
    assert (paper.model.block_layers, paper.model.growth_rate, paper.model.bn_size) == (
        (6,) * 5, 32, 4)
    assert (paper.augment.hflip_p, paper.augment.vflip_p, paper.augment.gamma_p,
            paper.train.pos_weight) == (0.5, 0.5, 0.8, 1.0)
    assert paper.hu_windows == ((-100.0, 200.0),) and paper.model.in_channels == 1
    assert cpu.augment == paper.augment
    # the paper's window first, then a brain window as a second channel
    assert cpu.hu_windows == (paper.hu_windows[0], (0.0, 100.0)) and cpu.model.in_channels == 2
    # a scaled copy of the paper's coarse grid: its fixed 16 slices, and in-plane the same
    # fraction of the default phantom's 128-pixel matrix as 256 is of INSTANCE's 512
    from ichbench.phantom.scan import PRESETS as PHANTOM_GRIDS

    native = PHANTOM_GRIDS["small"]["matrix"]
    assert cpu.grid_zyx[0] == paper.grid_zyx[0] == 16
    assert cpu.grid_zyx[1:] == (native * 256 // 512,) * 2
    assert cpu.train.foreground_fraction == 0.5
    assert paper.train.samples_per_epoch is None and paper.train.dice_weight == 0


def test_every_preset_name_has_a_coarse_preset():
    assert set(PRESETS) == set(PRESET_NAMES)


def test_config_round_trips_through_json_and_refuses_bad_values():
    cfg = PRESETS["cpu"]
    assert from_dict(CoarseConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    with pytest.raises(ValueError, match="divisible by 32"):
        replace(cfg, grid_zyx=(8, 48, 64))
    with pytest.raises(ValueError, match="unknown key"):
        from_dict(CoarseConfig, {**to_dict(cfg), "epoch": 3})
    with pytest.raises(ValueError, match=r"config\.train: unknown key.*valid keys: epochs"):
        from_dict(CoarseConfig, {**to_dict(cfg), "train": {**to_dict(cfg.train), "epoch": 3}})


def test_config_refuses_windows_that_do_not_match_the_model_channels():
    cfg = PRESETS["cpu"]
    with pytest.raises(ValueError, match=r"2 input channel\(s\) but model.in_channels=1; "
                                         r"set model.in_channels=2"):
        replace(cfg, model=replace(cfg.model, in_channels=1))
    with pytest.raises(ValueError, match="low < high"):
        replace(cfg, hu_windows=((0.0, 100.0), (80.0, 80.0)))
    with pytest.raises(ValueError, match="one or more"):
        replace(cfg, hu_windows=())


def test_grid_cache_gives_one_channel_per_window(tmp_path):
    """Channel k is the CT clipped to window k and scaled to [0, 1], on the model grid."""
    from ichbench.baselines.coarse import GridCache
    from ichbench.baselines.volumes import to_grid, window_normalise
    from ichbench.io.volumes import read_volume

    dataset = open_dataset(tiny_ich_data.build(tmp_path / "data", n_train=2, validation=1,
                                               test=1))
    cid = dataset.ids("train")[0]
    image = GridCache(dataset, TINY).image(cid)
    assert image.shape == (4, 2, 32, 32) and image.dtype == np.float32
    ct = read_volume(dataset.case(cid).image, dtype=np.float32).array
    for k, window in enumerate(TINY.hu_windows):
        assert np.array_equal(image[:, k], to_grid(window_normalise(ct, window), (4, 32, 32)))
    assert not np.array_equal(image[:, 0], image[:, 1])


def test_a_preset_value_changed_in_a_part_reaches_the_code_that_uses_it():
    """No twin defaults: the model and the training loop read the nested parts."""
    from ichbench.baselines.coarse import build_model

    cfg = apply_overrides(PRESETS["cpu"], ["model.growth_rate=4", "augment.gamma_p=0"])
    assert build_model(cfg, 0).config.growth_rate == 4
    assert cfg.augment.gamma_p == 0.0


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
                     config=TINY, device="cpu",
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
