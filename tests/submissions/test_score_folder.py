import csv
import json
import math

import numpy as np
import pytest
from submission_files import blob, crash_on_002, write

import ichbench
from ichbench.submissions import ScoreError, Status, score_folder


@pytest.fixture
def submission(truth_dir, pred_dir):
    """001 good, 002 missing, 003 (empty truth) with a false positive -> RVD NaN."""
    write(pred_dir, "001.nii.gz", blob(z0=3, z1=6))
    write(pred_dir, "003.nii.gz", blob(0, 2, 0, 4, 0, 4))
    return pred_dir


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_summary_means_equal_means_over_cases_csv(submission, truth_dir, tmp_path):
    out = tmp_path / "out"
    result = score_folder(submission, truth_dir, out, jobs=1, progress=False)
    rows = read_csv(out / "cases.csv")
    summary = json.loads((out / "summary.json").read_text())  # Infinity/NaN read back
    assert [r["case"] for r in rows] == ["001", "002", "003"]
    assert [r["status"] for r in rows] == ["ok", "missing", "ok"]
    for metric in ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml"):
        values = [float(r[metric]) for r in rows]
        kept = [v for v in values if not math.isnan(v)]
        stats = summary["metrics"][metric]
        assert stats["count"] == len(kept)
        assert stats["mean"] == pytest.approx(np.mean(kept)), metric
        assert stats["min"] == min(kept) and stats["max"] == max(kept)
    # the missing case makes HD infinite; RVD of the empty-truth case is undefined
    assert rows[1]["hd"] == "inf" and summary["metrics"]["hd"]["mean"] == math.inf
    assert rows[2]["rvd"] == "nan" and summary["metrics"]["rvd"]["count"] == 2
    assert summary["metrics"]["rvd"]["mean"] == pytest.approx((float(rows[0]["rvd"]) + 1) / 2)
    assert summary == json.loads(json.dumps(result.summary))
    assert summary["status_counts"]["ok"] == 2 and summary["status_counts"]["missing"] == 1
    assert summary["ichbench_version"] == ichbench.__version__
    assert summary["tolerance_mm"] == 0.42 and summary["n_cases"] == 3
    assert summary["predictions"] == str(submission) and summary["truth"] == str(truth_dir)
    assert sorted(p.name for p in out.iterdir()) == ["cases.csv", "summary.json"]  # no temp


def test_tolerance_changes_nsd_only(submission, truth_dir, tmp_path):
    tight = score_folder(submission, truth_dir, tmp_path / "a", jobs=1, progress=False)
    loose = score_folder(submission, truth_dir, tmp_path / "b", tolerance_mm=6.0, jobs=1,
                         progress=False)
    assert loose.cases[0].nsd > tight.cases[0].nsd
    assert loose.cases[0].dc == tight.cases[0].dc
    assert loose.summary["tolerance_mm"] == 6.0


def test_truth_mapping_scores_only_its_cases(submission, truth_dir, tmp_path):
    mapping = {"001": truth_dir / "001.nii.gz", "003": truth_dir / "003.nii.gz"}
    result = score_folder(submission, mapping, tmp_path / "out", jobs=1, progress=False)
    assert [row.case for row in result.cases] == ["001", "003"]
    assert result.summary["truth"] == str(truth_dir)
    assert result.summary["ignored_files"] == []


def test_truth_mapping_to_a_missing_file_gives_a_truth_unreadable_row(submission, truth_dir,
                                                                     tmp_path):
    mapping = {"001": truth_dir / "001.nii.gz", "009": truth_dir / "009.nii.gz"}
    result = score_folder(submission, mapping, tmp_path / "out", jobs=1, progress=False)
    assert [row.status for row in result.cases] == [Status.OK, Status.TRUTH_UNREADABLE]
    assert "no such file" in result.cases[1].message
    assert result.summary["metrics"]["dc"]["count"] == 1


