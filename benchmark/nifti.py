"""Reading and writing NIfTI volumes: the one place where axis order is decided.

SimpleITK reports geometry in physical (x, y, z) order, while the NumPy array it returns is
indexed (z, y, x). Everything in ichbench past this module works with arrays and with
``Geometry.spacing_zyx_mm``, whose entries match the array axes one to one. Getting this
wrong is silent: on 0.45 × 0.45 × 5 mm CT a reversed spacing turns an HD95 of 1.3 mm into
0.42 mm.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NIFTI_SUFFIXES = (".nii.gz", ".nii")

#: Largest volume a reader accepts (voxels). A 512 × 512 × 1000 CT is 2.6e8; a header that
#: claims more than this is refused before any data is read.
MAX_VOXELS = 1_000_000_000


class NiftiError(ValueError):
    """A file that cannot be used as a NIfTI volume. The message names the file and the fix."""


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


def case_id(path: str | os.PathLike[str]) -> str | None:
    """The case id of a NIfTI file name (name without ``.nii``/``.nii.gz``), else None."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _reader(path: Path):  # type: ignore[no-untyped-def]
    import SimpleITK as sitk

    if not path.is_file():
        raise NiftiError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise NiftiError(f"{path}: the file is empty; write the mask again")
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

    Raises
    ------
    NiftiError
        If the file is missing, empty, not NIfTI, not 3D, or claims more than
        ``max_voxels`` voxels.
    """
    path = Path(path)
    reader = _reader(path)
    return _geometry_from_reader(path, reader, max_voxels)


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

    The header is checked before any voxel data is read. Scaling slope/intercept are
    applied by the reader, so values come back as stored intensities (HU for CT).

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
    import SimpleITK as sitk

    path = Path(path)
    reader = _reader(path)
    geometry = _geometry_from_reader(path, reader, max_voxels)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise NiftiError(f"{path}: the voxel data cannot be read ({_first_line(exc)}); "
                         "the file is truncated or corrupt, write it again") from None
    array = sitk.GetArrayFromImage(image)
    if array.ndim == 4 and array.shape[0] == 1:
        array = array[0]
    if array.shape != geometry.shape:
        raise NiftiError(f"{path}: voxel data has shape {array.shape}, header says "
                         f"{geometry.shape} (z, y, x)")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=geometry)


def write_volume(array: np.ndarray, geometry: Geometry, path: str | os.PathLike[str]) -> None:
    """Write a (z, y, x) array with ``geometry`` copied exactly, atomically.

    Used for every mask ichbench writes: the prediction must sit on its CT's grid, so
    spacing, origin and direction come from the reference image, never recomputed.
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
        sitk.WriteImage(image, str(tmp), useCompression=str(path).endswith(".gz"))


def list_cases(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """Map case id → NIfTI path for the files directly inside ``folder`` (sorted by id).

    Raises
    ------
    NiftiError
        If two files share a case id (``001.nii`` and ``001.nii.gz``).
    """
    found: dict[str, Path] = {}
    for entry in sorted(Path(folder).iterdir()):
        cid = case_id(entry)
        if cid is None or not entry.is_file():
            continue
        if cid in found:
            raise NiftiError(f"{folder}: case {cid} appears twice ({found[cid].name}, "
                             f"{entry.name}); keep one")
        found[cid] = entry
    return found
