import gzip
import struct

import numpy as np
import pytest

from ichbench.io.volumes import (
    Geometry,
    NiftiError,
    case_id,
    list_cases,
    read_geometry,
    read_volume,
    write_volume,
)

TILTED = Geometry(
    size_xyz=(7, 5, 3),
    spacing_xyz_mm=(0.45, 0.5, 5.0),
    origin_mm=(-90.0, 12.5, 33.0),
    direction=(1.0, 0.0, 0.0, 0.0, 0.9848077530, -0.1736481777, 0.0, 0.1736481777,
               0.9848077530),
)


def test_geometry_axis_order_array_is_zyx_spacing_follows_array_axes():
    assert TILTED.shape == (3, 5, 7)
    assert TILTED.spacing_zyx_mm == (5.0, 0.5, 0.45)
    assert TILTED.voxel_volume_ml == pytest.approx(0.45 * 0.5 * 5.0 / 1000)


def test_write_then_read_keeps_array_and_geometry_exactly(tmp_path):
    array = np.arange(3 * 5 * 7, dtype=np.int16).reshape(3, 5, 7)
    path = tmp_path / "001.nii.gz"
    write_volume(array, TILTED, path)
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.array, array)
    assert volume.geometry.size_xyz == TILTED.size_xyz
    assert TILTED.mismatch(volume.geometry) is None
    np.testing.assert_allclose(volume.geometry.spacing_xyz_mm, TILTED.spacing_xyz_mm, rtol=1e-6)
    np.testing.assert_allclose(volume.geometry.direction, TILTED.direction, atol=1e-6)


def test_write_volume_refuses_array_not_matching_geometry(tmp_path):
    with pytest.raises(ValueError, match="does not match"):
        write_volume(np.zeros((7, 5, 3)), TILTED, tmp_path / "x.nii.gz")


def test_mismatch_names_the_differing_field():
    other = Geometry(TILTED.size_xyz, (0.45, 0.5, 2.5), TILTED.origin_mm, TILTED.direction)
    assert "spacing" in TILTED.mismatch(other)
    moved = Geometry(TILTED.size_xyz, TILTED.spacing_xyz_mm, (0.0, 0.0, 0.0), TILTED.direction)
    assert "origin" in TILTED.mismatch(moved)


@pytest.mark.parametrize("content", [b"", b"not a nifti file at all" * 20])
def test_unreadable_files_raise_nifti_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.nii.gz"
    path.write_bytes(content)
    with pytest.raises(NiftiError, match=r"bad\.nii\.gz"):
        read_volume(path)


def test_truncated_file_raises_nifti_error(tmp_path):
    path = tmp_path / "trunc.nii.gz"
    write_volume(np.ones((3, 5, 7), np.uint8), TILTED, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NiftiError, match=r"trunc\.nii\.gz"):
        read_volume(path)


def _nifti1_header(dims: tuple[int, int, int]) -> bytes:
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<h", header, 70, 2)  # uint8
    struct.pack_into("<h", header, 72, 8)
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)
    header[344:348] = b"n+1\x00"
    return bytes(header) + b"\x00" * 4


def test_header_claiming_absurd_size_is_refused_before_reading_data(tmp_path):
    path = tmp_path / "huge.nii.gz"
    path.write_bytes(gzip.compress(_nifti1_header((30000, 30000, 30000))))
    with pytest.raises(NiftiError, match="voxels"):
        read_geometry(path)


def test_case_id_and_listing(tmp_path):
    assert case_id("a/001.nii.gz") == "001"
    assert case_id("002.nii") == "002"
    assert case_id("notes.txt") is None
    write_volume(np.zeros((3, 5, 7), np.uint8), TILTED, tmp_path / "001.nii.gz")
    (tmp_path / "readme.txt").write_text("x")
    assert list(list_cases(tmp_path)) == ["001"]
    write_volume(np.zeros((3, 5, 7), np.uint8), TILTED, tmp_path / "001.nii")
    with pytest.raises(NiftiError, match="twice"):
        list_cases(tmp_path)


def _itk_array(path):
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32,
                                   np.float64])
def test_read_volume_gives_the_same_array_as_simpleitk(tmp_path, dtype):
    rng = np.random.default_rng(0)
    array = (rng.random(TILTED.shape) * 100).astype(dtype)
    flipped = Geometry(TILTED.size_xyz, TILTED.spacing_xyz_mm, TILTED.origin_mm,
                       (-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 1.0))
    path = tmp_path / "x.nii.gz"
    write_volume(array, flipped, path)
    volume = read_volume(path)
    assert volume.array.dtype == _itk_array(path).dtype
    np.testing.assert_array_equal(volume.array, _itk_array(path))
    assert volume.array.flags.writeable


def test_read_volume_applies_scaling_like_simpleitk(tmp_path):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.arange(3 * 5 * 7, dtype=np.int16).reshape(3, 5, 7))
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(image, str(path))
    raw = bytearray(gzip.decompress(path.read_bytes()))
    struct.pack_into("<2f", raw, 112, 2.0, -1024.0)  # scl_slope, scl_inter
    path.write_bytes(gzip.compress(bytes(raw)))
    np.testing.assert_array_equal(read_volume(path).array, _itk_array(path))
    assert read_volume(path).array.min() == -1024.0


def test_gzip_with_wrong_crc_is_refused_although_itk_reads_it(tmp_path):
    """ITK does not check the gzip CRC; a damaged stream must not score as a mask."""
    path = tmp_path / "damaged.nii.gz"
    large = Geometry((256, 256, 20), TILTED.spacing_xyz_mm, TILTED.origin_mm, TILTED.direction)
    array = np.random.default_rng(0).integers(0, 2, large.shape, dtype=np.uint8)
    write_volume(array, large, path)  # big enough that ITK's header read stops early
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # the stored CRC-32 no longer matches the content
    path.write_bytes(bytes(data))
    with pytest.raises(NiftiError, match="corrupt"):
        read_volume(path)


def test_gzip_with_trailing_members_is_read_by_the_full_check(tmp_path):
    path = tmp_path / "two.nii.gz"
    write_volume(np.ones(TILTED.shape, np.uint8), TILTED, path)
    raw = gzip.decompress(path.read_bytes())
    half = len(raw) // 2
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    np.testing.assert_array_equal(read_volume(path).array, np.ones(TILTED.shape, np.uint8))
