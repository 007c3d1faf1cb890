"""Building the ``/input`` tree grand-challenge would hand an evaluation, from a folder.

Organisers test a phase before opening it: ``ichbench grand-challenge dry-run`` turns a
folder of masks (``<case>.nii.gz``, ``.nii`` or ``.mha``) into ``predictions.json`` plus
one ``<pk>/output/images/<slug>/<uuid>.mha`` per case, laid out and named as
grand-challenge does it, and then evaluates that tree like the container would.
"""

from __future__ import annotations

import os
import random
import shutil
import stat
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.io.volumes import NiftiError, case_id, read_volume, write_volume

#: Interface slugs used for the dry-run's jobs (a phase's own slugs may differ).
INPUT_SLUG = "ct-image"
OUTPUT_SLUG = "ich-segmentation"

_NAMESPACE = uuid.UUID("5b0f7d1e-6a0c-4b8e-9d43-1c2b3a4d5e6f")


@dataclass(frozen=True)
class Tree:
    """What :func:`build_input_tree` made.

    Attributes
    ----------
    input_dir : Path
        The folder to pass as ``--input`` (holds predictions.json).
    n_jobs : int
        Jobs written to predictions.json.
    notes : tuple of str
        Files skipped or copied unconverted, one line each.
    """

    input_dir: Path
    n_jobs: int
    notes: tuple[str, ...]


def build_input_tree(submission_dir: str | os.PathLike[str], input_dir: str | os.PathLike[str],
                     *, seed: int = 0, truth_dir: str | os.PathLike[str] | None = None
                     ) -> Tree:
    """Lay out ``submission_dir``'s masks as grand-challenge's evaluation input.

    Each ``<case>`` mask becomes one succeeded job whose input image is named
    ``<case>.mha`` and whose output is ``<pk>/output/images/ich-segmentation/<uuid>.mha``.
    NIfTI masks are converted to ``.mha`` with their geometry copied exactly; ``.mha``
    files and NIfTI files that cannot be read are copied byte for byte (keeping their
    suffix), so the evaluation reports them as the container would. Links are skipped.
    Jobs are listed in a shuffled order (grand-challenge gives no order); ``pk`` values
    are fixed per case and ``seed``, so a rerun builds the same tree.

    With ``truth_dir``, a mask that is one of its truth files (a hard link) is hard-linked
    into the tree rather than converted, so that the evaluation finds it is the truth and
    reports ``outside_folder`` as ``score`` does (a copy would score the truth against
    itself); where no link can be made (another file system) it is skipped with a note.

    Raises
    ------
    FileExistsError
        If ``input_dir`` exists and is not empty.
    NotADirectoryError
        If ``submission_dir`` is not a folder.
    """
    submission_dir, input_dir = Path(submission_dir), Path(input_dir)
    if not submission_dir.is_dir():
        raise NotADirectoryError(f"submission folder {submission_dir}: not a folder")
    if input_dir.exists() and any(input_dir.iterdir()):
        raise FileExistsError(f"{input_dir} already exists and is not empty; choose a new "
                              "--out folder")
    input_dir.mkdir(parents=True, exist_ok=True)
    truth_inodes = set()
    for truth in sorted(Path(truth_dir).iterdir()) if truth_dir is not None else ():
        try:
            st = os.stat(truth)
        except OSError:
            continue
        truth_inodes.add((st.st_dev, st.st_ino))
    jobs: list[dict[str, Any]] = []
    notes: list[str] = []
    for entry in sorted(submission_dir.iterdir()):
        case = case_id(entry.name)
        st = os.lstat(entry)
        if case is None or not stat.S_ISREG(st.st_mode):
            what = "a link" if stat.S_ISLNK(st.st_mode) else "not a mask file"
            notes.append(f"skipped {entry.name}: {what}")
            continue
        pk = str(uuid.uuid5(_NAMESPACE, f"{seed}/{entry.name}"))
        image_pk = str(uuid.uuid5(_NAMESPACE, f"{seed}/{entry.name}/output"))
        suffix = entry.name[len(case):]
        folder = input_dir / pk / "output" / "images" / OUTPUT_SLUG
        folder.mkdir(parents=True)
        target = folder / f"{image_pk}.mha"
        if (st.st_dev, st.st_ino) in truth_inodes:
            target = folder / f"{image_pk}{suffix}"
            try:
                os.link(entry, target)
            except OSError as exc:
                shutil.rmtree(input_dir / pk)
                notes.append(f"skipped {entry.name}: a truth file itself (a hard link) that "
                             f"cannot be linked into the tree ({exc.strerror})")
                continue
            notes.append(f"kept {entry.name} as a hard link: it is a truth file itself")
        elif suffix == ".mha":
            shutil.copyfile(entry, target)
        else:
            try:
                volume = read_volume(entry)
            except NiftiError as exc:
                target = folder / f"{image_pk}{suffix}"
                shutil.copyfile(entry, target)
                notes.append(f"copied {entry.name} unconverted ({' '.join(str(exc).split())})")
            else:
                write_volume(volume.array, volume.geometry, target, compress=True)
        jobs.append(_job(pk, case, image_pk, target.name))
    random.Random(seed).shuffle(jobs)
    from ichbench.io.atomic import write_json

    write_json(input_dir / "predictions.json", jobs)
    return Tree(input_dir=input_dir, n_jobs=len(jobs), notes=tuple(notes))


def _job(pk: str, case: str, image_pk: str, output_name: str) -> dict[str, Any]:
    """One predictions.json entry, shaped like grand-challenge's."""
    def socket(slug: str, kind: str, relative_path: str, image: dict[str, str]) -> dict[str, Any]:
        return {"pk": None, "file": None, "value": None, "image": image,
                "interface": {"slug": slug, "kind": kind, "super_kind": "Image",
                              "relative_path": relative_path}}

    ct_pk = str(uuid.uuid5(_NAMESPACE, f"{pk}/input"))
    return {
        "pk": pk, "status": "Succeeded",
        "inputs": [socket(INPUT_SLUG, "Image", "images/ct",
                          {"pk": ct_pk, "name": f"{case}.mha"})],
        "outputs": [socket(OUTPUT_SLUG, "Segmentation", f"images/{OUTPUT_SLUG}",
                           {"pk": image_pk, "name": output_name})],
    }
