"""Run folders: create one (config.json, protocol.json), reopen one, check a resume.

A run folder is self-describing: ``config.json`` records the method, preset, seed, folds,
data and the method's full typed config (with a hash), ``protocol.json`` the splits and
folds. :func:`open_run` rebuilds everything a stage needs from those two files, so a stage
can run in this process, in a local worker process or in a Slurm job alike.
"""

from __future__ import annotations

import datetime as _dt
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ichbench import __version__
from ichbench.harness.config import ConfigError, apply_overrides, config_hash, from_dict, to_dict
from ichbench.harness.methods import DEFAULT_PRESET, DEVICES, PRESETS
from ichbench.io.atomic import write_json
from ichbench.io.jsonfile import RecordError, read_json, shorten

if TYPE_CHECKING:
    from ichbench.harness.methods import Method, RunContext

#: Seed of the protocol's hold-out and fold shuffles (fixed: every run sees the same folds).
PROTOCOL_SEED = 0
N_FOLDS = 5


class RunError(Exception):
    """A run that cannot start or continue; the message is one line naming the fix."""


class RunLog:
    """Writes each line to ``log.txt`` (time-stamped) and to the console.

    ``prefix`` (e.g. ``"[coarse.fold2] "``) marks the lines of one stage when several
    processes append to the same ``log.txt``; each line is one ``write`` to a file opened
    for appending, so lines of concurrent processes do not mix.
    """

    def __init__(self, path: Path, echo: Callable[[str], None] | None = None, *,
                 prefix: str = "") -> None:
        self.path = path
        self.prefix = prefix
        self._echo = echo

    def __call__(self, line: str) -> None:
        """Append ``line`` to the log file and echo it."""
        stamp = _dt.datetime.now().strftime("%H:%M:%S")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {self.prefix}{line}\n")
        if self._echo is not None:
            self._echo(f"{self.prefix}{line}")


def stdout_echo(stream: TextIO | None = None) -> Callable[[str], None]:
    """A console writer that flushes every line (to ``sys.stdout`` as it is when called)."""
    def echo(line: str) -> None:
        print(line, file=stream or sys.stdout, flush=True)
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


def parse_folds(folds: Sequence[int] | None, n_folds: int) -> tuple[int, ...]:
    """``--folds`` checked against the protocol (default: every fold), sorted, unique."""
    if folds is None:
        return tuple(range(n_folds))
    chosen = tuple(sorted(set(int(k) for k in folds)))
    bad = [k for k in chosen if not 0 <= k < n_folds]
    if not chosen or bad:
        raise RunError(f"--folds {','.join(map(str, folds))}: expected fold numbers between 0 "
                       f"and {n_folds - 1}")
    return chosen


def new_run_dir(out: Path, name: str) -> Path:
    """A new ``out/<name>-<timestamp>[-n]`` folder (made here, never reused)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate, n = out / f"{name}-{stamp}", 1
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            return candidate
        except FileExistsError:
            candidate, n = out / f"{name}-{stamp}-{n}", n + 1


def load_method(name: str):  # type: ignore[no-untyped-def]
    """The registered method ``name``; an unknown or unimportable one is a RunError."""
    from ichbench.harness.methods import REGISTRY, get_method

    if name not in REGISTRY:
        raise RunError(f"--method {name!r}: expected one of {', '.join(sorted(REGISTRY))} "
                       "or all")
    module = REGISTRY[name].split(":")[0]
    try:
        return get_method(name)
    except ImportError as exc:
        raise RunError(f"method {name!r} is not available: importing {module} failed "
                       f"({type(exc).__name__}: {exc})") from exc


def open_data(data: Path | None, log: Callable[[str], None] | None = None):  # type: ignore[no-untyped-def]
    """The dataset at ``data`` (default: the cached synthetic one), or a RunError."""
    from ichbench.data.dataset import DatasetError, open_dataset
    from ichbench.phantom.cache import default_synthetic_dataset

    if data is None:
        if log is not None:
            log("no --data: using the cached synthetic dataset (generated on first use)")
        data = default_synthetic_dataset()
    try:
        return open_dataset(data)
    except DatasetError as exc:
        raise RunError(str(exc)) from None


def run_guarded(what: str, work: Callable[[], None], traceback_to: Path) -> None:
    """Run ``work``; an exception becomes a one-line :class:`RunError`.

    A method's own error (a ``ValueError`` from a bad dataset, a ``RuntimeError`` from a
    damaged checkpoint, ...) is something the user acts on: the console gets one line with
    the exception's message and where the full traceback is (``traceback_to``, the run's
    ``log.txt``), not the traceback itself. ``KeyboardInterrupt`` and ``RunError`` pass
    through unchanged.
    """
    try:
        work()
    except RunError:
        raise
    except Exception as exc:
        detail = traceback.format_exc()
        traceback_to.parent.mkdir(parents=True, exist_ok=True)
        with open(traceback_to, "a", encoding="utf-8") as handle:
            handle.write(detail)
        lines = str(exc).strip().splitlines()
        message = lines[0] if lines else "(no message)"
        raise RunError(f"{what} failed: {type(exc).__name__}: {message} (traceback in "
                       f"{traceback_to})") from exc


def check_resume(run_dir: Path, *, method: str | None, data: Path | None,
                  preset: str | None, folds: Sequence[int] | None, overrides: Sequence[str],
                  seed: int | None) -> tuple[Path, dict[str, Any]]:
    """Refuse a resume whose options differ from the recorded run's; return its record."""
    record = read_record(run_dir)
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




