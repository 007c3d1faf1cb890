"""Regression tests for header and stream tricks the reader must refuse (real files).

Each test writes a real NIfTI with SimpleITK, then changes what an attacker would change,
and checks the verdict: a one-line ``NiftiError`` naming the file, never a wrong array.
"""

from __future__ import annotations

import gzip
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from ichbench.io import nifti, niftibytes, volumes
from ichbench.io.nifti import MAX_EXTENSION_BYTES, read_header
from ichbench.io.volumes import Geometry, NiftiError, read_geometry, read_volume, write_volume


@pytest.fixture(autouse=True, params=["zlib-ng", "zlib"])
def inflater(request, monkeypatch):
    """Run every test with zlib-ng (the dependency) and with the standard library's zlib."""
    if request.param == "zlib":
        monkeypatch.setattr(niftibytes, "_zlib", lambda: zlib)
    else:
        pytest.importorskip("zlib_ng")
    return request.param


GEOMETRY = Geometry((8, 6, 4), (0.45, 0.45, 5.0), (1.0, 2.0, 3.0),
                    (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def _content(tmp_path: Path, array: np.ndarray) -> bytearray:
    """The uncompressed bytes SimpleITK writes for ``array`` (header + voxels)."""
    path = tmp_path / "written.nii"
    write_volume(array, GEOMETRY, path)
    return bytearray(path.read_bytes())


def _mask() -> np.ndarray:
    mask = np.zeros(GEOMETRY.shape, np.uint8)
    mask[1:3, 2:4, 2:6] = 1
    return mask


def test_float_file_whose_bitpix_disagrees_with_datatype_is_refused(tmp_path):
    array = np.ones(GEOMETRY.shape, np.float32)
    array[0, 0, 0] = np.nan
    content = _content(tmp_path, array)
    struct.pack_into("<h", content, 72, 8)  # bitpix 8 for float32 data
    path = tmp_path / "bitpix.nii.gz"
    path.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(NiftiError, match=r"bitpix\.nii\.gz: the header's bitpix 8 disagrees"):
        read_volume(path)


def test_nan_voxels_come_back_as_nan_not_zero(tmp_path):
    array = np.ones(GEOMETRY.shape, np.float32)
    array[0, 0, 0] = np.nan
    path = tmp_path / "nan.nii.gz"
    write_volume(array, GEOMETRY, path)
    assert np.isnan(read_volume(path).array[0, 0, 0])


def test_truncated_gzip_with_forged_trailer_is_refused(tmp_path):
    content = bytes(_content(tmp_path, _mask()))
    kept = content[: len(content) - 50]  # truncated mid-voxels
    zero_filled = kept + bytes(50)  # what ITK would read: zeros where the data ends
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(kept) + deflate.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
    trailer = struct.pack("<II", zlib.crc32(zero_filled), len(zero_filled))
    path = tmp_path / "forged.nii.gz"
    path.write_bytes(header + body + trailer)
    with pytest.raises(NiftiError, match=r"forged\.nii\.gz: the gzip stream is corrupt"):
        read_volume(path)


def test_gzip_of_a_shorter_content_is_refused_for_its_length(tmp_path):
    content = bytes(_content(tmp_path, _mask()))
    path = tmp_path / "short.nii.gz"
    path.write_bytes(gzip.compress(content[:-10]))  # a valid stream, 10 bytes short
    with pytest.raises(NiftiError, match="ends early"):
        read_volume(path)


def test_uncompressed_file_longer_than_its_header_says_is_refused(tmp_path):
    path = tmp_path / "padded.nii"
    path.write_bytes(bytes(_content(tmp_path, _mask())) + bytes(8))
    with pytest.raises(NiftiError, match=r"padded\.nii: the file holds .* needs exactly"):
        read_geometry(path)


def test_uint8_mask_with_tiny_scl_slope_reads_as_non_whole_values(tmp_path):
    content = _content(tmp_path, _mask())
    struct.pack_into("<ff", content, 112, 1e-30, 0.0)
    path = tmp_path / "slope.nii.gz"
    path.write_bytes(gzip.compress(bytes(content)))
    values = np.unique(read_volume(path).array)
    assert values.dtype == np.float64 and values.tolist() == [0.0, np.float32(1e-30)]


def test_vox_offset_far_past_the_header_is_refused_before_reading(tmp_path):
    content = _content(tmp_path, _mask())
    struct.pack_into("<f", content, 108, float(1 << 30))
    path = tmp_path / "offset.nii.gz"
    # what the attack looks like: 1 GiB of zeros between header and voxels (1 MB gzipped)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(bytes(content[:352]))
        handle.write(bytes(4 << 20))  # 4 MiB suffice: it is refused from the header
    with pytest.raises(NiftiError, match=r"vox_offset 1073741824 is not a whole number .*"
                                         rf"{352 + MAX_EXTENSION_BYTES:,}"):
        read_volume(path)


def test_flood_of_empty_gzip_members_after_the_data_is_refused_quickly(tmp_path):
    content = bytes(_content(tmp_path, _mask()))
    path = tmp_path / "flood.nii.gz"
    path.write_bytes(gzip.compress(content) + gzip.compress(b"") * 100_000)  # 2 MB
    start = time.perf_counter()
    with pytest.raises(NiftiError, match="follow the voxel data"):
        read_volume(path)
    assert time.perf_counter() - start < 1.0


def test_flood_of_empty_members_before_the_data_is_refused(tmp_path):
    content = bytes(_content(tmp_path, _mask()))
    path = tmp_path / "flood.nii.gz"
    path.write_bytes(gzip.compress(content[:400]) + gzip.compress(b"") * 20_000
                     + gzip.compress(content[400:]))
    with pytest.raises(NiftiError, match="members"):
        read_volume(path)


def test_a_few_gzip_members_and_an_empty_end_member_are_fine(tmp_path):
    content = bytes(_content(tmp_path, _mask()))
    path = tmp_path / "bgzip.nii.gz"
    path.write_bytes(gzip.compress(content[:300]) + gzip.compress(content[300:])
                     + gzip.compress(b""))  # bgzip ends with an empty member
    np.testing.assert_array_equal(read_volume(path).array, _mask())


def test_nifti2_is_named_with_what_to_do(tmp_path):
    header = bytearray(544)
    struct.pack_into("<i", header, 0, 540)
    path = tmp_path / "two.nii"
    path.write_bytes(bytes(header))
    with pytest.raises(NiftiError, match=r"NIfTI-2 file, which this reader .* save it as "
                                         "NIfTI-1"):
        read_geometry(path)


def test_fifo_and_folder_are_named_as_such_not_missing(tmp_path):
    fifo = tmp_path / "fifo.nii.gz"
    os.mkfifo(fifo)
    with pytest.raises(NiftiError, match="not a regular file"):
        read_volume(fifo)
    folder = tmp_path / "dir.nii.gz"
    folder.mkdir()
    with pytest.raises(NiftiError, match="is a folder"):
        read_volume(folder)
    with pytest.raises(NiftiError, match="no such file"):
        read_volume(tmp_path / "absent.nii.gz")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads files whatever their mode")
def test_unreadable_permissions_are_named(tmp_path):
    path = tmp_path / "locked.nii.gz"
    write_volume(_mask(), GEOMETRY, path)
    path.chmod(0)
    with pytest.raises(NiftiError, match="permission denied"):
        read_volume(path)


def test_non_utf8_file_name_is_refused_before_itk(tmp_path):
    name = os.fsdecode(b"case\xff.nii.gz")  # a surrogate escape, as os.listdir gives
    path = tmp_path / name
    write_volume(_mask(), GEOMETRY, tmp_path / "ok.nii.gz")
    os.rename(tmp_path / "ok.nii.gz", path)
    with pytest.raises(NiftiError, match="not valid UTF-8; rename it"):
        read_volume(path)


def test_big_endian_and_extension_files_read_like_the_original(tmp_path):
    content = _content(tmp_path, _mask())
    # the same voxels after a 16-byte extension block (esize 16, ecode 0)
    moved = bytearray(content[:348]) + struct.pack("<4B", 1, 0, 0, 0)
    moved += struct.pack("<ii", 16, 0) + bytes(8) + content[352:]
    struct.pack_into("<f", moved, 108, 352 + 16)
    path = tmp_path / "ext.nii.gz"
    path.write_bytes(gzip.compress(bytes(moved)))
    assert read_header(path).vox_offset == 368
    np.testing.assert_array_equal(read_volume(path).array, _mask())


def test_open_volume_checks_the_header_and_reads_voxels_only_on_load(tmp_path, monkeypatch):
    path = tmp_path / "mask.nii.gz"
    write_volume(_mask(), GEOMETRY, path)
    calls = []
    monkeypatch.setattr(nifti, "read_voxels", lambda *a, **k: calls.append(a) or _mask())
    opened = volumes.open_volume(path)
    assert opened.geometry.size_xyz == GEOMETRY.size_xyz and calls == []
    opened.load(writable=False)
    assert len(calls) == 1


def test_open_volume_refuses_an_unknown_suffix_naming_the_formats(tmp_path):
    path = tmp_path / "mask.nrrd"
    path.write_bytes(b"NRRD0004\n")
    with pytest.raises(NiftiError, match=r"mask\.nrrd: not a volume format .*\.nii\.gz"):
        volumes.open_volume(path)


def test_permission_denied_is_named_not_not_nifti(tmp_path, monkeypatch):
    path = tmp_path / "locked.nii.gz"
    write_volume(_mask(), GEOMETRY, path)
    monkeypatch.setattr(nifti.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(NiftiError, match=r"locked\.nii\.gz: permission denied"):
        read_volume(path)


@pytest.mark.parametrize("offset", [0.0, -352.0])
def test_vox_offset_below_the_header_reads_after_it_or_is_refused_if_negative(tmp_path,
                                                                              offset):
    content = _content(tmp_path, _mask())
    struct.pack_into("<f", content, 108, offset)
    path = tmp_path / "low.nii"
    path.write_bytes(bytes(content))
    if offset == 0:
        np.testing.assert_array_equal(read_volume(path).array, _mask())
    else:
        with pytest.raises(NiftiError, match="vox_offset -352"):
            read_volume(path)
