"""A run as a graph of stages, and the state file each stage leaves behind.

A method describes its work as :class:`Stage` objects: coarse fold ``k`` (its model and
its out-of-fold masks), the fold ensemble's prediction of one split, nnU-Net's planning,
and so on; the harness adds scoring and the report. A stage names the stages it needs
and the folder it writes into (its ``home``); it is *idempotent*: once its state file says
``done`` it is skipped, and a stage that was interrupted continues from the checkpoints
its work leaves (the coarse and nnU-Net training loops resume by themselves). Resume,
retry after a failure and parallel execution are therefore one mechanism: run every stage
that is not done, in an order that respects ``needs``.

The graph is rebuilt from the run folder (``config.json``, ``protocol.json``) in whichever
process runs a stage, so a stage is addressed by data alone: its owner run folder and its
key (see :mod:`ichbench.harness.worker`).

State files: ``<home>/stages/<key>.json``, written atomically::

    {"state": "running" | "done" | "failed", "host": ..., "pid": ..., "job_id": ...,
     "started": ..., "finished": ..., "seconds": ..., "log": ..., "error": ...}

A stage with no state file is *queued* (or, under Slurm, submitted and waiting); one that
is not done and needs a failed stage is shown as *blocked* (see :data:`STATES`).
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ichbench.io.atomic import write_json
from ichbench.io.jsonfile import RecordError, read_json, read_text, shorten

#: States a stage can be in, with what each means (``ichbench run --status`` prints them).
STATES: dict[str, str] = {
    "queued": "not started (no state file yet); under Slurm: submitted, waiting",
    "running": "started in a process that has not finished it",
    "done": "finished; its outputs are complete and it is skipped from now on",
    "failed": "stopped with an error (last line and log path recorded)",
    "blocked": "not done, and a stage it needs failed: it runs after that one is fixed",
}


@dataclass(frozen=True)
class Stage:
    """One idempotent piece of a run.

    Attributes
    ----------
    key
        Unique within its home: ``coarse.fold2``, ``coarse.predict.test``, ``score``.
    home
        The run folder the stage writes into (its state file is ``home/stages/<key>.json``).
        Two stages with the same home and key are the same stage: this is how
        ``--method all`` shares the coarse stages between ``coarse`` and ``cascade``.
    work
        Does the stage's work (resuming from what an earlier attempt left).
    needs
        Stages that must be done first.
    group
        Stages of one group are independent of each other and alike (a fold stage, a
        prediction stage): a Slurm executor submits a group as one job array.
    fold
        The fold it trains, if any (shown by ``--status``).
    """

    key: str
    home: Path
    work: Callable[[], None] = field(compare=False, repr=False)
    needs: tuple[Stage, ...] = field(default=(), compare=False, repr=False)
    group: str = ""
    fold: int | None = None

    @property
    def ident(self) -> tuple[str, str]:
        """``(home, key)``: the stage's identity across graphs."""
        return (str(Path(self.home).resolve()), self.key)

    @property
    def state_path(self) -> Path:
        """``home/stages/<key>.json``."""
        return Path(self.home) / "stages" / f"{self.key}.json"

    @property
    def log_path(self) -> Path:
        """``home/logs/<key>.txt``: the console output of the process that runs the stage."""
        return Path(self.home) / "logs" / f"{self.key}.txt"


