"""The grand-challenge.org evaluation contract, as a thin adapter over :func:`score_folder`.

On grand-challenge.org an evaluation method is a container that finds:

- ``/input/predictions.json``: one entry per algorithm job, in no particular order, each
  with ``pk`` (the job id), ``inputs`` and ``outputs`` (socket values: ``interface`` with
  ``slug`` and ``relative_path``, and for images ``image`` with ``name``), and usually a
  ``status`` (``"Succeeded"``);
- ``/input/<pk>/output/<relative_path>/``: the files one job wrote for an output socket
  (an image arrives as one ``.mha`` or ``.tif`` file with a uuid name);
- ``/opt/ml/input/data/ground_truth/``: what the organisers uploaded as ground truth;

and must write ``/output/metrics.json``. ``/input`` is read-only and the last non-empty
line on stderr is what a participant sees when the evaluation fails.

**Matching rule.** A job belongs to the truth case whose id equals the name of the job's
input image without its suffix: the CT ``131.nii.gz``, ``131.mha`` or ``131.tif`` →
truth ``131.nii.gz``/``131.mha``. So upload the CTs to the phase's archive named like
their labels.

Reading predictions.json and finding each job's mask live in
:mod:`ichbench.submissions.grand_challenge_jobs`; building such a tree from a folder (the
dry run) in :mod:`ichbench.submissions.grand_challenge_tree`.

**One scoring path.** Each matched output file is copied (never through a link) into a
private staging folder as ``<case><suffix>`` and the folder is scored by
:func:`ichbench.submissions.score_folder`, exactly as ``ichbench score`` does. Cases the
adapter has already refused (no job, a failed job, no or several output files, a
``.tif``, a link) are not staged; score_folder scores them as empty predictions and their
row carries the adapter's status and message instead of ``missing``.

**metrics.json** is strict JSON (grand-challenge stores it in a database that rejects
``NaN`` and ``Infinity``): a non-finite number is written as ``null``; per metric,
``aggregates.<metric>.n_infinite`` counts the infinite values (an empty prediction has
HD = inf, so ``aggregates.hd.mean`` is ``null`` as soon as one case has no prediction;
grand-challenge leaves a result with a ``null`` ranked value out of its ranking, hence the
README's advice to rank HD on the median).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ichbench import __version__
from ichbench.io.volumes import case_id as image_case_id
from ichbench.io.volumes import read_geometry
from ichbench.submissions.case import CaseScore
from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM
from ichbench.submissions.folder import ScoreError, truth_cases
from ichbench.submissions.grand_challenge_jobs import (
    EvaluationError,
    Job,
    input_case_id,
    match_job,
    read_predictions,
)
from ichbench.submissions.status import Status
from ichbench.submissions.summary import SUMMARY_METRICS, status_warnings

#: Where grand-challenge mounts things inside the evaluation container.
DEFAULT_INPUT = Path("/input")
DEFAULT_GROUND_TRUTH = Path("/opt/ml/input/data/ground_truth")
DEFAULT_OUTPUT = Path("/output")

#: Environment variable grand-challenge sets to the number of workers it allows.
MAX_WORKERS_ENV = "GRAND_CHALLENGE_MAX_WORKERS"

#: summary.json's blocks for a label-map truth (BHSD / MBH-Seg subtypes) that metrics.json
#: carries under ``aggregates``: per class (``classes``, when the predictions are label maps
#: too) and per subtype of the truth (``subtypes``: detection and DC of any prediction), so
#: a phase's leaderboard can rank e.g. ``aggregates.classes.IPH.dc.mean``.
LABEL_MAP_BLOCKS = ("classes", "subtypes")

#: Per-case columns of metrics.json, after ``case``, ``pk`` and ``status``.
CASE_METRICS = ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml",
                "gt_voxels", "pred_voxels", "tp_voxels")


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` wrote: the content of metrics.json and where it is."""

    metrics: dict[str, Any]
    metrics_json: Path

    @property
    def status_counts(self) -> dict[str, int]:
        """Number of cases per status."""
        return dict(self.metrics["aggregates"]["status_counts"])