def test_parallel_jobs_give_the_same_rows_as_in_process(submission, truth_dir, tmp_path):
    (submission / "002.nii.gz").symlink_to(truth_dir / "002.nii.gz")
    serial = score_folder(submission, truth_dir, tmp_path / "a", jobs=1, progress=False)
    parallel = score_folder(submission, truth_dir, tmp_path / "b", jobs=2, progress=False)
    assert _comparable(parallel.cases) == _comparable(serial.cases)
    assert parallel.cases[1].status is Status.OUTSIDE_FOLDER


def test_a_worker_crash_marks_only_its_case_and_the_run_goes_on(truth_dir, pred_dir):
    from ichbench.submissions.folder import CaseTask
    from ichbench.submissions.score import _map_cases

    tasks = [CaseTask(cid, truth_dir / f"{cid}.nii.gz", pred_dir / f"{cid}.nii.gz")
             for cid in ("001", "002", "003")]
    rows = {row.case: row for row in _map_cases(crash_on_002, tasks, jobs=2)}
    assert sorted(rows) == ["001", "002", "003"]
    assert rows["001"].status is Status.OK and rows["003"].status is Status.OK
    assert rows["002"].status is Status.UNREADABLE and "crashed" in rows["002"].message


def _comparable(rows):
    def plain(v):
        if isinstance(v, dict):  # the lesion columns (issue 13)
            return tuple((k, plain(x)) for k, x in v.items())
        return "nan" if isinstance(v, float) and math.isnan(v) else v

    return [tuple(plain(v) for v in vars(row).values()) for row in rows]


def test_progress_bar_only_when_asked(submission, truth_dir, tmp_path, capsys):
    score_folder(submission, truth_dir, tmp_path / "a", jobs=1, progress=False)
    assert capsys.readouterr().err == ""
    score_folder(submission, truth_dir, tmp_path / "b", jobs=1)  # stderr is not a terminal
    assert capsys.readouterr().err == ""
    score_folder(submission, truth_dir, tmp_path / "c", jobs=1, progress=True)
    assert "scoring" in capsys.readouterr().err


def test_rescoring_overwrites_the_previous_files(submission, truth_dir, tmp_path):
    out = tmp_path / "out"
    score_folder(submission, truth_dir, out, jobs=1, progress=False)
    (submission / "001.nii.gz").unlink()
    score_folder(submission, truth_dir, out, jobs=1, progress=False)
    assert read_csv(out / "cases.csv")[0]["status"] == "missing"


@pytest.mark.parametrize(("case", "words"), [
    ("no_pred_dir", "not a folder"),
    ("no_truth_dir", "not a folder"),
    ("empty_truth", "no .nii"),
    ("empty_mapping", "empty"),
    ("truth_twice", "appears twice"),
    ("out_inside_pred", "inside the submission"),
    ("pred_is_truth", "is the truth folder"),
    ("bad_jobs", "jobs"),
    ("bad_tolerance", "tolerance_mm"),
])
def test_unusable_arguments_raise_score_error_with_one_line(truth_dir, pred_dir, tmp_path,
                                                            case, words):
    args = {"pred_dir": pred_dir, "truth": truth_dir, "out_dir": tmp_path / "out"}
    options = {}
    if case == "no_pred_dir":
        args["pred_dir"] = tmp_path / "nope"
    elif case == "no_truth_dir":
        args["truth"] = tmp_path / "nope"
    elif case == "empty_truth":
        (tmp_path / "empty").mkdir()
        args["truth"] = tmp_path / "empty"
    elif case == "empty_mapping":
        args["truth"] = {}
    elif case == "truth_twice":
        write(truth_dir, "001.nii", blob())
    elif case == "out_inside_pred":
        args["out_dir"] = pred_dir / "scores"
    elif case == "pred_is_truth":
        args["pred_dir"] = truth_dir
    elif case == "bad_jobs":
        options["jobs"] = 0
    elif case == "bad_tolerance":
        options["tolerance_mm"] = math.nan
    with pytest.raises(ScoreError, match=words) as info:
        score_folder(**args, **options, progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
