"""Reading single-file NIfTI-1 bytes without ITK: the checks that trust no header.

ITK reads a truncated or damaged file as zeros, NaN as 0, and allocates whatever a
header claims. Here a header is checked against itself and the file before anything is
allocated (:func:`read_header`), and the voxels are inflated and checked by ichbench
(:func:`read_voxels`): exact content length, every gzip member's CRC-32 and length, a
bounded number of members and trailing bytes, scaling applied, NaN kept.
:mod:`ichbench.io.nifti` builds volumes and geometry on top of this module and re-exports
its public names.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

#: Largest volume a reader accepts (voxels). A 512 × 512 × 1000 CT is 2.6e8; a header that
#: claims more than this is refused before any data is read.
MAX_VOXELS = 1_000_000_000


class NiftiError(ValueError):
    """A file that cannot be used as a NIfTI volume. The message names the file and the fix."""


#: NIfTI datatype codes → NumPy types (byte order added from the header).
_NIFTI_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2",
                768: "u4", 1024: "i8", 1280: "u8"}


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
    ``vox_offset`` inside [352, 352 + :data:`MAX_EXTENSION_BYTES`] (0 to 351 read as 352,
    like NIfTI readers do), a finite scaling, and,
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
    if np.isfinite(vox_offset) and 0 <= vox_offset < 352:
        vox_offset = 352  # as NIfTI readers do: the voxels of a .nii follow its header
    if (not np.isfinite(vox_offset) or vox_offset != int(vox_offset)
            or not 352 <= vox_offset <= 352 + MAX_EXTENSION_BYTES):
        raise NiftiError(f"{path}: vox_offset {vox_offset:.0f} is not a whole number of bytes "
                         f"from 352 to {352 + MAX_EXTENSION_BYTES:,} (the header and at most "
                         f"{MAX_EXTENSION_BYTES >> 20} MiB of extensions); the header is "
                         "corrupt, write the file again")
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


