"""The run harness behind ``ichbench run``: one run (or all methods) as a graph of stages.

One method, one protocol, one self-describing run folder, scored by the same code path as
an external submission. The pieces live in their own modules:

* :mod:`ichbench.harness.rundir` — the run folder: ``config.json`` (the method's typed config,
  built once from preset + ``--set``), ``protocol.json``, resume checks, ``log.txt``;
* :mod:`ichbench.harness.stages` — stages, their state files, graph order;
* :mod:`ichbench.harness.scoring` — the ``score`` and ``report`` stages, the console table;
* :mod:`ichbench.harness.executors` / :mod:`ichbench.harness.slurm` — who runs the stages;
* :mod:`ichbench.harness.worker` — one stage in a fresh process;
* :mod:`ichbench.harness.status` — ``ichbench run --status``.

Order of work in :func:`run_method` (each step leaves the folder usable if the next fails):

1. check every option, then write ``config.json`` (version, seed, config hash) and
   ``protocol.json``;
2. build the run's stage graph: the method's stages (for ``coarse``: ``coarse.fold<k>``
   per fold, ``coarse.predict.<split>`` per split), then ``score`` and ``report``;
3. hand the stages that are not done to the executor;
4. when every stage is done: write ``run.json`` (wall time, summary means) and print the
   table of means.

``--resume RUN_DIR`` rebuilds the same graph from the folder; finished stages are skipped
and unfinished ones continue from their checkpoints.

The protocol (splits and folds) is made with :data:`PROTOCOL_SEED` whatever the training
seed, so runs with different seeds or methods are compared on the same cases.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ichbench import __version__
from ichbench.harness.executors import EXECUTORS, InProcess, Local, Outcome, Planned, failure_lines
from ichbench.harness.methods import ALL_METHODS, DEFAULT_PRESET
from ichbench.harness.rundir import (
    N_FOLDS,
    PROTOCOL_SEED,
    OpenRun,
    RunError,
    RunLog,
    check_resume,
    create_run,
    load_method,
    open_data,
    open_run,
    read_all_record,
    resolve_config,
    resolve_device,
    stdout_echo,
)
from ichbench.harness.scoring import RunResult, format_table, means, read_summaries
from ichbench.harness.stages import closure
from ichbench.io.atomic import write_json, write_text

__all__ = ["EXECUTORS", "N_FOLDS", "PROTOCOL_SEED", "AllResult", "Execution", "RunError",
           "RunResult", "run_all", "run_method"]


@dataclass(frozen=True)
class Execution:
    """How the stages run (``--executor`` and its options).

    Attributes
    ----------
    executor
        ``inprocess``, ``local`` or ``slurm``.
    workers, devices
        ``local``: ``--workers N`` CPU workers, or one worker per ``--devices`` entry.
    slurm
        ``slurm``: the job options (:class:`ichbench.harness.slurm.SlurmOptions`).
    wait
        Wait for the stages and print progress (default), or return once they are
        submitted (``slurm`` only).
    """

    executor: str = "inprocess"
    workers: int | None = None
    devices: tuple[str, ...] = ()
    slurm: Any = None
    wait: bool = True


@dataclass(frozen=True)
class AllResult:
    """``--method all``: the parent folder, the finished runs and the methods skipped."""

    parent_dir: Path
    results: tuple[RunResult, ...]
    skipped: dict[str, str] = field(default_factory=dict)


def _executor(execution: Execution):  # type: ignore[no-untyped-def]
    from ichbench.harness.executors import parse_slots

    if execution.executor not in EXECUTORS:
        raise RunError(f"--executor {execution.executor!r}: expected one of "
                       f"{', '.join(EXECUTORS)}")
    if execution.executor != "local" and (execution.workers is not None or execution.devices):
        raise RunError("--workers and --devices belong to --executor local")
    if execution.executor == "inprocess":
        if not execution.wait:
            raise RunError("--no-wait needs --executor slurm (the other executors run here)")
        return InProcess()
    if execution.executor == "local":
        if not execution.wait:
            raise RunError("--no-wait needs --executor slurm (the other executors run here)")
        return Local(parse_slots(execution.workers, execution.devices))
    from ichbench.harness.slurm import Slurm, SlurmOptions

    return Slurm(execution.slurm or SlurmOptions(), wait=execution.wait)


def _device(device: str, execution: Execution) -> str:
    """The device recorded for the run (and used by in-process stages)."""
    gpus = [d for d in execution.devices if d.startswith("cuda:")]
    if execution.executor == "local" and gpus:
        import torch

        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        missing = [d for d in gpus if d[5:].isdigit() and int(d[5:]) >= visible]
        if missing:
            raise RunError(f"--devices {','.join(execution.devices)}: torch sees {visible} "
                           f"CUDA GPU(s) here, so {', '.join(missing)} does not exist")
        return "cuda"
    if execution.executor == "slurm":
        if device == "auto":
            gpus = getattr(execution.slurm, "gpus", 0) or 0
            return "cuda" if gpus > 0 else "cpu"
        return device
    return resolve_device(device)


def _plan(runs: Sequence[OpenRun], *, report: bool, score_jobs: int | None) -> list[Planned]:
    """Every stage the runs' scores (and reports) need, shared stages once, in order."""
    from ichbench.harness.worker import run_graph

    owners: dict[tuple[str, str], Path] = {}
    targets = []
    for run in runs:
        graph = run_graph(run, score_jobs=score_jobs)
        wanted = [graph["score"], *([graph["report"]] if report else [])]
        for stage in closure(wanted):
            owners.setdefault(stage.ident, run.run_dir)
        targets.extend(wanted)
    return [Planned(stage, owners[stage.ident]) for stage in closure(targets)]


