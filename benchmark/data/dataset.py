"""Dataset folders in the INSTANCE 2022 layout: finding cases, their splits and a fingerprint.

Layout (the released INSTANCE archive, and the synthetic phantom which adds the labels the
organisers hold)::

    ROOT/train/data/001.nii.gz ... 100       (the archive may extract as train_2/)
    ROOT/train/label/001.nii.gz ... 100
    ROOT/evaluation/101.nii.gz ... 200       (CT only: validation 101-130, test 131-200)
    ROOT/evaluation_label/101.nii.gz ... 200 (synthetic only)

Case ids keep their INSTANCE meaning: an evaluation case with a numeric id up to 130 is a
validation case, above 130 a test case. Smaller synthetic datasets keep the 100/30/70
proportions and the numbering (see :func:`split_counts`).

Only file names and headers are read here; voxel data is read by whoever needs it, through
:mod:`ichbench.io.nifti`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ichbench.data.cases import SPLITS, Case, Dataset, DatasetError, cache_root
from ichbench.io.volumes import NiftiError, list_cases

TRAIN_DIRS = ("train", "train_2")
#: Marker file the synthetic generator writes at the dataset root (parameters per case).
SYNTH_MANIFEST = "ichbench_synthetic.json"
#: Largest numeric INSTANCE id that belongs to the validation share.
LAST_VALIDATION_ID = 130


#: The other layouts :func:`open_dataset` reads, for messages (:mod:`ichbench.data.releases`).
LAYOUT_HINT = ("a BHSD label_192/ folder (images/, 'ground truths'/), MBH-Seg25 case folders "
               "(<case>/image.nii.gz, label_annot_<k>.nii.gz) or PhysioNet CT-ICH "
               "(ct_scans/, masks/)")


def evaluation_split(case_id: str) -> str:
    """Released split of an evaluation case: ids up to 130 validation, others test."""
    return "validation" if case_id.isdigit() and int(case_id) <= LAST_VALIDATION_ID else "test"


def find_train_dir(root: Path) -> Path | None:
    """The training folder of a release (``train/`` or ``train_2/``), None if neither."""
    for name in TRAIN_DIRS:
        if (root / name / "data").is_dir():
            return root / name
    return None


def open_dataset(root: str | os.PathLike[str]) -> Dataset:
    """Read the case list of a dataset folder in the INSTANCE layout.

    Parameters
    ----------
    root
        Folder holding ``train/`` (or ``train_2/``), ``evaluation/`` and optionally
        ``evaluation_label/``.

    Raises
    ------
    DatasetError
        If the folder does not exist, has no training data, a training CT has no label, or
        a case id appears twice.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; pass the folder that holds train/ and "
                           "evaluation/ (or make one with 'ichbench data synth')")
    train_dir = find_train_dir(root)
    if train_dir is None:
        from ichbench.data.release_labels import open_release

        release = open_release(root)
        if release is not None:
            return release
        raise DatasetError(f"{root}: no train/data/ (or train_2/data/) folder; expected the "
                           "INSTANCE layout train/data/001.nii.gz, train/label/001.nii.gz, "
                           f"or {LAYOUT_HINT}")
    try:
        images = list_cases(train_dir / "data")
        labels = list_cases(train_dir / "label") if (train_dir / "label").is_dir() else {}
        evaluation = (list_cases(root / "evaluation") if (root / "evaluation").is_dir()
                      else {})
        eval_labels = (list_cases(root / "evaluation_label")
                       if (root / "evaluation_label").is_dir() else {})
    except NiftiError as exc:
        raise DatasetError(str(exc)) from None
    if not images:
        raise DatasetError(f"{train_dir / 'data'}: no .nii/.nii.gz files")
    missing = sorted(set(images) - set(labels))
    if missing:
        raise DatasetError(f"{train_dir / 'label'}: no label for training case(s) "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}; "
                           "every training CT needs train/label/<id>.nii.gz")
    both = sorted(set(images) & set(evaluation))
    if both:
        raise DatasetError(f"{root}: case id(s) {', '.join(both[:5])} appear in both "
                           "train/ and evaluation/; ids must be unique")
    cases = [Case(cid, path, labels[cid], "train") for cid, path in images.items()]
    for cid, path in evaluation.items():
        cases.append(Case(cid, path, eval_labels.get(cid), evaluation_split(cid)))
    order = {s: i for i, s in enumerate(SPLITS)}
    cases.sort(key=lambda c: (order[c.split], c.case_id))
    has_eval_labels = bool(evaluation) and all(cid in eval_labels for cid in evaluation)
    kind = "synthetic" if has_eval_labels or (root / SYNTH_MANIFEST).is_file() else "instance"
    return Dataset(root=root, cases=tuple(cases), kind=kind, label_map=_manifest_labels(root))


def _manifest_labels(root: Path) -> dict[int, str] | None:
    """The synthetic manifest's ``label_map`` (phantom v6 on), None for binary labels."""
    try:
        raw = json.loads((root / SYNTH_MANIFEST).read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in raw["label_map"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def split_counts(n_cases: int) -> tuple[int, int, int]:
    """Train / validation / test counts for a synthetic dataset of ``n_cases`` cases.

    The rule: validation = round(0.15 N), test = round(0.35 N) (halves round up), each at
    least 1; train = the rest. When N ≥ 10 the training share is raised to at least 5 cases
    by taking from test, then from validation, so that 5-fold cross-validation has one case
    per fold. N = 200 gives the INSTANCE 100/30/70; N = 20 gives 10/3/7; N = 10 gives 5/2/3.

    Raises
    ------
    ValueError
        If N is below 3 (one case per split) or above 200 (the INSTANCE numbering has room
        for 100 training, 30 validation and 70 test ids).
    """
    if not 3 <= n_cases <= 200:
        raise ValueError(f"--cases {n_cases}: expected 3 to 200 (one case per split at least; "
                         "INSTANCE numbering holds 200)")
    n_val = max(1, int(0.15 * n_cases + 0.5))
    n_test = max(1, int(0.35 * n_cases + 0.5))
    n_train = n_cases - n_val - n_test
    if n_cases >= 10:
        while n_train < 5 and n_test > 1:
            n_test, n_train = n_test - 1, n_train + 1
        while n_train < 5 and n_val > 1:
            n_val, n_train = n_val - 1, n_train + 1
    n_train = max(n_train, 1)
    return min(n_train, 100), min(n_val, 30), min(n_test, 70)


def synthetic_case_ids(n_cases: int) -> dict[str, tuple[str, ...]]:
    """INSTANCE-numbered ids per split: train 001.., validation 101.., test 131..."""
    n_train, n_val, n_test = split_counts(n_cases)
    return {"train": tuple(f"{i:03d}" for i in range(1, n_train + 1)),
            "validation": tuple(f"{i:03d}" for i in range(101, 101 + n_val)),
            "test": tuple(f"{i:03d}" for i in range(131, 131 + n_test))}

#: The records are defined in :mod:`ichbench.data.cases` and read here under their usual names.
__all__ = ["LAST_VALIDATION_ID", "LAYOUT_HINT", "SPLITS", "SYNTH_MANIFEST", "TRAIN_DIRS", "Case",
           "Dataset", "DatasetError", "cache_root", "evaluation_split", "find_train_dir",
           "open_dataset", "split_counts", "synthetic_case_ids"]
