"""Did two runs give the same numbers? Masks compared voxel for voxel, scores row for row.

A benchmark's claim is only as good as its repeatability: the same seed, data and machine
must give the same predictions (ichbench seeds the coarse stage and nnU-Net's training, see
:mod:`ichbench.baselines.nnunet_trainers`). This compares two run folders of one protocol —
the masks of ``predictions/<split>/`` and ``folds/<k>/oof/`` (decoded, so gzip time stamps do
not count) and each ``scores/<split>/cases.csv`` — and names the first differences::

    python -m ichbench.reports.reproduce RUN_A RUN_B

Exit status 0 when everything the two runs share is identical, 1 otherwise (also when they
share no mask).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Reproduction:
    """What two run folders share and where they differ (paths relative to the runs)."""

    masks: tuple[str, ...]
    different_masks: tuple[str, ...]
    only_in_one: tuple[str, ...]
    tables: tuple[str, ...]
    different_tables: tuple[str, ...]

    @property
    def identical(self) -> bool:
        """Every shared mask and score table is identical, and at least one mask is shared."""
        return bool(self.masks) and not self.different_masks and not self.different_tables

    def format(self) -> str:
        """A few lines for a person: counts, then the first differences."""
        lines = [f"{len(self.masks)} masks compared, {len(self.different_masks)} differ; "
                 f"{len(self.tables)} cases.csv compared, {len(self.different_tables)} differ"
                 + (f"; {len(self.only_in_one)} masks in one run only" if self.only_in_one
                    else "")]
        lines += [f"  differs: {m}" for m in (*self.different_masks, *self.different_tables)[:10]]
        lines.append("identical" if self.identical else "NOT identical")
        return "\n".join(lines)


def _masks(run: Path) -> set[str]:
    found = [*run.glob("predictions/*/*.nii.gz"), *run.glob("folds/*/oof/*.nii.gz")]
    return {p.relative_to(run).as_posix() for p in found}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def compare_run_folders(run_a: str | Path, run_b: str | Path) -> Reproduction:
    """Compare the masks and ``cases.csv`` tables two run folders share.

    Raises
    ------
    ValueError
        If either path is not a folder.
    """
    from ichbench.io.volumes import read_volume

    a, b = Path(run_a), Path(run_b)
    for run in (a, b):
        if not run.is_dir():
            raise ValueError(f"{run}: not a run folder")
    masks_a, masks_b = _masks(a), _masks(b)
    shared = sorted(masks_a & masks_b)
    differ = [m for m in shared
              if not np.array_equal(read_volume(a / m).array, read_volume(b / m).array)]
    tables = sorted(p.relative_to(a).as_posix() for p in a.glob("scores/*/cases.csv")
                    if (b / p.relative_to(a)).is_file())
    differ_tables = [t for t in tables if _rows(a / t) != _rows(b / t)]
    return Reproduction(masks=tuple(shared), different_masks=tuple(differ),
                        only_in_one=tuple(sorted(masks_a ^ masks_b)), tables=tuple(tables),
                        different_tables=tuple(differ_tables))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ichbench.reports.reproduce RUN_A RUN_B``: print the comparison."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m ichbench.reports.reproduce RUN_A RUN_B", file=sys.stderr)
        return 2
    try:
        result = compare_run_folders(*args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.format())
    return 0 if result.identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
