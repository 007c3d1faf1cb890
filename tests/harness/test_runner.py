import json

import pytest

from ichbench.harness import scoring
from ichbench.harness.rundir import open_run
from ichbench.harness.runner import RunError, run_all, run_method

THRESHOLD_FAST = ("hu_low=[55]", "hu_high=[100]", "smooth_sigma_vox=[0]")


def test_the_preset_with_overrides_is_built_once_typed_and_written_to_config_json(
        tiny_root, tmp_path, monkeypatch):
    from ichbench.baselines.threshold import ThresholdConfig, ThresholdMethod

    seen = []
    monkeypatch.setattr(ThresholdMethod, "tune_and_predict",
                        lambda self, ctx: seen.append(ctx.config))
    monkeypatch.setattr(scoring, "score_run", lambda *a, **k: {})
    result = run_method("threshold", data=tiny_root, out=tmp_path, echo=lambda s: None,
                        overrides=("hu_low=50,60", "bone_hu=250"), report=False)
    (config,) = seen
    assert isinstance(config, ThresholdConfig)
    assert (config.hu_low, config.bone_hu) == ((50.0, 60.0), 250.0)
    record = json.loads((result.run_dir / "config.json").read_text())
    assert record["config"]["hu_low"] == [50.0, 60.0] and record["config"]["bone_hu"] == 250.0
    assert open_run(result.run_dir).ctx.config == config  # the same typed config, re-read


def test_unknown_keys_list_the_valid_ones(tiny_root, tmp_path):
    with pytest.raises(RunError, match=r"--set hu_lo: not a setting of threshold \(did you "
                                       r"mean hu_low\?\); valid keys: hu_low, hu_high"):
        run_method("threshold", data=tiny_root, out=tmp_path, overrides=["hu_lo=3"],
                   echo=lambda s: None)


def test_config_and_protocol_are_written_before_the_method_runs(tiny_root, tmp_path,
                                                                 monkeypatch):
    from ichbench.baselines.threshold import ThresholdMethod

    def boom(self, ctx):
        assert (ctx.run_dir / "config.json").exists()
        assert (ctx.run_dir / "protocol.json").exists()
        raise RuntimeError("method failed")

    monkeypatch.setattr(ThresholdMethod, "tune_and_predict", boom)
    with pytest.raises(RunError, match="stage threshold failed: RuntimeError: method failed"):
        run_method("threshold", data=tiny_root, out=tmp_path, echo=lambda s: None,
                   report=False)
    (run_dir,) = tmp_path.iterdir()
    record = json.loads((run_dir / "config.json").read_text())
    for key in ("method", "preset", "ichbench_version", "seed", "device", "folds", "data",
                "config", "config_hash"):
        assert key in record
    assert (run_dir / "log.txt").read_text().count("method threshold") == 1


def test_threshold_run_writes_a_complete_scored_run_folder(tiny_root, tmp_path):
    lines: list[str] = []
    result = run_method("threshold", data=tiny_root, out=tmp_path, overrides=THRESHOLD_FAST,
                        echo=lines.append, score_jobs=1, report=False)
    rd = result.run_dir
    assert rd.parent == tmp_path and rd.name.startswith("threshold-")
    for name in ("config.json", "protocol.json", "log.txt", "run.json"):
        assert (rd / name).is_file()
    assert sorted(p.name for p in (rd / "predictions").iterdir()) == [
        "test", "train_oof", "validation"]
    assert len(list((rd / "predictions" / "train_oof").glob("*.nii.gz"))) == 10
    for split in ("validation", "test", "train_oof"):
        summary = json.loads((rd / "scores" / split / "summary.json").read_text())
        assert summary["status_counts"]["ok"] == summary["n_cases"]
        assert summary["metrics"]["dc"]["mean"] > 0.9
    assert set(result.summaries) == {"validation", "test", "train_oof"}
    assert any(line.startswith("split") and "HD95" in line for line in lines)
    assert any(str(rd) in line for line in lines)


