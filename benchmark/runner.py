"""The run harness behind ``ichbench run``.

One method, one protocol, one self-describing run folder, scored by the same code path as
an external submission.

Order of work in :func:`run_method` (each step leaves the folder usable if the next fails):

1. resolve the method's configuration (preset + ``--set`` overrides) and write
   ``config.json`` first (with version, seed and a config hash), then ``protocol.json``;
2. run the method (:class:`ichbench.methods.Method`), which trains its folds with
   checkpoints and writes ``folds/<k>/oof/`` and ``predictions/<split>/``;
3. gather the out-of-fold masks into ``predictions/train_oof/``;
4. score ``predictions/<split>/`` for every labelled split with
   :func:`ichbench.submissions.score_folder` into ``scores/<split>/``;
5. write ``run.json`` (wall time, summary means) and build the run's report if
   :mod:`ichbench.reports` provides ``build_run_report(run_dir)``.

``--resume RUN_DIR`` reruns the same steps with the recorded configuration; methods skip
finished folds and continue unfinished ones from their last checkpoint.

The protocol (splits and folds) is made with :data:`PROTOCOL_SEED` whatever the training
seed, so runs with different seeds or methods are compared on the same cases.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ichbench import __version__
from ichbench.atomic import write_json, write_text
from ichbench.config import ConfigError, apply_overrides, config_hash, from_dict, to_dict
from ichbench.methods import ALL_METHODS, DEFAULT_PRESET, DEVICES, PRESETS

#: Seed of the protocol's hold-out and fold shuffles (fixed: every run sees the same folds).
PROTOCOL_SEED = 0
N_FOLDS = 5
#: Metrics shown in the console table (means over cases, from ``summary.json``).
TABLE_METRICS = ("dc", "nsd", "hd", "hd95", "rvd")
TRAIN_OOF = "train_oof"


class RunError(Exception):
    """A run that cannot start or continue; the message is one line naming the fix."""


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced.

    Attributes
    ----------
    run_dir
        The run folder.
    method
        The method's registry name.
    summaries
        Split → the ``summary.json`` dict written by ``score_folder``.
    seconds
        Wall time of this invocation.
    """

    run_dir: Path
    method: str
    summaries: dict[str, dict[str, Any]]
    seconds: float


@dataclass(frozen=True)
class AllResult:
    """``--method all``: the parent folder, the finished runs and the methods skipped."""

    parent_dir: Path
    results: tuple[RunResult, ...]
    skipped: dict[str, str] = field(default_factory=dict)


class RunLog:
    """Writes each line to ``log.txt`` (time-stamped) and to the console."""

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None) -> None:
        self.path = path
        self._echo = echo

    def __call__(self, line: str) -> None:
        """Append ``line`` to the log file and echo it."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {line}\n")
        if self._echo is not None:
            self._echo(line)


def _stdout_echo(stream: TextIO = sys.stdout) -> Callable[[str], None]:
    def echo(line: str) -> None:
        print(line, file=stream, flush=True)
    return echo


# ----------------------------------------------------------------------------- configuration
def resolve_device(device: str) -> str:
    """``auto`` → ``cuda`` if available else ``cpu``; ``cuda`` without a GPU is an error."""
    if device not in DEVICES:
        raise RunError(f"--device {device!r}: expected one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RunError("--device cuda: no CUDA GPU is visible to torch; use --device cpu "
                       "or auto")
    return "cpu"


def resolve_config(impl: Any, preset: str, overrides: Sequence[str]) -> Any:
    """The method's typed config: its ``preset`` instance with ``overrides`` applied.

    Raises
    ------
    RunError
        For an unknown preset, key or value (one line, valid keys listed).
    """
    if preset not in PRESETS:
        raise RunError(f"--preset {preset!r}: expected one of {', '.join(PRESETS)}")
    try:
        return apply_overrides(impl.presets[preset], overrides, what=impl.name)
    except ConfigError as exc:
        raise RunError(str(exc)) from None


def load_config(impl: Any, record: Mapping[str, Any], path: Path) -> Any:
    """The typed config recorded in a run's ``config.json`` (``path``, for messages)."""
    try:
        return from_dict(impl.config_type, record["config"], where=f"{path}: config")
    except KeyError:
        raise RunError(f"{path}: no 'config' entry; the run folder is damaged") from None
    except ConfigError as exc:
        raise RunError(f"{exc}; resume with the ichbench version that wrote it or start a "
                       "new run") from None