def read_state(stage: Stage) -> dict[str, Any]:
    """The stage's state record; ``{"state": "queued"}`` without a state file.

    A state file that cannot be used (not a regular file, not UTF-8, not JSON, deeply
    nested, not an object, a ``state`` that is not one of :data:`STATES`, or a ``stages``
    file where the folder should be) reads as ``failed`` with a one-line reason, so that
    ``--status`` shows it and ``--resume`` runs the stage again; it never blocks (a FIFO)
    or raises.
    """
    try:
        record = read_json(stage.state_path, max_bytes=1 << 20)
    except FileNotFoundError:
        return {"state": "queued"}
    except (RecordError, OSError) as exc:  # OSError: e.g. ``stages`` is a file
        reason = exc if isinstance(exc, RecordError) else f"{stage.state_path}: {exc.strerror}"
        return {"state": "failed", "error": f"unreadable state file ({shorten(reason)})"}
    if not isinstance(record, dict):
        return {"state": "failed", "error": f"unreadable state file ({stage.state_path}: "
                                            "not a JSON object)"}
    if not isinstance(record.get("state"), str) or record["state"] not in STATES:
        return {**record, "state": "failed",
                "error": f"unreadable state file ({stage.state_path}: state "
                         f"{shorten(repr(record.get('state')), 60)} is not one of "
                         f"{', '.join(STATES)})"}
    return record


def is_done(stage: Stage) -> bool:
    """True when the stage finished (its state file says ``done``)."""
    return read_state(stage).get("state") == "done"


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


def write_state(stage: Stage, state: str, **extra: Any) -> None:
    """Write the stage's state record (atomically), keeping earlier keys not given."""
    if state not in STATES:
        raise ValueError(f"stage state {state!r}: expected one of {', '.join(STATES)}")
    old = read_state(stage)
    if state != "failed":
        old.pop("error", None)
    write_json(stage.state_path, {**old, "state": state, **extra})


def run_stage(stage: Stage, log: Callable[[str], None], *, job_id: str | None = None,
              log_file: Path | None = None) -> None:
    """Run one stage with its state file kept: skipped if done, ``failed`` on an error.

    The exception of a failing stage is re-raised after its last line is recorded.
    ``job_id`` and ``log_file`` (where this process's console output goes) are recorded
    for ``ichbench run --status``.
    """
    if is_done(stage):
        return
    t0 = time.perf_counter()
    write_state(stage, "running", host=socket.gethostname(), pid=os.getpid(),
                job_id=job_id or os.environ.get("SLURM_JOB_ID"), started=_now(),
                log=str(log_file) if log_file is not None else None)
    try:
        stage.work()
    except Exception as exc:  # interruptions (SystemExit from a requeue, ^C) stay "running"
        lines = str(exc).strip().splitlines()
        write_state(stage, "failed", finished=_now(),
                    error=f"{type(exc).__name__}: {lines[0] if lines else ''}".strip())
        raise
    seconds = time.perf_counter() - t0
    write_state(stage, "done", finished=_now(), seconds=round(seconds, 2))
    log(f"stage {stage.key}: done in {seconds:.1f} s")


def run_inline(stages: Iterable[Stage], log: Callable[[str], None]) -> None:
    """Run ``stages`` and what they need in this process, in graph order (skipping done)."""
    for stage in closure(stages):
        run_stage(stage, log)


#: Cases per prediction stage: a larger split (the 100 unlabeled evaluation CTs of a real
#: release) is predicted by several stages, ``<prefix>.predict.<split>.<i>of<n>``, which
#: executors spread over workers or jobs like folds.
SHARD_CASES = 25


