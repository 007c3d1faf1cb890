"""Reading and writing NIfTI volumes: the one place where axis order is decided.

SimpleITK reports geometry in physical (x, y, z) order, while the NumPy array it returns is
indexed (z, y, x). Everything in ichbench past this module works with arrays and with
``Geometry.spacing_zyx_mm``, whose entries match the array axes one to one. Getting this
wrong is silent: on 0.45 × 0.45 × 5 mm CT a reversed spacing turns an HD95 of 1.3 mm into
0.42 mm.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
    """The case id of a NIfTI file name (name without ``.nii``/``.nii.gz``), else None."""
    name = Path(path).name
    for suffix in NIFTI_SUFFIXES:
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


def _zlib():  # type: ignore[no-untyped-def]
    """zlib-ng's drop-in module when installed (inflates 3-10× faster), else zlib.

    Decoding is the floor of scoring time; both give the same bytes and check the same
    CRC-32 and length.
    """
    try:
        from zlib_ng import zlib_ng

        return zlib_ng
    except ImportError:  # pragma: no cover - zlib-ng is a dependency; zlib still works
        import zlib

        return zlib


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
                                  ".nii": "ichbench.nifti:open_nifti"}


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
    header = read_header(path, max_voxels=max_voxels)
    geometry = _checked_geometry(path, header, max_voxels)
    array = read_voxels(path, header)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=geometry)


#: Largest NIfTI header extension accepted (bytes between the header and the voxels).
#: Real extensions (AFNI history, DICOM tags) are kilobytes; a ``vox_offset`` far past the
#: header is refused before anything is read, so it cannot drive memory or time.
MAX_EXTENSION_BYTES = 16 << 20

#: Most gzip members per 4 KiB of content (plus 16) accepted in a ``.nii.gz``; bgzip
#: writes one per 64 KiB. Bounds the time a flood of tiny or empty members can cost.
_MEMBERS_PER_4K = 1

#: Bytes allowed after the last gzip member that holds content (only empty members).
_MAX_GZIP_TAIL = 64 << 10


@dataclass(frozen=True)
class NiftiHeader:
    """What ichbench trusts of a NIfTI-1 header, after checking it against itself.

    Attributes
    ----------
    shape : tuple of int
        Array shape, (z, y, x).
    dtype : numpy.dtype
        Stored voxel type, with the file's byte order.
    vox_offset : int
        Where the voxels start in the (inflated) content, in bytes.
    scl_slope, scl_inter : float
        Scaling the header asks for (value = stored × slope + inter); (1, 0) when the
        header's slope is 0 or NaN, which NIfTI defines as "no scaling".
    gzipped : bool
        Whether the file is a gzip stream.
    """

    shape: tuple[int, int, int]
    dtype: np.dtype
    vox_offset: int
    scl_slope: float
    scl_inter: float
    gzipped: bool

    @property
    def content_bytes(self) -> int:
        """Exact length of the (inflated) content: header, extensions and voxels."""
        return self.vox_offset + int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def scaled(self) -> bool:
        """Whether the stored values are rescaled on reading."""
        return (self.scl_slope, self.scl_inter) != (1.0, 0.0)


def printable(text: str) -> str:
    """Text for a message: bytes of a file name that are not UTF-8 shown as escapes.

    Such names reach Python as lone surrogates, which cannot be printed or written as
    UTF-8; each such byte is shown as a backslash escape (as Python writes bytes).
    """
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that do not stand for bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def check_path(path: str | os.PathLike[str]) -> Path:
    """Refuse a path that no reader should be handed, before anything opens it.

    Any format's reader (NIfTI here, other formats in their own modules) calls this
    first: the name must be valid UTF-8 (ITK aborts the whole process on other names)
    and the path must be an existing regular file (a FIFO or ``/dev/zero`` would never
    end, a folder is not a volume), readable, and not empty.

    Raises
    ------
    NiftiError
        One line naming the file, what was found and the fix.
    """
    path = Path(path)
    shown = printable(str(path))
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise NiftiError(f"{shown}: the file name is not valid UTF-8; rename it (letters, "
                         "digits, '.', '_' and '-')") from None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NiftiError(f"{path}: no such file") from None
    except OSError as exc:
        raise NiftiError(f"{path}: cannot be reached ({exc.strerror}); check the path and "
                         "its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise NiftiError(f"{path}: is a folder, not a file; give the volume file itself")
    if not stat.S_ISREG(st.st_mode):
        raise NiftiError(f"{path}: is not a regular file (a FIFO, device or socket); save "
                         "the volume as a file")
    if not os.access(path, os.R_OK):
        raise NiftiError(f"{path}: permission denied; make the file readable (chmod a+r)")
    if st.st_size == 0:
        raise NiftiError(f"{path}: the file is empty; write the volume again")
    return path


def _open_regular(path: Path) -> BinaryIO:
    """Open for reading without blocking on a FIFO swapped in after the check."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise NiftiError(f"{path}: permission denied; make the file readable "
                         "(chmod a+r)") from None
    except OSError as exc:
        raise NiftiError(f"{path}: cannot be opened ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NiftiError(f"{path}: is not a regular file (a FIFO, device or socket); save "
                         "the volume as a file")
    return os.fdopen(fd, "rb")


