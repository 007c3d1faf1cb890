"""nnU-Net's planning pools as threads (``num_processes=0``) against its spawned workers."""

import json
from dataclasses import replace

import blosc2
import numpy as np
import pytest
from nnunet_fixtures import make_context, make_dataset, tiny_nnunet_config

from ichbench.baselines import nnunet, nnunet_config
from ichbench.baselines.nnunet_env import (
    POOL_MODULES,
    NnunetPaths,
    nnunet_environment,
    thread_pools,
)
from ichbench.baselines.nnunet_raw import DATASET_NAME, convert_dataset


def test_thread_pools_swaps_the_pool_modules_multiprocessing_and_restores_it():
    import importlib
    import multiprocessing
    from multiprocessing.pool import ThreadPool

    modules = [importlib.import_module(name) for name in POOL_MODULES]
    with thread_pools():
        for module in modules:
            with module.multiprocessing.get_context("spawn").Pool(2) as pool:
                assert isinstance(pool, ThreadPool)
                assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
    assert all(module.multiprocessing is multiprocessing for module in modules)


def test_thread_pools_restores_the_modules_after_an_error():
    import importlib
    import multiprocessing

    with pytest.raises(RuntimeError), thread_pools():
        raise RuntimeError("boom")
    assert all(importlib.import_module(name).multiprocessing is multiprocessing
               for name in POOL_MODULES)


def _prepare(ctx, root, n_proc):
    cfg = replace(tiny_nnunet_config(nnunet_config.PRESETS["cpu"]), num_processes=n_proc)
    paths = NnunetPaths(root)
    with nnunet_environment(paths, n_proc=max(1, n_proc)):
        raw = convert_dataset(ctx.dataset, ctx.protocol, paths.raw, log=lambda _: None)
        nnunet.prepare(paths, raw, ctx.protocol, cfg, mask_channels=(), log=lambda _: None)
    return paths.preprocessed / DATASET_NAME


@pytest.mark.slow
def test_threads_and_spawned_workers_preprocess_identically(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=4)
    ctx = make_context(data, tmp_path / "run", tiny_nnunet_config(nnunet_config.PRESETS["cpu"]))
    threads = _prepare(ctx, tmp_path / "threads", 0)
    workers = _prepare(ctx, tmp_path / "workers", 1)
    fingerprint = "dataset_fingerprint.json"
    assert (json.loads((threads / fingerprint).read_text())
            == json.loads((workers / fingerprint).read_text()))
    arrays = sorted(p.name for p in (workers / "nnUNetPlans_3d_fullres").glob("*.b2nd"))
    assert len(arrays) == 8  # 4 training cases: image and segmentation each
    for name in arrays:
        a = blosc2.open(str(threads / "nnUNetPlans_3d_fullres" / name))[:]
        b = blosc2.open(str(workers / "nnUNetPlans_3d_fullres" / name))[:]
        np.testing.assert_array_equal(a, b, err_msg=name)
