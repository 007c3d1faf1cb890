import zlib

import numpy as np
import pytest
import SimpleITK as sitk

from ichbench.io.metaimage import MetaImageError, read_header
from ichbench.io.volumes import (
    Geometry,
    NiftiError,
    case_id,
    read_geometry,
    read_volume,
    write_volume,
)

# Tilted, non-symmetric direction (a swap of axes plus a tilt) so a transposed
# TransformMatrix would show.
SKEWED = Geometry(
    size_xyz=(16, 16, 8),
    spacing_xyz_mm=(0.45, 0.5, 5.0),
    origin_mm=(-90.0, 12.5, 33.0),
    direction=(0.0, 0.9848077530, -0.1736481777, 0.0, 0.1736481777, 0.9848077530,
               1.0, 0.0, 0.0),
)


def _mask():
    mask = np.zeros(SKEWED.shape, dtype=np.uint8)
    mask[2:5, 3:9, 4:12] = 1
    return mask


def _header(**fields):
    base = {"ObjectType": "Image", "NDims": "3", "DimSize": "4 3 2", "ElementType": "MET_UCHAR",
            "BinaryData": "True", "BinaryDataByteOrderMSB": "False"}
    base.update(fields)
    lines = [f"{k} = {v}" for k, v in base.items() if v is not None]
    return ("\n".join(lines) + "\nElementDataFile = " + base.get("_data", "LOCAL") + "\n"
            ).encode()


def _write(tmp_path, data: bytes, name="x.mha", **fields):
    fields.setdefault("_data", "LOCAL")
    data_file = fields.pop("_data")
    path = tmp_path / name
    header = _header(**fields).replace(b"ElementDataFile = LOCAL",
                                       f"ElementDataFile = {data_file}".encode())
    path.write_bytes(header + data)
    return path


