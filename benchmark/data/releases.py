"""The releases users bring besides INSTANCE 2022, read as they unpack: BHSD, MBH-Seg25, CT-ICH.

Layouts (the folder a user points at may be the one shown or its parent)::

    BHSD (Wu et al. 2023)       label_192/images/ID_1a2b3c4d.nii.gz
                                label_192/ground truths/ID_1a2b3c4d.nii.gz   (labels 0-5)
    MBH-Seg25                   <case>/image.nii.gz
                                <case>/label_annot_1.nii.gz, label_annot_2.nii.gz, ...
                                (one mask per rater; a folder without masks is unlabeled)
    PhysioNet CT-ICH (Hssayeni) ct_scans/049.nii, masks/049.nii               (0/255 masks)

None of them ships a split. ichbench makes one (:func:`release_split`): the labelled cases
are ranked by a hash of ``(seed, case id)`` and cut into train / validation / test in
INSTANCE's 100:30:70 proportion (:func:`release_split_counts`). The split depends only on
the seed and the set of case ids, never on listing order or the machine; it is recorded,
like every split, in the run's ``protocol.json``. Cases without a label are ``unlabeled``
(predicted, not scored).

Labels are subtype maps in BHSD and MBH-Seg25 (:data:`BHSD_LABELS`) and 0/255 in CT-ICH;
methods train on the merged ICH mask (label > 0) either way. Only file names are read
here; :mod:`ichbench.data.release_labels` turns a case's label files into one usable label.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ichbench.io.volumes import NiftiError, list_cases

#: BHSD's label values (also MBH-Seg24/25's and the phantom's): code → subtype.
BHSD_LABELS: dict[int, str] = {1: "EDH", 2: "IPH", 3: "IVH", 4: "SAH", 5: "SDH"}
#: The layouts this module reads, with the name a message shows.
RELEASES: dict[str, str] = {"bhsd": "BHSD", "mbhseg": "MBH-Seg25",
                            "physionet": "PhysioNet CT-ICH"}
#: Label values each release uses (besides 0): ``data check`` warns about any other.
RELEASE_VALUES: dict[str, frozenset[int]] = {"bhsd": frozenset(BHSD_LABELS),
                                             "mbhseg": frozenset(BHSD_LABELS),
                                             "physionet": frozenset({255})}
#: Seed of the split of a release that has none (fixed: every run sees the same split).
RELEASE_SPLIT_SEED = 0
BHSD_FOLDER = "label_192"
BHSD_IMAGES, BHSD_LABELS_DIR = "images", "ground truths"
MBH_IMAGE = "image"
_MBH_RATER = re.compile(r"^label_annot_(\d+)$")


class ReleaseError(ValueError):
    """A release folder that cannot be read; the message names the file and the fix."""


@dataclass(frozen=True)
class ReleaseCase:
    """One CT of a release with its label file(s), as found on disk.

    Attributes
    ----------
    case_id : str
        BHSD/CT-ICH: the file name without suffix (``"ID_1a2b3c4d"``, ``"049"``);
        MBH-Seg25: the case folder's name.
    image : Path
        The CT.
    labels : tuple of Path
        The label file (BHSD, CT-ICH), one file per rater in rater order (MBH-Seg25), or
        empty for an unlabeled case.
    """

    case_id: str
    image: Path
    labels: tuple[Path, ...]


@dataclass(frozen=True)
class Release:
    """The cases of one release folder.

    Attributes
    ----------
    layout : str
        A key of :data:`RELEASES`.
    folder : Path
        Where the layout was found (``label_192/`` for BHSD, even when its parent was given).
    cases : tuple of ReleaseCase
        Sorted by id.
    orphans : tuple of Path
        Label files without a CT (ignored; ``data check`` lists them).
    """

    layout: str
    folder: Path
    cases: tuple[ReleaseCase, ...]
    orphans: tuple[Path, ...] = ()

    @property
    def name(self) -> str:
        """The release's name for messages (``"BHSD"``)."""
        return RELEASES[self.layout]

    def __repr__(self) -> str:
        labelled = sum(bool(c.labels) for c in self.cases)
        return (f"Release({self.name}, {str(self.folder)!r}, {len(self.cases)} cases, "
                f"{labelled} labelled)")


def _layout_at(folder: Path) -> str | None:
    """The release layout of exactly this folder, or None."""
    if (folder / BHSD_IMAGES).is_dir() and (folder / BHSD_LABELS_DIR).is_dir():
        return "bhsd"
    if (folder / "ct_scans").is_dir() and (folder / "masks").is_dir():
        return "physionet"
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    if any(e.is_dir() and _mbh_image(e) is not None for e in entries):
        return "mbhseg"
    return None