def read_header(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> NiftiHeader:
    """Read and check a single-file NIfTI-1 header (no voxel is read).

    Checked here, before any reader allocates anything: the NIfTI-1 signature (NIfTI-2
    and ``.hdr``/``.img`` pairs are refused with what to do), one 3D scalar volume of at
    most ``max_voxels`` voxels, a known ``datatype`` whose size equals ``bitpix``, a
    ``vox_offset`` inside [352, 352 + :data:`MAX_EXTENSION_BYTES`], a finite scaling, and,
    for an uncompressed file, a file size that is exactly what the header needs.

    Raises
    ------
    NiftiError
        One line naming the file, what was found and the fix.
    """
    import struct

    path = check_path(path)
    with _open_regular(path) as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
        handle.seek(0)
        head = _gunzip_head(path, handle, 548) if gzipped else handle.read(548)
        size = os.fstat(handle.fileno()).st_size
    for endian in "<>":
        if len(head) >= 4 and struct.unpack_from(endian + "i", head, 0)[0] == 540:
            raise NiftiError(f"{path}: a NIfTI-2 file, which this reader (ITK) cannot read; "
                             "save it as NIfTI-1 (nibabel: Nifti1Image, or SimpleITK)")
        if len(head) >= 348 and struct.unpack_from(endian + "i", head, 0)[0] == 348:
            break
    else:
        raise NiftiError(f"{path}: not a NIfTI-1 file (no NIfTI header found); save it as "
                         ".nii.gz with a NIfTI writer")
    magic = head[344:348]
    if magic != b"n+1\x00":
        what = ("a header-only file (.hdr/.img pair)" if magic == b"ni1\x00"
                else f"an unknown signature {magic!r}")
        raise NiftiError(f"{path}: {what}, not a single-file NIfTI-1; save it as .nii.gz")
    dims = struct.unpack_from(endian + "8h", head, 40)
    code, bitpix = struct.unpack_from(endian + "hh", head, 70)
    vox_offset = struct.unpack_from(endian + "f", head, 108)[0]
    slope, inter = struct.unpack_from(endian + "ff", head, 112)
    ndim = dims[0]
    if ndim == 4 and dims[4] == 1:
        ndim = 3
    if dims[0] == 5 and dims[4] == 1 and dims[5] > 1:
        raise NiftiError(f"{path}: {dims[5]} components per voxel (a vector image); expected "
                         "a scalar image, save one label per voxel")
    if ndim != 3:
        shown = dims[1:dims[0] + 1] if 1 <= dims[0] <= 7 else dims
        raise NiftiError(f"{path}: a {dims[0]}D image of size {tuple(shown)}; expected one "
                         "3D volume")
    xyz = dims[1:4]
    if min(xyz) <= 0:
        raise NiftiError(f"{path}: header claims size {tuple(xyz)}; every axis needs ≥ 1 "
                         "voxel")
    n = int(np.prod(xyz, dtype=np.int64))
    if n > max_voxels:
        raise NiftiError(f"{path}: header claims {tuple(xyz)} = {n:,} voxels, more than the "
                         f"{max_voxels:,} allowed; the header is corrupt or not a head CT")
    if code not in _NIFTI_TYPES:
        raise NiftiError(f"{path}: datatype {code} is not a scalar number type ichbench "
                         "reads; save it as uint8 (masks) or int16/float32 (CT)")
    dtype = np.dtype(endian + _NIFTI_TYPES[code])
    if bitpix != 8 * dtype.itemsize:
        raise NiftiError(f"{path}: the header's bitpix {bitpix} disagrees with its datatype "
                         f"{dtype.newbyteorder('=').name} ({8 * dtype.itemsize} bits); the "
                         "header is corrupt, write the file again")
    if (not np.isfinite(vox_offset) or vox_offset != int(vox_offset)
            or not 352 <= vox_offset <= 352 + MAX_EXTENSION_BYTES):
        raise NiftiError(f"{path}: vox_offset {vox_offset:.0f} is not a whole number of bytes "
                         f"between 352 and {352 + MAX_EXTENSION_BYTES:,} (header "
                         "extensions); the header is corrupt, write the file again")
    if not np.isfinite(slope) or slope == 0:
        slope, inter = 1.0, 0.0  # NIfTI: a slope of 0 (or NaN) means "not scaled"
    if not np.isfinite(inter):
        raise NiftiError(f"{path}: scl_inter {inter} is not finite; fix the header")
    x, y, z = xyz
    header = NiftiHeader((z, y, x), dtype, int(vox_offset), float(slope), float(inter),
                         gzipped)
    if not gzipped and size != header.content_bytes:
        raise NiftiError(f"{path}: the file holds {size:,} bytes but its header needs exactly "
                         f"{header.content_bytes:,}; it is truncated or padded, write it again")
    return header


def _gunzip_head(path: Path, handle: BinaryIO, n: int) -> bytes:
    """The first ``n`` inflated bytes, across at most 64 gzip members."""
    zlib = _zlib()

    head, pending = b"", b""
    for _ in range(64):
        inflater = zlib.decompressobj(31)
        while len(head) < n and not inflater.eof:
            if not pending and not (pending := handle.read(1 << 16)):
                return head
            try:
                head += inflater.decompress(pending, n - len(head))
            except zlib.error:
                raise NiftiError(f"{path}: the gzip stream is corrupt near its start; write "
                                 "the file again") from None
            pending = inflater.unconsumed_tail
        if len(head) >= n:
            return head
        pending = inflater.unused_data
    return head


def read_voxels(path: str | os.PathLike[str], header: NiftiHeader, *,
                writable: bool = True) -> np.ndarray:
    """Read the voxels a checked header describes, as a (z, y, x) array.

    ITK is not used for the voxels: it reads a truncated or damaged file as zeros without
    any error. Here the content must be exactly ``header.content_bytes`` long; a gzip
    stream must inflate to exactly that, end cleanly with every member's CRC-32 and
    length checked (so a trailer forged to match zero-filled data does not pass), and
    hold no more than a bounded number of members and trailing empty members. Memory is
    the content itself plus 1 MiB of compressed input at a time.

    Parameters
    ----------
    writable
        False allows a read-only array (no copy of the inflated bytes), for callers that
        only look at the voxels.

    Returns
    -------
    numpy.ndarray
        Native byte order; stored type, or float64 when the header scales the values
        (so that e.g. ``scl_slope`` 1e-30 on a 0/1 file shows as non-whole values).

    Raises
    ------
    NiftiError
        One line naming the file, what was found and the fix.
    """
    path = Path(path)
    with _open_regular(path) as handle:
        if header.gzipped:
            content: bytes | bytearray = _inflate_exactly(path, handle, header.content_bytes)
        else:
            content = bytearray(header.content_bytes)
            got = handle.readinto(content)
            if got != len(content) or handle.read(1):
                raise NiftiError(f"{path}: the file changed size while it was read; read it "
                                 "again when it is complete")
    raw = np.frombuffer(content, dtype=header.dtype, offset=header.vox_offset)
    raw = raw.reshape(header.shape)
    if header.scaled:  # in place: one float64 array besides the stored bytes
        scaled = raw.astype(np.float64)
        scaled *= header.scl_slope
        scaled += header.scl_inter
        del raw, content  # the stored bytes are not needed any more
        return scaled
    if not header.dtype.isnative:
        return raw.astype(header.dtype.newbyteorder("="))
    return raw if raw.flags.writeable or not writable else raw.copy()


def _inflate_exactly(path: Path, handle: BinaryIO, need: int) -> bytes:
    """The content of a gzip stream that must inflate to exactly ``need`` bytes.

    Pieces are joined once at the end (none when one call inflated everything), so the
    peak is about twice the content only for multi-member files.
    """
    zlib = _zlib()

    max_members = 16 + need // 4096 * _MEMBERS_PER_4K
    pieces: list[bytes] = []
    filled, members = 0, 1
    inflater = zlib.decompressobj(31)
    pending = b""

    def fail(what: str) -> NiftiError:
        return NiftiError(f"{path}: {what} (after {filled:,} of the {need:,} bytes its header "
                          "needs); the file is truncated or damaged, write it again")

    while True:
        if not pending:
            pending = handle.read(1 << 20)
            if not pending:
                if filled < need or not inflater.eof:
                    raise fail("the gzip stream ends early")
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)
        try:
            out = inflater.decompress(pending, max(need - filled, 1))
        except zlib.error:
            raise fail("the gzip stream is corrupt (bad data, CRC or length)") from None
        pending = inflater.unconsumed_tail
        if filled + len(out) > need:
            raise fail("the content is longer than its header says")
        if out:
            pieces.append(out)
        filled += len(out)
        if inflater.eof:
            pending = inflater.unused_data + pending
            if filled == need:
                _check_gzip_tail(path, handle, pending)
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if not pending[:2] and not (pending := handle.read(1 << 20)):
                raise fail("the gzip stream ends early")
            members += 1
            if members > max_members:
                raise fail(f"the gzip stream holds more than {max_members:,} members")
            inflater = zlib.decompressobj(31)


