"""Scoring a folder of predicted masks against the truth: the one scoring path.

External submissions (``ichbench score``) and ichbench's own runs (the harness) both call
:func:`score_folder`, so every number in a leaderboard comes from the same code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichbench import __version__
from ichbench.io.atomic import write_json
from ichbench.io.nifti import printable
from ichbench.submissions.case import CaseScore, score_case, without_label_notes
from ichbench.submissions.classes import (
    ABSENT_CLASS_POLICIES,
    CLASS_COLUMNS,
    SUBTYPE_COLUMNS,
    class_names,
    classes_summary,
    is_single_class,
    subtypes_summary,
    write_rows_csv,
)
from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM
from ichbench.submissions.folder import CaseTask, ScoreError, plan_submission, truth_cases
from ichbench.submissions.status import Status
from ichbench.submissions.summary import summarize, write_cases_csv

if TYPE_CHECKING:  # worker processes are imported by the runs that start them (jobs > 1)
    import multiprocessing.context
    from concurrent.futures import Future

#: Cases queued per worker process; bounds memory to a few cases per worker.
_IN_FLIGHT_PER_JOB = 2


@dataclass(frozen=True)
class ScoreResult:
    """What :func:`score_folder` wrote, in memory.

    Attributes
    ----------
    cases : tuple of CaseScore
        One per truth case, sorted by case id (the rows of cases.csv).
    summary : dict
        The content of summary.json.
    cases_csv, summary_json : Path
        Where the two files were written.
    classes_csv, subtypes_csv : Path or None
        Where classes.csv and subtypes.csv were written, None when the folder needs none
        (see :mod:`ichbench.submissions.classes`).
    """

    cases: tuple[CaseScore, ...]
    summary: dict[str, Any]
    cases_csv: Path
    summary_json: Path
    classes_csv: Path | None = None
    subtypes_csv: Path | None = None

    @property
    def status_counts(self) -> dict[str, int]:
        """Number of cases per status (every status, zeros included)."""
        return dict(self.summary["status_counts"])

    def __repr__(self) -> str:
        dc = self.summary["metrics"]["dc"]["mean"]
        bad = {s: n for s, n in self.status_counts.items() if n and s != Status.OK}
        return (f"ScoreResult({len(self.cases)} cases, mean DC {dc:.4f}, not ok {bad}, "
                f"{self.cases_csv.parent})")


def default_jobs() -> int:
    """Number of CPU cores this process may use (:func:`ichbench.io.cores.usable_cores`)."""
    from ichbench.io.cores import usable_cores

    return usable_cores()


def score_folder(pred_dir: str | os.PathLike[str],
                 truth: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
                 out_dir: str | os.PathLike[str], *,
                 tolerance_mm: float = DEFAULT_TOLERANCE_MM, jobs: int | None = None,
                 lenient_geometry: bool = False, progress: bool | None = None,
                 label_map: Mapping[int, str] | None = None, absent_class: str = "nan",
                 ) -> ScoreResult:
    """Score every truth case against a submission folder; write cases.csv and summary.json.

    Every truth case gets exactly one row. A prediction that is missing or unusable is
    scored as an empty prediction (DC 0, NSD 0, HD inf, RVD 1 for a non-empty truth) and
    flagged with its :class:`~ichbench.submissions.status.Status` and a message; nothing
    in the submission folder can make this function raise.

    Parameters
    ----------
    pred_dir
        The submission: one ``<id>.nii.gz`` (or ``.nii``) mask per case, directly inside.
        Links are never followed; subfolders, stray files and unknown ids are ignored and
        listed in the summary.
    truth
        A folder of truth labels, or a mapping case id → label file (only those cases are
        scored). Spacing for the metrics comes from each truth header.
    out_dir
        Where ``cases.csv`` and ``summary.json`` are written (atomically); created if
        needed. It may not lie inside ``pred_dir``.
    tolerance_mm
        NSD tolerance τ in mm (INSTANCE: 0.42).
    jobs
        Worker processes; None uses every core this process may use, 1 scores in this
        process. At most ``2 × jobs`` cases are in flight, so memory stays bounded.
        Workers start from a fork server (never a plain fork, which would copy the
        caller's threads in whatever state they are), so a script that calls this with
        ``jobs > 1`` needs the usual ``if __name__ == "__main__":`` guard.
    lenient_geometry
        Score masks whose spacing, origin or direction differ from the truth's (with a
        warning) instead of refusing them as ``geometry_mismatch``.
    progress
        Show a progress bar on stderr: None shows it only when stderr is a terminal.
    label_map
        Class value → name of a label-map truth (None: BHSD's names when the values lie
        in 1–5, else the values). Given, the truth is taken as a label map even if every
        file holds 0/1 only.
    absent_class
        ``"nan"`` (default, nnU-Net) or ``"one"`` (BraTS): how a class absent from both
        masks of a case enters that class's statistics
        (:mod:`ichbench.submissions.classes`).

    Returns
    -------
    ScoreResult
        The rows, the summary and where they were written.

    Notes
    -----
    Number formats (``inf``, ``nan``) and how statistics treat them (NaN RVD of an empty
    truth is left out, ``count`` tells) are documented in
    :mod:`ichbench.submissions.summary`; the statuses in
    :mod:`ichbench.submissions.status`. Links are refused by ``lstat`` in the folder scan
    and again right before a file is read; a submission that is rewritten *while* it is
    being scored could still swap a file for a link in between (scoring assumes the folder
    is not being written to).

    Raises
    ------
    ScoreError
        For arguments that cannot be scored at all: a missing submission or truth folder,
        an empty truth, a path that is not UTF-8, an output folder inside the submission
        or the truth folder, under a regular file or holding a ``cases.csv`` that is not
        a file (all checked before any case is scored), a bad tolerance or jobs, worker
        processes that cannot start, or results that cannot be written.
    """
    pred_dir, out_dir = Path(pred_dir), Path(out_dir)
    if not (isinstance(tolerance_mm, (int, float)) and 0 <= tolerance_mm < float("inf")):
        raise ScoreError(f"tolerance_mm: {tolerance_mm!r} is not a finite number ≥ 0; "
                         f"use e.g. {DEFAULT_TOLERANCE_MM}")
    if absent_class not in ABSENT_CLASS_POLICIES:
        raise ScoreError(f"absent_class: {absent_class!r} is not one of "
                         f"{', '.join(ABSENT_CLASS_POLICIES)}")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ScoreError(f"jobs: {jobs!r} is not a positive number of processes; use 1 or "
                         "more (or leave it out for all cores)")
    _check_utf8(pred_dir, "submission folder")
    if not isinstance(truth, Mapping):
        _check_utf8(Path(truth), "truth folder")
    if not pred_dir.is_dir():
        raise ScoreError(f"submission folder {pred_dir}: not a folder; give the folder that "
                         "holds one <id>.nii.gz mask per case")
    truth_map = truth_cases(truth)
    pred_real = pred_dir.resolve()
    if not isinstance(truth, Mapping) and Path(truth).resolve() == pred_real:
        raise ScoreError(f"submission folder {pred_dir} is the truth folder; give the folder "
                         "of predicted masks")
    if out_dir.resolve().is_relative_to(pred_real):
        raise ScoreError(f"output folder {out_dir} lies inside the submission folder "
                         f"{pred_dir}; write the scores elsewhere")
    _check_out_dir(out_dir, {path.parent.resolve() for path in truth_map.values()})

    plan = plan_submission(pred_dir, truth_map)
    run_case = partial(score_case, tolerance_mm=float(tolerance_mm),
                       lenient_geometry=lenient_geometry)
    n_jobs = min(jobs or default_jobs(), len(plan.tasks))
    scores: dict[str, CaseScore] = {}
    with _progress_bar(len(plan.tasks), progress) as bar:
        for score in _map_cases(run_case, plan.tasks, n_jobs):
            scores[score.case] = score
            bar.update(1)
    rows = tuple(scores[task.case_id] for task in plan.tasks)
    # --- issue 22: label maps. Decided over the folder; cases scored before the folder
    # turned out to be a label map are rescored with the per-class/subtype parts on.
    usable = [s for s in rows if s.status is not Status.TRUTH_UNREADABLE]
    truth_is_map = label_map is not None or any(not is_single_class(s.truth_labels)
                                                for s in usable)
    pred_is_map = truth_is_map and any(not is_single_class(s.pred_labels) for s in usable)
    redo = [task for task in plan.tasks
            if scores[task.case_id].status is not Status.TRUTH_UNREADABLE
            and ((pred_is_map and scores[task.case_id].classes is None)
                 or (truth_is_map and scores[task.case_id].subtypes is None))]
    if redo:
        rescore = partial(run_case, classes=pred_is_map or None, subtypes=truth_is_map or None)
        for score in _map_cases(rescore, redo, min(n_jobs, len(redo))):
            scores[score.case] = score
        rows = tuple(scores[task.case_id] for task in plan.tasks)
        usable = [s for s in rows if s.status is not Status.TRUTH_UNREADABLE]
    if truth_is_map:  # several labels are expected there: no note per file
        rows = tuple(without_label_notes(s, truth=True, pred=pred_is_map) for s in rows)
        usable = [s for s in rows if s.status is not Status.TRUTH_UNREADABLE]
    names = class_names({v for s in usable for v in (*s.truth_labels, *s.pred_labels)},
                        label_map)
    class_table = [{"case": s.case, "class": names[v], "label": v, "status": s.status.value,
                    **row} for s in usable for v, row in sorted((s.classes or {}).items())]
    subtype_table = [{"case": s.case, "class": names[v], "label": v,
                      "status": s.status.value, **row}
                     for s in usable for v, row in sorted((s.subtypes or {}).items())]

    summary = summarize(rows, tolerance_mm=float(tolerance_mm), version=__version__,
                        predictions=str(pred_dir), truth=_describe_truth(truth, truth_map),
                        ignored_files=plan.ignored_files, warnings=plan.warnings)
    classes_csv = out_dir / "classes.csv" if pred_is_map else None
    subtypes_csv = out_dir / "subtypes.csv" if truth_is_map else None
    if pred_is_map:
        summary["classes"] = classes_summary(
            class_table, {v: n for v, n in names.items()}, n_scored_cases=len(usable),
            absent_class=absent_class)
    if truth_is_map:
        truth_names = {v: names[v] for s in usable for v in s.truth_labels}
        summary["subtypes"] = subtypes_summary(subtype_table, truth_names)
    cases_csv, summary_json = out_dir / "cases.csv", out_dir / "summary.json"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_cases_csv(cases_csv, rows)
        if classes_csv is not None:
            write_rows_csv(classes_csv, CLASS_COLUMNS, class_table)
        if subtypes_csv is not None:
            write_rows_csv(subtypes_csv, SUBTYPE_COLUMNS, subtype_table)
        for stale, needed in (("classes.csv", classes_csv), ("subtypes.csv", subtypes_csv)):
            if needed is None and (out_dir / stale).is_file():
                (out_dir / stale).unlink()  # a previous run's, no longer true
        write_json(summary_json, summary)
    except OSError as exc:
        raise ScoreError(f"output folder {out_dir}: cannot write the scores "
                         f"({exc.strerror or exc}); choose a writable folder") from None
    return ScoreResult(cases=rows, summary=summary, cases_csv=cases_csv,
                       summary_json=summary_json, classes_csv=classes_csv,
                       subtypes_csv=subtypes_csv)


def _check_out_dir(out_dir: Path, truth_folders: set[Path]) -> None:
    """Refuse an output folder that cannot hold the scores, before any case is scored.

    It may not be (or lie inside) a truth folder, lie under a regular file, or hold a
    ``cases.csv``/``summary.json`` that is not a regular file.
    """
    _check_utf8(out_dir, "output folder")
    real = out_dir.resolve()
    for folder in truth_folders:
        if real.is_relative_to(folder):
            raise ScoreError(f"output folder {out_dir} lies in the truth folder {folder}; "
                             "write the scores elsewhere")
    for parent in (out_dir, *out_dir.parents):
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise ScoreError(f"output folder {out_dir}: {parent} is a file, not a "
                                 "folder; choose another --out")
            break
    for name in ("cases.csv", "summary.json", "classes.csv", "subtypes.csv"):
        target = out_dir / name
        if (target.exists() or target.is_symlink()) and not target.is_file():
            raise ScoreError(f"output folder {out_dir}: {name} exists and is not a regular "
                             "file; remove it or choose another --out")


def _check_utf8(path: Path, what: str) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = printable(str(path))
        raise ScoreError(f"{what} {shown}: the path is not valid UTF-8; rename it") from None


def _map_cases(run_case: Callable[[CaseTask], CaseScore], tasks: Sequence[CaseTask],
               jobs: int) -> Iterator[CaseScore]:
    """Yield one score per task, in completion order, with at most 2 × jobs in flight.

    If a worker process dies (a NIfTI reader crashing on a hostile file kills the
    process, not just the case), the cases not yet scored are rerun one process each, so
    that only the culprit's row says so.
    """
    if jobs <= 1:
        yield from map(run_case, tasks)
        return
    from concurrent.futures.process import BrokenProcessPool

    context = _mp_context()
    finished: set[str] = set()
    try:
        for score in _pooled(run_case, tasks, jobs, context):
            finished.add(score.case)
            yield score
    except BrokenProcessPool:
        _check_workers_start(context)
        for task in tasks:
            if task.case_id not in finished:
                yield _isolated(run_case, task, context)


def _ready() -> bool:
    """What a worker returns to show that it started and imported the scorer."""
    return True


def _check_workers_start(context: multiprocessing.context.BaseContext) -> None:
    """Raise ScoreError if a worker process cannot even start (not a file's fault).

    A pool breaks when a hostile file crashes the reader, but also when no worker can
    start at all (e.g. a folder named ``ichbench`` in the working directory shadowing an
    editable install); the second must not be reported as every case's fault.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=context,
                                 initializer=_init_worker) as pool:
            if pool.submit(_ready).result():
                return
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    else:  # pragma: no cover - _ready always returns True
        reason = "no answer"
    raise ScoreError(f"worker processes fail to start ({' '.join(reason.split())}); this "
                     "is not a file's fault: run from another folder (a folder named "
                     "'ichbench' in the working directory hides the installed package) or "
                     "score with --jobs 1")