@pytest.mark.parametrize("dtype", ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_simpleitk_files_read_identically_to_itk(tmp_path, dtype, compress):
    array = (np.arange(np.prod(SKEWED.shape)) % 7).reshape(SKEWED.shape).astype(dtype)
    path = tmp_path / "001.mha"
    write_volume(array, SKEWED, path, compress=compress)
    ours = read_volume(path)
    itk = sitk.ReadImage(str(path))
    np.testing.assert_array_equal(ours.array, sitk.GetArrayFromImage(itk))
    assert ours.array.dtype == np.dtype(dtype)
    assert ours.geometry.size_xyz == itk.GetSize()
    np.testing.assert_allclose(ours.geometry.spacing_xyz_mm, itk.GetSpacing(), rtol=1e-12)
    np.testing.assert_allclose(ours.geometry.origin_mm, itk.GetOrigin(), atol=1e-12)
    np.testing.assert_allclose(ours.geometry.direction, itk.GetDirection(), atol=1e-12)
    assert SKEWED.mismatch(ours.geometry) is None


def test_transform_matrix_is_the_transposed_direction(tmp_path):
    # One axis per row in the header: x axis along patient z, y along x, z along y.
    path = _write(tmp_path, bytes(24), TransformMatrix="0 0 1 1 0 0 0 1 0")
    assert read_geometry(path).direction == (0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0)
    assert sitk.ReadImage(str(path)).GetDirection() == read_geometry(path).direction


def test_big_endian_data_is_read_in_its_byte_order(tmp_path):
    values = (np.arange(24) * 300).astype(">i2")
    path = _write(tmp_path, values.tobytes(), ElementType="MET_SHORT",
                  BinaryDataByteOrderMSB="True")
    array = read_volume(path).array
    assert array.dtype == np.dtype("i2") and array.dtype.isnative
    np.testing.assert_array_equal(array.ravel(), np.arange(24) * 300)
    np.testing.assert_array_equal(array, sitk.GetArrayFromImage(sitk.ReadImage(str(path))))


def test_met_long_is_four_bytes_as_in_metaio(tmp_path):
    path = _write(tmp_path, np.arange(24, dtype="<i4").tobytes(), ElementType="MET_LONG")
    np.testing.assert_array_equal(read_volume(path).array.ravel(), np.arange(24))


def test_defaults_follow_metaio_when_geometry_fields_are_absent(tmp_path):
    geometry = read_geometry(_write(tmp_path, bytes(24)))
    assert geometry.spacing_xyz_mm == (1.0, 1.0, 1.0)
    assert geometry.origin_mm == (0.0, 0.0, 0.0)
    assert geometry.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def test_nan_is_kept_and_counted(tmp_path):
    values = np.zeros(24, dtype="<f4")
    values[[3, 5]] = np.nan, np.inf
    path = _write(tmp_path, values.tobytes(), ElementType="MET_FLOAT")
    array = read_volume(path).array
    assert np.isnan(array).sum() == 1 and (~np.isfinite(array)).sum() == 2


def test_case_ids_include_mha():
    assert case_id("131.mha") == "131"
    assert case_id(".mha") is None
    assert case_id("131.mhd") is None


@pytest.mark.parametrize(("fields", "data", "message"), [
    ({"_data": "secret.raw"}, b"", "another file"),
    ({"_data": "LIST"}, b"", "another file"),
    ({"_data": "../truth/131.raw"}, b"", "another file"),
    ({"_data": "img%03d.raw 1 2 1"}, b"", "another file"),
    ({"DimSize": "4000 4000 4000"}, bytes(24), "more than"),
    ({"DimSize": "4 3 0"}, bytes(24), "≥ 1 voxel"),
    ({"DimSize": "4 3"}, bytes(24), "NDims needs 3"),
    ({"DimSize": "4 3 x"}, bytes(24), "whole number"),
    ({"NDims": "2", "DimSize": "4 6"}, bytes(24), "2D image"),
    ({"NDims": "4", "DimSize": "4 3 2 2"}, bytes(48), "4D image"),
    ({"ElementType": "MET_FLOAT_ARRAY"}, bytes(24), "not a scalar type"),
    ({"ElementNumberOfChannels": "3"}, bytes(72), "components"),
    ({"BinaryData": "False"}, bytes(24), "stored as text"),
    ({"BinaryData": "maybe"}, bytes(24), "neither True nor False"),
    ({"ElementSpacing": "1 1 0"}, bytes(24), "not positive"),
    ({"ElementSpacing": "1 1 nan"}, bytes(24), "not finite"),
    ({"Offset": "1 2 inf"}, bytes(24), "not finite"),
    ({"TransformMatrix": "1 0 0 1 0 0 0 0 1"}, bytes(24), "singular"),
    ({"HeaderSize": "-1"}, bytes(24), "HeaderSize"),
    ({"ObjectType": "Mesh"}, bytes(24), "expected an Image"),
    ({"NDims": None}, bytes(24), "no NDims"),
    ({}, bytes(23), "ends after 23 of the 24"),
    ({}, bytes(25), "1 bytes follow"),
])
def test_hostile_headers_are_refused_before_voxels_are_read(tmp_path, fields, data, message):
    path = _write(tmp_path, data, name="131.mha", **fields)
    with pytest.raises(MetaImageError, match=r"131\.mha") as info:
        read_geometry(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicate_and_disagreeing_aliased_keys_are_refused(tmp_path):
    path = tmp_path / "x.mha"
    path.write_bytes(_header(Offset="0 0 0", Origin="1 1 1") + bytes(24))
    with pytest.raises(MetaImageError, match="Offset twice"):
        read_geometry(path)
    path.write_bytes(b"NDims = 3\n" + _header() + bytes(24))
    with pytest.raises(MetaImageError, match="NDims twice"):
        read_geometry(path)


def test_aliases_that_agree_and_lowercase_local_are_accepted(tmp_path):
    values = (np.arange(24) * 300).astype(">i2").tobytes()
    path = _write(tmp_path, values, ElementType="MET_SHORT", BinaryDataByteOrderMSB="True",
                  ElementByteOrderMSB="True", _data="Local")
    np.testing.assert_array_equal(read_volume(path).array.ravel(), np.arange(24) * 300)
    np.testing.assert_array_equal(read_volume(path).array,
                                  sitk.GetArrayFromImage(sitk.ReadImage(str(path))))


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + bytes(100),
                                     b"no header here" * 10000, b"just some text\n"])
def test_non_metaimage_content_is_refused(tmp_path, content):
    path = tmp_path / "x.mha"
    path.write_bytes(content)
    with pytest.raises(NiftiError, match=r"x\.mha"):
        read_volume(path)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(NiftiError, match="no such file"):
        read_geometry(tmp_path / "absent.mha")