def _execute(runs: Sequence[OpenRun], execution: Execution, log: Callable[[str], None], *,
             report: bool, score_jobs: int | None) -> Outcome:
    executor = _executor(execution)
    plan = _plan(runs, report=report, score_jobs=score_jobs)
    outcome: Outcome = executor.execute(plan, log)
    if outcome.failed:
        lines = failure_lines(outcome.failed)
        blocked = f"; {outcome.blocked} stage(s) after them not run" if outcome.blocked else ""
        where = runs[0].run_dir if len(runs) == 1 else runs[0].run_dir.parent
        raise RunError(f"{len(lines)} stage(s) failed: {lines[0]}{blocked}; fix it and run "
                       f"'ichbench run --resume {where}' (see 'ichbench run --status "
                       f"{where}')")
    return outcome


def _finish(run: OpenRun, t0: float, log: Callable[[str], None]) -> RunResult:
    summaries = read_summaries(run.run_dir)
    seconds = time.perf_counter() - t0
    result = RunResult(run_dir=run.run_dir, method=run.method, summaries=summaries,
                       seconds=seconds)
    write_json(run.run_dir / "run.json", {
        "method": run.method, "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(seconds, 2), "device": run.ctx.device,
        "means": {s: means(summ) for s, summ in summaries.items()}})
    return result


