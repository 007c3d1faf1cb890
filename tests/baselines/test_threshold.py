import json
from pathlib import Path

import numpy as np
import pytest
import tiny_ich_data

from ichbench.baselines import threshold as th
from ichbench.baselines.threshold import ThresholdConfig, ThresholdMethod, ThresholdParams, segment
from ichbench.data.dataset import open_dataset
from ichbench.data.protocol import make_protocol
from ichbench.harness.config import from_dict, to_dict
from ichbench.harness.methods import RunContext


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return open_dataset(tiny_ich_data.build(tmp_path_factory.mktemp("tiny")))


def test_segment_finds_a_hyperdense_blob_inside_the_skull():
    ct, label = tiny_ich_data.make_case(3)
    mask = segment(ct.astype(np.float32), 0.0036, ThresholdParams(55, 100, 0.0, "largest", 0.0))
    dice = 2 * (mask & label).sum() / (mask.sum() + label.sum())
    assert dice > 0.95


def test_segment_of_a_ct_without_candidates_is_empty():
    ct = np.full((3, 20, 20), 30.0)
    assert segment(ct, 0.01, ThresholdParams(55, 100, 1.0, "all", 0.1)).sum() == 0


def test_grid_skips_empty_windows_and_varies_min_size_only_for_keep_all():
    grid = ThresholdConfig(hu_low=(50, 120), hu_high=(100,), smooth_sigma_vox=(0,),
                           keep=("largest", "all"), min_component_ml=(0.1, 1.0)).grid()
    assert [(p.hu_low, p.keep, p.min_component_ml) for p in grid] == [
        (50, "largest", 0.0), (50, "all", 0.1), (50, "all", 1.0)]


def test_config_refuses_unknown_keys_and_bad_keep():
    good = to_dict(ThresholdConfig())
    with pytest.raises(ValueError, match="unknown key"):
        from_dict(ThresholdConfig, {**good, "hu_lo": [1]})
    with pytest.raises(ValueError, match="keep"):
        from_dict(ThresholdConfig, {**good, "keep": ["biggest"]})
    with pytest.raises(ValueError, match="no grid point"):
        ThresholdConfig(hu_low=(120.0,), hu_high=(100.0,))


def test_threshold_is_tuned_on_each_folds_training_cases_only(tiny, tmp_path, monkeypatch):
    protocol = make_protocol(tiny, n_folds=5, seed=0)
    read = []
    real_read = th.read_volume

    def spy(path, **kwargs):
        read.append(Path(path))
        return real_read(path, **kwargs)

    monkeypatch.setattr(th, "read_volume", spy)
    config = ThresholdConfig(hu_low=(55.0,), hu_high=(100.0,), smooth_sigma_vox=(0.0,))
    ctx = RunContext(run_dir=tmp_path, dataset=tiny, protocol=protocol,
                     config=config, device="cpu", folds=tuple(range(5)), seed=0,
                     log=lambda s: None)
    ThresholdMethod().run(ctx)
    assert not [p for p in read if "evaluation_label" in p.parts]
    for k in range(5):
        record = json.loads((ctx.fold_dir(k) / "tuning.json").read_text())
        assert record["tuned_on"] == list(protocol.fold_train(k))
        assert not set(record["tuned_on"]) & set(protocol.fold_val(k))
        assert not set(record["tuned_on"]) & set(protocol.validation + protocol.test)
        assert sorted(p.name for p in ctx.oof_dir(k).iterdir()) == [
            f"{c}.nii.gz" for c in protocol.fold_val(k)]
    for split in ("validation", "test"):
        assert sorted(p.name for p in ctx.prediction_dir(split).iterdir()) == [
            f"{c}.nii.gz" for c in protocol.ids(split)]