def _parse_folds(folds: Sequence[int] | None, n_folds: int) -> tuple[int, ...]:
    if folds is None:
        return tuple(range(n_folds))
    chosen = tuple(sorted(set(int(k) for k in folds)))
    bad = [k for k in chosen if not 0 <= k < n_folds]
    if not chosen or bad:
        raise RunError(f"--folds {','.join(map(str, folds))}: expected fold numbers between 0 "
                       f"and {n_folds - 1}")
    return chosen


def _new_run_dir(out: Path, name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = out / f"{name}-{stamp}", 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            candidate, n = out / f"{name}-{stamp}-{n}", n + 1


def _load_method(name: str):  # type: ignore[no-untyped-def]
    from ichbench.methods import REGISTRY, get_method

    if name not in REGISTRY:
        raise RunError(f"--method {name!r}: expected one of {', '.join(sorted(REGISTRY))} "
                       "or all")
    module = REGISTRY[name].split(":")[0]
    try:
        return get_method(name)
    except ImportError as exc:
        raise RunError(f"method {name!r} is not available: importing {module} failed "
                       f"({type(exc).__name__}: {exc})") from exc


def _open_data(data: Path | None, log: Callable[[str], None] | None = None):  # type: ignore[no-untyped-def]
    from ichbench.dataset import DatasetError, default_synthetic_dataset, open_dataset

    if data is None:
        if log is not None:
            log("no --data: using the cached synthetic dataset (generated on first use)")
        data = default_synthetic_dataset()
    try:
        return open_dataset(data)
    except DatasetError as exc:
        raise RunError(str(exc)) from None


# ----------------------------------------------------------------------------- one run
def run_method(method: str | None = None, *, data: Path | None = None,
               preset: str | None = None, device: str = "auto",
               folds: Sequence[int] | None = None, out: Path = Path("runs"),
               resume: Path | None = None, overrides: Sequence[str] = (),
               seed: int | None = None, echo: Callable[[str], None] | None = None,
               score_jobs: int | None = None, report: bool = True) -> RunResult:
    """Run (or resume) one method and score it; see the module docstring for the steps.

    Parameters
    ----------
    method
        Registry name (``threshold``, ``coarse``, ``fine``, ``cascade``); optional with
        ``resume`` (then it must match the run's).
    data
        Dataset root (INSTANCE layout); default: the cached synthetic dataset.
    preset
        ``smoke`` (default) or ``paper``.
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
        ``key=value`` changes to the preset's method config.
    seed
        Training seed (default 0); fold k uses ``seed + k``.
    echo
        Console writer (default: stdout).
    score_jobs
        Scoring processes (``score_folder``'s ``jobs``; default all cores).
    report
        Build the run's report at the end (``ichbench.reports.build_run_report``).

    Raises
    ------
    RunError
        For anything the user can fix (one line).
    """
    t0 = time.perf_counter()
    echo = echo if echo is not None else _stdout_echo()
    from ichbench.methods import RunContext
    from ichbench.protocol import ProtocolError, load_protocol, make_protocol, save_protocol

    device_name = resolve_device(device)
    if resume is not None:
        run_dir, record = _check_resume(Path(resume), method=method, data=data, preset=preset,
                                        folds=folds, overrides=overrides, seed=seed)
        log = RunLog(run_dir / "log.txt", echo)
        log(f"resuming {run_dir} (ichbench {__version__}, device {device_name})")
        impl = _load_method(record["method"])
        dataset = _open_data(Path(record["data"]))
        try:
            protocol = load_protocol(run_dir / "protocol.json", dataset=dataset)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None
        config = load_config(impl, record, run_dir / "config.json")
        fold_ids = tuple(record["folds"])
        run_seed, preset_name = int(record["seed"]), record["preset"]
    else:
        if method is None:
            raise RunError("--method is required (or --resume RUN_DIR)")
        preset_name = preset or DEFAULT_PRESET
        if preset_name not in PRESETS:
            raise RunError(f"--preset {preset_name!r}: expected one of {', '.join(PRESETS)}")
        impl = _load_method(method)
        config = resolve_config(impl, preset_name, overrides)
        run_seed = 0 if seed is None else int(seed)
        dataset = _open_data(data, echo)
        try:
            protocol = make_protocol(dataset, n_folds=N_FOLDS, seed=PROTOCOL_SEED)
        except ProtocolError as exc:
            raise RunError(str(exc)) from None
        fold_ids = _parse_folds(folds, protocol.n_folds)
        run_dir = _new_run_dir(Path(out), method)
        record = {
            "method": method, "preset": preset_name, "ichbench_version": __version__,
            "seed": run_seed, "device": device_name, "folds": list(fold_ids),
            "data": str(Path(dataset.root).resolve()), "data_kind": dataset.kind,
            "data_fingerprint": dataset.fingerprint(), "protocol_seed": PROTOCOL_SEED,
            "config": to_dict(config), "overrides": list(overrides),
            "created": _dt.datetime.now().isoformat(timespec="seconds"),
        }
        record["config_hash"] = config_hash({k: record[k] for k in
                                             ("method", "preset", "seed", "folds", "config")})
        write_json(run_dir / "config.json", record)
        save_protocol(protocol, run_dir / "protocol.json")
        log = RunLog(run_dir / "log.txt", echo)
        log(f"run {run_dir} (ichbench {__version__}): method {method}, preset {preset_name}, "
            f"device {device_name}, seed {run_seed}, folds {list(fold_ids)}, config hash "
            f"{record['config_hash']}")
        log(f"data {dataset.root}: {protocol!r}")
    ctx = RunContext(run_dir=run_dir, dataset=dataset, protocol=protocol, preset=preset_name,
                     config=config, device=device_name, folds=fold_ids, seed=run_seed, log=log)
    t_method = time.perf_counter()
    run_guarded(record["method"], lambda: impl.run(ctx), log)
    log(f"{record['method']}: trained and predicted in {time.perf_counter() - t_method:.1f} s")
    summaries = score_run(run_dir, dataset, protocol, fold_ids, log, jobs=score_jobs)
    seconds = time.perf_counter() - t0
    result = RunResult(run_dir=run_dir, method=record["method"], summaries=summaries,
                       seconds=seconds)
    write_json(run_dir / "run.json", {
        "method": record["method"], "finished": _dt.datetime.now().isoformat(timespec="seconds"),
        "seconds": round(seconds, 2), "device": device_name,
        "means": {s: _means(summ) for s, summ in summaries.items()}})
    log(format_table([result]))
    log(f"run folder: {run_dir}")
    if report:
        build_report(run_dir, log)
    return result


def run_guarded(what: str, work: Callable[[], None], log: RunLog) -> None:
    """Run ``work``; an exception becomes a one-line :class:`RunError`.

    A method's own error (a ``ValueError`` from a bad dataset, a ``RuntimeError`` from a
    damaged checkpoint, ...) is something the user acts on: the console gets one line with
    the exception's message and where the full traceback is (``log.txt``), not the
    traceback itself. ``KeyboardInterrupt`` and ``RunError`` pass through unchanged.
    """
    try:
        work()
    except RunError:
        raise
    except Exception as exc:
        detail = traceback.format_exc()
        log.path.parent.mkdir(parents=True, exist_ok=True)
        with open(log.path, "a", encoding="utf-8") as handle:
            handle.write(detail)
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else "(no message)"
        raise RunError(f"{what} failed: {type(exc).__name__}: {message} (traceback in "
                       f"{log.path})") from exc


def _check_resume(run_dir: Path, *, method: str | None, data: Path | None,
                  preset: str | None, folds: Sequence[int] | None, overrides: Sequence[str],
                  seed: int | None) -> tuple[Path, dict[str, Any]]:
    path = run_dir / "config.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"--resume {run_dir}: no config.json there; give a run folder made by "
                       "'ichbench run'") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON ({exc}); the run folder is damaged") from None
    given = {"--method": (method, record.get("method")), "--preset": (preset, record.get("preset")),
             "--seed": (seed, record.get("seed")),
             "--folds": (None if folds is None else sorted(set(folds)), record.get("folds")),
             "--data": (None if data is None else str(Path(data).resolve()), record.get("data"))}
    for option, (value, recorded) in given.items():
        if value is not None and value != recorded:
            raise RunError(f"{option} {value} differs from the resumed run's {recorded}; "
                           "resume without it or start a new run")
    if overrides:
        raise RunError("--set cannot change a run being resumed; start a new run instead")
    return run_dir, record


