"""ichbench.data.releases and ichbench.data.release_labels: BHSD, MBH-Seg25 and CT-ICH as they unpack."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tiny_ich_data
from click.testing import CliRunner
from release_layouts import GEOMETRY, bhsd_id, make_bhsd, make_mbhseg, make_physionet, shifted

from ichbench.cli import cli
from ichbench.data.datacheck import check_dataset
from ichbench.data.dataset import DatasetError, open_dataset
from ichbench.data.protocol import make_protocol
from ichbench.data.release_labels import consensus, grid_rule, header_differences, onto_ct_grid
from ichbench.data.releases import (
    BHSD_LABELS,
    read_release,
    release_split,
    release_split_counts,
)
from ichbench.io.volumes import Geometry, read_geometry, read_volume, write_volume


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    """Derived labels go to a cache inside the test's folder."""
    monkeypatch.setenv("ICHBENCH_CACHE", str(tmp_path / "cache"))


# --------------------------------------------------------------------------- the split rule
@pytest.mark.parametrize(("n", "counts"), [(192, (96, 29, 67)), (75, (38, 11, 26)),
                                           (200, (100, 30, 70)), (12, (6, 2, 4)),
                                           (3, (1, 1, 1))])
def test_release_split_counts_keep_instance_100_30_70(n, counts):
    assert release_split_counts(n) == counts


def test_release_split_depends_on_seed_and_ids_only():
    ids = [bhsd_id(i) for i in range(1, 41)]
    split = release_split(ids)
    assert split == release_split(list(reversed(ids)))          # listing order
    assert [len(split[s]) for s in ("train", "validation", "test")] == [20, 6, 14]
    assert sorted(sum(split.values(), ())) == sorted(ids)
    assert release_split(ids, seed=1) != split
    # adding a case keeps most assignments
    grown = release_split([*ids, bhsd_id(41)])
    moved = sum(cid not in grown[s] for s in split for cid in split[s])
    assert moved <= 3


# --------------------------------------------------------------------------- BHSD
@pytest.mark.parametrize("at", ["parent", "label_192"])
def test_bhsd_is_read_at_label_192_or_its_parent(tmp_path, at):
    root = make_bhsd(tmp_path / "bhsd", unlabeled=1)
    given = root if at == "parent" else root / "label_192"
    dataset = open_dataset(given)
    assert dataset.kind == "bhsd" and dataset.label_map == BHSD_LABELS
    protocol = make_protocol(dataset)
    assert (len(protocol.train), len(protocol.validation), len(protocol.test)) == (6, 2, 4)
    assert protocol.unlabeled == (bhsd_id(13),)
    assert set(protocol.train + protocol.validation + protocol.test) == {
        bhsd_id(i) for i in range(1, 13)}
    case = dataset.case(bhsd_id(1))
    assert case.label is not None and case.label.parent.name == "ground truths"
    assert case.sources == (case.label,)


def test_bhsd_label_with_a_wrong_header_is_named_then_used_on_the_ct_grid(tmp_path):
    root = make_bhsd(tmp_path / "bhsd")
    bad = root / "label_192" / "ground truths" / f"{bhsd_id(3)}.nii.gz"
    _, lesion = tiny_ich_data.make_case(3)
    write_volume(lesion * np.uint8(2), shifted(spacing=1.01), bad)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    report = check_dataset(root)
    after = {p: p.stat().st_mtime_ns for p in root.rglob("*")}
    assert before == after
    (problem,) = [p for p in report.problems if p.path.startswith("label_192/ground truths/")]
    assert problem.severity == "warning" and bhsd_id(3) in problem.path
    assert "spacing (0.909, 0.808, 5) vs CT (0.9, 0.8, 5) mm" in problem.message
    assert "origin (15.5, -30, 7.25) vs CT (12.5, -30, 7.25) mm" in problem.message
    assert "voxel for voxel" in problem.message and report.usable
    dataset = open_dataset(root)
    case = dataset.case(bhsd_id(3))
    assert case.sources == (bad,) and case.label != bad
    assert not case.label.is_relative_to(root)                   # the release is not written
    assert read_geometry(case.label).mismatch(read_geometry(case.image)) is None
    np.testing.assert_array_equal(read_volume(case.label).array, lesion * 2)
    assert any("taken voxel for voxel" in note for note in dataset.notes)
    assert open_dataset(root).fingerprint() == dataset.fingerprint()   # cached, stable
    case.label.unlink()                                  # a cache cleaned by hand
    assert open_dataset(root).case(bhsd_id(3)).label.is_file()


def test_bhsd_label_of_another_shape_is_an_error_in_check_and_run(tmp_path):
    root = make_bhsd(tmp_path / "bhsd")
    g = GEOMETRY
    other = Geometry((g.size_xyz[0], g.size_xyz[1], 6), g.spacing_xyz_mm, g.origin_mm,
                     g.direction)
    write_volume(np.zeros(other.shape, np.uint8), other,
                 root / "label_192" / "ground truths" / f"{bhsd_id(5)}.nii.gz")
    report = check_dataset(root)
    (problem,) = [p for p in report.problems if p.severity == "error"]
    assert "shape (48, 40, 6) vs CT (48, 40, 8) (x, y, z)" in problem.message
    with pytest.raises(DatasetError, match=f"{bhsd_id(5)}.*cannot be put on its CT's grid"):
        open_dataset(root)


