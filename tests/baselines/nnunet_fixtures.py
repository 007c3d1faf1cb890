"""Tiny INSTANCE-layout datasets and run contexts for the nnU-Net tests (fine, cascade).

Cases are 10 × 40 × 40 voxels at 0.9 × 0.9 × 5 mm (x, y, z) with a non-trivial origin and an
oblique direction, so a prediction written with the wrong geometry is caught. Each CT has a
bright ellipsoid (the "bleed", +45 HU) in noise; the label is the ellipsoid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ichbench.baselines.nnunet_config import NnunetConfig
from ichbench.data.dataset import open_dataset
from ichbench.data.protocol import make_protocol
from ichbench.harness.methods import RunContext
from ichbench.io.volumes import Geometry, write_volume

SHAPE_ZYX = (10, 40, 40)
COS, SIN = 0.9961946981, 0.0871557427  # 5° about x: an oblique (gantry-tilt-like) grid


def case_geometry(i: int) -> Geometry:
    z, y, x = SHAPE_ZYX
    return Geometry(size_xyz=(x, y, z), spacing_xyz_mm=(0.9, 0.9, 5.0 + 0.1 * (i % 3)),
                    origin_mm=(-18.0 + i, 7.5, 31.0),
                    direction=(1.0, 0.0, 0.0, 0.0, COS, -SIN, 0.0, SIN, COS))


def write_case(i: int, image: Path, label: Path | None, rng: np.random.Generator) -> None:
    z, y, x = SHAPE_ZYX
    ct = rng.normal(30.0, 4.0, SHAPE_ZYX)
    cz = int(rng.integers(3, z - 3))
    cy, cx = int(rng.integers(12, y - 12)), int(rng.integers(12, x - 12))
    zz, yy, xx = np.ogrid[:z, :y, :x]
    blob = ((zz - cz) / 2.2) ** 2 + ((yy - cy) / 7.0) ** 2 + ((xx - cx) / 6.0) ** 2 < 1
    ct[blob] += 45.0
    write_volume(ct.astype(np.int16), case_geometry(i), image)
    if label is not None:
        write_volume(blob.astype(np.uint8), case_geometry(i), label)


def make_dataset(root: Path, *, n_train: int = 6, n_val: int = 1, n_test: int = 1,
                 seed: int = 0) -> Path:
    """Write an INSTANCE-layout dataset with evaluation labels (synthetic kind)."""
    rng = np.random.default_rng(seed)
    ids = [(f"{i:03d}", "train") for i in range(1, n_train + 1)]
    ids += [(f"{i:03d}", "eval") for i in range(101, 101 + n_val)]
    ids += [(f"{i:03d}", "eval") for i in range(131, 131 + n_test)]
    for n, (cid, where) in enumerate(ids):
        if where == "train":
            write_case(n, root / "train" / "data" / f"{cid}.nii.gz",
                       root / "train" / "label" / f"{cid}.nii.gz", rng)
        else:
            write_case(n, root / "evaluation" / f"{cid}.nii.gz",
                       root / "evaluation_label" / f"{cid}.nii.gz", rng)
    return root


def make_context(data_root: Path, run_dir: Path, config: Any, *, n_folds: int = 2,
                 folds: tuple[int, ...] | None = None) -> RunContext[Any]:
    dataset = open_dataset(data_root)
    protocol = make_protocol(dataset, n_folds=n_folds, seed=0)
    lines: list[str] = []
    return RunContext(run_dir=run_dir, dataset=dataset, protocol=protocol,
                      config=config, device="cpu",
                      folds=tuple(range(n_folds)) if folds is None else folds, seed=0,
                      log=lines.append)


def tiny_nnunet_config(config: NnunetConfig) -> NnunetConfig:
    """The smoke config cut further for tests: one short epoch, a 3-stage 8-channel net."""
    return replace(config, num_epochs=1, num_iterations_per_epoch=2,
                   num_val_iterations_per_epoch=1, patch_size_zyx=(12, 40, 40),
                   features_per_stage=(4, 8, 16), max_stages=3, batch_size=2)


__all__ = ["case_geometry", "make_context", "make_dataset", "tiny_nnunet_config"]