# ----------------------------------------------------------------------------- open runs
@dataclass(frozen=True)
class OpenRun:
    """A run folder read back: its record, method, typed config and run context."""

    run_dir: Path
    record: dict[str, Any]
    impl: Method[Any]
    ctx: RunContext[Any]

    @property
    def method(self) -> str:
        """The method's registry name."""
        return str(self.record["method"])


#: What a run record's entries must be (config.json, and all.json of ``--method all``):
#: checked when the record is read, so that a damaged or hand-edited file is one line.
_RECORD_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "method": ("a method name", lambda v: isinstance(v, str)),
    "preset": ("a preset name", lambda v: isinstance(v, str)),
    "data": ("a dataset folder", lambda v: isinstance(v, str) and v != ""),
    "seed": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "folds": ("a list of fold numbers", lambda v: isinstance(v, list) and all(
        isinstance(k, int) and not isinstance(k, bool) for k in v)),
    "config": ("an object of settings", lambda v: isinstance(v, dict)),
}
_OPTIONAL_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "device": ("a device name", lambda v: isinstance(v, str)),
    "shared": ("an object of folder paths", lambda v: isinstance(v, dict) and all(
        isinstance(x, str) for x in (*v, *v.values()))),
}


def read_json_record(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or a one-line :class:`RunError` (see ichbench.io.jsonfile).

    ``what`` says which file was expected, for the message of a missing one.
    """
    try:
        record = read_json(path)
    except FileNotFoundError:
        raise RunError(f"{path.parent}: no {path.name} there; give {what}") from None
    except RecordError as exc:
        raise RunError(f"{exc}; the run folder is damaged") from None
    if not isinstance(record, dict):
        raise RunError(f"{path}: holds a JSON {type(record).__name__}, not an object; the run "
                       "folder is damaged")
    return record


def read_record(run_dir: Path) -> dict[str, Any]:
    """``run_dir/config.json`` as a dict, or a one-line :class:`RunError`.

    Refused: a file that is not a regular UTF-8 JSON object of reasonable size and depth,
    and a record whose ``method``, ``preset``, ``data``, ``seed``, ``folds``, ``config``
    (and, when present, ``device`` and ``shared``) are missing or of the wrong kind.
    """
    path = Path(run_dir) / "config.json"
    record = read_json_record(path, "a run folder made by 'ichbench run'")
    if "method" not in record:
        raise RunError(f"{path}: not an ichbench run record (no 'method')")
    for key, (kind, valid) in _RECORD_FIELDS.items():
        if key not in record or not valid(record[key]):
            found = "missing" if key not in record else f"{shorten(repr(record[key]), 60)}"
            raise RunError(f"{path}: '{key}' should be {kind}, found {found}; the run folder "
                           "is damaged (restore config.json or start a new run)")
    for key, (kind, valid) in _OPTIONAL_FIELDS.items():
        if record.get(key) is not None and not valid(record[key]):
            raise RunError(f"{path}: '{key}' should be {kind}, found "
                           f"{shorten(repr(record[key]), 60)}; the run folder is damaged")
    return record


def read_all_record(parent: Path) -> dict[str, Any]:
    """``parent/all.json`` of ``--method all``, checked, or a one-line :class:`RunError`."""
    path = Path(parent) / "all.json"
    record = read_json_record(path, "the folder made by 'ichbench run --method all'")
    checks: dict[str, tuple[str, Callable[[Any], bool]]] = {
        "methods": ("a list of method names", lambda v: isinstance(v, list) and all(
            isinstance(m, str) for m in v)),
        "runs": ("an object of run folders", lambda v: isinstance(v, dict) and all(
            isinstance(d, str) or d is None for d in v.values())),
        "preset": _RECORD_FIELDS["preset"], "seed": _RECORD_FIELDS["seed"],
    }
    for key, (kind, valid) in checks.items():
        if key not in record or not valid(record[key]):
            found = "missing" if key not in record else f"{shorten(repr(record[key]), 60)}"
            raise RunError(f"{path}: '{key}' should be {kind}, found {found}; the folder is "
                           "damaged")
    for key in ("data", "folds"):
        if record.get(key) is not None and not _RECORD_FIELDS[key][1](record[key]):
            raise RunError(f"{path}: '{key}' should be {_RECORD_FIELDS[key][0]} or null, "
                           f"found {shorten(repr(record[key]), 60)}; the folder is damaged")
    return record


def open_run(run_dir: Path, *, device: str | None = None,
             echo: Callable[[str], None] | None = None) -> OpenRun:
    """Rebuild a run's context from its folder (``device`` overrides the recorded one)."""
    from ichbench.data.protocol import ProtocolError, load_protocol
    from ichbench.harness.methods import RunContext

    run_dir = Path(run_dir)
    record = read_record(run_dir)
    impl = load_method(record["method"])
    config = load_config(impl, record, run_dir / "config.json")
    dataset = open_data(Path(record["data"]))
    try:
        protocol = load_protocol(run_dir / "protocol.json", dataset=dataset)
    except ProtocolError as exc:
        raise RunError(str(exc)) from None
    log = RunLog(run_dir / "log.txt", echo)
    ctx = RunContext(run_dir=run_dir, dataset=dataset, protocol=protocol, config=config,
                     device=device or record.get("device", "cpu"),
                     folds=tuple(record["folds"]), seed=int(record["seed"]), log=log,
                     shared={k: Path(v) for k, v in (record.get("shared") or {}).items()})
    return OpenRun(run_dir=run_dir, record=record, impl=impl, ctx=ctx)


def create_run(method: str, *, dataset: Any, preset: str | None, overrides: Sequence[str],
               seed: int | None, folds: Sequence[int] | None, device: str, out: Path,
               shared: Mapping[str, Path] | None = None,
               echo: Callable[[str], None] | None = None) -> OpenRun:
    """Make a new run folder: config.json first (version, seed, hash), then protocol.json.

    Every argument is checked before the folder is made, so a bad ``--set`` leaves no
    folder behind.
    """
    from ichbench.data.protocol import ProtocolError, make_protocol, save_protocol

    preset_name = preset or DEFAULT_PRESET
    if preset_name not in PRESETS:
        raise RunError(f"--preset {preset_name!r}: expected one of {', '.join(PRESETS)}")
    impl = load_method(method)
    config = resolve_config(impl, preset_name, overrides)
    run_seed = 0 if seed is None else int(seed)
    try:
        protocol = make_protocol(dataset, n_folds=N_FOLDS, seed=PROTOCOL_SEED)
    except ProtocolError as exc:
        raise RunError(str(exc)) from None
    fold_ids = parse_folds(folds, protocol.n_folds)
    run_dir = new_run_dir(Path(out), method)
    record: dict[str, Any] = {
        "method": method, "preset": preset_name, "ichbench_version": __version__,
        "seed": run_seed, "device": device, "folds": list(fold_ids),
        "data": str(Path(dataset.root).resolve()), "data_kind": dataset.kind,
        "data_fingerprint": dataset.fingerprint(), "protocol_seed": PROTOCOL_SEED,
        "config": to_dict(config), "overrides": list(overrides),
        "shared": {k: str(Path(v).resolve()) for k, v in (shared or {}).items()},
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    record["config_hash"] = config_hash({k: record[k] for k in
                                         ("method", "preset", "seed", "folds", "config")})
    write_json(run_dir / "config.json", record)
    save_protocol(protocol, run_dir / "protocol.json")
    log = RunLog(run_dir / "log.txt", echo)
    log(f"run {run_dir} (ichbench {__version__}): method {method}, preset {preset_name}, "
        f"device {device}, seed {run_seed}, folds {list(fold_ids)}, config hash "
        f"{record['config_hash']}")
    log(f"data {dataset.root}: {protocol!r}")
    notes = getattr(dataset, "notes", ())
    if notes:
        log(f"labels derived from the release's files for {len(notes)} case(s) (cached; the "
            f"release is not modified): {'; '.join(notes[:3])}"
            + (f"; ... ({len(notes) - 3} more)" if len(notes) > 3 else ""))
    return open_run(run_dir, device=device, echo=echo)
