"""Reading and writing NIfTI volumes: the one place where axis order is decided.

Headers and voxel bytes are read and checked by :mod:`ichbench.niftibytes` (no ITK, no
trust in the header); ITK only turns a checked header's qform/sform into geometry and
writes files. Its public names are re-exported here.

SimpleITK reports geometry in physical (x, y, z) order, while the NumPy array it returns is
indexed (z, y, x). Everything in ichbench past this module works with arrays and with
``Geometry.spacing_zyx_mm``, whose entries match the array axes one to one. Getting this
wrong is silent: on 0.45 × 0.45 × 5 mm CT a reversed spacing turns an HD95 of 1.3 mm into
0.42 mm.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichbench.niftibytes import (
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
    "IMAGE_SUFFIXES",
    "MAX_EXTENSION_BYTES",
    "MAX_VOXELS",
    "NIFTI_SUFFIXES",
    "Geometry",
    "NiftiError",
    "NiftiHeader",
    "OpenedVolume",
    "Volume",
    "case_id",
    "check_path",
    "list_cases",
    "open_nifti",
    "open_volume",
    "printable",
    "read_checked_header",
    "read_geometry",
    "read_header",
    "read_volume",
    "read_voxels",
    "reorient",
    "write_volume",
]

NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: Every image file name a case id is taken from: NIfTI, and MetaImage (ichbench.metaimage).
IMAGE_SUFFIXES = (*NIFTI_SUFFIXES, ".mha")


@dataclass(frozen=True)
class Geometry:
    """Where a volume's voxels sit in the patient (all in SimpleITK's (x, y, z) order).

    Attributes
    ----------
    size_xyz : tuple of int
        Number of voxels along x, y, z.
    spacing_xyz_mm : tuple of float
        Voxel spacing in mm along x, y, z.
    origin_mm : tuple of float
        Physical position of voxel (0, 0, 0) in mm.
    direction : tuple of float
        Row-major 3 × 3 direction cosine matrix.
    """

    size_xyz: tuple[int, int, int]
    spacing_xyz_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape, (z, y, x)."""
        x, y, z = self.size_xyz
        return (z, y, x)

    @property
    def spacing_zyx_mm(self) -> tuple[float, float, float]:
        """Voxel spacing in mm per array axis, (z, y, x)."""
        x, y, z = self.spacing_xyz_mm
        return (z, y, x)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (1 mL = 1000 mm³)."""
        return float(np.prod(self.spacing_xyz_mm)) / 1000.0

    def mismatch(self, other: Geometry, *, spacing_rtol: float = 1e-3,
                 origin_atol_mm: float = 1e-2, direction_atol: float = 1e-3) -> str | None:
        """Describe how ``other`` differs from this geometry, or return None if it matches.

        Size must be equal; spacing, origin and direction are compared within tolerances
        that absorb float32 header rounding but not a real difference.
        """
        if self.size_xyz != other.size_xyz:
            return f"size {other.size_xyz} (x, y, z) differs from the reference's {self.size_xyz}"
        if not np.allclose(other.spacing_xyz_mm, self.spacing_xyz_mm, rtol=spacing_rtol,
                           atol=0):
            return (f"spacing {_fmt(other.spacing_xyz_mm)} mm differs from the reference's "
                    f"{_fmt(self.spacing_xyz_mm)} mm")
        if not np.allclose(other.origin_mm, self.origin_mm, rtol=0, atol=origin_atol_mm):
            return (f"origin {_fmt(other.origin_mm)} mm differs from the reference's "
                    f"{_fmt(self.origin_mm)} mm")
        if not np.allclose(other.direction, self.direction, rtol=0, atol=direction_atol):
            return (f"direction {_fmt(other.direction)} differs from the reference's "
                    f"{_fmt(self.direction)}")
        return None

    def voxel_map(self, other: Geometry, *, tolerance_vox: float = 1e-2,
                  ) -> tuple[tuple[int, int, int], tuple[bool, bool, bool]] | None:
        """How ``other``'s voxels land exactly on this grid, or None if they do not.

        Two grids coincide physically when every voxel centre of ``other`` is a voxel
        centre of this grid: its axes are this grid's axes permuted and possibly reversed
        (same spacing), and both cover the same box. That is what a mask saved with its
        array and direction both flipped looks like.

        Returns
        -------
        (axes, flips) or None
            ``axes[a]`` is the axis of ``other`` (in x, y, z order) that runs along this
            grid's axis ``a``; ``flips[a]`` whether it runs backwards. The identity is
            ``((0, 1, 2), (False, False, False))``. See :func:`reorient`.
        """
        a_self = np.reshape(self.direction, (3, 3)) * np.asarray(self.spacing_xyz_mm)
        a_other = np.reshape(other.direction, (3, 3)) * np.asarray(other.spacing_xyz_mm)
        try:
            inverse = np.linalg.inv(a_self)
        except np.linalg.LinAlgError:
            return None
        linear = inverse @ a_other  # other's index steps in this grid's index steps
        shift = inverse @ (np.asarray(other.origin_mm) - np.asarray(self.origin_mm))
        rounded = np.round(linear)
        if (np.abs(linear - rounded).max() > 1e-3
                or not np.array_equal(np.abs(rounded).sum(axis=0), np.ones(3))
                or not np.array_equal(np.abs(rounded).sum(axis=1), np.ones(3))):
            return None
        axes = tuple(int(np.flatnonzero(rounded[a])[0]) for a in range(3))
        flips = tuple(bool(rounded[a, axes[a]] < 0) for a in range(3))
        for a in range(3):
            n = self.size_xyz[a]
            if other.size_xyz[axes[a]] != n:
                return None
            start = (n - 1) if flips[a] else 0  # where other's index 0 must land
            if abs(shift[a] - start) > tolerance_vox:
                return None
        return axes, flips  # type: ignore[return-value]

    def to_dict(self) -> dict[str, list[float] | list[int]]:
        """Plain-JSON form (x, y, z order), for fingerprints and run folders."""
        return {"size_xyz": list(self.size_xyz), "spacing_xyz_mm": list(self.spacing_xyz_mm),
                "origin_mm": list(self.origin_mm), "direction": list(self.direction)}


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@dataclass(frozen=True)
class Volume:
    """A volume as an array indexed (z, y, x) with its geometry."""

    array: np.ndarray
    geometry: Geometry

    def __repr__(self) -> str:
        sp = "×".join(f"{s:.3g}" for s in self.geometry.spacing_xyz_mm)
        return (f"Volume(shape={self.array.shape} (z, y, x), dtype={self.array.dtype}, "
                f"spacing={sp} mm)")


def reorient(array: np.ndarray, axes: tuple[int, int, int],
             flips: tuple[bool, bool, bool]) -> np.ndarray:
    """Put a (z, y, x) array of another grid onto this one, per :meth:`Geometry.voxel_map`.

    Exact: voxels are only permuted and reversed, never interpolated.
    """
    xyz = array.transpose(2, 1, 0).transpose(axes)
    for a, flip in enumerate(flips):
        if flip:
            xyz = np.flip(xyz, axis=a)
    return np.ascontiguousarray(xyz.transpose(2, 1, 0))


def case_id(path: str | os.PathLike[str]) -> str | None:
    """The case id of an image file name (without ``.nii``/``.nii.gz``/``.mha``), else None."""
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


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
    if Path(path).name.endswith(".mha"):  # MetaImage: same contract, own reader
        from ichbench import metaimage

        return metaimage.read_geometry(check_path(path), max_voxels=max_voxels)
    return read_checked_header(path, max_voxels=max_voxels)[1]


@dataclass(frozen=True)
class OpenedVolume:
    """A volume whose header has been checked, with its voxels not yet read.

    Attributes
    ----------
    geometry : Geometry
        From the checked header: compare it with the truth's before reading anything.
    load : callable
        ``load(writable=True)`` reads and checks the voxels, returning the (z, y, x)
        array; raises :class:`NiftiError` (or a subclass) with a one-line message.
    """

    geometry: Geometry
    load: Callable[..., np.ndarray]


#: How each file format is opened, by file-name suffix (lower case): ``"module:function"``
#: with the signature of :func:`open_nifti`. The one place a new format (e.g. ``.mha``)
#: plugs in; longer suffixes are tried first.
VOLUME_OPENERS: dict[str, str] = {".nii.gz": "ichbench.nifti:open_nifti",
                                  ".nii": "ichbench.nifti:open_nifti",
                                  ".mha": "ichbench.metaimage:open_mha"}


def open_volume(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                ) -> OpenedVolume:
    """Check a volume file of any supported format and its header; read no voxel yet.

    The path is checked first (:func:`check_path`: UTF-8 name, a regular readable
    non-empty file), then the opener of its suffix (:data:`VOLUME_OPENERS`) checks the
    header against the file. Scoring calls this for truth and prediction alike.

    Raises
    ------
    NiftiError
        One line naming the file, what was found and the fix.
    """
    import importlib

    path = check_path(path)
    name = path.name
    for suffix in sorted(VOLUME_OPENERS, key=len, reverse=True):
        if name.endswith(suffix):
            module, function = VOLUME_OPENERS[suffix].split(":")
            opener = getattr(importlib.import_module(module), function)
            return opener(path, max_voxels=max_voxels)  # type: ignore[no-any-return]
    known = ", ".join(sorted(VOLUME_OPENERS))
    raise NiftiError(f"{path}: not a volume format ichbench reads ({known}); save it as "
                     ".nii.gz")


def open_nifti(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
               ) -> OpenedVolume:
    """:func:`open_volume` for single-file NIfTI-1 (``.nii``, ``.nii.gz``)."""
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
    if path.name.endswith(".mha"):  # MetaImage: same contract, own reader
        from ichbench import metaimage

        return metaimage.read_volume(check_path(path), max_voxels=max_voxels, dtype=dtype)
    header = read_header(path, max_voxels=max_voxels)
    geometry = _checked_geometry(path, header, max_voxels)
    array = read_voxels(path, header)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=geometry)


def write_volume(array: np.ndarray, geometry: Geometry, path: str | os.PathLike[str], *,
                 compress: bool | None = None) -> None:
    """Write a (z, y, x) array with ``geometry`` copied exactly, atomically.

    Used for every mask ichbench writes: the prediction must sit on its CT's grid, so
    spacing, origin and direction come from the reference image, never recomputed. The
    format follows the suffix (SimpleITK's writer: ``.nii``, ``.nii.gz``, ``.mha``);
    ``compress`` defaults to what the suffix says (``.gz``).
    """
    import SimpleITK as sitk

    from ichbench.atomic import atomic_path

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


def list_cases(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Map case id → NIfTI path for the entries directly inside ``folder`` (sorted by id).

    Every entry with a NIfTI name except folders is listed, also a FIFO, a device or a
    link to one: such a file is then refused by the reader with a message, never skipped
    silently (and never read, which could block).

    Raises
    ------
    NiftiError
        If two files share a case id (``001.nii`` and ``001.nii.gz``).
    """
    found: dict[str, Path] = {}
    for entry in sorted(Path(folder).iterdir()):
        cid = case_id(entry)
        if cid is None or entry.is_dir():
            continue
        if cid in found:
            raise NiftiError(f"{folder}: case {cid} appears twice ({found[cid].name}, "
                             f"{entry.name}); keep one")
        found[cid] = entry
    return found