# ----------------------------------------------------------------------------- one run
def run_method(method: str | None = None, *, data: Path | None = None,
               preset: str | None = None, device: str = "auto",
               folds: Sequence[int] | None = None, out: Path = Path("runs"),
               resume: Path | None = None, overrides: Sequence[str] = (),
               seed: int | None = None, echo: Callable[[str], None] | None = None,
               score_jobs: int | None = None, report: bool = True,
               execution: Execution = Execution()) -> RunResult:
    """Run (or resume) one method and score it; see the module docstring for the steps.

    Parameters
    ----------
    method
        Registry name (``threshold``, ``coarse``, ``fine``, ``cascade``); optional with
        ``resume`` (then it must match the run's).
    data
        Dataset root (INSTANCE layout); default: the cached synthetic dataset.
    preset
        ``cpu`` (default) or ``paper``.
    device
        ``auto``, ``cpu`` or ``cuda``.
    folds
        Folds to train (default all); evaluation splits are predicted with these folds.
    out
        Parent of new run folders.
    resume
        An existing run folder to continue; its recorded config, seed, folds and data are
        used, and any of them given here must match.
    overrides
        ``key=value`` changes to the preset's method config (dotted keys).
    seed
        Training seed (default 0); fold k uses ``seed + k``.
    echo
        Console writer (default: stdout).
    score_jobs
        Scoring processes (``score_folder``'s ``jobs``; default all cores).
    report
        Build the run's report at the end (``ichbench.reports.build_run_report``).
    execution
        Executor and its options (default: every stage in this process).

    Returns
    -------
    RunResult
        ``finished`` is False when the stages were only submitted (``--no-wait``).

    Raises
    ------
    RunError
        For anything the user can fix, and for a failed stage (one line).
    """
    t0 = time.perf_counter()
    echo = echo if echo is not None else stdout_echo()
    device_name = _device(device, execution)
    _executor(execution)  # refuse bad executor options before a folder is made
    if resume is not None:
        run_dir, _ = check_resume(Path(resume), method=method, data=data, preset=preset,
                                  folds=folds, overrides=overrides, seed=seed)
        run = open_run(run_dir, device=device_name, echo=echo)
        run.ctx.log(f"resuming {run_dir} (ichbench {__version__}, device {device_name}, "
                    f"executor {execution.executor})")
    else:
        if method is None:
            raise RunError("--method is required (or --resume RUN_DIR)")
        # --set is checked before the data is opened (or the synthetic set generated)
        resolve_config(load_method(method), preset or DEFAULT_PRESET, overrides)
        dataset = open_data(data, echo)
        run = create_run(method, dataset=dataset, preset=preset, overrides=overrides,
                         seed=seed, folds=folds, device=device_name, out=out, echo=echo)
    log = run.ctx.log
    outcome = _execute([run], execution, log, report=report, score_jobs=score_jobs)
    if not outcome.finished and not outcome.submitted:
        raise RunError(f"the run's stages did not all finish; see 'ichbench run --status "
                       f"{run.run_dir}'")
    if not outcome.finished:
        log(f"submitted; follow with 'ichbench run --status {run.run_dir}', collect the "
            f"scores with 'ichbench run --resume {run.run_dir}' once done")
        return RunResult(run_dir=run.run_dir, method=run.method, summaries={},
                         seconds=time.perf_counter() - t0, finished=False)
    result = _finish(run, t0, log)
    log(f"{run.method}: {execution.executor} run finished in {result.seconds:.1f} s")
    log(format_table([result]))
    log(f"run folder: {run.run_dir}")
    return result