def gather_oof(run_dir: Path, protocol: Any, folds: Sequence[int]) -> tuple[Path, list[str]]:
    """Copy every fold's out-of-fold masks into ``predictions/train_oof/``.

    Returns the folder and the case ids expected there (the union of the folds' validation
    ids). A missing mask is left missing: scoring flags it rather than hiding it.
    """
    target = run_dir / "predictions" / TRAIN_OOF
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    expected: list[str] = []
    for k in folds:
        expected.extend(protocol.fold_val(k))
        src = run_dir / "folds" / str(k) / "oof"
        if not src.is_dir():
            continue
        for cid in protocol.fold_val(k):
            path = src / f"{cid}.nii.gz"
            if path.exists():
                shutil.copyfile(path, target / path.name)
    return target, sorted(expected)


def score_run(run_dir: Path, dataset: Any, protocol: Any, folds: Sequence[int],
              log: Callable[[str], None], *, jobs: int | None = None
              ) -> dict[str, dict[str, Any]]:
    """Score every labelled split of the run with ``score_folder`` (the one scoring path)."""
    from ichbench.submissions import score_folder

    oof_dir, oof_ids = gather_oof(run_dir, protocol, folds)
    splits: dict[str, tuple[Path, Sequence[str]]] = {
        s: (run_dir / "predictions" / s, protocol.ids(s)) for s in protocol.scored_splits()}
    splits[TRAIN_OOF] = (oof_dir, oof_ids)
    summaries: dict[str, dict[str, Any]] = {}
    for split, (pred_dir, ids) in splits.items():
        truth = {cid: dataset.case(cid).label for cid in ids}
        if not truth:
            continue
        pred_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result = score_folder(pred_dir, truth, run_dir / "scores" / split, jobs=jobs)
        summaries[split] = result.summary
        counts = result.summary.get("status_counts", {})
        log(f"scored {split}: {len(truth)} cases in {time.perf_counter() - t0:.1f} s "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if v)})")
    return summaries


