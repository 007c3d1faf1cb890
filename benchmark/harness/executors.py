"""Executors: who runs the stages of a run's graph, and where.

* :class:`InProcess` (``--executor inprocess``, the default): every stage in this process,
  in graph order; the first failure stops the run. Results are those of a plain loop over
  the folds.
* :class:`Local` (``--executor local``): one worker process per slot, ``--devices
  cuda:0,cuda:1`` (each worker sees only its GPU, through ``CUDA_VISIBLE_DEVICES``) or
  ``--workers N`` on the CPU (each worker gets ``cores // N`` threads). A stage starts as
  soon as a slot is free and the stages it needs are done, so folds train side by side.
  A failed stage does not stop the others; what needs it is reported as blocked.
* :class:`ichbench.harness.slurm.Slurm` (``--executor slurm``): Slurm jobs through submitit.

Every executor runs a stage through :func:`ichbench.harness.stages.run_stage` (directly or in
:mod:`ichbench.harness.worker`), so skipping finished stages and resuming interrupted ones is the
same everywhere.
"""

from __future__ import annotations

import contextlib
import os
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.harness.rundir import RunError, run_guarded
from ichbench.harness.stages import Stage, blocked_by, is_done, read_state, ready, run_stage
from ichbench.io.cores import usable_cores
from ichbench.io.jsonfile import shorten

#: ``--executor`` choices.
EXECUTORS = ("inprocess", "local", "slurm")


@dataclass(frozen=True)
class Planned:
    """A stage and the run folder whose graph defines it (where a worker rebuilds it)."""

    stage: Stage
    owner: Path


@dataclass(frozen=True)
class Outcome:
    """What an executor left: finished (every stage done) or not, and the failures."""

    finished: bool
    failed: tuple[Stage, ...] = ()
    blocked: int = 0
    submitted: bool = False


def failure_lines(failed: Sequence[Stage]) -> list[str]:
    """One line per failed stage: key, the error's last line, the log path."""
    lines = []
    for stage in failed:
        record = read_state(stage)
        where = shorten(record.get("log") or stage.log_path)
        lines.append(f"stage {stage.key} failed: {shorten(record.get('error') or 'see its log')} "
                     f"(log: {where})")
    return lines


class InProcess:
    """Every stage in this process, in graph order; stops at the first failure."""

    name = "inprocess"

    def execute(self, plan: Sequence[Planned], log: Callable[[str], None]) -> Outcome:
        """Run the stages of ``plan`` that are not done."""
        todo = [p for p in plan if not is_done(p.stage)]
        if len(todo) < len(plan):
            log(f"{len(plan) - len(todo)} of {len(plan)} stages already done, skipped")
        for p in todo:
            stage = p.stage
            run_log = Path(p.owner) / "log.txt"
            run_guarded(f"stage {stage.key}",
                        lambda s=stage, f=run_log: run_stage(s, log, log_file=f), run_log)
        return Outcome(finished=True)


def parse_slots(workers: int | None, devices: Sequence[str] | None) -> tuple[str, ...]:
    """The local worker slots: one device name per worker.

    Raises
    ------
    RunError
        For both options at once, a bad device name or a worker count below 1.
    """
    if devices:
        if workers is not None and workers != len(devices):
            raise RunError(f"--workers {workers} and --devices {','.join(devices)}: give one "
                           "(one worker per device)")
        bad = [d for d in devices if not (d == "cpu" or (d.startswith("cuda:")
                                          and d[5:].isdigit()))]
        if bad:
            raise RunError(f"--devices {','.join(devices)}: expected cuda:<n> entries (or "
                           "cpu), e.g. --devices cuda:0,cuda:1")
        return tuple(devices)
    n = 1 if workers is None else int(workers)
    if n < 1:
        raise RunError(f"--workers {workers}: expected at least 1")
    return ("cpu",) * n


def _worker_loop(env: dict[str, str], tasks: Any, results: Any) -> None:
    """A local worker: pinned by ``env`` (set before torch loads), runs stages it is sent.

    Each task is ``(owner, key, device, log_file)``; the stage's console output goes to
    ``log_file``; the reply is ``(key, owner, error or None)``. ``None`` ends the loop.
    """
    os.environ.update(env)
    from ichbench.harness.worker import run_one

    while True:
        task = tasks.get()
        if task is None:
            return
        owner, key, device, log_file = task
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        error = None
        with open(log_file, "a", encoding="utf-8") as handle, \
                contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
            try:
                run_one(Path(owner), key, device=device, log_file=Path(log_file))
            except RunError as exc:
                error = str(exc)
            except BaseException as exc:  # a worker must answer whatever happened
                error = f"{type(exc).__name__}: {exc}"
            print(f"Error: {error}" if error else f"stage {key}: finished", flush=True)
        results.put((key, owner, error))


