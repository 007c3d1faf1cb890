"""Two run folders compared mask by mask and table by table."""

import numpy as np

from ichbench.io.volumes import Geometry, write_volume
from ichbench.reports.reproduce import compare_run_folders, main

GEOM = Geometry(size_xyz=(6, 5, 4), spacing_xyz_mm=(1.0, 1.0, 5.0), origin_mm=(0.0, 0.0, 0.0),
                direction=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def _run(root, masks, table):
    for rel, array in masks.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_volume(array, GEOM, root / rel)
    folder = root / "scores" / "test"
    folder.mkdir(parents=True)
    (folder / "cases.csv").write_text(table)
    return root


def _mask(value):
    array = np.zeros((4, 5, 6), np.uint8)
    array[1:3, 1:3, 1:3] = value
    return array


def test_identical_runs_and_one_changed_voxel(tmp_path, capsys):
    masks = {"predictions/test/131.nii.gz": _mask(1), "folds/0/oof/001.nii.gz": _mask(1)}
    table = "case,dc\n131,0.5\n"
    a = _run(tmp_path / "a", masks, table)
    b = _run(tmp_path / "b", masks, table)
    same = compare_run_folders(a, b)
    assert same.identical and len(same.masks) == 2 and same.tables == ("scores/test/cases.csv",)
    assert main([str(a), str(b)]) == 0 and "identical" in capsys.readouterr().out

    changed = _mask(1)
    changed[0, 0, 0] = 1
    c = _run(tmp_path / "c", {**masks, "folds/0/oof/001.nii.gz": changed}, "case,dc\n131,0.6\n")
    diff = compare_run_folders(a, c)
    assert not diff.identical
    assert diff.different_masks == ("folds/0/oof/001.nii.gz",)
    assert diff.different_tables == ("scores/test/cases.csv",)
    assert main([str(a), str(c)]) == 1 and "NOT identical" in capsys.readouterr().out


def test_runs_sharing_no_mask_are_not_called_identical(tmp_path):
    a = _run(tmp_path / "a", {"predictions/test/131.nii.gz": _mask(1)}, "case\n")
    b = _run(tmp_path / "b", {"predictions/test/132.nii.gz": _mask(1)}, "case\n")
    result = compare_run_folders(a, b)
    assert not result.identical and len(result.only_in_one) == 2
    assert main([str(a), str(tmp_path / "missing")]) == 2