def test_compressed_bomb_is_refused_after_at_most_the_claimed_size(tmp_path, monkeypatch):
    # 24 voxels claimed, 50 MB of zeros in the stream (about 50 kB compressed).
    bomb = zlib.compress(bytes(50_000_000), 9)
    path = _write(tmp_path, bomb, CompressedData="True", CompressedDataSize=str(len(bomb)))
    produced = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self, *args):
            self._inner = real(*args)

        def decompress(self, data, max_length=0):
            out = self._inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Spy)
    with pytest.raises(MetaImageError, match="more than the 24 bytes"):
        read_volume(path)
    assert sum(produced) <= 25


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda z: z[: len(z) // 2], "declares"),
    (lambda z: b"\x12\x34" + z[2:], "corrupt"),
    (lambda z: z + b"junk", "declares"),
])
def test_damaged_compressed_data_is_refused(tmp_path, mangle, message):
    good = zlib.compress(np.arange(24, dtype=np.uint8).tobytes())
    path = _write(tmp_path, mangle(good), CompressedData="True",
                  CompressedDataSize=str(len(good)))
    with pytest.raises(MetaImageError, match=message):
        read_volume(path)


@pytest.mark.parametrize(("data", "message"), [
    (zlib.compress(bytes(24))[:-3], "ends early"),
    (zlib.compress(bytes(20)), "holds 20 of the 24"),
    (zlib.compress(bytes(24)) + b"xx", "bytes follow"),
])
def test_compressed_data_without_declared_size_is_checked_by_inflating(tmp_path, data,
                                                                       message):
    path = _write(tmp_path, data, CompressedData="True")
    with pytest.raises(MetaImageError, match=message):
        read_volume(path)


def test_gzip_framed_data_is_accepted(tmp_path):
    import gzip

    path = _write(tmp_path, gzip.compress(bytes(range(24))), CompressedData="True")
    np.testing.assert_array_equal(read_volume(path).array.ravel(), np.arange(24))


def test_header_is_read_without_touching_the_data(tmp_path):
    # A header claiming the largest allowed volume, followed by no compressed data at all:
    # read_header must fail on the size check, not by trying to inflate.
    path = _write(tmp_path, b"", CompressedData="True")
    with pytest.raises(MetaImageError, match="no voxel data"):
        read_header(path)


def test_dtype_argument_casts(tmp_path):
    path = tmp_path / "ct.mha"
    write_volume(_mask().astype(np.int16), SKEWED, path, compress=True)
    assert read_volume(path, dtype=np.float32).array.dtype == np.float32


def _to_mha(root):
    for path in sorted(root.rglob("*.nii.gz")):
        volume = read_volume(path)
        write_volume(volume.array, volume.geometry,
                               path.with_name(path.name.replace(".nii.gz", ".mha")), compress=True)
        path.unlink()


def test_data_check_reads_an_mha_release(tmp_path):
    from ich_layout import make_release

    from ichbench.data.datacheck import check_dataset

    make_release(tmp_path)
    _to_mha(tmp_path)
    report = check_dataset(tmp_path)
    assert report.usable, str(report)
    assert "train 6, validation 2, test 2" in report.summary()


def test_data_check_refuses_a_case_in_two_formats(tmp_path):
    from ich_layout import make_release

    from ichbench.data.datacheck import check_dataset

    make_release(tmp_path)
    volume = read_volume(tmp_path / "train" / "label" / "001.nii.gz")
    write_volume(volume.array, volume.geometry, tmp_path / "train" / "label" / "001.mha",
                 compress=True)
    report = check_dataset(tmp_path)
    assert not report.usable
    assert "appears twice" in str(report)


# SimpleITK's scalar pixel types; sitk.WriteImage writes each as its MET_ type.
SITK_TYPES = ["sitkUInt8", "sitkInt8", "sitkUInt16", "sitkInt16", "sitkUInt32", "sitkInt32",
              "sitkUInt64", "sitkInt64", "sitkFloat32", "sitkFloat64"]