def _check_gzip_tail(path: Path, handle: BinaryIO, pending: bytes) -> None:
    """After the content: nothing, or a few empty gzip members (bgzip's end marker)."""
    zlib = _zlib()

    tail = pending + handle.read(max(0, _MAX_GZIP_TAIL + 1 - len(pending)))
    if len(tail) > _MAX_GZIP_TAIL:
        raise NiftiError(f"{path}: more than {_MAX_GZIP_TAIL:,} bytes follow the voxel data "
                         "in the gzip stream; write the file again")
    while tail:
        inflater = zlib.decompressobj(31)
        try:
            if inflater.decompress(tail, 1) or not inflater.eof:
                raise NiftiError(f"{path}: data follows the voxels its header declares; "
                                 "write the file again")
        except zlib.error:
            raise NiftiError(f"{path}: {len(tail):,} bytes that are not gzip data follow the "
                             "voxels; write the file again") from None
        tail = inflater.unused_data


def count_nonfinite(path: str | os.PathLike[str]) -> int:
    """Count the NaN and infinite voxels stored in a float NIfTI file.

    ITK's reader silently turns them into 0, so :func:`read_volume` cannot show them;
    a scorer that must refuse NaN masks asks here. Integer files give 0 without reading
    their data; float files are streamed in bounded pieces (up to the length the header
    needs, never further).

    Raises
    ------
    NiftiError
        If the file is missing or unreadable as a file.
    """
    path = Path(path)
    try:
        gzipped = _is_gzip(path)
        head = _head(path, gzipped)
    except OSError as exc:
        raise NiftiError(f"{path}: cannot be read ({exc.strerror})") from None
    layout = _layout(head)
    if layout is None or layout.dtype.kind != "f":
        return 0
    counter = _NonFiniteCounter(layout)
    if gzipped:
        _gunzip(path, layout.end, sink=counter)
    else:
        with open(path, "rb") as handle:
            while counter.position < layout.end and (chunk := handle.read(1 << 22)):
                counter(chunk)
    return counter.count


