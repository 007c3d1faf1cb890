"""ichbench.data.protocol: splits, folds, seeding, save/load and the resume check."""

from __future__ import annotations

import json

import pytest
from ich_layout import _write, make_release

from ichbench.data.dataset import open_dataset
from ichbench.data.protocol import (
    ProtocolError,
    holdout_counts,
    load_protocol,
    make_protocol,
    save_protocol,
)

TRAIN = tuple(f"{i:03d}" for i in range(1, 13))


@pytest.fixture
def synthetic(tmp_path):
    return open_dataset(make_release(tmp_path / "syn", train=TRAIN))


@pytest.fixture
def real(tmp_path):
    return open_dataset(make_release(tmp_path / "real", train=tuple(f"{i:03d}" for i in
                                                                    range(1, 21)),
                                     eval_labels=False))


def test_synthetic_protocol_uses_released_splits(synthetic):
    p = make_protocol(synthetic)
    assert p.train == TRAIN
    assert p.validation == ("101", "102") and p.test == ("131", "132")
    assert p.unlabeled == ()
    assert p.scored_splits() == ("validation", "test")
    assert p.predict_splits() == ("validation", "test")


def test_folds_partition_train_and_are_disjoint(synthetic):
    p = make_protocol(synthetic, n_folds=5, seed=3)
    assert p.n_folds == 5
    flat = [c for f in p.folds for c in f]
    assert sorted(flat) == list(p.train) and len(flat) == len(set(flat))
    assert {len(f) for f in p.folds} <= {2, 3}
    for k in range(5):
        assert set(p.fold_train(k)) | set(p.fold_val(k)) == set(p.train)
        assert not set(p.fold_train(k)) & set(p.fold_val(k))


def test_folds_are_seeded(synthetic):
    assert make_protocol(synthetic, seed=1) == make_protocol(synthetic, seed=1)
    assert make_protocol(synthetic, seed=1).folds != make_protocol(synthetic, seed=2).folds


def test_real_release_holds_out_train_cases_and_marks_evaluation_unlabeled(real):
    p = make_protocol(real, seed=0)
    assert (len(p.train), len(p.validation), len(p.test)) == (14, 2, 4)
    assert set(p.train) | set(p.validation) | set(p.test) == set(real.ids("train"))
    assert not set(p.train) & set(p.validation + p.test)
    assert p.unlabeled == ("101", "102", "131", "132")
    assert p.scored_splits() == ("validation", "test")
    assert p.predict_splits() == ("validation", "test", "unlabeled")
    assert make_protocol(real, seed=0) == p
    assert make_protocol(real, seed=1).validation != p.validation


def test_real_release_holdout_is_70_10_20():
    assert holdout_counts(100) == (10, 20)
    assert holdout_counts(3) == (1, 1)


def test_too_few_training_cases_for_folds_raises(tmp_path):
    ds = open_dataset(make_release(tmp_path, train=("001", "002", "003")))
    with pytest.raises(ProtocolError, match="folds"):
        make_protocol(ds, n_folds=5)


def test_fold_index_out_of_range_raises(synthetic):
    with pytest.raises(ProtocolError, match="fold 5"):
        make_protocol(synthetic).fold_train(5)


def test_save_load_round_trip(synthetic, tmp_path):
    p = make_protocol(synthetic, seed=7)
    save_protocol(p, tmp_path / "run" / "protocol.json")
    raw = json.loads((tmp_path / "run" / "protocol.json").read_text())
    assert raw["seed"] == 7 and raw["fingerprint"] == p.fingerprint
    assert load_protocol(tmp_path / "run" / "protocol.json", dataset=synthetic) == p


def test_resume_rejects_a_changed_dataset(synthetic, tmp_path):
    p = make_protocol(synthetic)
    save_protocol(p, tmp_path / "protocol.json")
    _write(synthetic.root / "train" / "data" / "013.nii.gz", 40)
    _write(synthetic.root / "train" / "label" / "013.nii.gz", 1)
    changed = open_dataset(synthetic.root)
    with pytest.raises(ProtocolError, match="fingerprint"):
        load_protocol(tmp_path / "protocol.json", dataset=changed)


def test_load_malformed_or_missing_protocol_raises(tmp_path):
    with pytest.raises(ProtocolError, match="no such file"):
        load_protocol(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"train": []}')
    with pytest.raises(ProtocolError, match="not a valid"):
        load_protocol(tmp_path / "bad.json")
