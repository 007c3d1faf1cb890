"""nnU-Net training is repeatable: same seed, same data → the same weights and masks (CPU).

nnU-Net seeds nothing; ichbench's trainer seeds the initial weights from (seed, fold) and
each epoch's sampling and augmentation from (seed, fold, epoch). Two runs of the ``fine``
method must agree bit for bit, a different seed must not, and a fold resumed from its
last epoch checkpoint must end where the uninterrupted fold ended.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch
from nnunet_fixtures import make_context, make_dataset, tiny_nnunet_config

from ichbench.baselines.fine import FineMethod
from ichbench.baselines.nnunet_raw import DATASET_NAME
from ichbench.baselines.nnunet_trainers import IchbenchTrainer, seed_everything
from ichbench.io.volumes import read_volume

MODEL = f"nnunet/results/{DATASET_NAME}/IchbenchTrainer__ichbenchPlans__3d_fullres"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"), n_train=4)


def _run(data, run_dir, *, seed=0, epochs=2):
    method = FineMethod()
    config = replace(tiny_nnunet_config(method.presets["cpu"]), num_epochs=epochs)
    ctx = replace(make_context(data, run_dir, config, n_folds=2, folds=(0,)), seed=seed)
    method.run(ctx)
    return ctx


def _weights(run_dir):
    ckpt = torch.load(run_dir / MODEL / "fold_0" / "checkpoint_final.pth",
                      map_location="cpu", weights_only=False)
    return ckpt["network_weights"]


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _masks(ctx):
    return {p.name: read_volume(p).array for split in ctx.protocol.predict_splits()
            for p in sorted(ctx.prediction_dir(split).glob("*.nii.gz"))}


def test_seed_everything_depends_on_every_part_of_the_key():
    assert seed_everything(0, 1, 2) == seed_everything(0, 1, 2)
    a = np.random.random()  # noqa: NPY002
    seed_everything(0, 1, 2)
    assert np.random.random() == a  # noqa: NPY002
    assert len({seed_everything(*k) for k in [(0, 1, 2), (0, 2, 1), (1, 1, 2), (0, 1)]}) == 4


@pytest.mark.slow
def test_two_runs_with_one_seed_train_identical_weights_and_masks(data, tmp_path):
    first = _run(data, tmp_path / "a")
    second = _run(data, tmp_path / "b")
    assert _same_weights(_weights(first.run_dir), _weights(second.run_dir))
    masks_a, masks_b = _masks(first), _masks(second)
    assert masks_a.keys() == masks_b.keys() and masks_a
    assert all(np.array_equal(masks_a[k], masks_b[k]) for k in masks_a)
    other = _run(data, tmp_path / "c", seed=1)
    assert not _same_weights(_weights(first.run_dir), _weights(other.run_dir))


class _Killed(Exception):
    pass


@pytest.mark.slow
def test_a_resumed_fold_ends_where_the_uninterrupted_fold_ended(data, tmp_path, monkeypatch):
    full = _run(data, tmp_path / "full", epochs=3)
    end_of_epoch = IchbenchTrainer.on_epoch_end

    def killed_after_two_epochs(self):
        end_of_epoch(self)
        if self.current_epoch == 2:
            raise _Killed

    monkeypatch.setattr(IchbenchTrainer, "on_epoch_end", killed_after_two_epochs)
    with pytest.raises(_Killed):
        _run(data, tmp_path / "cut", epochs=3)
    monkeypatch.setattr(IchbenchTrainer, "on_epoch_end", end_of_epoch)
    resumed = _run(data, tmp_path / "cut", epochs=3)
    assert any("resuming nnU-Net at epoch 2" in line for line in resumed.log.__self__)
    assert _same_weights(_weights(full.run_dir), _weights(resumed.run_dir))