def max_workers(environ: Mapping[str, str] | None = None) -> int | None:
    """Worker processes allowed by ``GRAND_CHALLENGE_MAX_WORKERS`` (None if unset).

    Raises
    ------
    EvaluationError
        If the variable is set but is not a positive whole number.
    """
    value = (os.environ if environ is None else environ).get(MAX_WORKERS_ENV, "").strip()
    if not value:
        return None
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise EvaluationError(f"{MAX_WORKERS_ENV}={value!r} is not a positive number of "
                              "workers; set it to 1 or more, or unset it.")
    return workers


def evaluate(input_dir: str | os.PathLike[str] = DEFAULT_INPUT,
             ground_truth: str | os.PathLike[str] = DEFAULT_GROUND_TRUTH,
             output_dir: str | os.PathLike[str] = DEFAULT_OUTPUT, *,
             jobs: int | None = None, tolerance_mm: float = DEFAULT_TOLERANCE_MM,
             lenient_geometry: bool = False, require_all_cases: bool = False,
             input_interface: str | None = None, output_interface: str | None = None,
             progress: bool | None = False) -> Evaluation:
    """Evaluate a grand-challenge submission; write ``metrics.json`` into ``output_dir``.

    Parameters
    ----------
    input_dir
        Holds ``predictions.json`` and one ``<pk>/output/`` folder per job (read only).
    ground_truth
        Folder of truth labels ``<id>.nii.gz``/``.nii``/``.mha``.
    output_dir
        Where ``metrics.json`` is written (atomically).
    jobs
        Worker processes; None takes ``GRAND_CHALLENGE_MAX_WORKERS`` if set, else every
        core this process may use.
    tolerance_mm, lenient_geometry
        As :func:`ichbench.submissions.score_folder`.
    require_all_cases
        Refuse the whole submission (raise) when a truth case has no successful job with
        an output, instead of scoring it as an empty prediction (the default, as INSTANCE).
    input_interface, output_interface
        Interface slugs of the CT input and the mask output, needed only when jobs have
        several image inputs or outputs.
    progress
        Progress bar on stderr: False (default) never, None only when stderr is a terminal
        (grand-challenge's is not, and its last line is the participant's error message).

    Returns
    -------
    Evaluation
        The content of metrics.json and its path.

    Raises
    ------
    EvaluationError
        When the submission cannot be evaluated at all (no predictions.json or one that
        is not a regular file, not JSON or nested too deeply, no ground truth or none of
        it readable, no job matching any truth case, or with ``require_all_cases`` a
        missing case), or ``output_dir`` cannot be written (checked before any scoring);
        the message is one sentence.
    """
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if jobs is None:
        jobs = max_workers()
    _check_writable(output_dir)
    try:
        truth = truth_cases(ground_truth)
    except ScoreError as exc:
        raise EvaluationError(f"The ground truth cannot be used: {exc}.") from None
    predictions = read_predictions(input_dir)
    if not predictions:
        raise EvaluationError(f"predictions.json lists no algorithm job; expected one per "
                              f"ground-truth case ({len(truth)}).")
    matched = [match_job(job, input_dir, input_interface=input_interface,
                         output_interface=output_interface) for job in predictions]
    per_case: dict[str, list[Job]] = {}
    unmatched = []
    for job in matched:
        if job.case in truth:
            per_case.setdefault(job.case, []).append(job)
        else:
            unmatched.append(job)
    if not per_case:
        example = next(iter(truth.values())).name
        names = ", ".join(sorted(repr(j.input_name) for j in matched)[:3]) or "none"
        raise EvaluationError(
            f"None of the {len(predictions)} predictions matches a ground-truth case: input "
            f"images are named {names}, ground truth like {example!r}; name each CT like its "
            "label.")
    chosen = {case: _one_job(jobs_of_case) for case, jobs_of_case in per_case.items()}
    if require_all_cases:
        absent = sorted(set(truth) - {c for c, j in chosen.items() if j.output is not None})
        if absent:
            shown = ", ".join(absent[:10]) + (", ..." if len(absent) > 10 else "")
            raise EvaluationError(f"Expected {len(truth)} predictions, found "
                                  f"{len(truth) - len(absent)}: no output for {shown}.")

    truth_inodes = _inodes(truth.values())
    with tempfile.TemporaryDirectory(prefix="ichbench-gc-") as tmp:
        staging, scores = Path(tmp) / "predictions", Path(tmp) / "scores"
        staging.mkdir()
        for case, job in list(chosen.items()):
            if job.output is not None:
                chosen[case] = _stage(job, staging, truth[case], truth_inodes)
        from ichbench.submissions.score import score_folder

        result = score_folder(staging, truth, scores, tolerance_mm=tolerance_mm, jobs=jobs,
                              lenient_geometry=lenient_geometry, progress=progress)
    if all(score.status is Status.TRUTH_UNREADABLE for score in result.cases):
        raise EvaluationError(
            f"The ground truth cannot be read: none of the {len(result.cases)} truth files is "
            f"usable (e.g. {result.cases[0].message[:200]}); the phase's ground truth must "
            "be fixed, the submission is not at fault.")
    rows = [_row(score, chosen.get(score.case)) for score in result.cases]
    metrics = _metrics(rows, result.cases, result.summary, chosen, unmatched)
    metrics_json = output_dir / "metrics.json"
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_json_strict(metrics_json, metrics)
    except OSError as exc:
        raise EvaluationError(f"{metrics_json} cannot be written ({exc.strerror or exc}); "
                              "the evaluation's output folder must be writable.") from None
    return Evaluation(metrics=metrics, metrics_json=metrics_json)


