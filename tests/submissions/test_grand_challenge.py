"""The grand-challenge adapter on tiny trees laid out as grand-challenge does."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from submission_files import GEOMETRY, blob, write

from ichbench.io.volumes import write_volume
from ichbench.submissions import grand_challenge as gc
from ichbench.submissions import score_folder
from ichbench.submissions.grand_challenge_tree import build_input_tree


def strict_load(path):
    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def submission(tmp_path):
    """001 as .mha (one slice short), 002 as NIfTI, 003 (empty truth) with a false positive."""
    folder = tmp_path / "sub"
    folder.mkdir()
    write_volume(blob(z0=3, z1=6), GEOMETRY, folder / "001.mha", compress=True)
    write(folder, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    write(folder, "003.nii.gz", blob(0, 2, 0, 4, 0, 4))
    return folder


def socket(slug, relative_path, name):
    return {"image": {"pk": "x", "name": name},
            "interface": {"slug": slug, "kind": "Image", "relative_path": relative_path}}


def add_job(input_dir, pk, ct_name, files=(), status="Succeeded", outputs=None):
    """One job in predictions.json; ``files`` are (name, array or bytes) in its output."""
    folder = input_dir / pk / "output" / "images" / "seg"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            write_volume(content, GEOMETRY, folder / name, compress=True)
    path = input_dir / "predictions.json"
    jobs = json.loads(path.read_text()) if path.exists() else []
    jobs.append({"pk": pk, "status": status, "inputs": [socket("ct", "images/ct", ct_name)],
                 "outputs": outputs if outputs is not None else [
                     socket("seg", "images/seg", "out.mha")]})
    path.write_text(json.dumps(jobs))


def test_dry_run_tree_scores_exactly_like_score_folder(submission, truth_dir, tmp_path):
    tree = build_input_tree(submission, tmp_path / "gc" / "input")
    assert tree.n_jobs == 3 and not tree.notes
    jobs = json.loads((tree.input_dir / "predictions.json").read_text())
    outputs = sorted(tree.input_dir.glob("*/output/images/ich-segmentation/*"))
    assert len(outputs) == 3 and all(p.suffix == ".mha" for p in outputs)
    assert sorted(j["inputs"][0]["image"]["name"] for j in jobs) == ["001.mha", "002.mha",
                                                                      "003.mha"]

    result = gc.evaluate(tree.input_dir, truth_dir, tmp_path / "gc" / "output", jobs=1)
    reference = score_folder(submission, truth_dir, tmp_path / "ref", jobs=1, progress=False)
    metrics = strict_load(result.metrics_json)
    pk_of = {j["inputs"][0]["image"]["name"][:3]: j["pk"] for j in jobs}
    for row, ref in zip(metrics["cases"], reference.cases, strict=True):
        assert row["case"] == ref.case and row["status"] == ref.status.value
        assert row["pk"] == pk_of[ref.case]
        for metric in gc.CASE_METRICS:
            value = getattr(ref, metric)
            assert row[metric] == (value if math.isfinite(value) else None), metric
    for metric in ("dc", "nsd", "rvd"):
        expected = reference.summary["metrics"][metric]
        got = metrics["aggregates"][metric]
        for key in ("mean", "std", "median", "q1", "q3", "count"):
            assert got[key] == pytest.approx(expected[key], nan_ok=True), (metric, key)
    assert metrics["aggregates"]["status_counts"]["ok"] == 3
    assert metrics["aggregates"]["n_cases"] == 3


def test_every_job_problem_becomes_a_case_status(truth_dir, tmp_path):
    truth = tmp_path / "truth4"
    truth.mkdir()
    for case in ("001", "002", "003", "004", "005", "006", "007", "008", "009"):
        write(truth, f"{case}.nii.gz", blob())
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.nii.gz", [("u.mha", blob())])                    # ok
    add_job(inp, "a2", "002.mha", status="Failed")                           # failed job
    add_job(inp, "a3", "003.mha", [("u.mha", blob()), ("v.mha", blob())])   # two files
    add_job(inp, "a4", "004.tif", [("u.tif", b"II*\0" + bytes(100))])      # a TIFF
    add_job(inp, "a5", "005.mha")                                            # empty folder
    add_job(inp, "a6", "006.mha", [("u.mha", blob())])                       # two jobs
    add_job(inp, "a7", "006.mha", [("u.mha", blob())])
    add_job(inp, "a8", "007.mha", [("u.mha", blob())], outputs=[])           # no output
    add_job(inp, "..", "008.mha", [("u.mha", blob())])                       # hostile pk
    add_job(inp, "b1", "999.mha", [("u.mha", blob())])                       # unmatched
    out = inp / "a9" / "output" / "images" / "seg"
    out.mkdir(parents=True)
    (out / "u.mha").symlink_to(truth / "009.nii.gz")
    jobs = json.loads((inp / "predictions.json").read_text())
    jobs.append({"pk": "a9", "inputs": [socket("ct", "images/ct", "009.mha")],
                 "outputs": [socket("seg", "images/seg", "u.mha")]})
    (inp / "predictions.json").write_text(json.dumps(jobs))

    result = gc.evaluate(inp, truth, tmp_path / "out", jobs=1)
    rows = {row["case"]: row for row in strict_load(result.metrics_json)["cases"]}
    assert rows["001"]["status"] == "ok" and rows["001"]["dc"] == 1.0
    assert rows["001"]["pk"] == "a1"
    expected = {"002": ("missing", "'Failed'"), "003": ("ambiguous", "2 files"),
                "004": ("unreadable", "TIFF"), "005": ("missing", "is empty"),
                "006": ("ambiguous", "2 algorithm jobs"),
                "007": ("missing", "no output image"), "008": ("unreadable", "job id"),
                "009": ("outside_folder", "link")}
    for case, (status, words) in expected.items():
        assert rows[case]["status"] == status, (case, rows[case])
        assert words in rows[case]["message"], (case, rows[case]["message"])
        assert rows[case]["dc"] == 0.0 and rows[case]["hd"] is None  # scored as empty
    metrics = strict_load(result.metrics_json)
    assert [j["input"] for j in metrics["unmatched_jobs"]] == ["999.mha"]
    assert metrics["aggregates"]["status_counts"]["ambiguous"] == 2
    assert metrics["aggregates"]["hd"]["n_infinite"] == 8
    assert metrics["aggregates"]["hd"]["mean"] is None  # inf is not JSON


def test_output_path_escaping_the_job_folder_is_never_read(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", outputs=[socket("seg", "../../../truth", "001.nii.gz")])
    add_job(inp, "a2", "002.mha", [("u.mha", blob(2, 9, 4, 12, 4, 12))])
    result = gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=1)
    rows = {row["case"]: row for row in result.metrics["cases"]}
    assert rows["001"]["status"] == "unreadable" and "relative path" in rows["001"]["message"]
    assert rows["002"]["status"] == "ok"


def test_messages_name_the_file_the_algorithm_wrote(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("3f2a-uuid.mha", b"garbage")])
    add_job(inp, "a2", "002.mha", [("9c1b-uuid.mha", blob() * 255)])
    rows = {r["case"]: r for r in gc.evaluate(inp, truth_dir, tmp_path / "o",
                                              jobs=1).metrics["cases"]}
    assert rows["001"]["status"] == "unreadable"
    assert "3f2a-uuid.mha" in rows["001"]["message"]
    assert "001.mha" not in rows["001"]["message"]
    assert rows["002"]["status"] == "ok" and "9c1b-uuid.mha" in rows["002"]["message"]
    warnings = strict_load(tmp_path / "o" / "metrics.json")["warnings"]
    assert any(w.startswith("case 002: 9c1b-uuid.mha: non-zero labels") for w in warnings)
    assert not any("002.mha" in w or "cases.csv" in w for w in warnings)


def test_a_linked_output_folder_is_not_followed(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_volume(blob(), GEOMETRY, elsewhere / "u.mha", compress=True)
    seg = inp / "a1" / "output" / "images" / "seg"
    seg.rmdir()
    seg.symlink_to(elsewhere, target_is_directory=True)
    rows = {r["case"]: r for r in gc.evaluate(inp, truth_dir, tmp_path / "o",
                                              jobs=1).metrics["cases"]}
    assert rows["001"]["status"] == "outside_folder"
    assert "a1/output/images/seg is a link" in rows["001"]["message"]


def test_oversized_output_file_is_not_copied(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", b"\0" * (8 * 32 * 32 * 12 + (1 << 20) + 1))])
    rows = {r["case"]: r for r in gc.evaluate(inp, truth_dir, tmp_path / "o",
                                              jobs=1).metrics["cases"]}
    assert rows["001"]["status"] == "unreadable" and "bytes" in rows["001"]["message"]


@pytest.mark.parametrize(("content", "words"), [
    (None, "Cannot read"),
    ("{not json", "not valid JSON"),
    ('{"pk": 1}', "not the list"),
    ('[{"pk": 1, "inputs": []}]', "job 1 has no valid outputs"),
    ("[]", "lists no algorithm job"),
])
def test_unusable_predictions_json_is_one_sentence(truth_dir, tmp_path, content, words):
    inp = tmp_path / "input"
    inp.mkdir()
    if content is not None:
        (inp / "predictions.json").write_text(content)
    with pytest.raises(gc.EvaluationError, match=words) as info:
        gc.evaluate(inp, truth_dir, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_unreadable_ground_truth_fails_the_evaluation_not_the_submission(tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    for case in ("001", "002"):
        (truth / f"{case}.nii.gz").write_bytes(b"not an image")
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", blob())])
    with pytest.raises(gc.EvaluationError, match="none of the 2 truth files") as info:
        gc.evaluate(inp, truth, tmp_path / "out", jobs=1)
    assert "not at fault" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_no_job_matching_any_truth_case_is_refused(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "scan_a.mha", [("u.mha", blob())])
    with pytest.raises(gc.EvaluationError, match="None of the 1 predictions matches"):
        gc.evaluate(inp, truth_dir, tmp_path / "out")


def test_require_all_cases_names_the_missing_ones(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", blob())])
    add_job(inp, "a3", "003.mha", status="Failed")
    with pytest.raises(gc.EvaluationError) as info:
        gc.evaluate(inp, truth_dir, tmp_path / "out", require_all_cases=True)
    assert str(info.value) == "Expected 3 predictions, found 1: no output for 002, 003."


def test_several_output_images_need_an_interface_slug(truth_dir, tmp_path):
    inp = tmp_path / "input"
    two = [socket("seg", "images/seg", "u.mha"), socket("other", "images/other", "v.mha")]
    add_job(inp, "a1", "001.mha", [("u.mha", blob())], outputs=two)
    with pytest.raises(gc.EvaluationError, match="--output-interface"):
        gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=1)
    result = gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=1, output_interface="seg")
    assert result.metrics["cases"][0]["status"] == "ok"


def test_grand_challenge_max_workers_sets_the_worker_count(truth_dir, tmp_path, monkeypatch):
    import ichbench.submissions.score as score

    seen = []
    real = score.score_folder

    def spy(*args, **kwargs):
        seen.append(kwargs["jobs"])
        return real(*args, **{**kwargs, "jobs": 1})

    monkeypatch.setattr(score, "score_folder", spy)
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", blob())])
    monkeypatch.setenv(gc.MAX_WORKERS_ENV, "3")
    gc.evaluate(inp, truth_dir, tmp_path / "out")
    gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=2)  # an explicit count wins
    monkeypatch.delenv(gc.MAX_WORKERS_ENV)
    gc.evaluate(inp, truth_dir, tmp_path / "out")
    assert seen == [3, 2, None]


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_max_workers_is_refused(value):
    with pytest.raises(gc.EvaluationError, match=gc.MAX_WORKERS_ENV):
        gc.max_workers({gc.MAX_WORKERS_ENV: value})


def test_input_names_map_to_case_ids():
    assert [gc.input_case_id(n) for n in ("131.nii.gz", "131.nii", "131.mha", "131.tif",
                                          "131.TIFF", "scan.png")] == [
        "131", "131", "131", "131", "131", None]


def test_strict_json_replaces_every_non_finite_number():
    value = {"a": [1.0, math.inf, np.float64("nan")], "b": {"c": -math.inf}, "d": np.int64(3)}
    assert gc.strict_json(value) == {"a": [1.0, None, None], "b": {"c": None}, "d": 3}


def test_dry_run_copies_unreadable_and_mha_files_unchanged(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "001.nii.gz").write_bytes(b"not an image")
    (folder / "002.mha").write_bytes(b"ObjectType = Image\n")
    (folder / "notes.txt").write_text("hello")
    os.symlink(folder / "002.mha", folder / "003.mha")
    tree = build_input_tree(folder, tmp_path / "in")
    copies = {p.name.split(".", 1)[1]: p.read_bytes()
              for p in tree.input_dir.glob("*/output/images/*/*")}
    assert copies == {"nii.gz": b"not an image", "mha": b"ObjectType = Image\n"}
    assert any("003.mha: a link" in note for note in tree.notes)
    assert any("notes.txt" in note for note in tree.notes)
    with pytest.raises(FileExistsError):
        build_input_tree(folder, tmp_path / "in")


# --- issue 23: hostile predictions.json, outputs and names --------------------------------


@pytest.mark.parametrize("relative", ["images/se\x00g", "images/\ud800seg", "images/\nseg",
                                      "x" * 5000])
def test_a_hostile_relative_path_is_one_job_status_not_a_crash(truth_dir, tmp_path, relative):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", outputs=[socket("seg", relative, "u.mha")])
    add_job(inp, "a2", "002.mha", [("u.mha", blob(2, 9, 4, 12, 4, 12))])
    result = gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=1)
    rows = {row["case"]: row for row in strict_load(result.metrics_json)["cases"]}
    assert rows["001"]["status"] == "unreadable", rows["001"]
    assert "relative path" in rows["001"]["message"] and len(rows["001"]["message"]) < 300
    assert rows["002"]["status"] == "ok"


def test_deeply_nested_predictions_json_is_one_sentence(truth_dir, tmp_path):
    inp = tmp_path / "input"
    inp.mkdir()
    (inp / "predictions.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(gc.EvaluationError, match="nested too deeply") as info:
        gc.evaluate(inp, truth_dir, tmp_path / "out")
    assert "\n" not in str(info.value)


def test_predictions_json_as_a_fifo_is_refused_without_hanging(truth_dir, tmp_path):
    import threading

    inp = tmp_path / "input"
    inp.mkdir()
    os.mkfifo(inp / "predictions.json")
    raised = []

    def run():
        try:
            gc.evaluate(inp, truth_dir, tmp_path / "out")
        except gc.EvaluationError as exc:
            raised.append(str(exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)
    if worker.is_alive():  # unblock the reader, then fail
        with open(inp / "predictions.json", "w") as fifo:
            fifo.write("[]")
        worker.join(30)
        pytest.fail("reading a FIFO predictions.json blocked")
    assert raised and "not a regular file" in raised[0]


@pytest.mark.parametrize("kind", ["file", "read-only", "proc"])
def test_unwritable_output_is_found_before_any_scoring(truth_dir, tmp_path, monkeypatch, kind):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", blob())])
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("a file")
        output = out / "sub"
    elif kind == "proc":
        output = Path("/proc/ichbench-no-such-folder")  # refused even to root
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out.mkdir(mode=0o500)
        output = out
    from ichbench.submissions import score as score_module

    def no_scoring(*args, **kwargs):
        raise AssertionError("scored before the output folder was checked")

    monkeypatch.setattr(score_module, "score_folder", no_scoring)
    with pytest.raises(gc.EvaluationError, match="cannot be written") as info:
        gc.evaluate(inp, truth_dir, output, jobs=1)
    assert "\n" not in str(info.value) and str(output) in str(info.value)


def test_a_hard_link_to_the_truth_is_outside_folder_as_in_score(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha")
    add_job(inp, "a2", "002.mha", [("u.mha", blob(2, 9, 4, 12, 4, 12))])
    truth_mha = tmp_path / "truth_mha"
    truth_mha.mkdir()
    write_volume(blob(), GEOMETRY, truth_mha / "001.mha", compress=True)
    write(truth_mha, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    os.link(truth_mha / "001.mha", inp / "a1" / "output" / "images" / "seg" / "u.mha")
    result = gc.evaluate(inp, truth_mha, tmp_path / "out", jobs=1)
    rows = {row["case"]: row for row in strict_load(result.metrics_json)["cases"]}
    assert rows["001"]["status"] == "outside_folder", rows["001"]
    assert "truth file itself" in rows["001"]["message"] and rows["001"]["dc"] == 0.0
    assert rows["002"]["status"] == "ok"


def test_dry_run_keeps_a_hard_link_to_the_truth_outside_folder(truth_dir, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    os.link(truth_dir / "001.nii.gz", sub / "001.nii.gz")
    write(sub, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    tree = build_input_tree(sub, tmp_path / "dry" / "input", truth_dir=truth_dir)
    result = gc.evaluate(tree.input_dir, truth_dir, tmp_path / "dry" / "output", jobs=1)
    rows = {row["case"]: row for row in result.metrics["cases"]}
    assert rows["001"]["status"] == "outside_folder", rows["001"]
    assert rows["002"]["status"] == "ok"


def test_nul_and_lone_surrogates_never_reach_metrics_json(truth_dir, tmp_path):
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("u.mha", blob())])
    add_job(inp, "b1", "9\x00\ud800.mha", [("u.mha", blob())])   # unmatched, hostile name
    add_job(inp, "b2", "002.mha", status="Fail\x00ed\udcff")      # failed, hostile status
    raw = (inp / "predictions.json").read_text()
    assert "\\u0000" in raw and "\\ud800" in raw
    result = gc.evaluate(inp, truth_dir, tmp_path / "out", jobs=1)
    metrics = strict_load(result.metrics_json)

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    for text in strings(metrics):  # what PostgreSQL's jsonb accepts
        assert "\x00" not in text
        text.encode("utf-8")  # raises on a lone surrogate
    assert "9\\x00\\ud800.mha" in [j["input"] for j in metrics["unmatched_jobs"]]
    assert metrics["unmatched_jobs"][0]["input"].startswith("9")
    assert {r["case"]: r for r in metrics["cases"]}["002"]["status"] == "missing"


def test_unreadable_mha_truth_is_named_as_the_truth_file(tmp_path):
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "001.mha").write_bytes(b"ObjectType = Image\nNDims = 3\nbroken")
    write(truth, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    inp = tmp_path / "input"
    add_job(inp, "a1", "001.mha", [("3f2a-uuid.mha", blob())])
    add_job(inp, "a2", "002.mha", [("u.mha", blob(2, 9, 4, 12, 4, 12))])
    result = gc.evaluate(inp, truth, tmp_path / "out", jobs=1)
    rows = {row["case"]: row for row in result.metrics["cases"]}
    assert rows["001"]["status"] == "truth_unreadable", rows["001"]
    assert "3f2a-uuid.mha" not in rows["001"]["message"], rows["001"]["message"]
    assert "001.mha" in rows["001"]["message"]


def test_predictions_json_as_a_folder_is_one_sentence(truth_dir, tmp_path):
    (tmp_path / "input" / "predictions.json").mkdir(parents=True)
    with pytest.raises(gc.EvaluationError, match="not a regular file"):
        gc.evaluate(tmp_path / "input", truth_dir, tmp_path / "out")


def test_label_map_truth_puts_per_class_and_subtype_blocks_in_metrics_json(tmp_path):
    truth, sub = tmp_path / "truth", tmp_path / "sub"
    truth.mkdir()
    sub.mkdir()
    # 001: an IPH (2) and an SDH (5); the submission finds the IPH as IPH and the SDH as EDH
    gt = blob(3, 6, 8, 14, 10, 16) * 2
    gt[blob(3, 6, 16, 20, 10, 16) > 0] = 5
    write(truth, "001.nii.gz", gt)
    pred = blob(3, 6, 8, 14, 10, 16) * 2
    pred[blob(3, 6, 16, 20, 10, 16) > 0] = 1
    write(sub, "001.nii.gz", pred)
    write(truth, "002.nii.gz", blob(2, 9, 4, 12, 4, 12) * 2)
    write(sub, "002.nii.gz", blob(2, 9, 4, 12, 4, 12) * 2)
    tree = build_input_tree(sub, tmp_path / "gc" / "input")
    result = gc.evaluate(tree.input_dir, truth, tmp_path / "gc" / "output", jobs=1)
    reference = score_folder(sub, truth, tmp_path / "ref", jobs=1, progress=False)
    aggregates = strict_load(result.metrics_json)["aggregates"]
    per_class = aggregates["classes"]["per_class"]
    assert set(per_class) == {"EDH", "IPH", "SDH"}
    assert per_class["IPH"]["metrics"]["dc"]["mean"] == pytest.approx(1.0)
    assert per_class["EDH"]["metrics"]["hd"]["mean"] is None  # inf: strict JSON
    assert aggregates["subtypes"]["SDH"]["detected"] == 1  # found, as another subtype
    assert json.loads(json.dumps(gc.strict_json(reference.summary["subtypes"]))) == \
        aggregates["subtypes"]
