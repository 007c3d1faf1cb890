import json
from pathlib import Path

import pytest

from ichbench.harness.stages import (
    Stage,
    blocked_by,
    closure,
    is_done,
    read_state,
    ready,
    run_inline,
    run_stage,
    shards,
    status_rows,
)


def _graph(home: Path, calls: list[str]):
    def work(name):
        return lambda: calls.append(name)

    folds = [Stage(key=f"m.fold{k}", home=home, work=work(f"fold{k}"), group="m.fold", fold=k)
             for k in range(3)]
    predict = Stage(key="m.predict.test", home=home, work=work("predict"), needs=tuple(folds),
                    group="m.predict")
    score = Stage(key="score", home=home, work=work("score"), needs=(predict, *folds))
    return folds, predict, score


def test_closure_puts_needs_first_and_a_shared_stage_once(tmp_path):
    *_, score = _graph(tmp_path, [])
    twin = Stage(key="m.fold0", home=tmp_path / "x" / "..", work=lambda: None)  # same place
    other = Stage(key="other", home=tmp_path / "b", work=lambda: None, needs=(twin,))
    order = [s.key for s in closure([score, other])]
    assert order == ["m.fold0", "m.fold1", "m.fold2", "m.predict.test", "score", "other"]


def test_stages_are_idempotent_and_a_failure_is_recorded(tmp_path):
    calls: list[str] = []
    *_, score = _graph(tmp_path, calls)
    run_inline([score], lambda line: None)
    assert calls == ["fold0", "fold1", "fold2", "predict", "score"]
    run_inline([score], lambda line: None)
    assert len(calls) == 5  # everything done: nothing runs twice
    record = json.loads((tmp_path / "stages" / "m.fold1.json").read_text())
    assert record["state"] == "done" and record["seconds"] >= 0 and record["pid"]

    def boom():
        raise ValueError("fold 9: label geometry does not match\nmore detail")

    bad = Stage(key="m.fold9", home=tmp_path, work=boom)
    with pytest.raises(ValueError):
        run_stage(bad, lambda line: None, log_file=tmp_path / "x.log")
    state = read_state(bad)
    assert state["state"] == "failed" and not is_done(bad)
    assert state["error"] == "ValueError: fold 9: label geometry does not match"
    assert state["log"] == str(tmp_path / "x.log")


def test_an_interrupted_stage_stays_running_not_failed(tmp_path):
    def interrupted():
        raise SystemExit(-1)  # what submitit does after requeueing a job

    stage = Stage(key="m.fold0", home=tmp_path, work=interrupted)
    with pytest.raises(SystemExit):
        run_stage(stage, lambda line: None)
    assert read_state(stage)["state"] == "running"


def test_ready_and_blocked_follow_the_needs(tmp_path):
    folds, predict, score = _graph(tmp_path, [])
    stages = [*folds, predict, score]
    assert ready(stages, set(), set()) == folds
    done = {f.ident for f in folds}
    assert ready(stages, done, done) == [predict]
    assert blocked_by(stages, {folds[1].ident}) == {predict.ident, score.ident}


def test_status_rows_use_the_scheduler_for_jobs_that_vanished(tmp_path):
    folds, predict, _ = _graph(tmp_path, [])
    run_stage(folds[0], lambda line: None)
    (tmp_path / "stages").mkdir(exist_ok=True)
    (tmp_path / "stages" / "m.fold1.json").write_text(json.dumps(
        {"state": "running", "job_id": "7_1"}))
    (tmp_path / "stages" / "m.fold2.job").write_text("7_2\n")
    (tmp_path / "stages" / "m.predict.test.job").write_text("8_0\n")
    rows = status_rows([*folds, predict], {"7_2": "RUNNING", "8_0": "PENDING"})
    assert [r["state"] for r in rows] == ["done", "failed", "running", "blocked"]
    assert "ended without finishing" in rows[1]["error"]
    assert rows[3]["error"] == "needs m.fold1"
    rows = status_rows([*folds, predict], {"7_1": "PENDING"})  # requeued after a time-out
    assert rows[1]["state"] == "queued"


@pytest.mark.parametrize(("n", "size", "sizes"), [
    (0, 25, [0]), (25, 25, [25]), (26, 25, [13, 13]), (100, 25, [25, 25, 25, 25]),
    (70, 25, [23, 24, 23])])
def test_large_splits_are_predicted_in_parts_of_nearly_equal_size(n, size, sizes):
    ids = tuple(f"{i:03d}" for i in range(n))
    parts = shards(ids, size)
    assert [len(p) for _, p in parts] == sizes
    assert sum((p for _, p in parts), ()) == ids
    suffixes = [s for s, _ in parts]
    assert suffixes == ([""] if len(sizes) == 1 else
                        [f".{i + 1}of{len(sizes)}" for i in range(len(sizes))])
