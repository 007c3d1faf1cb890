"""Volumes of any format ichbench reads, chosen by file name: the one suffix dispatch.

NIfTI-1 (``.nii``, ``.nii.gz``; :mod:`ichbench.io.nifti`) and MetaImage (``.mha``;
:mod:`ichbench.io.metaimage`) are read to the same records (:mod:`ichbench.io.geometry`); every
mask ichbench writes goes through :func:`write_volume`. Callers import from here and never
ask which format a file is in.

The records and the error type are re-exported, so that ``from ichbench.io.volumes import
Geometry, NiftiError, read_volume`` is all a caller needs. ``NiftiError`` (from
:mod:`ichbench.io.niftibytes`) is the error of every unusable volume file, ``.mha`` included
(:class:`~ichbench.io.metaimage.MetaImageError` is a subclass).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichbench.io import metaimage, nifti
from ichbench.io.geometry import Geometry, OpenedVolume, Volume, reorient
from ichbench.io.niftibytes import MAX_VOXELS, NiftiError, check_path, printable

__all__ = [
    "FORMATS",
    "IMAGE_SUFFIXES",
    "MAX_VOXELS",
    "Geometry",
    "NiftiError",
    "OpenedVolume",
    "Volume",
    "case_id",
    "list_cases",
    "open_volume",
    "read_geometry",
    "read_volume",
    "reorient",
    "write_volume",
]


@dataclass(frozen=True)
class Format:
    """How one file format is read; each function takes ``(path, *, max_voxels)``."""

    name: str
    read_geometry: Callable[..., Geometry]
    open: Callable[..., OpenedVolume]
    read_volume: Callable[..., Volume]


NIFTI = Format("NIfTI-1", nifti.read_geometry, nifti.open_nifti, nifti.read_volume)
METAIMAGE = Format("MetaImage", metaimage.read_geometry, metaimage.open_mha,
                   metaimage.read_volume)

#: The formats ichbench reads, by file-name suffix: the one place a new format plugs in.
#: Longer suffixes are tried first.
FORMATS: dict[str, Format] = {".nii.gz": NIFTI, ".nii": NIFTI, ".mha": METAIMAGE}
#: Every image file name a case id is taken from.
IMAGE_SUFFIXES = tuple(FORMATS)


def _format(path: Path) -> Format | None:
    """The format a file name says, None for an unknown suffix."""
    for suffix in sorted(FORMATS, key=len, reverse=True):
        if path.name.endswith(suffix):
            return FORMATS[suffix]
    return None


def read_geometry(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> Geometry:
    """Read only the header of a volume file (``.mha`` by name, NIfTI otherwise).

    Raises
    ------
    NiftiError
        As the format's reader (:func:`ichbench.io.nifti.read_geometry`,
        :func:`ichbench.io.metaimage.read_geometry`).
    """
    path = Path(path)
    if _format(path) is METAIMAGE:
        return METAIMAGE.read_geometry(check_path(path), max_voxels=max_voxels)
    return NIFTI.read_geometry(path, max_voxels=max_voxels)


def read_volume(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                dtype: np.dtype | type | None = None) -> Volume:
    """Read a 3D volume file (``.mha`` by name, NIfTI otherwise) as a (z, y, x) array.

    The header is checked before any voxel is read and the voxels are checked against
    it, by the format's own reader (:func:`ichbench.io.nifti.read_volume`,
    :func:`ichbench.io.metaimage.read_volume`); ``dtype`` casts the array.

    Raises
    ------
    NiftiError
        For anything that makes the file unusable; the message names the file.
    """
    path = Path(path)
    if _format(path) is METAIMAGE:
        return METAIMAGE.read_volume(check_path(path), max_voxels=max_voxels, dtype=dtype)
    return NIFTI.read_volume(path, max_voxels=max_voxels, dtype=dtype)


def open_volume(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                ) -> OpenedVolume:
    """Check a volume file of any supported format and its header; read no voxel yet.

    The path is checked first (:func:`~ichbench.io.niftibytes.check_path`: UTF-8 name, a
    regular readable non-empty file), then the reader of its suffix (:data:`FORMATS`)
    checks the header against the file. Scoring calls this for truth and prediction alike.

    Raises
    ------
    NiftiError
        One line naming the file, what was found and the fix.
    """
    path = check_path(path)
    found = _format(path)
    if found is None:
        known = ", ".join(sorted(FORMATS))
        raise NiftiError(f"{path}: not a volume format ichbench reads ({known}); save it "
                         "as .nii.gz")
    return found.open(path, max_voxels=max_voxels)


def write_volume(array: np.ndarray, geometry: Geometry, path: str | os.PathLike[str], *,
                 compress: bool | None = None) -> None:
    """Write a (z, y, x) array with ``geometry`` copied exactly, atomically.

    Used for every mask ichbench writes: the prediction must sit on its CT's grid, so
    spacing, origin and direction come from the reference image, never recomputed. The
    format follows the suffix (SimpleITK's writer: ``.nii``, ``.nii.gz``, ``.mha``);
    ``compress`` defaults to what the suffix says (``.gz``).
    """
    import SimpleITK as sitk

    from ichbench.io.atomic import atomic_path

    if array.shape != geometry.shape:
        raise ValueError(f"array shape {array.shape} does not match the reference geometry "
                         f"{geometry.shape} (z, y, x)")
    if array.dtype == bool:
        array = array.astype(np.uint8)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(geometry.spacing_xyz_mm)
    image.SetOrigin(geometry.origin_mm)
    image.SetDirection(geometry.direction)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=(
            str(path).endswith(".gz") if compress is None else compress))


def case_id(path: str | os.PathLike[str]) -> str | None:
    """The case id of an image file name (without ``.nii``/``.nii.gz``/``.mha``), else None."""
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def list_cases(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Map case id → image path for the entries directly inside ``folder`` (sorted by id).

    The one listing of a folder of cases (datasets, releases, truth folders). Every entry
    with an image name is listed, also a folder, a FIFO, a device or a link to one: such
    an entry is then refused by the reader with a message naming it, never skipped
    silently (and never read, which could block). Other names are ignored.

    Raises
    ------
    NiftiError
        If the folder cannot be listed, an image name is not valid UTF-8, or two files
        share a case id (``001.nii`` and ``001.nii.gz``).
    """
    try:
        entries = sorted(Path(folder).iterdir())
    except OSError as exc:
        raise NiftiError(f"{folder}: cannot be listed ({exc.strerror}); check that it is a "
                         "folder you may read") from None
    found: dict[str, Path] = {}
    for entry in entries:
        cid = case_id(entry)
        if cid is None:
            continue
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            raise NiftiError(f"{folder}: the file name {printable(entry.name)} is not valid "
                             "UTF-8; rename it") from None
        if cid in found:
            raise NiftiError(f"{folder}: case {cid} appears twice ({found[cid].name}, "
                             f"{entry.name}); keep one")
        found[cid] = entry
    return found