def shards(ids: Sequence[str], size: int | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """``[(suffix, case ids)]``: one part without suffix, or ``.1of3``, ``.2of3``, ...

    Parts are contiguous runs of ``ids`` of at most ``size`` (default
    :data:`SHARD_CASES`) cases and of sizes that differ by at most one.
    """
    size = SHARD_CASES if size is None else size
    ids = tuple(ids)
    n = max(1, -(-len(ids) // max(1, size)))
    if n == 1:
        return [("", ids)]
    bounds = [round(i * len(ids) / n) for i in range(n + 1)]
    return [(f".{i + 1}of{n}", ids[bounds[i]:bounds[i + 1]]) for i in range(n)]


# ----------------------------------------------------------------------------- graphs
def closure(targets: Iterable[Stage]) -> list[Stage]:
    """``targets`` and everything they need, deduplicated by identity, dependencies first.

    The order is deterministic: a depth-first walk in the order stages are given, so the
    in-process executor trains fold 0 before fold 1, as before stages existed.
    """
    order: list[Stage] = []
    seen: set[tuple[str, str]] = set()
    visiting: set[tuple[str, str]] = set()

    def visit(stage: Stage) -> None:
        if stage.ident in seen:
            return
        if stage.ident in visiting:
            raise ValueError(f"stage {stage.key} depends on itself")
        visiting.add(stage.ident)
        for need in stage.needs:
            visit(need)
        visiting.discard(stage.ident)
        seen.add(stage.ident)
        order.append(stage)

    for stage in targets:
        visit(stage)
    return order


def ready(stages: Sequence[Stage], finished: set[tuple[str, str]],
          started: set[tuple[str, str]]) -> list[Stage]:
    """Stages not started whose needs are all in ``finished``, in graph order."""
    return [s for s in stages if s.ident not in started and s.ident not in finished
            and all(n.ident in finished for n in s.needs)]


def blocked_by(stages: Sequence[Stage], failed: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Identities of stages that can never run because a stage they need failed."""
    blocked = set(failed)
    changed = True
    while changed:
        changed = False
        for s in stages:
            if s.ident not in blocked and any(n.ident in blocked for n in s.needs):
                blocked.add(s.ident)
                changed = True
    return blocked - set(failed)


def status_rows(stages: Sequence[Stage],
                job_states: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per stage: key, home, fold, state, job id, log path, error.

    ``job_states`` (Slurm job id → state from the scheduler) refines a stage without a
    state file (``queued``) or one whose job ended without writing it (``failed``). A
    stage that is not done and needs a failed (or blocked) stage is ``blocked``.
    ``stages`` must be in graph order (needs first), as :func:`closure` returns them.
    """
    rows = []
    for s in stages:
        record = read_state(s)
        state = record["state"]
        job = record.get("job_id")
        job = (shorten(job, 40) if isinstance(job, (str, int)) and not isinstance(job, bool)
               and str(job).strip() else None) or _submitted_job(s)
        if job_states is not None and job:
            scheduler = job_states.get(str(job))
            if state in ("running", "queued") and scheduler is None:
                why = ("its job ended without finishing it (killed, out of memory or time?)"
                       if state == "running" else "its job left the queue without running "
                       "(cancelled, or a stage it needs failed)")
                state, record = "failed", {**record, "error": why}
            elif state == "queued" and scheduler in ("RUNNING", "COMPLETING"):
                state = "running"
            elif state == "running" and scheduler in ("PENDING", "REQUEUED"):
                state = "queued"  # requeued after a time-out or preemption
        log, error = record.get("log"), record.get("error")
        rows.append({"key": s.key, "home": str(s.home), "fold": s.fold, "state": state,
                     "job_id": job,
                     "log": shorten(log) if isinstance(log, str) and log else str(s.log_path),
                     "error": None if error is None else shorten(error)})
    by_ident = {s.ident: row for s, row in zip(stages, rows, strict=True)}
    for s, row in zip(stages, rows, strict=True):  # in graph order: needs come first
        if row["state"] in ("done", "running"):
            continue
        bad = [n.key for n in s.needs
               if by_ident.get(n.ident, {}).get("state") in ("failed", "blocked")]
        if bad:
            row.update(state="blocked", error=f"needs {', '.join(bad)}")
    return rows


def _submitted_job(stage: Stage) -> str | None:
    """The Slurm job id recorded at submission, or None (also for an unusable file)."""
    path = Path(stage.home) / "stages" / f"{stage.key}.job"
    try:
        text = read_text(path, max_bytes=256).strip()
    except (RecordError, OSError):  # missing, a FIFO, ``stages`` a file, not UTF-8 ...
        return None
    return text if text.isprintable() and text else None
