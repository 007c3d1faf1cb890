"""Reading grand-challenge's ``predictions.json`` and finding each job's case and mask.

Used by :mod:`ichbench.submissions.grand_challenge`. Nothing here raises for what one job
holds: a job that cannot be scored becomes a :class:`Job` with a status and a message.
Only a file that is not a predictions.json at all, or a phase layout no job can satisfy,
raises :class:`EvaluationError`.

Every path comes from grand-challenge's layout, ``<input>/<pk>/output/<relative_path>/``;
a ``pk`` that is not an id or a ``relative_path`` that leaves the job's folder is refused
before anything is opened, and the one output file is checked with ``lstat`` (a link is
``outside_folder`` and never followed).
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.io.volumes import case_id as image_case_id
from ichbench.submissions.status import Status

_TIFF_SUFFIXES = (".tif", ".tiff")
_SAFE_PK = re.compile(r"[A-Za-z0-9_-]{1,100}")
_MAX_PREDICTIONS_BYTES = 64 << 20
#: An output socket's ``relative_path``: relative, printable, no NUL or lone surrogate (the
#: operating system refuses those, and one job must never stop the evaluation).
_SAFE_RELATIVE = re.compile(r"(?!/)[^\x00-\x1f\x7f\ud800-\udfff]{1,1000}")


class EvaluationError(ValueError):
    """The submission cannot be evaluated at all.

    The message is one sentence for the participant: grand-challenge shows the last line
    of stderr.
    """


@dataclass(frozen=True)
class Job:
    """One algorithm job of predictions.json, matched to a truth case.

    Attributes
    ----------
    pk : str
        The job id (the folder name under ``/input``).
    case : str or None
        Truth case id from the input image's name, None if the job has no usable input.
    input_name : str
        The input image's name as grand-challenge gives it.
    output : Path or None
        The one output file to score, None if the job is refused.
    status : Status or None
        Why the job is refused (None: its output is scored).
    message : str
        The participant-facing reason for a refusal.
    staged : str
        Name of the output's copy in the staging folder (``<case><suffix>``), once made.
    """

    pk: str
    case: str | None
    input_name: str
    output: Path | None
    status: Status | None = None
    message: str = ""
    staged: str = ""


def read_predictions(input_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read and check ``predictions.json`` (a list of job objects).

    Raises
    ------
    EvaluationError
        If it is missing, not a regular file (a FIFO is never waited on), too large, not
        JSON or nested too deeply for the parser, or not a list of objects with ``pk``,
        ``inputs`` and ``outputs``.
    """
    path = Path(input_dir) / "predictions.json"
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise EvaluationError(f"Cannot read {path} ({exc.strerror}); the evaluation needs "
                              "the predictions.json that grand-challenge provides.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise EvaluationError(f"{path} is not a regular file (a folder, FIFO or device); the "
                              "evaluation needs the predictions.json that grand-challenge "
                              "provides.")
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(_MAX_PREDICTIONS_BYTES + 1)
        except OSError as exc:
            raise EvaluationError(f"Cannot read {path} ({exc.strerror}); the evaluation "
                                  "needs the predictions.json that grand-challenge "
                                  "provides.") from None
    if len(raw) > _MAX_PREDICTIONS_BYTES:
        raise EvaluationError(f"{path} is larger than {_MAX_PREDICTIONS_BYTES >> 20} MiB; "
                              "it is not a predictions.json from grand-challenge.")
    try:
        jobs = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"{path} is not valid JSON ({exc}).") from None
    except RecursionError:
        raise EvaluationError(f"{path} is nested too deeply to be a predictions.json from "
                              "grand-challenge (a list of job objects).") from None
    if not isinstance(jobs, list):
        raise EvaluationError(f"{path} holds a {type(jobs).__name__}, not the list of "
                              "algorithm jobs grand-challenge writes.")
    for index, job in enumerate(jobs):
        missing = [key for key in ("pk", "inputs", "outputs")
                   if not isinstance(job, dict) or key not in job]
        if missing or not isinstance(job["inputs"], list) or not isinstance(
                job["outputs"], list):
            raise EvaluationError(f"{path}: job {index + 1} has no valid "
                                  f"{', '.join(missing) or 'inputs/outputs list'}; it is not "
                                  "a predictions.json from grand-challenge.")
    return jobs


def _image_sockets(values: list[Any], slug: str | None) -> list[dict[str, Any]]:
    """Socket values holding an image (of interface ``slug`` if given)."""
    found = []
    for value in values:
        if not isinstance(value, dict) or not isinstance(value.get("interface"), dict):
            continue
        if slug is not None and value["interface"].get("slug") != slug:
            continue
        if isinstance(value.get("image"), dict):
            found.append(value)
    return found


def input_case_id(name: str) -> str | None:
    """The case id an input image name stands for (``131.nii.gz``/``.mha``/``.tif`` → 131)."""
    for suffix in _TIFF_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return image_case_id(name)