# ----------------------------------------------------------------------------- all methods
def run_all(*, data: Path | None = None, preset: str | None = None, device: str = "auto",
            folds: Sequence[int] | None = None, out: Path = Path("runs"),
            resume: Path | None = None, overrides: Sequence[str] = (),
            seed: int | None = None, methods: Sequence[str] = ALL_METHODS,
            echo: Callable[[str], None] | None = None, report: bool = True,
            score_jobs: int | None = None, execution: Execution = Execution()) -> AllResult:
    """Run every method of ``methods`` on one protocol and print their scores side by side.

    Each method gets its own run folder under ``out/all-<timestamp>/``; their stages form
    one graph, so the ``cascade`` reuses the ``coarse`` run's stages (its config records
    ``shared: {"coarse": <coarse run>}``) instead of training the coarse model twice.

    A method whose module cannot be imported is skipped with a clear line (and listed in
    ``all.json``); a failed stage stops what needs it. ``--set`` overrides are not allowed
    here (the methods have different settings). ``--resume PARENT`` resumes each run under
    the parent and starts the methods that have none.
    """
    t0 = time.perf_counter()
    echo = echo if echo is not None else stdout_echo()
    if overrides:
        raise RunError("--set applies to one method; with --method all run each method "
                       "separately to override its settings")
    device_name = _device(device, execution)
    _executor(execution)
    if resume is not None:
        parent = Path(resume)
        record = read_all_record(parent)
        runs_by_name: dict[str, str | None] = record["runs"]
        preset, seed = record["preset"], record["seed"]
        data = Path(record["data"]) if record.get("data") else None
        folds = record.get("folds")
    else:
        from ichbench.harness.rundir import new_run_dir

        dataset = open_data(data, echo)  # generate the synthetic data once
        data = Path(dataset.root)
        parent = new_run_dir(Path(out), "all")
        runs_by_name = {m: None for m in methods}
        record = {"methods": list(methods), "preset": preset or DEFAULT_PRESET,
                  "seed": 0 if seed is None else seed, "data": str(data),
                  "folds": None if folds is None else sorted(set(folds)),
                  "runs": runs_by_name, "skipped": {}}
        write_json(parent / "all.json", record)
    log = RunLog(parent / "log.txt", echo)
    runs: list[OpenRun] = []
    skipped: dict[str, str] = {}
    dataset = None
    for name in record["methods"]:
        try:
            impl = load_method(name)
        except RunError as exc:
            skipped[name] = str(exc)
            echo(f"{name}: SKIPPED — {exc}")
            continue
        existing = runs_by_name.get(name)
        if existing:
            runs.append(open_run(Path(existing), device=device_name, echo=echo))
            continue
        if dataset is None:
            dataset = open_data(data)
        shared = _shared_stages(name, impl, runs, preset)
        run = create_run(name, dataset=dataset, preset=preset, overrides=(), seed=seed,
                         folds=folds, device=device_name, out=parent, shared=shared,
                         echo=echo)
        runs_by_name[name] = str(run.run_dir)
        write_json(parent / "all.json", {**record, "runs": runs_by_name})
        runs.append(run)
    record = {**record, "runs": runs_by_name, "skipped": skipped}
    write_json(parent / "all.json", record)
    outcome = _execute(runs, execution, log, report=report, score_jobs=score_jobs)
    if not outcome.finished and not outcome.submitted:
        raise RunError(f"the runs' stages did not all finish; see 'ichbench run --status "
                       f"{parent}'")
    if not outcome.finished:
        log(f"submitted; follow with 'ichbench run --status {parent}'")
        return AllResult(parent_dir=parent, results=(), skipped=skipped)
    results = tuple(_finish(run, t0, run.ctx.log) for run in runs)
    table = format_table(results)
    text = table + "".join(f"\n{name}: skipped ({why})" for name, why in skipped.items())
    for comparison in (_comparison(results, cross_validation=True), _comparison(results)):
        if comparison:
            text += "\n\n" + comparison
    write_text(parent / "comparison.txt", text + "\n")
    echo("")
    echo(text)
    echo(f"runs: {parent}")
    return AllResult(parent_dir=parent, results=results, skipped=skipped)


def _comparison(results: Sequence[RunResult], *, cross_validation: bool = False) -> str:
    """The methods on their pooled held-out cases with CIs and the paper's claims tested.

    ``cross_validation``: on the training cases' out-of-fold masks instead, the numbers on
    which settings are chosen. Empty when fewer than two methods were scored (nothing to
    compare); a comparison that cannot be made is one line saying why, never a failed run.
    """
    from ichbench.reports.compare import CROSS_VALIDATION, HELD_OUT, compare_runs

    runs = {r.method: r.run_dir for r in results}
    if len(runs) < 2:
        return ""
    splits = CROSS_VALIDATION if cross_validation else HELD_OUT
    try:
        return compare_runs(runs, splits=splits).format()
    except ValueError as exc:
        return f"no {'cross-validation' if cross_validation else 'held-out'} comparison: {exc}"


def _shared_stages(name: str, impl: Any, runs: Sequence[OpenRun],
                   preset: str | None) -> dict[str, Path]:
    """``{"coarse": <coarse run>}`` for a cascade whose coarse config is that run's."""
    if name != "cascade":
        return {}
    for run in runs:
        if run.method == "coarse" and run.ctx.config == impl.presets[
                preset or DEFAULT_PRESET].coarse:
            return {"coarse": run.run_dir}
    return {}