def test_resume_refuses_changed_options_and_reuses_the_recorded_config(tiny_root, tmp_path):
    first = run_method("threshold", data=tiny_root, out=tmp_path, overrides=THRESHOLD_FAST,
                       echo=lambda s: None, score_jobs=1, report=False, folds=[0, 1])
    with pytest.raises(RunError, match="--seed 5 differs"):
        run_method(resume=first.run_dir, seed=5, echo=lambda s: None)
    with pytest.raises(RunError, match="--set cannot change"):
        run_method(resume=first.run_dir, overrides=["keep=all"], echo=lambda s: None)
    with pytest.raises(RunError, match=r"no config\.json"):
        run_method(resume=tmp_path, echo=lambda s: None)
    again = run_method(resume=first.run_dir, echo=lambda s: None, score_jobs=1,
                       report=False)
    assert again.run_dir == first.run_dir
    assert again.summaries["train_oof"]["n_cases"] == 4  # folds 0 and 1 only
    assert "resuming" in (first.run_dir / "log.txt").read_text()


def test_a_method_error_is_one_line_with_the_traceback_in_the_log(tiny_root, tmp_path,
                                                                 monkeypatch):
    from ichbench.baselines.threshold import ThresholdMethod

    def bad(self, ctx):
        raise ValueError("case 003: label geometry does not match its CT\nsecond line")

    monkeypatch.setattr(ThresholdMethod, "tune_and_predict", bad)
    with pytest.raises(RunError) as info:
        run_method("threshold", data=tiny_root, out=tmp_path, echo=lambda s: None)
    (run_dir,) = tmp_path.iterdir()
    assert str(info.value) == ("stage threshold failed: ValueError: case 003: label geometry does "
                               f"not match its CT (traceback in {run_dir / 'log.txt'})")
    log = (run_dir / "log.txt").read_text()
    assert "Traceback (most recent call last)" in log and "def bad" not in str(info.value)


def test_bad_fold_method_preset_and_device_are_run_errors(tiny_root, tmp_path):
    with pytest.raises(RunError, match="--folds 7"):
        run_method("threshold", data=tiny_root, out=tmp_path, folds=[7], echo=lambda s: None)
    with pytest.raises(RunError, match="--method 'nope'"):
        run_method("nope", data=tiny_root, out=tmp_path, echo=lambda s: None)
    with pytest.raises(RunError, match="--preset 'huge'"):
        run_method("threshold", preset="huge", data=tiny_root, out=tmp_path)
    with pytest.raises(RunError, match="--device"):
        run_method("threshold", device="tpu", data=tiny_root, out=tmp_path)


def test_run_all_skips_a_method_that_cannot_be_imported(tiny_root, tmp_path, monkeypatch):
    from ichbench.harness import methods

    monkeypatch.setitem(methods.REGISTRY, "fine", "ichbench.baselines.no_such_module:X")
    monkeypatch.setattr(scoring, "score_run", lambda *a, **k: {})
    monkeypatch.setattr(scoring, "build_report", lambda *a, **k: None)
    lines: list[str] = []
    result = run_all(data=tiny_root, out=tmp_path, methods=("threshold", "fine"),
                     echo=lines.append)
    assert [r.method for r in result.results] == ["threshold"]
    assert "no_such_module" in result.skipped["fine"]
    assert any(line.startswith("fine: SKIPPED") for line in lines)
    record = json.loads((result.parent_dir / "all.json").read_text())
    assert record["runs"]["threshold"].startswith(str(result.parent_dir))
    assert (result.parent_dir / "comparison.txt").exists()


