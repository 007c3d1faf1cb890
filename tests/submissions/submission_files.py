"""Helpers that write tiny masks and hostile NIfTI files (12 × 32 × 32 voxels, 0.45 × 0.45 × 5 mm).

Imported by name (tests folders are not packages), hence the unique module name.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry(
    size_xyz=(32, 32, 12),
    spacing_xyz_mm=(0.45, 0.45, 5.0),
    origin_mm=(-7.0, 3.5, 20.0),
    direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
)


def blob(z0=3, z1=7, y0=8, y1=20, x0=10, x1=22):
    """A box-shaped uint8 lesion on the test grid."""
    mask = np.zeros(GEOMETRY.shape, dtype=np.uint8)
    mask[z0:z1, y0:y1, x0:x1] = 1
    return mask


def write(folder: Path, name: str, array, geometry=GEOMETRY) -> Path:
    path = folder / name
    write_volume(np.asarray(array), geometry, path)
    return path


def nifti1_header(dims_xyz, *, datatype=2, bitpix=8) -> bytes:
    """A bare little-endian NIfTI-1 header (+ 4 extension bytes) claiming ``dims_xyz``."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *dims_xyz, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, datatype, bitpix)
    struct.pack_into("<8f", header, 76, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    struct.pack_into("<ff", header, 108, 352.0, 1.0)  # vox_offset, scl_slope
    header[344:348] = b"n+1\0"
    return bytes(header) + b"\0\0\0\0"


def write_header_only(path: Path, dims_xyz) -> Path:
    """A gzipped NIfTI file of a few hundred bytes whose header claims ``dims_xyz``."""
    path.write_bytes(gzip.compress(nifti1_header(dims_xyz)))
    return path


def crash_on_002(task):
    """A stand-in scorer that kills its worker process on case 002's prediction only."""
    import os

    from ichbench.submissions import CaseScore, Status

    if task.case_id == "002" and task.prediction is not None:
        os._exit(3)
    return CaseScore.unmeasured(task.case_id, task.status or Status.OK, task.message)
