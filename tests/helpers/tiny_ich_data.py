"""A tiny hand-made ICH dataset in the INSTANCE layout for harness and method tests.

Each case: 8 axial slices of 40 × 48 voxels (non-square), anisotropic spacing
(0.9, 0.8, 5.0) mm, a non-zero origin and a flipped x axis; an elliptic skull ring
(1000 HU) around brain (35 HU, noise σ 4 HU) with one hyperdense ellipsoid (75 HU) = the
label. Small enough that a 5-fold smoke run takes seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ichbench.io.volumes import Geometry, write_volume

SHAPE_ZYX = (8, 40, 48)
GEOMETRY = Geometry(size_xyz=(48, 40, 8), spacing_xyz_mm=(0.9, 0.8, 5.0),
                    origin_mm=(12.5, -30.0, 7.25),
                    direction=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def make_case(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """CT (int16 HU) and label (uint8) of one case."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE_ZYX), indexing="ij")
    r = ((y - 19.5) / 17.0) ** 2 + ((x - 23.5) / 21.0) ** 2
    ct = np.full(SHAPE_ZYX, -1000.0)
    ct[r < 1.0] = 1000.0
    brain = r < 0.75
    ct[brain] = 35.0 + rng.normal(0, 4, size=int(brain.sum()))
    cz, cy, cx = rng.uniform(2.5, 5.5), rng.uniform(12, 27), rng.uniform(14, 33)
    rz, ry, rx = rng.uniform(1.2, 2.5), rng.uniform(3, 6), rng.uniform(3, 7)
    lesion = (((z - cz) / rz) ** 2 + ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 < 1) & brain
    ct[lesion] = 75.0 + rng.normal(0, 4, size=int(lesion.sum()))
    return ct.astype(np.int16), lesion.astype(np.uint8)


def build(root: Path, n_train: int = 10, validation: int = 2, test: int = 2) -> Path:
    """Write the dataset under ``root`` (synthetic kind: evaluation labels included)."""
    ids = [f"{i:03d}" for i in range(1, n_train + 1)]
    eval_ids = ([f"{i:03d}" for i in range(101, 101 + validation)]
                + [f"{i:03d}" for i in range(131, 131 + test)])
    for cid in ids:
        ct, lab = make_case(int(cid))
        write_volume(ct, GEOMETRY, root / "train" / "data" / f"{cid}.nii.gz")
        write_volume(lab, GEOMETRY, root / "train" / "label" / f"{cid}.nii.gz")
    for cid in eval_ids:
        ct, lab = make_case(int(cid))
        write_volume(ct, GEOMETRY, root / "evaluation" / f"{cid}.nii.gz")
        write_volume(lab, GEOMETRY, root / "evaluation_label" / f"{cid}.nii.gz")
    return root


#: ``--set`` overrides for a coarse run that takes seconds: one epoch on a 4 × 32 × 32 grid.
# One thread per fold: weights are bit-identical across executors only when every fold
# trains with the same thread count, and a local CPU worker gets cores // workers threads.
TINY_COARSE = ("train.epochs=1", "grid_zyx=4,32,32", "cpu_threads=1")


def fold_weights(run_dir: Path, fold: int) -> dict:
    """The best weights a coarse run kept for ``fold`` (``folds/<k>/model.pt``)."""
    import torch

    return torch.load(run_dir / "folds" / str(fold) / "model.pt", weights_only=False)["model"]