def _means(summary: Mapping[str, Any]) -> dict[str, float | None]:
    metrics = summary.get("metrics", {})
    return {m: (metrics.get(m) or {}).get("mean") for m in TABLE_METRICS}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def format_table(results: Sequence[RunResult]) -> str:
    """Means per split (rows) and method, as a fixed-width text table."""
    header = ["split", "method", "n"] + [m.upper() for m in TABLE_METRICS]
    rows = [header]
    splits = []
    for r in results:
        splits.extend(s for s in r.summaries if s not in splits)
    for split in splits:
        for r in results:
            summ = r.summaries.get(split)
            if summ is None:
                continue
            means = _means(summ)
            rows.append([split, r.method, str(summ.get("n_cases", "?"))]
                        + [_fmt(means[m]) for m in TABLE_METRICS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_report(run_dir: Path, log: Callable[[str], None]) -> None:
    """Call ``ichbench.reports.build_run_report(run_dir)`` if that function exists.

    A missing function is logged and skipped (the reports package is optional at this
    stage); an error raised by the report builder propagates.
    """
    import ichbench.reports as reports

    build = getattr(reports, "build_run_report", None)
    if build is None:
        log("report: skipped, ichbench.reports.build_run_report is not available in this "
            "version (scores are in scores/<split>/)")
        return
    t0 = time.perf_counter()
    build(run_dir)
    log(f"report: built in {time.perf_counter() - t0:.1f} s")


# ----------------------------------------------------------------------------- all methods
def run_all(*, data: Path | None = None, preset: str | None = None, device: str = "auto",
            folds: Sequence[int] | None = None, out: Path = Path("runs"),
            resume: Path | None = None, overrides: Sequence[str] = (),
            seed: int | None = None, methods: Sequence[str] = ALL_METHODS,
            echo: Callable[[str], None] | None = None, report: bool = True) -> AllResult:
    """Run every method of ``methods`` on one protocol and print their scores side by side.

    Each method gets its own run folder under ``out/all-<timestamp>/``.

    A method whose module cannot be imported is skipped with a clear line (and listed in
    ``all.json``); any other error stops the sequence. ``--set`` overrides are not allowed
    here (the methods have different settings). ``--resume PARENT`` resumes each finished
    or unfinished run under the parent and starts the methods that have none.
    """
    echo = echo if echo is not None else _stdout_echo()
    if overrides:
        raise RunError("--set applies to one method; with --method all run each method "
                       "separately to override its settings")
    if resume is not None:
        parent = Path(resume)
        try:
            record = json.loads((parent / "all.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"--resume {parent}: no all.json there; give the folder made by "
                           "'ichbench run --method all'") from None
        runs: dict[str, str | None] = record["runs"]
        preset, seed = record["preset"], record["seed"]
        data = Path(record["data"]) if record.get("data") else None
        folds = record.get("folds")
    else:
        dataset = _open_data(data, echo)  # generate the synthetic data once, before forking
        data = Path(dataset.root)
        parent = _new_run_dir(Path(out), "all")
        runs = {m: None for m in methods}
        record = {"methods": list(methods), "preset": preset or DEFAULT_PRESET,
                  "seed": 0 if seed is None else seed, "data": str(data),
                  "folds": None if folds is None else sorted(set(folds)), "runs": runs,
                  "skipped": {}}
        write_json(parent / "all.json", record)
    results: list[RunResult] = []
    skipped: dict[str, str] = {}
    for name in record["methods"]:
        try:
            _load_method(name)
        except RunError as exc:
            skipped[name] = str(exc)
            echo(f"{name}: SKIPPED — {exc}")
            continue
        existing = runs.get(name)
        if existing:
            result = run_method(resume=Path(existing), device=device, echo=echo, report=report)
        else:
            before = set(parent.iterdir())
            try:
                result = run_method(name, data=data, preset=preset, device=device, folds=folds,
                                    out=parent, seed=seed, echo=echo, report=report)
            finally:
                made = [p for p in set(parent.iterdir()) - before if p.is_dir()]
                if made:
                    runs[name] = str(made[0])
                    write_json(parent / "all.json", {**record, "runs": runs})
        results.append(result)
    record = {**record, "runs": runs, "skipped": skipped}
    write_json(parent / "all.json", record)
    table = format_table(results)
    text = table + "".join(f"\n{name}: skipped ({why})" for name, why in skipped.items())
    write_text(parent / "comparison.txt", text + "\n")
    echo("")
    echo(text)
    echo(f"runs: {parent}")
    return AllResult(parent_dir=parent, results=tuple(results), skipped=skipped)
