"""Reading NIfTI-1 volumes: the one place where a NIfTI header's axis order is decided.

Headers and voxel bytes are read and checked by :mod:`ichbench.io.niftibytes` (no ITK, no
trust in the header); ITK only turns a checked header's qform/sform into geometry. Its
public names are re-exported here. Callers that need not know the format (every one but
the readers' own tests) use :mod:`ichbench.io.volumes`, which also writes.

SimpleITK reports geometry in physical (x, y, z) order, while the NumPy array it returns is
indexed (z, y, x). Everything in ichbench past this module works with arrays and with
``Geometry.spacing_zyx_mm``, whose entries match the array axes one to one. Getting this
wrong is silent: on 0.45 × 0.45 × 5 mm CT a reversed spacing turns an HD95 of 1.3 mm into
0.42 mm.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ichbench.io.geometry import Geometry, OpenedVolume, Volume
from ichbench.io.niftibytes import (
    MAX_EXTENSION_BYTES,
    MAX_VOXELS,
    NiftiError,
    NiftiHeader,
    check_path,
    printable,
    read_header,
    read_voxels,
)

__all__ = [
    "MAX_EXTENSION_BYTES",
    "MAX_VOXELS",
    "NIFTI_SUFFIXES",
    "NiftiError",
    "NiftiHeader",
    "check_path",
    "open_nifti",
    "printable",
    "read_checked_header",
    "read_geometry",
    "read_header",
    "read_volume",
    "read_voxels",
]

NIFTI_SUFFIXES = (".nii.gz", ".nii")


def _reader(path: Path):  # type: ignore[no-untyped-def]
    """ITK's header reader, for a path whose header :func:`read_header` has accepted."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("NiftiImageIO")
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise NiftiError(f"{path}: not a readable NIfTI header ({_first_line(exc)}); "
                         "save it as .nii.gz with a NIfTI writer") from None
    return reader


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    # SimpleITK messages start with a source location; the reason is usually last.
    return (lines[-1] if lines else type(exc).__name__)[:200]


def read_geometry(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> Geometry:
    """Read only the header of a NIfTI file.

    The header is first checked on its own (:func:`read_header`) and only then handed to
    ITK, which turns qform/sform into spacing, origin and direction.

    Raises
    ------
    NiftiError
        If the file is missing, not a regular file, empty, not single-file NIfTI-1, not
        3D, inconsistent (see :func:`read_header`), or claims more than ``max_voxels``
        voxels.
    """
    return read_checked_header(path, max_voxels=max_voxels)[1]


def open_nifti(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
               ) -> OpenedVolume:
    """:func:`ichbench.io.volumes.open_volume` for single-file NIfTI-1 (``.nii``, ``.nii.gz``)."""
    header, geometry = read_checked_header(path, max_voxels=max_voxels)

    def load(writable: bool = True) -> np.ndarray:
        return read_voxels(path, header, writable=writable)

    return OpenedVolume(geometry, load)


def read_checked_header(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                        ) -> tuple[NiftiHeader, Geometry]:
    """The checked header and its geometry, for reading the voxels later without ITK.

    What :func:`read_geometry` does, also returning the :class:`NiftiHeader` that
    :func:`read_voxels` needs, so a caller that compares geometries before reading any
    voxel parses the header once.
    """
    header = read_header(path, max_voxels=max_voxels)
    return header, _checked_geometry(Path(path), header, max_voxels)


def _checked_geometry(path: Path, header: NiftiHeader, max_voxels: int) -> Geometry:
    geometry = _geometry_from_reader(path, _reader(path), max_voxels)
    if geometry.shape != header.shape:
        raise NiftiError(f"{path}: ITK reads size {geometry.size_xyz} (x, y, z) from a header "
                         f"that says {header.shape[::-1]}; write the file again")
    return geometry


def _geometry_from_reader(path: Path, reader, max_voxels: int) -> Geometry:  # type: ignore[no-untyped-def]
    size = tuple(int(s) for s in reader.GetSize())
    if reader.GetDimension() == 4 and size[3] == 1:
        size = size[:3]
    if len(size) != 3:
        raise NiftiError(f"{path}: a {len(size)}D image of size {size}; "
                         "expected one 3D volume")
    if any(s <= 0 for s in size):
        raise NiftiError(f"{path}: header claims size {size}; every axis needs ≥ 1 voxel")
    n = int(np.prod(size, dtype=np.int64))
    if n > max_voxels:
        raise NiftiError(f"{path}: header claims {size} = {n:,} voxels, more than the "
                         f"{max_voxels:,} allowed; the header is corrupt or not a head CT")
    if reader.GetNumberOfComponents() != 1:
        raise NiftiError(f"{path}: {reader.GetNumberOfComponents()} components per voxel; "
                         "expected a scalar image")
    spacing = tuple(float(s) for s in reader.GetSpacing()[:3])
    if not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise NiftiError(f"{path}: spacing {spacing} mm is not positive and finite; "
                         "fix the header's pixdim")
    origin = tuple(float(o) for o in reader.GetOrigin()[:3])
    direction_full = np.asarray(reader.GetDirection(), dtype=float)
    dim = reader.GetDimension()
    direction = direction_full.reshape(dim, dim)[:3, :3].ravel()
    return Geometry(size_xyz=size, spacing_xyz_mm=spacing, origin_mm=origin,  # type: ignore[arg-type]
                    direction=tuple(float(d) for d in direction))


def read_volume(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                dtype: np.dtype | type | None = None) -> Volume:
    """Read a 3D NIfTI file as a (z, y, x) array with its geometry.

    The header is checked against itself and the file size before any voxel data is
    read (:func:`read_header`); the voxels are then read and checked by
    :func:`read_voxels`, never by ITK, which reads truncated files as zeros and NaN as 0.
    Scaling slope/intercept are applied (HU for CT); NaN and infinite values are kept.
    Memory: the voxels' bytes plus at most :data:`MAX_EXTENSION_BYTES` and 1 MiB of
    input, and the converted array when scaling or ``dtype`` asks for one.

    Parameters
    ----------
    path
        A ``.nii`` or ``.nii.gz`` file.
    max_voxels
        Refuse headers that claim more voxels than this.
    dtype
        Cast the array to this type (e.g. ``np.float32`` for CT); default keeps the file's.

    Raises
    ------
    NiftiError
        For anything that makes the file unusable; the message names the file.
    """
    path = Path(path)
    header = read_header(path, max_voxels=max_voxels)
    geometry = _checked_geometry(path, header, max_voxels)
    array = read_voxels(path, header)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=geometry)
