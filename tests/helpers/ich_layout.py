"""Tiny INSTANCE-layout folders for dataset/protocol/check tests (4 x 5 x 6 voxels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ichbench.io.volumes import Geometry, write_volume

GEOM = Geometry(size_xyz=(6, 5, 4), spacing_xyz_mm=(0.5, 0.5, 5.0), origin_mm=(10.0, -3.0, 2.0),
                direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def _write(path: Path, value: int = 0, geom: Geometry = GEOM) -> None:
    write_volume(np.full(geom.shape, value, np.int16), geom, path)


def make_release(root: Path, train=("001", "002", "003", "004", "005", "006"),
                 evaluation=("101", "102", "131", "132"), eval_labels=True,
                 train_dir="train") -> Path:
    for cid in train:
        _write(root / train_dir / "data" / f"{cid}.nii.gz", 40)
        _write(root / train_dir / "label" / f"{cid}.nii.gz", 1)
    for cid in evaluation:
        _write(root / "evaluation" / f"{cid}.nii.gz", 40)
        if eval_labels:
            _write(root / "evaluation_label" / f"{cid}.nii.gz", 1)
    return root