def match_job(job: Mapping[str, Any], input_dir: Path, *, input_interface: str | None = None,
              output_interface: str | None = None) -> Job:
    """Find one job's case and output file; never raises for what a job holds.

    Raises
    ------
    EvaluationError
        Only for a phase configuration no job can satisfy: several image inputs or
        outputs and no interface slug to choose one.
    """
    pk = str(job.get("pk", ""))
    inputs = _image_sockets(job["inputs"], input_interface)
    if len(inputs) > 1:
        slugs = sorted({str(v["interface"].get("slug")) for v in inputs})
        raise EvaluationError(f"Each job has several input images ({', '.join(slugs)}); "
                              "pass --input-interface with the slug of the CT.")
    if not inputs:
        return Job(pk, None, "", None, Status.UNREADABLE,
                   f"job {pk} has no input image" + (
                       f" for interface {input_interface}" if input_interface else ""))
    name = str(inputs[0]["image"].get("name", ""))
    case = input_case_id(name)
    if not _SAFE_PK.fullmatch(pk):
        return Job(pk[:40], case, name, None, Status.UNREADABLE,
                   f"job id {pk[:40]!r} is not a grand-challenge job id; nothing was read")
    if job.get("status", "Succeeded") != "Succeeded":
        return Job(pk, case, name, None, Status.MISSING,
                   f"the algorithm job for {name} ended as {job.get('status')!r}; no "
                   "prediction")
    outputs = _image_sockets(job["outputs"], output_interface)
    if len(outputs) > 1:
        slugs = sorted({str(v["interface"].get("slug")) for v in outputs})
        raise EvaluationError(f"Each job has several output images ({', '.join(slugs)}); "
                              "pass --output-interface with the slug of the segmentation.")
    if not outputs:
        return Job(pk, case, name, None, Status.MISSING,
                   f"the algorithm job for {name} produced no output image")
    relative = str(outputs[0]["interface"].get("relative_path", ""))
    if not _SAFE_RELATIVE.fullmatch(relative) or ".." in Path(relative).parts:
        shown = relative if len(relative) <= 60 else relative[:60] + "…"
        return Job(pk, case, name, None, Status.UNREADABLE,
                   f"output path {shown!r} of job {pk} is not a relative path of up to "
                   "1,000 printable characters; nothing was read")
    output_name = str(outputs[0]["image"].get("name", ""))
    return _pick_output(pk, case, name, input_dir, f"{pk}/output/{relative.strip('/')}",
                        output_name)


def _pick_output(pk: str, case: str | None, name: str, input_dir: Path, where: str,
                 output_name: str) -> Job:
    folder = input_dir / where
    linked = _linked_component(input_dir, where)
    if linked is not None:
        return Job(pk, case, name, None, Status.OUTSIDE_FOLDER,
                   f"{linked} is a link; links are never followed")
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return Job(pk, case, name, None, Status.MISSING,
                   f"no output for {name}: {where}/ does not exist")
    if not entries:
        return Job(pk, case, name, None, Status.MISSING,
                   f"no output for {name}: {where}/ is empty")
    if len(entries) > 1:
        if output_name not in entries:
            return Job(pk, case, name, None, Status.AMBIGUOUS,
                       f"{len(entries)} files in {where}/ ({', '.join(entries[:3])}); the "
                       "algorithm must write one mask")
        entries = [output_name]
    path = folder / entries[0]
    try:
        st = os.lstat(path)
    except OSError as exc:
        return Job(pk, case, name, None, Status.MISSING,
                   f"{where}/{entries[0]} cannot be read ({exc.strerror})")
    if stat.S_ISLNK(st.st_mode):
        return Job(pk, case, name, None, Status.OUTSIDE_FOLDER,
                   f"{where}/{entries[0]} is a link; links are never followed")
    if not stat.S_ISREG(st.st_mode):
        return Job(pk, case, name, None, Status.UNREADABLE,
                   f"{where}/{entries[0]} is not a regular file")
    if entries[0].lower().endswith(_TIFF_SUFFIXES):
        return Job(pk, case, name, None, Status.UNREADABLE,
                   f"{entries[0]} is a TIFF; ichbench reads 3D masks as .mha: make the "
                   "output interface a 3D segmentation (.mha)")
    if image_case_id(entries[0]) is None:
        return Job(pk, case, name, None, Status.UNREADABLE,
                   f"{entries[0]} is not a .mha (or NIfTI) image; write the mask as .mha")
    return Job(pk, case, name, path)


def _linked_component(input_dir: Path, where: str) -> str | None:
    """The first folder on ``<input>/<where>`` that is a symbolic link, or None."""
    path = input_dir
    for part in Path(where).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return str(path.relative_to(input_dir))
        except OSError:
            return None  # missing: reported as "no output" by the caller
    return None