def _converted(tmp_path, pixel_type, compress, metadata):
    """An .mha as ``sitk.WriteImage(sitk.ReadImage(source), out)`` writes it.

    ``metadata``: ``"nifti"`` reads a NIfTI first (ITK copies its ~50 header fields into
    the .mha: ``dim[0] = 3``, ``srow_x = ...``), ``"dicom"`` adds DICOM-style tags and
    values holding ``=`` and UTF-8, ``"none"`` writes a fresh image.
    """
    image = sitk.GetImageFromArray(_mask())
    image.SetSpacing(SKEWED.spacing_xyz_mm)
    image.SetOrigin(SKEWED.origin_mm)
    image.SetDirection(SKEWED.direction)
    image = sitk.Cast(image, getattr(sitk, pixel_type))
    if metadata == "nifti":
        sitk.WriteImage(image, str(tmp_path / "source.nii.gz"))
        image = sitk.ReadImage(str(tmp_path / "source.nii.gz"))
    elif metadata == "dicom":
        for key, value in {"0008|0060": "CT", "0010|0010": "Müller^Jörg",
                           "0020|0032": "-90\\12.5\\33", "Series Description": "a = b [x]",
                           "intent_name": "ICH=1"}.items():
            image.SetMetaData(key, value)
    path = tmp_path / "131.mha"
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


@pytest.mark.parametrize("metadata", ["nifti", "dicom", "none"])
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("pixel_type", SITK_TYPES)
def test_every_mha_simpleitk_writes_reads_as_itk_reads_it(tmp_path, pixel_type, compress,
                                                          metadata):
    path = _converted(tmp_path, pixel_type, compress, metadata)
    header = path.read_bytes()[:path.read_bytes().index(b"ElementDataFile")]
    if metadata == "nifti":
        assert b"dim[0] = 3" in header and b"srow_x = " in header
    ours, itk = read_volume(path), sitk.ReadImage(str(path))
    np.testing.assert_array_equal(ours.array, sitk.GetArrayFromImage(itk))
    assert ours.array.dtype == sitk.GetArrayViewFromImage(itk).dtype
    assert ours.geometry.size_xyz == itk.GetSize()
    np.testing.assert_allclose(ours.geometry.spacing_xyz_mm, itk.GetSpacing(), rtol=1e-12)
    np.testing.assert_allclose(ours.geometry.origin_mm, itk.GetOrigin(), atol=1e-12)
    np.testing.assert_allclose(ours.geometry.direction, itk.GetDirection(), atol=1e-12)
    assert SKEWED.mismatch(ours.geometry) is None


def test_metadata_lines_cannot_change_the_image(tmp_path):
    # Keys ITK copies from other formats are skipped even when they look like geometry.
    path = tmp_path / "x.mha"
    path.write_bytes(_header(**{"dim[0]": "4", "pixdim[1]": "9", "ITK_InputFilterName":
                                "NiftiImageIO", "Offset ": "1 2 3", "offset": "7 7 7",
                                "origin": "8 8 8", "srow_x": "-9 0 0 1"}) + bytes(24))
    assert read_geometry(path).origin_mm == (1.0, 2.0, 3.0)
    assert read_geometry(path).spacing_xyz_mm == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(read_volume(path).array.shape, (2, 3, 4))


def test_element_size_gives_the_spacing_without_element_spacing_as_in_metaio(tmp_path):
    path = _write(tmp_path, bytes(24), ElementSize="2 3 4")
    assert read_geometry(path).spacing_xyz_mm == sitk.ReadImage(str(path)).GetSpacing()
    path = _write(tmp_path, bytes(24), ElementSize="2 3 4", ElementSpacing="0.5 0.5 5")
    assert read_geometry(path).spacing_xyz_mm == sitk.ReadImage(str(path)).GetSpacing()


@pytest.mark.parametrize(("line", "message"), [
    (b"just a line without separator", "not 'Key = Value'"),
    (b" = value without key", "not 'Key = Value'"),
    (b"key\x01 = control byte in the key", "not 'Key = Value'"),
    (b"DimSize = 4 3 \xd9\xa2", "non-text bytes"),  # an Arabic-Indic 2, which int() accepts
    (b"ElementSpacing = 1 1 \xef\xbc\x95", "non-text bytes"),  # a full-width 5
])
def test_malformed_lines_and_non_ascii_image_keys_are_refused(tmp_path, line, message):
    dim_size = b"" if line.startswith(b"DimSize") else b"DimSize = 4 3 2\n"
    path = tmp_path / "131.mha"
    path.write_bytes(_header(DimSize=None).replace(b"ElementDataFile", line + b"\n" + dim_size
                                                   + b"ElementDataFile") + bytes(24))
    with pytest.raises(MetaImageError, match=r"131\.mha") as info:
        read_geometry(path)
    assert message in str(info.value) and "\n" not in str(info.value)
