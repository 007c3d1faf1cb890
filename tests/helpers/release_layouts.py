"""Tiny folders shaped like the BHSD, MBH-Seg25 and PhysioNet CT-ICH releases.

CTs and lesions come from :mod:`tiny_ich_data` (8 × 40 × 48 voxels, a flipped x axis);
labels are written the way each release stores them: BHSD subtype codes (the lesion as
code 2, IPH), one mask per rater for MBH-Seg25, 0/255 for CT-ICH.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tiny_ich_data

from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = tiny_ich_data.GEOMETRY


def bhsd_id(i: int) -> str:
    """A BHSD-like id (``ID_`` and eight hex digits)."""
    return f"ID_{(i * 2654435761) % 16**8:08x}"


def make_bhsd(root: Path, n: int = 12, *, unlabeled: int = 0) -> Path:
    """``root/label_192/images`` and ``root/label_192/ground truths``; returns ``root``."""
    folder = root / "label_192"
    for i in range(1, n + unlabeled + 1):
        ct, lesion = tiny_ich_data.make_case(i)
        write_volume(ct, GEOMETRY, folder / "images" / f"{bhsd_id(i)}.nii.gz")
        if i <= n:
            write_volume(lesion * np.uint8(2), GEOMETRY,
                         folder / "ground truths" / f"{bhsd_id(i)}.nii.gz")
    return root


def make_mbhseg(root: Path, raters: dict[str, int]) -> Path:
    """One folder per case with ``image.nii.gz`` and ``raters[case]`` rater masks."""
    for i, (case, k) in enumerate(sorted(raters.items()), start=1):
        ct, lesion = tiny_ich_data.make_case(i)
        write_volume(ct, GEOMETRY, root / case / "image.nii.gz")
        for r in range(1, k + 1):
            write_volume(lesion * np.uint8(2), GEOMETRY,
                         root / case / f"label_annot_{r}.nii.gz")
    return root


def make_physionet(root: Path, n: int = 6) -> Path:
    """``ct_scans/NNN.nii`` and ``masks/NNN.nii`` (uncompressed, 0/255)."""
    for i in range(49, 49 + n):
        ct, lesion = tiny_ich_data.make_case(i)
        write_volume(ct, GEOMETRY, root / "ct_scans" / f"{i:03d}.nii")
        write_volume(lesion * np.uint8(255), GEOMETRY, root / "masks" / f"{i:03d}.nii")
    return root


def shifted(geometry: Geometry = GEOMETRY, *, origin_mm: float = 3.0,
            spacing: float = 1.0) -> Geometry:
    """The same grid with the origin moved along x and the spacing scaled (a bad header)."""
    sx, sy, sz = geometry.spacing_xyz_mm
    ox, oy, oz = geometry.origin_mm
    return Geometry(geometry.size_xyz, (sx * spacing, sy * spacing, sz),
                    (ox + origin_mm, oy, oz), geometry.direction)
