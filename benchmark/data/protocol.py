"""The evaluation protocol: which cases train, validate and test, and the cross-validation folds.

Three situations:

* **Evaluation labels exist** (synthetic phantom): the released INSTANCE splits by id,
  train 001-100, validation 101-130, test 131-200 (proportional for smaller datasets).
* **A release without a split** (BHSD, MBH-Seg25, PhysioNet CT-ICH): the split the reader
  made, seeded by case id in INSTANCE's 100:30:70 proportion
  (:func:`ichbench.data.releases.release_split`); its cases without labels are ``"unlabeled"``.
* **Only training labels exist** (a real INSTANCE release): the labelled training cases are
  split by a seeded shuffle into train / validation / test as 70 / 10 / 20 % (100 cases →
  70/10/20; each hold-out at least one case), so that cross-validation keeps most of the
  scarce labels while the test hold-out stays large enough to rank on; the evaluation
  cases become ``"unlabeled"``: they are predicted into a ready-to-submit folder but not
  scored.

Folds: the training ids, shuffled with the protocol seed, cut into ``n_folds`` parts of
near-equal size; ``folds[k]`` are the validation ids of fold k. A protocol records the
dataset fingerprint, and :meth:`Protocol.check` refuses a dataset that changed since.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ichbench.io.atomic import write_json
from ichbench.data.dataset import Dataset
from ichbench.io.jsonfile import RecordError, read_json, shorten

PROTOCOL_VERSION = 1


class ProtocolError(ValueError):
    """A protocol that cannot be made, read, or used with the given dataset."""


@dataclass(frozen=True)
class Protocol:
    """Case ids per split and fold, with the seed and the dataset fingerprint.

    Attributes
    ----------
    train, validation, test : tuple of str
        Labelled case ids per split (sorted). Validation and test are scored.
    unlabeled : tuple of str
        Cases without labels (a real release's evaluation cases): predicted, not scored.
    folds : tuple of tuple of str
        ``folds[k]`` = the validation ids of cross-validation fold k; the folds partition
        ``train``.
    seed : int
        Seed of the hold-out and fold shuffles.
    fingerprint : str
        :meth:`ichbench.data.dataset.Dataset.fingerprint` of the dataset it was made for.
    """

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]
    unlabeled: tuple[str, ...]
    folds: tuple[tuple[str, ...], ...]
    seed: int
    fingerprint: str

    def __repr__(self) -> str:
        return (f"Protocol(train {len(self.train)}, validation {len(self.validation)}, "
                f"test {len(self.test)}, unlabeled {len(self.unlabeled)}, "
                f"{self.n_folds} folds, seed {self.seed}, fingerprint {self.fingerprint})")

    @property
    def n_folds(self) -> int:
        """Number of cross-validation folds."""
        return len(self.folds)

    def fold_val(self, k: int) -> tuple[str, ...]:
        """Validation ids of fold ``k`` (its out-of-fold cases)."""
        self._check_fold(k)
        return self.folds[k]

    def fold_train(self, k: int) -> tuple[str, ...]:
        """Training ids of fold ``k``: every training case not in ``folds[k]``."""
        self._check_fold(k)
        held = set(self.folds[k])
        return tuple(c for c in self.train if c not in held)

    def _check_fold(self, k: int) -> None:
        if not 0 <= k < self.n_folds:
            raise ProtocolError(f"fold {k}: expected 0 to {self.n_folds - 1}")

    def ids(self, split: str) -> tuple[str, ...]:
        """Ids of ``split`` (train, validation, test, unlabeled)."""
        if split not in ("train", "validation", "test", "unlabeled"):
            raise ProtocolError(f"split {split!r}: expected train, validation, test or "
                                "unlabeled")
        return getattr(self, split)

    def scored_splits(self) -> tuple[str, ...]:
        """The non-empty labelled evaluation splits, among ("validation", "test")."""
        return tuple(s for s in ("validation", "test") if getattr(self, s))

    def predict_splits(self) -> tuple[str, ...]:
        """Every non-empty non-training split, including ``"unlabeled"``."""
        return tuple(s for s in ("validation", "test", "unlabeled") if getattr(self, s))

    def check(self, dataset: Dataset) -> None:
        """Refuse a dataset other than the one this protocol was made for.

        Raises
        ------
        ProtocolError
            If the dataset's fingerprint differs (files added, removed or rewritten).
        """
        found = dataset.fingerprint()
        if found != self.fingerprint:
            raise ProtocolError(
                f"{dataset.root}: dataset fingerprint {found} differs from the protocol's "
                f"{self.fingerprint}; the data changed since the run started; start a new run "
                "(or restore the original data) instead of resuming")

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON form (the content of ``protocol.json``)."""
        out: dict[str, object] = {"protocol_version": PROTOCOL_VERSION}
        out.update(asdict(self))
        return out


def make_protocol(dataset: Dataset, *, n_folds: int = 5, seed: int = 0) -> Protocol:
    """Make the protocol for ``dataset``.

    Parameters
    ----------
    dataset
        From :func:`ichbench.data.dataset.open_dataset`.
    n_folds
        Cross-validation folds over the training cases.
    seed
        Seeds the hold-out (real release only) and the fold assignment.

    Raises
    ------
    ProtocolError
        If there are fewer training cases than folds.
    """
    if n_folds < 2:
        raise ProtocolError(f"n_folds={n_folds}: expected at least 2")
    rng = np.random.default_rng(seed)
    evaluation = [c for c in dataset.cases if c.split != "train"]
    presplit = dataset.kind not in ("synthetic", "instance")  # a release ichbench split
    if presplit or (evaluation and all(c.label is not None for c in evaluation)):
        train = list(dataset.ids("train"))
        validation = [c.case_id for c in evaluation
                      if c.split == "validation" and c.label is not None]
        test = [c.case_id for c in evaluation if c.split == "test" and c.label is not None]
        unlabeled: list[str] = [c.case_id for c in evaluation if c.label is None]
    else:
        labelled = sorted(dataset.ids("train"))
        if len(labelled) < 3:
            raise ProtocolError(f"{dataset.root}: {len(labelled)} labelled case(s); a hold-out "
                                "needs at least 3 (train, validation, test)")
        n_val, n_test = holdout_counts(len(labelled))
        order = [labelled[i] for i in rng.permutation(len(labelled))]
        validation, test = order[:n_val], order[n_val:n_val + n_test]
        train = order[n_val + n_test:]
        unlabeled = [c.case_id for c in evaluation]
    train = sorted(train)
    if len(train) < n_folds:
        raise ProtocolError(f"{dataset.root}: {len(train)} training case(s) for {n_folds} "
                            "folds; generate more cases or lower the number of folds")
    shuffled = [train[i] for i in rng.permutation(len(train))]
    folds = tuple(tuple(sorted(str(c) for c in part))
                  for part in np.array_split(np.array(shuffled, dtype=object), n_folds))
    return Protocol(train=tuple(train), validation=tuple(sorted(validation)),
                    test=tuple(sorted(test)), unlabeled=tuple(sorted(unlabeled)),
                    folds=folds, seed=seed, fingerprint=dataset.fingerprint())


def holdout_counts(n_labelled: int) -> tuple[int, int]:
    """Validation and test hold-out sizes for a release with ``n_labelled`` training labels.

    10 % and 20 % (rounded, at least one each), e.g. 100 → (10, 20), 20 → (2, 4).
    """
    return max(1, round(0.10 * n_labelled)), max(1, round(0.20 * n_labelled))


def save_protocol(protocol: Protocol, path: str | os.PathLike[str]) -> None:
    """Write ``protocol.json`` atomically."""
    write_json(path, protocol.to_dict())


def load_protocol(path: str | os.PathLike[str], *, dataset: Dataset | None = None) -> Protocol:
    """Read ``protocol.json``; with ``dataset``, also check that the data did not change.

    Raises
    ------
    ProtocolError
        If the file is missing or malformed, or (with ``dataset``) the fingerprint differs.
    """
    path = Path(path)
    try:
        raw = read_json(path)
        protocol = Protocol(
            train=tuple(raw["train"]), validation=tuple(raw["validation"]),
            test=tuple(raw["test"]), unlabeled=tuple(raw["unlabeled"]),
            folds=tuple(tuple(f) for f in raw["folds"]), seed=int(raw["seed"]),
            fingerprint=str(raw["fingerprint"]))
    except FileNotFoundError:
        raise ProtocolError(f"{path}: no such file; a run folder holds protocol.json") from None
    except RecordError as exc:  # not a regular file, not UTF-8, not JSON, too deep
        raise ProtocolError(f"{exc}; the run folder is damaged") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"{path}: not a valid protocol.json ({type(exc).__name__}: "
                            f"{shorten(exc, 120)})") from None
    if dataset is not None:
        protocol.check(dataset)
    return protocol
