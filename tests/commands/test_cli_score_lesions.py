"""`ichbench score` prints the pooled lesion counts next to the INSTANCE means."""

from __future__ import annotations

import numpy as np
from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.io.volumes import Geometry, write_volume

GEOMETRY = Geometry(size_xyz=(16, 16, 4), spacing_xyz_mm=(1.0, 1.0, 2.0),
                    origin_mm=(0.0, 0.0, 0.0), direction=(1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))


def test_score_prints_lesion_counts_and_volume_error(tmp_path):
    truth, pred = np.zeros((4, 16, 16), np.uint8), np.zeros((4, 16, 16), np.uint8)
    truth[1, 2:4, 2:4] = 1   # found
    truth[2, 10:12, 10:12] = 1  # missed
    pred[1, 2:4, 2:5] = 1
    write_volume(truth, GEOMETRY, tmp_path / "truth" / "001.nii.gz")
    write_volume(pred, GEOMETRY, tmp_path / "pred" / "001.nii.gz")
    result = CliRunner().invoke(cli, ["score", str(tmp_path / "pred"), "--truth",
                                      str(tmp_path / "truth"), "--out", str(tmp_path / "o"),
                                      "--jobs", "1"])
    assert result.exit_code == 0, result.output
    # volumes 8 and 6 voxels of 2 mm³: |ΔV| = 0.004 mL; F1 = 2 / (2 + 0 + 1)
    assert ("lesions: 2 in the truth, TP 1, FP 0, FN 1, pooled F1 0.6667; volume error mean "
            "0.0040 mL") in result.output