def _check_writable(output_dir: Path) -> None:
    """Refuse an output folder that cannot take metrics.json, before any scoring.

    Creating the folder and a probe file in it is the only check that answers for every
    cause (a file in the way, permissions, a read-only mount, no space for a directory
    entry); found only after scoring, the evaluation's work would be lost.

    Raises
    ------
    EvaluationError
        Naming the folder and the operating system's reason.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=output_dir, prefix=".ichbench-probe-"):
            pass
    except OSError as exc:
        raise EvaluationError(f"The output folder {output_dir} cannot be written "
                              f"({exc.strerror or exc}); mount a writable folder there (or "
                              "pass --output).") from None


def _inodes(paths: Iterable[Path]) -> set[tuple[int, int]]:
    """(device, inode) of each existing truth file, links followed, as ``score`` checks."""
    found = set()
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def _one_job(jobs: list[Job]) -> Job:
    if len(jobs) == 1:
        return jobs[0]
    pks = ", ".join(j.pk for j in jobs[:3])
    return Job(jobs[0].pk, jobs[0].case, jobs[0].input_name, None, Status.AMBIGUOUS,
               f"{len(jobs)} algorithm jobs ({pks}) have the input {jobs[0].input_name}; "
               "neither is scored")


def _stage(job: Job, staging: Path, truth_path: Path,
           truth_inodes: set[tuple[int, int]]) -> Job:
    """Copy the job's output (no link followed, size bounded) to ``<case><suffix>``.

    A file that is one of the truth files (a hard link) is ``outside_folder``, as in
    ``score``: the copy would lose that identity and score the truth against itself.
    """
    assert job.output is not None and job.case is not None
    name = job.output.name
    suffix = name[len(image_case_id(name) or ""):]
    try:
        truth_bytes = 8 * math.prod(read_geometry(truth_path).size_xyz) + (1 << 20)
    except ValueError:  # the scorer reports the unusable truth itself
        truth_bytes = 1 << 30
    try:
        fd = os.open(job.output, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        return replace(job, output=None, status=Status.UNREADABLE,
                       message=f"{name} cannot be opened ({exc.strerror})")
    with os.fdopen(fd, "rb") as source:
        st = os.fstat(source.fileno())
        if (st.st_dev, st.st_ino) in truth_inodes:
            return replace(job, output=None, status=Status.OUTSIDE_FOLDER,
                           message=f"{name} is a truth file itself (a hard link); submit "
                                   "your own prediction")
        size = st.st_size
        if size > truth_bytes:
            return replace(job, output=None, status=Status.UNREADABLE,
                           message=f"{name} has {size:,} bytes, more than any mask on the "
                                   "truth's grid needs; write the mask again")
        with open(staging / f"{job.case}{suffix}", "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
    return replace(job, staged=f"{job.case}{suffix}")


def _unstaged(text: str, job: Job | None) -> str:
    """``text`` naming the file the participant's algorithm wrote, not its staging copy.

    A truth file may share the staged name: "truth 131.mha" keeps its name.
    """
    if job is None or job.output is None or not job.staged:
        return text
    original = job.output.name
    # not after "truth " nor inside a path or a longer name: ".../ground_truth/131.mha"
    return re.sub(rf"(?<!truth )(?<![\w/\\.-]){re.escape(job.staged)}", lambda _: original,
                  text)


def _row(score: CaseScore, job: Job | None) -> dict[str, Any]:
    status, message = score.status, score.message
    if status is not Status.TRUTH_UNREADABLE:  # that message is about the truth file
        message = _unstaged(message, job)
    if job is not None and job.status is not None and status is Status.MISSING:
        status, message = job.status, job.message
    elif job is None and status is Status.MISSING:
        message = f"no algorithm job has an input image named like case {score.case}"
    row: dict[str, Any] = {"case": score.case, "pk": job.pk if job else None,
                           "status": status.value}
    row.update({m: getattr(score, m) for m in CASE_METRICS})
    row["message"] = message
    return row


def _metrics(rows: list[dict[str, Any]], scores: tuple[CaseScore, ...],
             summary: Mapping[str, Any], chosen: Mapping[str, Job],
             unmatched: list[Job]) -> dict[str, Any]:
    counts = {status.value: 0 for status in Status}
    for row in rows:
        counts[row["status"]] += 1
    aggregates: dict[str, Any] = {}
    for metric in SUMMARY_METRICS:  # summary.json's statistics, plus the infinite count
        stats = dict(summary["metrics"][metric])
        stats["n_infinite"] = sum(1 for s in scores if math.isinf(float(getattr(s, metric))))
        aggregates[metric] = stats
    aggregates["status_counts"] = counts
    aggregates["n_cases"] = len(rows)
    for block in LABEL_MAP_BLOCKS:  # label-map truth: per subtype, as in summary.json
        if block in summary:
            aggregates[block] = summary[block]
    unmatched_rows = [{"pk": j.pk, "input": j.input_name, "message": j.message or
                       "the input image's name matches no ground-truth case"}
                      for j in unmatched]
    warnings = [f"case {s.case}: {_unstaged(w, chosen.get(s.case))}"
                for s in scores for w in s.warnings]
    warnings += status_warnings(counts, see="their message")
    if unmatched:
        warnings.append(f"{len(unmatched)} job(s) match no ground-truth case and were not "
                        "scored (see unmatched_jobs)")
    return {"ichbench_version": __version__, "tolerance_mm": summary["tolerance_mm"],
            "hd_percentile": summary["hd_percentile"], "cases": rows,
            "aggregates": aggregates, "unmatched_jobs": unmatched_rows, "warnings": warnings}


def strict_json(value: Any) -> Any:
    r"""``value`` as PostgreSQL's jsonb stores it: finite numbers, clean strings.

    Every non-finite float becomes None (JSON ``null``); in every string (keys too) a NUL
    becomes the text ``\x00`` and a lone surrogate (from a non-UTF-8 file name or a
    ``\ud800`` escape in predictions.json) its ``\udXXX`` escape, since jsonb refuses both
    and grand-challenge would then lose the whole result.
    """
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {strict_json(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if hasattr(value, "item"):  # NumPy scalars
        return strict_json(value.item())
    return value


def clean_text(text: str) -> str:
    r"""``text`` without NUL or lone surrogates, each written as its escape sequence.

    Examples
    --------
    >>> clean_text("9\x00\ud800.mha")
    '9\\x00\\ud800.mha'
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def write_json_strict(path: Path, obj: Any) -> None:
    """Write ``obj`` as RFC 8259 JSON (no NaN/Infinity), atomically."""
    from ichbench.io.atomic import atomic_open

    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(strict_json(obj), handle, indent=2, allow_nan=False)
        handle.write("\n")


__all__ = ["DEFAULT_GROUND_TRUTH", "DEFAULT_INPUT", "DEFAULT_OUTPUT", "MAX_WORKERS_ENV",
           "Evaluation", "EvaluationError", "Job", "evaluate", "input_case_id", "match_job",
           "max_workers", "read_predictions", "strict_json", "write_json_strict"]
