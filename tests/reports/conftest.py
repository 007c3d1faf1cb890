"""Fixtures for the reports tests: score folders, a tiny dataset and a run folder.

Everything is written by hand or with the seeded generator of ichbench.reports.bench, in
the layouts of the contract (cases.csv + summary.json, INSTANCE dataset layout, run folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ichbench.io.volumes import Geometry, write_volume
from ichbench.reports.bench import make_score_folder, make_teams

GEOMETRY = Geometry(size_xyz=(32, 32, 6), spacing_xyz_mm=(0.5, 0.5, 5.0),
                    origin_mm=(0.0, 0.0, 0.0), direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


def _ct_and_mask(rng: np.random.Generator, radius: int) -> tuple[np.ndarray, np.ndarray]:
    z, y, x = np.mgrid[0:6, 0:32, 0:32]
    head = (y - 16) ** 2 + (x - 16) ** 2 < 14 ** 2
    ct = np.where(head, 30.0, -1000.0) + rng.normal(0, 3, head.shape)
    mask = ((y - 14) ** 2 + (x - 18) ** 2 < radius ** 2) & (z >= 1) & (z <= 3)
    ct[mask] = 70.0
    return ct.astype(np.float32), mask.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder over a 5-case dataset (train 001-002, test 131-133) with every piece."""
    root = tmp_path_factory.mktemp("tiny")
    data = root / "data"
    rng = np.random.default_rng(0)
    run = root / "runs" / "cascade-20260101-000000"
    for case, where, radius in (("001", "train", 4), ("002", "train", 6), ("131", "eval", 3),
                                ("132", "eval", 5), ("133", "eval", 7)):
        ct, mask = _ct_and_mask(rng, radius)
        if where == "train":
            write_volume(ct, GEOMETRY, data / "train" / "data" / f"{case}.nii.gz")
            write_volume(mask, GEOMETRY, data / "train" / "label" / f"{case}.nii.gz")
        else:
            write_volume(ct, GEOMETRY, data / "evaluation" / f"{case}.nii.gz")
            write_volume(mask, GEOMETRY, data / "evaluation_label" / f"{case}.nii.gz")
            pred = np.roll(mask, 1, axis=2)
            write_volume(pred, GEOMETRY, run / "predictions" / "test" / f"{case}.nii.gz")
    config = {"method": "cascade", "preset": "cpu", "ichbench_version": "0.1.0", "seed": 0,
              "device": "cpu", "folds": 2, "data": str(data),
              "config": {"epochs": 2, "lr": 0.0004, "a_long_setting_name_to_wrap": "x" * 60},
              "config_hash": "abc123"}
    (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
    protocol = {"train": ["001", "002"], "validation": [], "test": ["131", "132", "133"],
                "unlabeled": [], "folds": [["001"], ["002"]], "seed": 0,
                "fingerprint": "f" * 16}
    (run / "protocol.json").write_text(json.dumps(protocol), encoding="utf-8")
    make_score_folder(run / "scores" / "test", rng, n_cases=3, first_id=131,
                      empty_truth=False, n_empty_pred=0)
    make_score_folder(run / "scores" / "train_oof", rng, n_cases=2, first_id=1,
                      empty_truth=False, n_empty_pred=1)
    for stage in (run, run / "coarse"):
        for k in range(2):
            lines = ["epoch,train_loss,val_loss,val_dc,seconds"]
            lines += [f"{e},{1 / (e + 1):.3f},{1.2 / (e + 1):.3f},{0.1 * e:.2f},1.0"
                      for e in range(5)]
            path = stage / "folds" / str(k) / "history.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run


@pytest.fixture(scope="session")
def team_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four score folders of 12 cases (inf HD, one empty truth) from the bench generator."""
    return make_teams(tmp_path_factory.mktemp("teams"), 4, 12, seed=1)
