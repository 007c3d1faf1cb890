"""Matching a submission folder to the truth cases, without reading any voxel.

Decided here, from names and ``lstat`` alone: which file belongs to which truth case,
which cases are missing or ambiguous, which entries are links (never followed, so a
submission cannot point at the truth), and which entries are ignored. Reading and
checking the files happens per case in :mod:`ichbench.submissions.case`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ichbench.io.volumes import NiftiError, case_id, list_cases
from ichbench.submissions.status import Status


class ScoreError(ValueError):
    """Arguments that cannot be scored at all (missing folders, empty truth, ...).

    The message is one line naming the argument, what was found and the fix.
    """


@dataclass(frozen=True)
class CaseTask:
    """One truth case to score, with what the folder scan already decided.

    Attributes
    ----------
    case_id : str
        The case id (file name without ``.nii``/``.nii.gz``).
    truth : Path
        The truth label file.
    prediction : Path or None
        The submitted file to read, or None if the scan refused the case.
    status : Status or None
        The status decided by the scan (``missing``, ``ambiguous``, ``outside_folder``,
        ``unreadable``), or None if the prediction still has to be read and checked.
    message : str
        Why the scan refused the case (empty if it did not).
    """

    case_id: str
    truth: Path
    prediction: Path | None
    status: Status | None = None
    message: str = ""


@dataclass(frozen=True)
class Plan:
    """The result of matching a submission folder to the truth cases.

    Attributes
    ----------
    tasks : tuple of CaseTask
        One per truth case, sorted by case id.
    ignored_files : tuple of str
        Entries of the submission folder that belong to no truth case (names relative to
        the folder; folders end with ``/``).
    warnings : tuple of str
        Folder-level remarks, e.g. NIfTI files whose ids match no truth case.
    """

    tasks: tuple[CaseTask, ...]
    ignored_files: tuple[str, ...]
    warnings: tuple[str, ...]


def truth_cases(truth: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
                ) -> dict[str, Path]:
    """Map case id → truth label file, sorted by id.

    Parameters
    ----------
    truth
        A folder of ``<id>.nii.gz``/``<id>.nii`` labels, or a mapping case id → file (the
        run harness passes one, so that only a split's cases are scored). Truth files may
        be links; only the submission's files are held to the no-link rule.

    Raises
    ------
    ScoreError
        If the folder is missing, cannot be listed or holds no NIfTI file, a case appears
        twice, or the mapping is empty.
    """
    if isinstance(truth, Mapping):
        if not truth:
            raise ScoreError("truth: the mapping of case ids to label files is empty; "
                             "pass at least one case")
        return {str(cid): Path(path) for cid, path in sorted(truth.items())}
    folder = Path(truth)
    if not folder.is_dir():
        raise ScoreError(f"truth folder {folder}: not a folder; give the folder of truth "
                         "label files (<id>.nii.gz)")
    try:
        found = list_cases(folder)
    except NiftiError as exc:
        raise ScoreError(f"truth folder {exc}") from None
    if not found:
        raise ScoreError(f"truth folder {folder}: no .nii or .nii.gz files; give the folder "
                         "that holds the truth labels")
    return found


def plan_submission(pred_dir: Path, truth: Mapping[str, Path]) -> Plan:
    """Match the entries directly inside ``pred_dir`` to the truth cases.

    Only ``lstat`` is used: no link is followed and no file is opened. Subfolders are
    not searched (they are listed as ignored).

    Parameters
    ----------
    pred_dir
        The submission folder (it may itself be reached through a link).
    truth
        Case id → truth file, as returned by :func:`truth_cases`.

    Returns
    -------
    Plan
        One task per truth case plus the ignored entries.

    Raises
    ------
    ScoreError
        If the folder cannot be listed.
    """
    truth_inodes = _inodes(truth.values())
    candidates: dict[str, list[str]] = {}
    ignored: list[str] = []
    unknown_nifti: list[str] = []
    try:
        with os.scandir(pred_dir) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        raise ScoreError(f"submission folder {pred_dir}: cannot be listed ({exc.strerror}); "
                         "check its permissions") from None
    near_misses: dict[str, str] = {}
    for entry in entries:
        cid = case_id(entry.name)
        if cid is not None and cid in truth:
            candidates.setdefault(cid, []).append(entry.name)
            continue
        wrong_case = case_id(entry.name.lower())
        if cid is None and wrong_case is not None:
            original = entry.name[:len(wrong_case)]  # the id as written, suffix in capitals
            if original in truth:
                near_misses.setdefault(original, entry.name)
        is_dir = entry.is_dir(follow_symlinks=False)
        ignored.append(entry.name + ("/" if is_dir else ""))
        if cid is not None and not is_dir:
            unknown_nifti.append(entry.name)
    tasks = tuple(_task(cid, truth[cid], pred_dir, candidates.get(cid, []), truth_inodes,
                        near_misses.get(cid))
                  for cid in sorted(truth))
    warnings = []
    if unknown_nifti:
        example = truth[next(iter(sorted(truth)))].name
        warnings.append(f"{len(unknown_nifti)} NIfTI file(s) match no truth case "
                        f"(e.g. {unknown_nifti[0]}); name each mask like its truth file "
                        f"(e.g. {example})")
    return Plan(tasks=tasks, ignored_files=tuple(ignored), warnings=tuple(warnings))


def _inodes(paths: object) -> set[tuple[int, int]]:
    """(device, inode) of each existing truth file, links followed."""
    found = set()
    for path in paths:  # type: ignore[attr-defined]
        try:
            st = os.stat(path)
        except OSError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def _task(cid: str, truth: Path, pred_dir: Path, names: list[str],
          truth_inodes: set[tuple[int, int]], near_miss: str | None = None) -> CaseTask:
    if not names:
        if near_miss is not None:
            return CaseTask(cid, truth, None, Status.MISSING,
                            f"no {cid}.nii.gz in the submission folder, but {near_miss} "
                            f"(suffixes are case-sensitive); rename it to {truth.name}")
        return CaseTask(cid, truth, None, Status.MISSING,
                        f"no {cid}.nii.gz in the submission folder; add the mask, named like "
                        f"its truth file ({truth.name})")
    if len(names) > 1:
        return CaseTask(cid, truth, None, Status.AMBIGUOUS,
                        f"{' and '.join(names)} both exist for case {cid}; keep exactly one")
    name = names[0]
    path = pred_dir / name
    problem = entry_problem(path, truth_inodes)
    if problem is not None:
        status, message = problem
        return CaseTask(cid, truth, None, status, message)
    return CaseTask(cid, truth, path)


def entry_problem(path: Path, truth_inodes: set[tuple[int, int]]) -> tuple[Status, str] | None:
    """Why ``path`` may not be read as a submitted mask, or None if it may.

    Checked with ``lstat`` (links are never followed): a link, or a file that is one of
    the truth files (a hard link), is ``outside_folder``; a folder, FIFO, device or socket
    is ``unreadable`` (reading a FIFO or ``/dev/zero`` would never end). Also called by the
    worker right before reading, so a file swapped for a link after the scan is caught.
    """
    name = path.name
    try:
        st = os.lstat(path)
    except OSError as exc:
        return Status.MISSING, f"{name} disappeared before it was read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return (Status.OUTSIDE_FOLDER,
                f"{name} is a symbolic link (to {target}); links are never followed: copy "
                "the mask itself into the submission folder")
    if stat.S_ISDIR(st.st_mode):
        return Status.UNREADABLE, f"{name} is a folder; put the mask file itself there"
    if not stat.S_ISREG(st.st_mode):
        return (Status.UNREADABLE,
                f"{name} is not a regular file (FIFO, device or socket); save the mask as a "
                "file")
    if (st.st_dev, st.st_ino) in truth_inodes:
        return (Status.OUTSIDE_FOLDER,
                f"{name} is a truth file itself (a hard link); submit your own prediction")
    return None
