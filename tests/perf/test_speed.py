"""python -m ichbench.perf.speed at a toy size: the printout, not the timings."""

import re
import subprocess
import sys

import pytest

from ichbench.perf import speed


def test_speed_prints_per_case_ratio_and_folder_comparison(capsys):
    pytest.importorskip("surface_distance")
    assert speed.main(["--cases", "2", "--slices", "6", "--size", "48", "--jobs", "1",
                       "--process-repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+00[12] ", line)]
    assert [row[0] for row in rows] == ["001", "002"] * len(speed.FAMILIES)
    for row in rows:
        assert row[1] == "6×48×48"
        assert float(row[-2]) > 0  # ratio
        assert float(row[-1]) <= 1e-6  # ichbench and surface-distance agree
    assert re.search(r"per case: ichbench metrics [\d.]+× faster than surface-distance", out)
    assert re.search(r"score_folder\(jobs=1\) [\d.]+ s .* ratio [\d.]+", out)
    assert re.search(r"read_volume takes [\d.]+ s, \d+% of score_folder's time", out)
    assert "statuses {'ok': 2}" in out
    assert re.search(r"process: ichbench score --jobs 1 [\d.]+ s, plain script [\d.]+ s", out)
    for family in speed.FAMILIES:  # the closing table: three ratios and the decoding share
        assert re.search(rf"^{re.escape(family)} +[\d.]+× +[\d.]+× +\d+% +[\d.]+×$", out,
                         re.M)


def test_large_with_specks_family_has_a_large_lesion_and_scattered_specks():
    import numpy as np
    from scipy import ndimage

    pair = speed.make_large_with_specks(np.random.default_rng(3), "001", size=512, slices=30)
    volume_ml = pair.gt.sum() * float(np.prod(speed.SPACING_ZYX_MM)) / 1000
    assert 45 <= volume_ml <= 155
    _, n_objects = ndimage.label(pair.pred)
    assert n_objects >= 15  # the lesion and its specks (some may touch)


def test_ragged_family_is_a_75_to_90_ml_hematoma_shifted_with_two_specks():
    import numpy as np
    from scipy import ndimage

    pair = speed.make_ragged(np.random.default_rng(5), "001", size=512, slices=70)
    assert 28 <= pair.gt.shape[0] <= 70 and pair.gt.shape[1:] == (512, 512)
    volume_ml = pair.gt.sum() * float(np.prod(speed.SPACING_ZYX_MM)) / 1000
    assert 75 <= volume_ml <= 90
    assert ndimage.label(pair.gt, structure=np.ones((3, 3, 3)))[1] == 1  # one hematoma
    gt, pred = pair.gt.astype(bool), pair.pred.astype(bool)
    assert (gt & ~pred).any() and (pred & ~gt).any()  # shifted: neither contains the other
    assert pred[:, :, 350:].sum() >= 1  # the far specks


def test_make_pair_has_lesion_and_far_false_positive():
    import numpy as np

    pair = speed.make_pair(np.random.default_rng(0), "001", size=64, slices=12)
    assert pair.gt.shape == pair.pred.shape == (12, 64, 64)
    assert pair.gt.any() and pair.pred.any()
    far = pair.pred.astype(bool) & ~pair.gt.astype(bool)
    assert far[:, :, 40:].any()  # the false positive is in the other half of the head


def test_speed_refuses_bad_arguments_with_one_line():
    result = subprocess.run([sys.executable, "-m", "ichbench.perf.speed", "--cases", "0"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--cases" in result.stderr


def test_speed_without_surface_distance_fails_with_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "surface_distance", None)  # import now fails
    assert speed.main(["--cases", "1", "--size", "16", "--slices", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "surface-distance" in err and "pip install" in err
