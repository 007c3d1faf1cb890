"""Reading and writing MetaImage (``.mha``) volumes with the NIfTI reader's guarantees.

grand-challenge.org hands algorithm outputs to an evaluation as ``.mha`` files, so a
submission may hold MetaImage masks next to NIfTI ones. This reader is ichbench's own
(NumPy and zlib, no ITK), so that every byte it reads is one it decided to read:

- The text header is parsed completely before any voxel is read: it must end with
  ``ElementDataFile = LOCAL`` within the first :data:`MAX_HEADER_BYTES`; any other data
  file (a ``.raw`` name, a list, a pattern) is refused, so a header can never make
  ichbench open another file. The keys that describe the image are parsed strictly;
  the metadata lines ITK copies into the header from the image it read (NIfTI fields,
  DICOM tags) are skipped, as MetaIO skips them.
- The voxel count is checked against ``max_voxels``, and the data length against the
  file size: uncompressed data must be exactly ``voxels × bytes per voxel`` long.
- Compressed data (``CompressedData = True``, a zlib stream) is inflated in bounded
  pieces into a buffer of exactly the size the header implies; a stream that would yield
  more is refused after one extra byte, so a decompression bomb costs no more than the
  voxels its header claims.
- NaN and infinity are kept in the array (ITK's NIfTI reader turns them into 0), so a
  scorer sees them.

Geometry comes back as :class:`ichbench.io.geometry.Geometry`, in SimpleITK's (x, y, z) order,
with the same meaning as for NIfTI: MetaImage's ``TransformMatrix`` lists the direction
cosines of one image axis per group of three numbers, i.e. it is the transpose of ITK's
row-major direction matrix.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichbench.io.geometry import Geometry, OpenedVolume, Volume
from ichbench.io.niftibytes import MAX_VOXELS, NiftiError

METAIMAGE_SUFFIX = ".mha"

#: Longest text header accepted (bytes). SimpleITK writes about 300 bytes of its own, plus
#: one line per metadata entry it copies from the image it read (about 1.5 KB from a
#: NIfTI, a few KB from a DICOM series); a file with no ``ElementDataFile`` line within
#: this many bytes is not a MetaImage.
MAX_HEADER_BYTES = 1 << 20

#: MetaIO element types → NumPy type codes (byte order added from the header). MetaIO
#: stores MET_LONG/MET_ULONG in 4 bytes and MET_LONG_LONG/MET_ULONG_LONG in 8.
ELEMENT_TYPES = {
    "MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2",
    "MET_INT": "i4", "MET_UINT": "u4", "MET_LONG": "i4", "MET_ULONG": "u4",
    "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}

_ALIASES = {"Origin": "Offset", "Position": "Offset", "Rotation": "TransformMatrix",
            "Orientation": "TransformMatrix", "ElementByteOrderMSB": "BinaryDataByteOrderMSB"}
_TRUE, _FALSE = ("true", "t", "1"), ("false", "f", "0")

#: The header keys this reader reads (after :data:`_ALIASES`); every other key is
#: metadata, skipped (see :func:`_parse_fields`).
_USED_KEYS = frozenset({
    "ObjectType", "NDims", "DimSize", "ElementType", "ElementNumberOfChannels",
    "BinaryData", "BinaryDataByteOrderMSB", "CompressedData", "CompressedDataSize",
    "HeaderSize", "ElementSpacing", "ElementSize", "Offset", "TransformMatrix", "ElementDataFile"})


class MetaImageError(NiftiError):
    """A file that cannot be used as a MetaImage volume; the message names the file and fix.

    A subclass of :class:`~ichbench.io.niftibytes.NiftiError`, so that every caller that handles
    an unusable image file handles an unusable ``.mha`` the same way.
    """


@dataclass(frozen=True)
class MetaHeader:
    """What a MetaImage header says, checked.

    Attributes
    ----------
    geometry : Geometry
        Size, spacing (mm), origin (mm) and direction, (x, y, z) order.
    dtype : numpy.dtype
        Stored voxel type with the file's byte order.
    data_offset : int
        Byte position in the file where the voxel data starts.
    compressed : bool
        Whether the data is one zlib stream.
    data_bytes : int
        Length of the voxel data once inflated (voxels × bytes per voxel).
    """

    geometry: Geometry
    dtype: np.dtype
    data_offset: int
    compressed: bool
    data_bytes: int


def is_metaimage(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a MetaImage file (by its ``.mha`` suffix)."""
    return Path(path).name.endswith(METAIMAGE_SUFFIX)


