"""Reading and writing NIfTI volumes: the one place where axis order is decided.

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

NIFTI_SUFFIXES = (".nii.gz", ".nii")
#: Every image file name a case id is taken from: NIfTI, and MetaImage (ichbench.metaimage).
IMAGE_SUFFIXES = (*NIFTI_SUFFIXES, ".mha")

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
    """The case id of an image file name (without ``.nii``/``.nii.gz``/``.mha``), else None."""
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
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
    if path.name.endswith(".mha"):  # MetaImage: same contract, own reader (issue 12)
        from ichbench import metaimage
        return metaimage.read_geometry(path, max_voxels=max_voxels)
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
    if path.name.endswith(".mha"):  # MetaImage: same contract, own reader (issue 12)
        from ichbench import metaimage
        return metaimage.read_volume(path, max_voxels=max_voxels, dtype=dtype)
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
    if not _matches_gzip_trailer(path, array):
        _check_complete(path)
    if array.shape != geometry.shape:
        raise NiftiError(f"{path}: voxel data has shape {array.shape}, header says "
                         f"{geometry.shape} (z, y, x)")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=geometry)


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
    if path.name.endswith(".mha"):  # MetaImage: same contract, own reader (issue 12)
        from ichbench import metaimage
        return metaimage.count_nonfinite(path)
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


def _check_complete(path: Path) -> None:
    """Refuse a file whose voxel data ends early or whose compressed stream is broken.

    ITK reads such files without any error: the missing voxels of a truncated ``.nii``
    come back as zeros, and a ``.nii.gz`` that lost even its 8-byte gzip trailer, or has a
    corrupt stream, reads as all zeros. So the length is checked here; for ``.nii.gz`` the
    stream is inflated (and its CRC checked where it ends) up to the length the header
    needs plus a little, never further, so a gzip bomb costs no more than the voxels its
    header claims (ITK, too, stops there).
    """
    gzipped = _is_gzip(path)
    head = _head(path, gzipped)
    layout = _layout(head)
    if layout is None:  # not a header this check understands; ITK has accepted it
        return
    needed = layout.end
    if not gzipped:
        available = path.stat().st_size
        if available < needed:
            raise NiftiError(f"{path}: the file ends after {available:,} of the {needed:,} "
                             "bytes its header needs; it is truncated, write it again")
        return
    _, available, state = _gunzip(path, needed + (1 << 16))
    if available < needed or state in ("truncated", "corrupt"):
        what = ("the gzip stream is corrupt" if state == "corrupt" else
                "the gzip stream ends early")
        raise NiftiError(f"{path}: {what} (after {available:,} of the {needed:,} bytes its "
                         "header needs); the file is truncated or damaged, write it again")


def _matches_gzip_trailer(path: Path, array: np.ndarray) -> bool:
    """Whether a ``.nii.gz`` is intact, judged cheaply from the voxels ITK has read.

    The gzip trailer holds the CRC-32 and length of the inflated content. When ITK's array
    holds the stored bytes unchanged (no scaling, native byte order, one gzip member, no
    trailing data), the CRC of header + array bytes must equal the trailer's; a truncated
    or damaged stream, which ITK reads as zeros or garbage, fails it. Other files return
    False and get the full check, which inflates the stream once more.
    """
    import struct
    import zlib

    try:
        if not _is_gzip(path):
            return False
        head = _head(path, True)
        layout = _layout(head)
        if (layout is None or layout.dtype.newbyteorder("=") != array.dtype
                or not layout.dtype.isnative or array.nbytes != layout.end - layout.start):
            return False
        with open(path, "rb") as handle:
            handle.seek(-8, os.SEEK_END)
            crc, size = struct.unpack("<II", handle.read(8))
        if size != layout.end % (1 << 32):
            return False
        header = head if layout.start <= len(head) else _gunzip_bytes(path, layout.start)
        expected = zlib.crc32(np.ascontiguousarray(array), zlib.crc32(header[:layout.start]))
    except (OSError, ValueError, struct.error):
        return False
    return expected == crc


def _gunzip_bytes(path: Path, limit: int) -> bytes:
    content = bytearray()
    _gunzip(path, limit, sink=content.extend)
    return bytes(content[:limit])


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
    import zlib

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