def test_a_mask_stored_with_x_reversed_is_reoriented_exactly():
    g = GEOMETRY                                   # x runs backwards (direction -1)
    nx, sx = g.size_xyz[0], g.spacing_xyz_mm[0]
    stored = Geometry(g.size_xyz, g.spacing_xyz_mm,
                      (g.origin_mm[0] - (nx - 1) * sx, *g.origin_mm[1:]),
                      (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    _, lesion = tiny_ich_data.make_case(4)
    assert grid_rule(g, stored) == "reoriented"
    np.testing.assert_array_equal(onto_ct_grid(lesion[:, :, ::-1], g, stored), lesion)


def test_header_differences_name_every_field():
    g = GEOMETRY
    other = Geometry(g.size_xyz, (0.9, 0.8, 2.5), (12.5, -30.0, 9.0),
                     (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    names = [d.split()[0] for d in header_differences(g, other)]
    assert names == ["spacing", "origin", "direction"]
    assert header_differences(g, g) == []


def test_check_accepts_bhsd_subtype_codes_without_warnings(tmp_path):
    root = make_bhsd(tmp_path / "bhsd")
    res = CliRunner().invoke(cli, ["data", "check", str(root)])
    assert res.exit_code == 0, res.output
    assert "layout     BHSD" in res.output
    assert "train 6, validation 2, test 4" in res.output
    assert "label values" not in res.output


# --------------------------------------------------------------------------- MBH-Seg25
def test_consensus_is_a_strict_majority_with_the_most_given_code():
    a = np.array([[0, 2, 2, 1, 5]], np.uint8)
    b = np.array([[2, 2, 0, 1, 3]], np.uint8)
    c = np.array([[0, 3, 2, 0, 0]], np.uint8)
    # 1 of 3 | 3 of 3, code 2 twice | 2 of 3 | 2 of 3 | 2 of 3 with codes 5 and 3: tie → 3
    assert consensus([a, b, c]).tolist() == [[0, 2, 2, 1, 3]]
    # two raters: both must mark a voxel; a code tie goes to the lower code
    assert consensus([a, b]).tolist() == [[0, 2, 0, 1, 3]]
    assert consensus([a]).tolist() == a.tolist()


def test_mbhseg_raters_become_a_majority_vote_and_unlabeled_cases_are_predicted(tmp_path):
    raters = {f"case_{i:02d}": 3 for i in range(1, 12)}
    raters["case_12"] = 0
    root = make_mbhseg(tmp_path / "mbh", raters)
    # rater 3 of case_01 marks one extra voxel: outvoted; rater 2 calls it SDH: outvoted
    ct_geom = read_geometry(root / "case_01" / "image.nii.gz")
    _, lesion = tiny_ich_data.make_case(1)
    extra = lesion * np.uint8(2)
    extra[0, 0, 0] = 2
    write_volume(extra, ct_geom, root / "case_01" / "label_annot_3.nii.gz")
    write_volume(lesion * np.uint8(5), ct_geom, root / "case_01" / "label_annot_2.nii.gz")
    dataset = open_dataset(root)
    assert dataset.kind == "mbhseg" and dataset.label_map == BHSD_LABELS
    case = dataset.case("case_01")
    assert [p.name for p in case.sources] == [f"label_annot_{k}.nii.gz" for k in (1, 2, 3)]
    np.testing.assert_array_equal(read_volume(case.label).array, lesion * 2)
    protocol = make_protocol(dataset)
    assert protocol.unlabeled == ("case_12",)
    assert (len(protocol.train), len(protocol.validation), len(protocol.test)) == (5, 2, 4)
    report = check_dataset(root)
    assert report.usable, [str(p) for p in report.problems]
    assert "unlabeled 1" in report.summary()


# --------------------------------------------------------------------------- CT-ICH
def test_physionet_0_255_masks_are_binary_labels_without_warnings(tmp_path):
    root = make_physionet(tmp_path / "ctich")
    release = read_release(root)
    assert release is not None and release.layout == "physionet"
    assert [c.case_id for c in release.cases] == [f"{i:03d}" for i in range(49, 55)]
    dataset = open_dataset(root)
    assert dataset.kind == "physionet" and dataset.label_map is None
    assert dataset.case("049").label == root / "masks" / "049.nii"
    report = check_dataset(root)
    assert report.usable and not any("label values" in p.message for p in report.problems)


def test_a_folder_of_no_known_layout_names_every_layout(tmp_path):
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError, match=r"BHSD label_192/.*MBH-Seg25.*CT-ICH"):
        open_dataset(tmp_path)
    report = check_dataset(tmp_path)
    assert not report.usable and "PhysioNet CT-ICH" in report.problems[0].message


# --------------------------------------------------------------------------- run --data
def test_threshold_run_on_a_bhsd_folder_predicts_on_each_ct_grid(tmp_path):
    root = make_bhsd(tmp_path / "bhsd", unlabeled=1)
    _, lesion = tiny_ich_data.make_case(2)
    write_volume(lesion * np.uint8(2), shifted(),
                 root / "label_192" / "ground truths" / f"{bhsd_id(2)}.nii.gz")
    res = CliRunner().invoke(cli, ["run", "--method", "threshold", "--data", str(root),
                                   "--out", str(tmp_path / "runs"), "--no-report"])
    assert res.exit_code == 0, res.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    protocol = json.loads((run_dir / "protocol.json").read_text())
    assert len(protocol["train"]) == 6 and protocol["unlabeled"] == [bhsd_id(13)]
    assert json.loads((run_dir / "config.json").read_text())["data_kind"] == "bhsd"
    for split in ("validation", "test", "unlabeled"):
        for cid in protocol[split]:
            pred = run_dir / "predictions" / split / f"{cid}.nii.gz"
            image = root / "label_192" / "images" / f"{cid}.nii.gz"
            assert read_geometry(pred) == read_geometry(image)
    for split in ("validation", "test", "train_oof"):
        rows = (run_dir / "scores" / split / "cases.csv").read_text().splitlines()
        assert len(rows) == 1 + len(protocol["train" if split == "train_oof" else split])
        assert "geometry_mismatch" not in "".join(rows)