class _NonFiniteCounter:
    """Receives a file's bytes in order; counts non-finite values in the voxel data."""

    def __init__(self, layout: _Layout) -> None:
        self.layout, self.position, self.count, self._rest = layout, 0, 0, b""

    def __call__(self, chunk: bytes) -> None:
        lo, hi = self.position, self.position + len(chunk)
        self.position = hi
        start, end = max(lo, self.layout.start), min(hi, self.layout.end)
        if start >= end:
            return
        data = self._rest + chunk[start - lo:end - lo]
        usable = len(data) - len(data) % self.layout.dtype.itemsize
        values = np.frombuffer(data[:usable], dtype=self.layout.dtype)
        self.count += int(values.size - np.count_nonzero(np.isfinite(values)))
        self._rest = data[usable:]


@dataclass(frozen=True)
class _Layout:
    """Where a single-file NIfTI-1/-2 keeps its voxels: bytes [start, end), stored type."""

    start: int
    end: int
    dtype: np.dtype


#: NIfTI datatype codes → NumPy types (byte order added from the header).
_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2",
                768: "u4", 1024: "i8", 1280: "u8"}


def _layout(head: bytes) -> _Layout | None:
    """Voxel data position and type from a header, or None if this is not one we know."""
    import struct

    for endian in "<>":
        if len(head) >= 348 and struct.unpack_from(endian + "i", head, 0)[0] == 348:
            dims = struct.unpack_from(endian + "8h", head, 40)
            code, bitpix = struct.unpack_from(endian + "hh", head, 70)
            offset, header_bytes = struct.unpack_from(endian + "f", head, 108)[0], 352
            break
        if len(head) >= 540 and struct.unpack_from(endian + "i", head, 0)[0] == 540:
            dims = struct.unpack_from(endian + "8q", head, 16)
            code, bitpix = struct.unpack_from(endian + "hh", head, 12)
            offset, header_bytes = struct.unpack_from(endian + "q", head, 168)[0], 544
            break
    else:
        return None
    if not 1 <= dims[0] <= 7 or bitpix <= 0 or any(d <= 0 for d in dims[1:dims[0] + 1]):
        return None
    voxels = int(np.prod(dims[1:dims[0] + 1], dtype=np.int64))
    start = int(offset) if np.isfinite(offset) and offset >= header_bytes else header_bytes
    dtype = np.dtype(endian + _NIFTI_TYPES.get(code, "V1"))
    return _Layout(start, start + (voxels * int(bitpix) + 7) // 8, dtype)


def _head(path: Path, gzipped: bool) -> bytes:
    """The first 544 content bytes (room for a NIfTI-2 header)."""
    if gzipped:
        return _gunzip(path, 544)[0]
    with open(path, "rb") as handle:
        return handle.read(544)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _gunzip(path: Path, limit: int,
            sink: Callable[[bytes], None] | None = None) -> tuple[bytes, int, str]:
    """Inflate a gzip file (all members) until ``limit`` bytes or its end, in bounded pieces.

    Parameters
    ----------
    sink
        Called with every piece of content, in order (at most 4 MiB each).

    Returns
    -------
    head : bytes
        The first 544 bytes of the content (fewer if it is shorter).
    count : int
        Content bytes produced (at most ``limit``).
    state : str
        ``"end"`` (the last member ended cleanly, CRC checked), ``"limit"`` (stopped at
        ``limit`` with data left), ``"truncated"`` (the file ends inside a member) or
        ``"corrupt"`` (bad deflate data or CRC).
    """
    zlib = _zlib()

    count, head = 0, b""
    inflater = zlib.decompressobj(31)
    with open(path, "rb") as handle:
        pending = b""
        while count < limit:
            if not pending:
                pending = handle.read(1 << 20)
                if not pending:
                    return head, count, "truncated"
            try:
                out = inflater.decompress(pending, min(1 << 22, limit - count))
            except zlib.error:
                return head, count, "corrupt"
            pending = inflater.unconsumed_tail
            if len(head) < 544:
                head += out[: 544 - len(head)]
            count += len(out)
            if sink is not None and out:
                sink(out)
            if inflater.eof:
                pending = inflater.unused_data + pending + handle.read(2 - len(pending))
                if pending[:2] != b"\x1f\x8b":  # no further member (gzread ignores the rest)
                    return head, count, "end"
                inflater = zlib.decompressobj(31)
    return head, count, "limit"


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
