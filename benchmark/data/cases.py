"""The records every dataset reader returns: cases, datasets, their splits and errors.

A :class:`Dataset` is what a method trains on and a run scores: INSTANCE folders
(:mod:`ichbench.data.dataset`) and the other releases (:mod:`ichbench.data.releases`,
:mod:`ichbench.data.release_labels`) are read into the same records, so that the readers need
only this module and not each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ichbench.io.volumes import NiftiError, read_geometry

SPLITS = ("train", "validation", "test")


class DatasetError(ValueError):
    """A folder that cannot be used as a dataset. The message names the folder and the fix."""


@dataclass(frozen=True)
class Case:
    """One CT with its label (if the folder has one) and its released split.

    Attributes
    ----------
    case_id : str
        File name without ``.nii``/``.nii.gz`` (``"001"``).
    image : Path
        The CT.
    label : Path or None
        The ICH label on the CT's grid (0 background; non-zero hemorrhage: 1, a subtype
        code or 255, as the release stores it), None where the release holds none.
    split : str
        Released split: ``"train"``, ``"validation"`` or ``"test"`` (a release without
        one: ichbench's seeded split, :mod:`ichbench.data.releases`).
    sources : tuple of Path
        The release's own label files when ``label`` was derived from them (one per rater
        for MBH-Seg25, or a label whose header differed from its CT's; see
        :mod:`ichbench.data.release_labels`); empty when ``label`` is the release's file.
    """

    case_id: str
    image: Path
    label: Path | None
    split: str
    sources: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """The cases of one dataset folder.

    Attributes
    ----------
    root : Path
        The dataset folder.
    cases : tuple of Case
        Sorted by split (train, validation, test), then id.
    kind : str
        ``"synthetic"`` (evaluation labels present), ``"instance"`` (a real release:
        evaluation cases without labels), or another release's layout (``"bhsd"``,
        ``"mbhseg"``, ``"physionet"``; :mod:`ichbench.data.releases`).
    label_map : dict or None
        Label value → subtype name when the labels are subtype maps (BHSD's 1 EDH, 2 IPH,
        3 IVH, 4 SAH, 5 SDH: BHSD, MBH-Seg25, phantom v6); None for binary labels. Methods
        train on label > 0 either way; scoring can name the classes.
    notes : tuple of str
        One line per case whose label was derived (raters' consensus, header fixed).
    """

    root: Path
    cases: tuple[Case, ...]
    kind: str
    label_map: dict[int, str] | None = field(default=None, hash=False)
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        counts = ", ".join(f"{s} {len(self.ids(s))}" for s in SPLITS)
        return f"Dataset({str(self.root)!r}, kind={self.kind}, {counts})"

    def case(self, case_id: str) -> Case:
        """The case with id ``case_id``; KeyError naming the folder if there is none."""
        for case in self.cases:
            if case.case_id == case_id:
                return case
        raise KeyError(f"{self.root}: no case {case_id!r}")

    def ids(self, split: str) -> tuple[str, ...]:
        """Case ids of a released split (``"train"``, ``"validation"``, ``"test"``)."""
        if split not in SPLITS:
            raise ValueError(f"split {split!r}: expected one of {', '.join(SPLITS)}")
        return tuple(c.case_id for c in self.cases if c.split == split)

    def labels(self) -> dict[str, Path]:
        """Case id → label path, for the cases that have a label."""
        return {c.case_id: c.label for c in self.cases if c.label is not None}

    def fingerprint(self) -> str:
        """A hash over file names, file sizes and header geometry (no voxel data is read).

        Changes when a case is added, removed, renamed, re-gridded or rewritten with other
        content (compressed size); cheap enough to compute on every run start and resume.
        A derived label is represented by the release files it came from (``sources``).
        """
        digest = hashlib.sha256()
        for case in self.cases:
            for path in (case.image, *(case.sources or (case.label,))):
                if path is None:
                    continue
                rel = path.relative_to(self.root).as_posix()
                try:
                    geom = read_geometry(path).to_dict()
                except NiftiError as exc:
                    geom = {"error": str(exc)}
                record = {"file": rel, "bytes": path.stat().st_size, "split": case.split,
                          "geometry": geom}
                digest.update(json.dumps(record, sort_keys=True).encode())
        return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where generated datasets are cached: ``$ICHBENCH_CACHE`` or ``~/.cache/ichbench``."""
    env = os.environ.get("ICHBENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ichbench"
