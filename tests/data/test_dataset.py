"""ichbench.data.dataset: layout, splits, numbering, fingerprint, cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ich_layout import GEOM, _write, make_release

from ichbench.data.dataset import (
    SYNTH_MANIFEST,
    DatasetError,
    open_dataset,
    split_counts,
    synthetic_case_ids,
)
from ichbench.io.volumes import Geometry, write_volume


def test_split_counts_keep_instance_proportions():
    assert split_counts(200) == (100, 30, 70)
    assert split_counts(20) == (10, 3, 7)
    # the default synthetic dataset: INSTANCE at half size, 50 held-out cases
    from ichbench.phantom.cache import DEFAULT_SYNTHETIC_CASES

    assert split_counts(DEFAULT_SYNTHETIC_CASES) == (50, 15, 35)
    assert split_counts(10) == (5, 2, 3)
    assert split_counts(3) == (1, 1, 1)


@pytest.mark.parametrize("n", range(3, 201))
def test_split_counts_sum_and_minimums(n):
    tr, va, te = split_counts(n)
    assert tr + va + te == n
    assert min(tr, va, te) >= 1
    if n >= 10:
        assert tr >= 5


@pytest.mark.parametrize("n", [2, 201])
def test_split_counts_out_of_range_raises(n):
    with pytest.raises(ValueError, match="--cases"):
        split_counts(n)


def test_synthetic_ids_keep_instance_numbering():
    ids = synthetic_case_ids(20)
    assert ids["train"] == tuple(f"{i:03d}" for i in range(1, 11))
    assert ids["validation"] == ("101", "102", "103")
    assert ids["test"] == tuple(str(i) for i in range(131, 138))


def test_open_dataset_synthetic_splits_by_id(tmp_path):
    ds = open_dataset(make_release(tmp_path))
    assert ds.kind == "synthetic"
    assert ds.ids("train") == ("001", "002", "003", "004", "005", "006")
    assert ds.ids("validation") == ("101", "102")
    assert ds.ids("test") == ("131", "132")
    assert set(ds.labels()) == set(ds.ids("train") + ds.ids("validation") + ds.ids("test"))
    assert ds.case("131").label == tmp_path.resolve() / "evaluation_label" / "131.nii.gz"
    with pytest.raises(KeyError):
        ds.case("999")


def test_open_dataset_real_release_has_no_evaluation_labels(tmp_path):
    ds = open_dataset(make_release(tmp_path, eval_labels=False))
    assert ds.kind == "instance"
    assert ds.case("101").label is None
    assert set(ds.labels()) == set(ds.ids("train"))


def test_open_dataset_accepts_train_2(tmp_path):
    ds = open_dataset(make_release(tmp_path, train_dir="train_2"))
    assert len(ds.ids("train")) == 6


def test_open_dataset_missing_label_is_one_line_error(tmp_path):
    make_release(tmp_path)
    (tmp_path / "train" / "label" / "003.nii.gz").unlink()
    with pytest.raises(DatasetError, match="003") as err:
        open_dataset(tmp_path)
    assert "\n" not in str(err.value)


def test_open_dataset_without_train_folder_raises(tmp_path):
    with pytest.raises(DatasetError, match="train/data"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "nope")


def test_fingerprint_is_stable_and_changes_with_a_file(tmp_path):
    make_release(tmp_path)
    first = open_dataset(tmp_path).fingerprint()
    assert open_dataset(tmp_path).fingerprint() == first
    # Rewrite one CT with other content (same geometry): the file size changes.
    write_volume(np.random.default_rng(0).integers(-1000, 1000, GEOM.shape).astype(np.int16),
                 GEOM, tmp_path / "train" / "data" / "002.nii.gz")
    second = open_dataset(tmp_path).fingerprint()
    assert second != first
    # A changed header (spacing) alone also changes it.
    g2 = Geometry(GEOM.size_xyz, (0.6, 0.6, 5.0), GEOM.origin_mm, GEOM.direction)
    _write(tmp_path / "evaluation" / "101.nii.gz", 40, g2)
    assert open_dataset(tmp_path).fingerprint() != second


def test_default_synthetic_dataset_is_cached(tmp_path, monkeypatch):
    import ichbench.phantom as phantom
    from ichbench.phantom import cache

    calls = []

    def fake_generate(out_dir, **kwargs):
        calls.append(kwargs)
        make_release(Path(out_dir), train=("001",), evaluation=("101", "131"))
        (Path(out_dir) / SYNTH_MANIFEST).write_text("{}")

    monkeypatch.setenv("ICHBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(phantom, "generate_dataset", fake_generate)
    root = cache.default_synthetic_dataset(cases=3, preset="small", seed=4)
    assert root.parent == tmp_path / "cache"
    assert (root / "train" / "data" / "001.nii.gz").is_file()
    assert cache.default_synthetic_dataset(cases=3, preset="small", seed=4) == root
    assert len(calls) == 1
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_default_synthetic_dataset_losing_a_race_keeps_the_winner(tmp_path, monkeypatch):
    import ichbench.phantom as phantom
    from ichbench.phantom import cache

    monkeypatch.setenv("ICHBENCH_CACHE", str(tmp_path))
    final = tmp_path / f"synthetic-v{phantom.PHANTOM_VERSION}-small-n3-seed0"

    def racing_generate(out_dir, **kwargs):
        # Another process finishes first while this one generates.
        make_release(final, train=("001",), evaluation=("101", "131"))
        (final / SYNTH_MANIFEST).write_text('{"winner": true}')
        make_release(Path(out_dir), train=("001",), evaluation=("101", "131"))
        (Path(out_dir) / SYNTH_MANIFEST).write_text("{}")

    monkeypatch.setattr(phantom, "generate_dataset", racing_generate)
    root = cache.default_synthetic_dataset(cases=3, preset="small", seed=0)
    assert root == final
    assert "winner" in (root / SYNTH_MANIFEST).read_text()
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
