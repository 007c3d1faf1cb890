"""Fixtures for the scoring tests: a tiny truth folder and an empty submission folder."""

import numpy as np
import pytest
from submission_files import GEOMETRY, blob, write


@pytest.fixture
def truth_dir(tmp_path):
    """Three truth cases: 001 and 002 with a lesion, 003 empty."""
    folder = tmp_path / "truth"
    folder.mkdir()
    write(folder, "001.nii.gz", blob())
    write(folder, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    write(folder, "003.nii.gz", np.zeros(GEOMETRY.shape, np.uint8))
    return folder


@pytest.fixture
def pred_dir(tmp_path):
    folder = tmp_path / "pred"
    folder.mkdir()
    return folder
