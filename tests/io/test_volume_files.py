"""ichbench.io.volumes: the one listing of a case folder and the one suffix dispatch."""

import os

import numpy as np
import pytest

from ichbench.io.geometry import Geometry
from ichbench.io.volumes import (
    FORMATS,
    IMAGE_SUFFIXES,
    NiftiError,
    list_cases,
    open_volume,
    read_geometry,
    read_volume,
    write_volume,
)

GEOM = Geometry(size_xyz=(4, 3, 2), spacing_xyz_mm=(0.5, 0.5, 5.0), origin_mm=(1.0, 2.0, 3.0),
                direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


def test_a_folder_with_an_image_name_is_listed_for_the_reader_to_refuse(tmp_path):
    write_volume(np.zeros((2, 3, 4), np.uint8), GEOM, tmp_path / "001.nii.gz")
    (tmp_path / "002.nii.gz").mkdir()
    listed = list_cases(tmp_path)
    assert list(listed) == ["001", "002"]
    with pytest.raises(NiftiError, match=r"002\.nii\.gz"):
        open_volume(listed["002"])


def test_a_name_that_is_not_utf8_is_refused_with_the_name_shown(tmp_path):
    os.close(os.open(os.fsencode(tmp_path) + b"/\xff01.nii.gz", os.O_CREAT | os.O_WRONLY))
    with pytest.raises(NiftiError, match=r"\\xff01.nii.gz is not valid UTF-8"):
        list_cases(tmp_path)


def test_a_folder_that_cannot_be_listed_is_one_line(tmp_path):
    with pytest.raises(NiftiError, match="cannot be listed"):
        list_cases(tmp_path / "absent")


@pytest.mark.parametrize("name", ["001.nii.gz", "001.nii", "001.mha"])
def test_every_suffix_reads_back_what_was_written(tmp_path, name):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_volume(array, GEOM, tmp_path / name)
    assert read_geometry(tmp_path / name) == GEOM
    assert np.array_equal(read_volume(tmp_path / name).array, array)
    assert np.array_equal(open_volume(tmp_path / name).load(), array)


def test_an_unknown_suffix_is_refused_when_opened(tmp_path):
    (tmp_path / "001.nrrd").write_bytes(b"NRRD0004\n")
    with pytest.raises(NiftiError, match="not a volume format ichbench reads"):
        open_volume(tmp_path / "001.nrrd")
    assert set(IMAGE_SUFFIXES) == set(FORMATS) == {".nii.gz", ".nii", ".mha"}