def _mp_context() -> multiprocessing.context.BaseContext:
    """Process start method for workers: forkserver (spawn where missing), never fork.

    A plain fork would copy the caller's threads (torch, ITK) in whatever locked state
    they are in.
    """
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Workers fork from a server that imported the scorer once (~1 s of imports each).
    context.set_forkserver_preload(["ichbench.submissions.case"])
    _start_forkserver()
    return context


def _start_forkserver() -> None:
    """Start the fork server without the working directory on its import path.

    The server is started with ``python -c``, which puts the working directory first on
    ``sys.path``: a folder named ``ichbench`` there would then be imported instead of the
    installed package and every worker would fail. ``PYTHONSAFEPATH`` (Python ≥ 3.11)
    leaves it out; it is set only while the server starts. A server already running is
    kept (then :func:`_check_workers_start` reports a failure to start).
    """
    from multiprocessing import forkserver

    saved = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONSAFEPATH"]
        else:
            os.environ["PYTHONSAFEPATH"] = saved


def _pooled(run_case: Callable[[CaseTask], CaseScore], tasks: Sequence[CaseTask], jobs: int,
            context: multiprocessing.context.BaseContext) -> Iterator[CaseScore]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pending: set[Future[CaseScore]] = set()
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context,
                             initializer=_init_worker) as pool:
        for task in tasks:
            pending.add(pool.submit(run_case, task))
            if len(pending) >= jobs * _IN_FLIGHT_PER_JOB:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)