class Local:
    """One persistent worker process per slot; a stage starts when its needs are done.

    Parameters
    ----------
    slots
        One device per worker: ``"cpu"`` or ``"cuda:<n>"``. A GPU worker sees only its
        device (``CUDA_VISIBLE_DEVICES``) and trains on ``cuda``; CPU workers share the
        cores (``OMP_NUM_THREADS`` = cores // workers).
    poll_s
        Seconds between checks of the workers.
    """

    name = "local"

    def __init__(self, slots: Sequence[str], *, poll_s: float = 0.2) -> None:
        if not slots:
            raise RunError("the local executor needs at least one worker")
        self.slots = tuple(slots)
        self.poll_s = poll_s

    def _env(self, slot: str) -> dict[str, str]:
        if slot.startswith("cuda:"):
            return {"CUDA_VISIBLE_DEVICES": slot[5:]}
        threads = str(max(1, usable_cores() // len(self.slots)))
        return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}

    def _spawn(self, context: Any, slot: str) -> tuple[Any, Any]:
        tasks = context.Queue()
        # not a daemon: a stage may start process pools of its own (scoring, nnU-Net)
        proc = context.Process(target=_worker_loop, args=(self._env(slot), tasks, self._results))
        proc.start()
        return proc, tasks

    def execute(self, plan: Sequence[Planned], log: Callable[[str], None]) -> Outcome:
        """Run the stages of ``plan`` that are not done, ``len(slots)`` at a time."""
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # no forked torch/OpenMP state
        self._results = context.Queue()
        stages = [p.stage for p in plan]
        finished = {s.ident for s in stages if is_done(s)}
        if finished:
            log(f"{len(finished)} of {len(stages)} stages already done, skipped")
        started: set[tuple[str, str]] = set(finished)
        failed: list[Stage] = []
        workers = [self._spawn(context, slot) for slot in self.slots]
        busy: dict[int, tuple[Planned, float]] = {}
        try:
            while True:
                blocked = blocked_by(stages, {s.ident for s in failed})
                for i, slot in enumerate(self.slots):
                    if i in busy:
                        continue
                    candidates = [s for s in ready(stages, finished, started)
                                  if s.ident not in blocked]
                    if not candidates:
                        break
                    p = next(q for q in plan if q.stage.ident == candidates[0].ident)
                    started.add(p.stage.ident)
                    device = "cuda" if slot.startswith("cuda:") else slot
                    workers[i][1].put((str(p.owner), p.stage.key, device,
                                       str(p.stage.log_path)))
                    busy[i] = (p, time.perf_counter())
                    log(f"stage {p.stage.key}: started on {slot} (log {p.stage.log_path})")
                if not busy:
                    break
                try:
                    key, owner, error = self._results.get(timeout=self.poll_s)
                except queue.Empty:
                    self._check_alive(context, workers, busy, failed, log)
                    continue
                i = next(j for j, (q, _) in busy.items()
                         if (q.stage.key, str(q.owner)) == (key, owner))
                p, t0 = busy.pop(i)
                if error is None and is_done(p.stage):
                    finished.add(p.stage.ident)
                    log(f"stage {p.stage.key}: done in {time.perf_counter() - t0:.1f} s "
                        f"({len(finished)}/{len(stages)})")
                else:
                    failed.append(p.stage)
                    log(failure_lines([p.stage])[0])
        finally:
            for proc, tasks in workers:
                if proc.is_alive():
                    tasks.put(None)
            for proc, _ in workers:
                proc.join(timeout=5)
                if proc.is_alive():  # interrupted mid-stage: stop our own worker
                    proc.terminate()
        blocked_n = len(blocked_by(stages, {s.ident for s in failed}))
        return Outcome(finished=not failed, failed=tuple(failed), blocked=blocked_n)

    def _check_alive(self, context: Any, workers: list[tuple[Any, Any]],
                     busy: dict[int, tuple[Planned, float]], failed: list[Stage],
                     log: Callable[[str], None]) -> None:
        """A worker that died mid-stage (killed, out of memory): fail its stage, replace it."""
        for i, (proc, _) in enumerate(workers):
            if proc.is_alive() or i not in busy:
                continue
            p, _ = busy.pop(i)
            from ichbench.harness.stages import write_state

            write_state(p.stage, "failed", error=f"worker process died (exit code "
                                                 f"{proc.exitcode})")
            failed.append(p.stage)
            log(failure_lines([p.stage])[0])
            workers[i] = self._spawn(context, self.slots[i])