def read_header(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> MetaHeader:
    """Read and check the header of a ``.mha`` file, and its length against the header.

    Raises
    ------
    MetaImageError
        If the file is missing or empty, the header is malformed, not one 3D scalar
        volume, claims more than ``max_voxels`` voxels, keeps its data in another file,
        or the file is shorter (or, uncompressed, longer) than the header needs.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(MAX_HEADER_BYTES)
    except FileNotFoundError:
        raise MetaImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise MetaImageError(f"{path}: cannot be read ({exc.strerror})") from None
    if size == 0:
        raise MetaImageError(f"{path}: the file is empty; write the mask again")
    fields, data_offset = _parse_fields(path, head)
    header = _check_fields(path, fields, data_offset, max_voxels)
    available = size - data_offset
    if header.compressed:
        declared = fields.get("CompressedDataSize")
        if declared is not None and _int(path, "CompressedDataSize", declared) != available:
            raise MetaImageError(
                f"{path}: the header declares {int(declared):,} compressed bytes but "
                f"{available:,} follow it; the file is truncated or damaged, write it again")
        if available == 0:
            raise MetaImageError(f"{path}: the header is followed by no voxel data; the file "
                                 "is truncated, write it again")
    elif available < header.data_bytes:
        raise MetaImageError(f"{path}: the file ends after {available:,} of the "
                             f"{header.data_bytes:,} bytes of voxel data its header needs; it "
                             "is truncated, write it again")
    elif available > header.data_bytes:
        raise MetaImageError(f"{path}: {available - header.data_bytes:,} bytes follow the "
                             f"{header.data_bytes:,} bytes of voxel data its header "
                             "describes; the header does not match the data, write it again")
    return header


def _parse_fields(path: Path, head: bytes) -> tuple[dict[str, str], int]:
    """``Key = Value`` lines up to and including ``ElementDataFile``; data offset.

    Only the keys this reader uses (:data:`_USED_KEYS` and their aliases) are kept, and
    only they must be ASCII, given once and agree with their aliases. Every other line is
    metadata that ITK writes and MetaIO reads but ignores for the image: ITK copies the
    input's metadata dictionary into the header (a NIfTI's ``dim[0] = 3``, ``srow_x =
    ...``, a DICOM series' ``0008|0060 = CT``), with keys of any punctuation and values
    that may hold ``=`` or non-ASCII text. Such a line needs only a non-empty key free of
    control characters and an ``=``; what follows is skipped unparsed, so it can neither
    change the image nor cost more than its bytes.
    """
    fields: dict[str, str] = {}
    seen: set[str] = set()
    position = 0
    while True:
        end = head.find(b"\n", position)
        if end < 0:
            raise MetaImageError(
                f"{path}: no 'ElementDataFile = LOCAL' line in the first "
                f"{min(len(head), MAX_HEADER_BYTES):,} bytes; not a MetaImage (.mha) file, "
                "save the mask with a MetaImage writer (e.g. SimpleITK)")
        raw = head[position:end].rstrip(b"\r")
        position = end + 1
        if not raw.strip():
            continue
        raw_key, sep, raw_value = raw.partition(b"=")
        raw_key = raw_key.strip()
        if not sep or not raw_key or any(byte < 0x20 or byte == 0x7F for byte in raw_key):
            shown = raw[:60].decode("ascii", "backslashreplace")
            raise MetaImageError(f"{path}: header line {shown!r} is not 'Key = Value'; "
                                 "not a MetaImage (.mha) file")
        name = raw_key.decode("latin-1")
        key = _ALIASES.get(name, name)
        if key not in _USED_KEYS:
            continue  # metadata, e.g. copied from the NIfTI or DICOM the image was read from
        try:
            value = raw_value.decode("ascii").strip()
        except UnicodeDecodeError:
            raise MetaImageError(f"{path}: the header's {name} holds non-text bytes; not a "
                                 "MetaImage (.mha) file, save the mask with a MetaImage "
                                 "writer") from None
        if name in seen or (key in fields and fields[key].split() != value.split()):
            raise MetaImageError(f"{path}: the header gives {key} twice; keep one")
        seen.add(name)  # an alias pair that agrees (ElementByteOrderMSB too) is fine
        fields[key] = value
        if key == "ElementDataFile":
            return fields, position


def _check_fields(path: Path, fields: dict[str, str], data_offset: int,
                  max_voxels: int) -> MetaHeader:
    data_file = fields["ElementDataFile"]
    if data_file.upper() != "LOCAL":  # MetaIO accepts LOCAL, Local and local
        raise MetaImageError(f"{path}: ElementDataFile = {data_file[:80]} keeps the voxels in "
                             "another file, which is never opened; save one self-contained "
                             ".mha (ElementDataFile = LOCAL)")
    object_type = fields.get("ObjectType", "Image")
    if object_type != "Image":
        raise MetaImageError(f"{path}: ObjectType = {object_type[:40]}; expected an Image")
    if "NDims" not in fields or "DimSize" not in fields or "ElementType" not in fields:
        missing = [k for k in ("NDims", "DimSize", "ElementType") if k not in fields]
        raise MetaImageError(f"{path}: the header has no {', '.join(missing)}; save the mask "
                             "with a MetaImage writer")
    ndims = _int(path, "NDims", fields["NDims"])
    if not 1 <= ndims <= 10:
        raise MetaImageError(f"{path}: NDims = {ndims}; expected one 3D volume")
    dims = tuple(_int(path, "DimSize", v) for v in _values(path, "DimSize", fields, ndims))
    if any(d <= 0 for d in dims):
        raise MetaImageError(f"{path}: header claims size {dims}; every axis needs ≥ 1 voxel")
    if not (ndims == 3 or (ndims == 4 and dims[3] == 1)):
        raise MetaImageError(f"{path}: a {ndims}D image of size {dims}; expected one 3D "
                             "volume")
    voxels = math.prod(dims)
    if voxels > max_voxels:
        raise MetaImageError(f"{path}: header claims {dims} = {voxels:,} voxels, more than "
                             f"the {max_voxels:,} allowed; the header is corrupt or not a "
                             "head CT")
    channels = _int(path, "ElementNumberOfChannels", fields.get("ElementNumberOfChannels", "1"))
    if channels != 1:
        raise MetaImageError(f"{path}: {channels} components per voxel; expected a scalar "
                             "image")
    code = ELEMENT_TYPES.get(fields["ElementType"])
    if code is None:
        raise MetaImageError(f"{path}: ElementType = {fields['ElementType'][:40]} is not a "
                             "scalar type ichbench reads; save the mask as MET_UCHAR")
    if not _bool(path, "BinaryData", fields.get("BinaryData", "False")):
        raise MetaImageError(f"{path}: the voxels are stored as text (BinaryData = False); "
                             "save the mask as binary .mha")
    if _int(path, "HeaderSize", fields.get("HeaderSize", "0")) != 0:
        raise MetaImageError(f"{path}: HeaderSize = {fields['HeaderSize']} (bytes to skip) is "
                             "not supported; save the mask with a standard MetaImage writer")
    msb = _bool(path, "BinaryDataByteOrderMSB", fields.get("BinaryDataByteOrderMSB", "False"))
    compressed = _bool(path, "CompressedData", fields.get("CompressedData", "False"))

    # MetaIO takes the spacing from ElementSize where ElementSpacing is absent.
    spacing_key = "ElementSpacing" if "ElementSpacing" in fields else "ElementSize"
    spacing = _floats(path, spacing_key, fields, ndims, default=1.0)
    if min(spacing[:3]) <= 0:
        raise MetaImageError(f"{path}: spacing {spacing[:3]} mm is not positive; fix the "
                             f"header's {spacing_key}")
    origin = _floats(path, "Offset", fields, ndims, default=0.0)
    identity = np.eye(ndims).ravel().tolist()
    matrix = np.asarray(_floats(path, "TransformMatrix", fields, ndims * ndims,
                                default=identity), dtype=float).reshape(ndims, ndims)
    direction = matrix.T[:3, :3]  # MetaIO lists one axis per row: ITK's matrix transposed
    if abs(float(np.linalg.det(direction))) < 1e-6:
        raise MetaImageError(f"{path}: the TransformMatrix is singular (axes not independent);"
                             " fix the header's direction")
    dtype = np.dtype((">" if msb else "<") + code)
    geometry = Geometry(
        size_xyz=(dims[0], dims[1], dims[2]),
        spacing_xyz_mm=(spacing[0], spacing[1], spacing[2]),
        origin_mm=(origin[0], origin[1], origin[2]),
        direction=tuple(float(d) for d in direction.ravel()))
    return MetaHeader(geometry=geometry, dtype=dtype, data_offset=data_offset,
                      compressed=compressed, data_bytes=voxels * dtype.itemsize)


def _values(path: Path, key: str, fields: dict[str, str], count: int) -> list[str]:
    values = fields[key].split()
    if len(values) != count:
        raise MetaImageError(f"{path}: {key} has {len(values)} value(s), NDims needs {count}; "
                             "fix the header")
    return values


def _int(path: Path, key: str, text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise MetaImageError(f"{path}: {key} = {text[:40]!r} is not a whole number; fix the "
                             "header") from None


def _floats(path: Path, key: str, fields: dict[str, str], count: int,
            default: float | list[float]) -> tuple[float, ...]:
    if key not in fields:
        return tuple(default) if isinstance(default, list) else (default,) * count
    try:
        values = tuple(float(v) for v in _values(path, key, fields, count))
    except ValueError:
        raise MetaImageError(f"{path}: {key} = {fields[key][:60]!r} is not a list of numbers; "
                             "fix the header") from None
    if not all(math.isfinite(v) for v in values):
        raise MetaImageError(f"{path}: {key} = {fields[key][:60]} is not finite; fix the "
                             "header")
    return values


def _bool(path: Path, key: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise MetaImageError(f"{path}: {key} = {text[:40]!r} is neither True nor False; fix the "
                         "header")


def read_geometry(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> Geometry:
    """Read only the header of a ``.mha`` file (and check the file's length against it).

    Raises
    ------
    MetaImageError
        As :func:`read_header`.
    """
    return read_header(path, max_voxels=max_voxels).geometry


def read_volume(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS,
                dtype: np.dtype | type | None = None) -> Volume:
    """Read a 3D ``.mha`` file as a (z, y, x) array with its geometry.

    The header is checked (:func:`read_header`) before any voxel is read; compressed data
    is inflated into a buffer of exactly the size the header implies.

    Parameters
    ----------
    path
        A ``.mha`` file with its data inside (``ElementDataFile = LOCAL``).
    max_voxels
        Refuse headers that claim more voxels than this.
    dtype
        Cast the array to this type; default keeps the stored type (in native byte order).

    Raises
    ------
    MetaImageError
        For anything that makes the file unusable; the message names the file.
    """
    path = Path(path)
    header = read_header(path, max_voxels=max_voxels)
    array = _read_voxels(path, header)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return Volume(array=array, geometry=header.geometry)


def open_mha(path: str | os.PathLike[str], *, max_voxels: int = MAX_VOXELS) -> OpenedVolume:
    """:func:`ichbench.io.volumes.open_volume` for ``.mha``: header now, voxels on ``load``."""
    path = Path(path)
    header = read_header(path, max_voxels=max_voxels)

    def load(writable: bool = True) -> np.ndarray:
        return _read_voxels(path, header)

    return OpenedVolume(header.geometry, load)


def _read_voxels(path: Path, header: MetaHeader) -> np.ndarray:
    """The voxels of a checked header as a (z, y, x) array in native byte order."""
    try:
        with open(path, "rb") as handle:
            handle.seek(header.data_offset)
            if header.compressed:
                data = _inflate(path, handle, header.data_bytes)
            else:
                buffer = bytearray(header.data_bytes)
                data = np.frombuffer(buffer, dtype=np.uint8)[:handle.readinto(buffer)]
    except OSError as exc:
        raise MetaImageError(f"{path}: cannot be read ({exc.strerror})") from None
    if data.size != header.data_bytes:  # the file shrank after its header was checked
        raise MetaImageError(f"{path}: the voxel data ends early; the file is truncated, "
                             "write it again")
    array = data.view(header.dtype).reshape(header.geometry.shape)
    native = np.dtype(header.dtype.str[1:])  # '>i2' → 'i2', this machine's byte order
    return array.astype(native, copy=not array.flags.writeable)


def _inflate(path: Path, handle, expected: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Inflate the zlib (or gzip) stream at the handle into exactly ``expected`` bytes."""
    out = np.empty(expected, dtype=np.uint8)
    produced = 0
    inflater = zlib.decompressobj(47)  # 32 + 15: zlib or gzip framing, as MetaIO accepts
    pending = b""
    try:
        while not inflater.eof:
            if not pending:
                pending = handle.read(1 << 20)
            # Never ask for more than is still expected; one byte past it proves "too long".
            piece = inflater.decompress(pending, min(1 << 22, expected - produced) or 1)
            if not pending and not piece and not inflater.eof:
                raise MetaImageError(
                    f"{path}: the compressed voxel data ends early (after {produced:,} of "
                    f"{expected:,} bytes); the file is truncated, write it again")
            pending = inflater.unconsumed_tail
            if produced + len(piece) > expected:
                raise MetaImageError(f"{path}: the compressed data holds more than the "
                                     f"{expected:,} bytes its header describes; the header "
                                     "does not match the data, write it again")
            out[produced:produced + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            produced += len(piece)
    except zlib.error as exc:
        raise MetaImageError(f"{path}: the compressed voxel data is corrupt ({exc}); write "
                             "the mask again") from None
    if produced != expected:
        raise MetaImageError(f"{path}: the compressed data holds {produced:,} of the "
                             f"{expected:,} bytes its header describes; write the mask again")
    if inflater.unused_data or pending or handle.read(1):
        raise MetaImageError(f"{path}: bytes follow the compressed voxel data; the file is "
                             "damaged, write it again")
    return out