def _isolated(run_case: Callable[[CaseTask], CaseScore], task: CaseTask,
              context: multiprocessing.context.BaseContext) -> CaseScore:
    """Score one task in a process of its own; a crash becomes the case's status."""
    crashed = CaseTask(task.case_id, task.truth, None, Status.UNREADABLE,
                       f"{task.prediction.name if task.prediction else 'the file'}: the "
                       "NIfTI reader crashed on it; write it again with a standard writer")
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    for attempt in (task, crashed):
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=context,
                                     initializer=_init_worker) as pool:
                return pool.submit(run_case, attempt).result()
        except BrokenProcessPool:
            if attempt.prediction is None:  # nothing but the truth was read
                _check_workers_start(context)
                break
    return CaseScore.unmeasured(task.case_id, Status.TRUTH_UNREADABLE,
                                f"truth {task.truth}: the NIfTI reader crashed on it; fix "
                                "the truth file")


def _init_worker() -> None:
    """One ITK thread per worker process: the processes already use every core."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def _progress_bar(total: int, progress: bool | None) -> Any:
    import contextlib

    enabled = sys.stderr.isatty() if progress is None else progress
    if not enabled:  # no bar to draw: tqdm (~15 ms to import) is not needed
        return contextlib.nullcontext(_NoBar())
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, file=sys.stderr, unit="case",
                desc="scoring", leave=False, dynamic_ncols=True)


class _NoBar:
    """The part of a progress bar that scoring calls, doing nothing."""

    def update(self, n: int = 1) -> None:
        """Ignore ``n`` finished cases."""


def _describe_truth(truth: object, truth_map: Mapping[str, Path]) -> str:
    """The truth folder, or for a mapping the folder its files share."""
    if not isinstance(truth, Mapping):
        return str(truth)
    parents = {str(path.parent) for path in truth_map.values()}
    return parents.pop() if len(parents) == 1 else os.path.commonpath(list(parents))