def test_real_release_without_evaluation_labels_predicts_a_ready_to_submit_folder(
        tiny_root, tmp_path):
    """A release as INSTANCE ships it: evaluation CTs without labels are predicted, named
    like the CTs and on their grids, and never scored; a training hold-out is scored."""
    import shutil

    from ichbench.io.volumes import read_geometry

    release = tmp_path / "release"
    shutil.copytree(tiny_root / "train", release / "train")
    shutil.copytree(tiny_root / "evaluation", release / "evaluation")
    result = run_method("threshold", data=release, out=tmp_path / "runs",
                        overrides=THRESHOLD_FAST, echo=lambda line: None, score_jobs=1,
                        report=False)
    rd = result.run_dir
    cts = sorted(p.name for p in (release / "evaluation").glob("*.nii.gz"))
    submitted = sorted(p.name for p in (rd / "predictions" / "unlabeled").glob("*.nii.gz"))
    assert submitted == cts
    for name in cts:
        ct, mask = read_geometry(release / "evaluation" / name), read_geometry(
            rd / "predictions" / "unlabeled" / name)
        assert ct.mismatch(mask) is None
    assert not (rd / "scores" / "unlabeled").exists()
    assert {"validation", "test"} <= set(result.summaries)


def test_all_shares_the_coarse_stages_between_coarse_and_cascade(tiny_root, tmp_path,
                                                                  monkeypatch):
    from ichbench.harness.executors import InProcess, Outcome

    plans = []

    def capture(self, plan, log):
        plans.append(plan)
        return Outcome(finished=False, submitted=True)  # stop before any training

    monkeypatch.setattr(InProcess, "execute", capture)
    result = run_all(data=tiny_root, out=tmp_path, methods=("coarse", "cascade"),
                     echo=lambda s: None)
    (plan,) = plans
    record = json.loads((result.parent_dir / "all.json").read_text())
    coarse_dir = record["runs"]["coarse"]
    cascade = json.loads((tmp_path / record["runs"]["cascade"] / "config.json").read_text())
    assert cascade["shared"] == {"coarse": coarse_dir}
    keys = [(str(p.stage.home), p.stage.key) for p in plan]
    assert len(keys) == len(set(keys))
    for k in range(5):
        assert keys.count((coarse_dir, f"coarse.fold{k}")) == 1  # trained once, for both
    assert not [key for home, key in keys if key.startswith("coarse.")
                and home != coarse_dir]
    prepare = next(p.stage for p in plan if p.stage.key == "fine.prepare"
                   and str(p.stage.home) == record["runs"]["cascade"])
    assert {str(n.home) for n in prepare.needs} == {coarse_dir}
    assert [p.stage.key for p in plan].index("coarse.fold4") < [
        p.stage.key for p in plan].index("fine.prepare")


def test_method_all_ends_with_the_cross_validation_and_held_out_comparisons(tmp_path):
    from ichbench.harness.runner import _comparison
    from ichbench.harness.scoring import RunResult

    results = []
    for method, dcs in (("coarse", (0.3, 0.4, 0.5)), ("cascade", (0.5, 0.6, 0.7))):
        run = tmp_path / method
        for split, ids in (("validation", ("101",)), ("test", ("131", "132")),
                           ("train_oof", ("001", "002"))):
            folder = run / "scores" / split
            folder.mkdir(parents=True)
            rows = [f"{c},ok,{dcs[i]},{dcs[i]},9,8,0.2" for i, c in
                    enumerate(ids, start=0 if split == "validation" else 1)]
            (folder / "cases.csv").write_text("case,status,dc,nsd,hd,hd95,rvd\n"
                                              + "\n".join(rows) + "\n")
        results.append(RunResult(run_dir=run, method=method, summaries={}, seconds=1.0))
    text = _comparison(results)
    assert "validation + test pooled, n = 3" in text
    assert "cascade > coarse: ΔDC +0.200" in text
    cv = _comparison(results, cross_validation=True)
    assert "cross-validation cases (out-of-fold masks, n = 2)" in cv
    assert "cascade > coarse: ΔDC +0.200" in cv
    assert _comparison(results[:1]) == ""
