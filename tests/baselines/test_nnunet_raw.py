"""Conversion to an nnU-Net raw dataset, protocol splits, and the cascade's mask sources."""

import json

import numpy as np
import pytest
from nnunet_fixtures import make_context, make_dataset

from ichbench.baselines.cascade import coarse_mask_sources
from ichbench.baselines.nnunet_raw import (
    DATASET_NAME,
    convert_dataset,
    dataset_json,
    splits_from_protocol,
    write_splits,
)
from ichbench.io.volumes import read_geometry, read_volume, write_volume


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), n_train=6)


def test_splits_final_equals_protocol_folds(data_root, tmp_path):
    ctx = make_context(data_root, tmp_path / "run", {}, n_folds=3)
    path = write_splits(ctx.protocol, tmp_path / "pre")
    splits = json.loads(path.read_text())
    assert len(splits) == ctx.protocol.n_folds == 3
    for k, split in enumerate(splits):
        assert tuple(split["val"]) == tuple(ctx.protocol.fold_val(k))
        assert tuple(split["train"]) == tuple(ctx.protocol.fold_train(k))
        assert not set(split["val"]) & set(split["train"])
        assert set(split["val"]) | set(split["train"]) == set(ctx.protocol.train)
    assert splits == splits_from_protocol(ctx.protocol)


def test_convert_ct_only_writes_one_channel_with_ct_geometry(data_root, tmp_path):
    ctx = make_context(data_root, tmp_path / "run", {})
    raw = convert_dataset(ctx.dataset, ctx.protocol, tmp_path / "raw", log=lambda s: None)
    meta = json.loads((raw.folder / "dataset.json").read_text())
    assert raw.folder.name == DATASET_NAME
    assert meta["channel_names"] == {"0": "CT"}
    assert meta["numTraining"] == len(ctx.protocol.train)
    for cid in ctx.protocol.train:
        (image,) = raw.channel_files(cid, training=True)
        ct = ctx.dataset.case(cid).image
        assert read_geometry(ct).mismatch(read_geometry(image)) is None
        np.testing.assert_array_equal(read_volume(image).array, read_volume(ct).array)
        label = read_volume(raw.labels_tr / f"{cid}.nii.gz").array
        assert set(np.unique(label)) <= {0, 1}
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            assert raw.channel_files(cid, training=False)[0].is_file()


def test_convert_cascade_writes_binary_mask_channel_and_nonorm(data_root, tmp_path):
    ctx = make_context(data_root, tmp_path / "run", {})
    masks = {}
    for case in ctx.dataset.cases:
        vol = read_volume(case.image)
        path = tmp_path / "masks" / f"{case.case_id}.nii.gz"
        write_volume((vol.array > 60).astype(np.uint8) * 255, vol.geometry, path)  # 0/255 mask
        masks[case.case_id] = path
    raw = convert_dataset(ctx.dataset, ctx.protocol, tmp_path / "raw", masks=masks,
                          log=lambda s: None)
    meta = json.loads((raw.folder / "dataset.json").read_text())
    assert meta["channel_names"] == {"0": "CT", "1": "noNorm"}
    cid = ctx.protocol.train[0]
    ct_file, mask_file = raw.channel_files(cid, training=True)
    mask = read_volume(mask_file)
    assert set(np.unique(mask.array)) <= {0, 1}
    assert read_geometry(ct_file).mismatch(mask.geometry) is None


def test_convert_cascade_refuses_missing_mask(data_root, tmp_path):
    ctx = make_context(data_root, tmp_path / "run", {})
    with pytest.raises(ValueError, match="no coarse mask for case"):
        convert_dataset(ctx.dataset, ctx.protocol, tmp_path / "raw", masks={},
                        log=lambda s: None)


def test_dataset_json_cascade_channels():
    assert dataset_json(n_training=3, with_mask=True)["channel_names"] == {"0": "CT",
                                                                            "1": "noNorm"}


def test_cascade_training_cases_get_out_of_fold_coarse_masks(data_root, tmp_path):
    ctx = make_context(data_root, tmp_path / "run", {}, n_folds=3)
    coarse_ctx = ctx.with_run_dir(tmp_path / "run" / "coarse", {})
    sources = coarse_mask_sources(ctx.protocol, coarse_ctx)
    for cid in ctx.protocol.train:
        fold = int(sources[cid].parent.parent.name)
        assert sources[cid] == coarse_ctx.oof_dir(fold) / f"{cid}.nii.gz"
        # the coarse model of that fold never trained on the case
        assert cid in ctx.protocol.fold_val(fold)
        assert cid not in ctx.protocol.fold_train(fold)
    for split in ctx.protocol.predict_splits():
        for cid in getattr(ctx.protocol, split):
            assert sources[cid] == coarse_ctx.prediction_dir(split) / f"{cid}.nii.gz"
    assert set(sources) == set(ctx.protocol.train) | {
        c for s in ctx.protocol.predict_splits() for c in getattr(ctx.protocol, s)}