def find_release(root: Path) -> tuple[str, Path] | None:
    """The layout of ``root`` or of the one sub-folder that holds a release, else None.

    ``root`` itself is tried first; then BHSD's ``label_192/``; then every sub-folder,
    used only when exactly one of them is a release (the folder the archive unpacked into).
    """
    layout = _layout_at(root)
    if layout is not None:
        return layout, root
    if _layout_at(root / BHSD_FOLDER) == "bhsd":
        return "bhsd", root / BHSD_FOLDER
    try:
        children = sorted(e for e in root.iterdir() if e.is_dir())
    except OSError:
        return None
    found = [(lay, child) for child in children if (lay := _layout_at(child)) is not None]
    return found[0] if len(found) == 1 else None


def read_release(root: str | Path) -> Release | None:
    """Read the case list of a BHSD, MBH-Seg25 or CT-ICH folder (None: not such a folder).

    Raises
    ------
    ReleaseError
        If two files share a case id, or no CT is found.
    """
    root = Path(root)
    found = find_release(root)
    if found is None:
        return None
    layout, folder = found
    try:
        if layout == "mbhseg":
            cases, orphans = _read_mbhseg(folder)
        else:
            images_dir, labels_dir = ((folder / BHSD_IMAGES, folder / BHSD_LABELS_DIR)
                                      if layout == "bhsd"
                                      else (folder / "ct_scans", folder / "masks"))
            images, labels = list_cases(images_dir), list_cases(labels_dir)
            cases = [ReleaseCase(cid, path, (labels[cid],) if cid in labels else ())
                     for cid, path in images.items()]
            orphans = [path for cid, path in labels.items() if cid not in images]
    except NiftiError as exc:
        raise ReleaseError(str(exc)) from None
    if not cases:
        raise ReleaseError(f"{folder}: a {RELEASES[layout]} folder without any CT; expected "
                           f"{_expected(layout)}")
    return Release(layout, folder, tuple(sorted(cases, key=lambda c: c.case_id)),
                   tuple(orphans))


def _expected(layout: str) -> str:
    return {"bhsd": "images/<id>.nii.gz with 'ground truths'/<id>.nii.gz",
            "mbhseg": "<case>/image.nii.gz with <case>/label_annot_<k>.nii.gz",
            "physionet": "ct_scans/NNN.nii with masks/NNN.nii"}[layout]


def _mbh_image(folder: Path) -> Path | None:
    for name in (f"{MBH_IMAGE}.nii.gz", f"{MBH_IMAGE}.nii"):
        if (folder / name).exists():
            return folder / name
    return None


def _read_mbhseg(folder: Path) -> tuple[list[ReleaseCase], list[Path]]:
    """MBH-Seg25: one folder per case; raters ordered by their number ``k``."""
    cases: list[ReleaseCase] = []
    for entry in sorted(e for e in folder.iterdir() if e.is_dir()):
        files = list_cases(entry)
        if MBH_IMAGE not in files:
            continue
        raters = sorted((int(m.group(1)), path) for cid, path in files.items()
                        if (m := _MBH_RATER.match(cid)) is not None)
        numbers = [k for k, _ in raters]
        if len(set(numbers)) != len(numbers):
            raise NiftiError(f"{entry}: two masks for one rater number "
                             f"({', '.join(p.name for _, p in raters)}); keep one per rater")
        cases.append(ReleaseCase(entry.name, files[MBH_IMAGE], tuple(p for _, p in raters)))
    return cases, []


def release_split_counts(n_labelled: int) -> tuple[int, int, int]:
    """Train / validation / test counts for a release's ``n_labelled`` labelled cases.

    INSTANCE's 100:30:70: validation = round(0.15 N), test = round(0.35 N) (halves round
    up), each at least one case; train = the rest. BHSD's 192 → 96/29/67, CT-ICH's 75 →
    38/11/26.

    Raises
    ------
    ReleaseError
        If N < 3 (one case per split at least).
    """
    if n_labelled < 3:
        raise ReleaseError(f"{n_labelled} labelled case(s); a split needs at least 3 "
                           "(train, validation, test)")
    n_val = max(1, int(0.15 * n_labelled + 0.5))
    n_test = max(1, int(0.35 * n_labelled + 0.5))
    return n_labelled - n_val - n_test, n_val, n_test


def release_split(case_ids: list[str] | tuple[str, ...], *,
                  seed: int = RELEASE_SPLIT_SEED) -> dict[str, tuple[str, ...]]:
    """Split labelled case ids into train / validation / test (100:30:70), by seed and id.

    Each id is ranked by ``sha256(f"{seed}:{id}")``; the first ranks go to validation, the
    next to test, the rest to train (counts from :func:`release_split_counts`). The result
    depends only on the seed and the set of ids: not on listing order, platform or NumPy
    version, and adding a case moves few others.

    Returns
    -------
    dict
        ``{"train": ..., "validation": ..., "test": ...}``, each sorted.
    """
    ids = sorted(set(case_ids))
    _, n_val, n_test = release_split_counts(len(ids))
    ranked = sorted(ids, key=lambda cid: (hashlib.sha256(f"{seed}:{cid}".encode()).digest(),
                                          cid))
    return {"train": tuple(sorted(ranked[n_val + n_test:])),
            "validation": tuple(sorted(ranked[:n_val])),
            "test": tuple(sorted(ranked[n_val:n_val + n_test]))}

