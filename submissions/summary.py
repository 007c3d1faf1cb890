"""Aggregating case rows into summary.json, and writing cases.csv.

Number formats (both files):

- cases.csv writes floats with ``repr`` (shortest text that reads back to the same
  float), infinity as ``inf`` and unknown/undefined values as ``nan`` (also for the
  integer voxel counts of a ``truth_unreadable`` row). ``float()``, pandas and numpy read
  all three back.
- summary.json is written with ``allow_nan``: infinity is ``Infinity``, undefined is
  ``NaN`` (Python's ``json`` and pandas read them; strict JSON parsers do not).

Statistics per metric (:func:`ichbench.submissions.columns.describe`, the same mean as
the leaderboard's), over the rows whose value is not NaN:

- ``count`` is the number of values used. NaN marks an undefined value and is left out:
  RVD of a case with an empty truth (|G| = 0 divides by zero; see
  :mod:`ichbench.metrics`) and every metric of a ``truth_unreadable`` row. All other
  statuses are scored as empty predictions and count like any case.
- ``mean`` is infinite as soon as one value is (HD of an empty prediction is inf, as in
  the challenge); ``std`` (population, ``ddof=0``) is then infinite too.
- ``median``, ``q1``, ``q3`` use linear interpolation between order statistics (NumPy's
  default), with inf when the upper neighbour is inf.
- With no value at all every statistic is NaN and ``count`` is 0.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ichbench.io.atomic import write_text
from ichbench.metrics import DEFAULT_HD_PERCENTILE
from ichbench.submissions.case import CaseScore
from ichbench.submissions.columns import CSV_COLUMNS, SUMMARY_METRICS, describe, format_number
from ichbench.submissions.lesions import LESION_COLUMNS, lesion_summary
from ichbench.submissions.status import Status

__all__ = ["CSV_COLUMNS", "SUMMARY_METRICS", "describe", "format_number", "status_warnings",
           "summarize", "write_cases_csv"]


def status_warnings(counts: Mapping[str, int], *, see: str) -> list[str]:
    """The run-level warnings a status count implies (``see``: where the messages are)."""
    out = []
    not_ok = sum(n for status, n in counts.items() if status not in ("ok", "truth_unreadable"))
    if not_ok:
        out.append(f"{not_ok} case(s) not ok were scored as empty predictions; see {see}")
    if counts.get("truth_unreadable"):
        out.append(f"{counts['truth_unreadable']} case(s) have an unusable truth file and "
                   "are left out of every statistic")
    return out


def summarize(scores: Sequence[CaseScore], *, tolerance_mm: float, version: str,
              predictions: str, truth: str, ignored_files: Sequence[str],
              warnings: Sequence[str]) -> dict[str, Any]:
    """Build summary.json (the contract's keys, in its order)."""
    counts = {status.value: 0 for status in Status}
    for score in scores:
        counts[score.status.value] += 1
    all_warnings = list(warnings)
    all_warnings += [f"case {s.case}: {w}" for s in scores for w in s.warnings]
    all_warnings += status_warnings(counts, see="the message column of cases.csv")
    return {
        "ichbench_version": version,
        "tolerance_mm": tolerance_mm,
        "hd_percentile": DEFAULT_HD_PERCENTILE,
        "n_cases": len(scores),
        "status_counts": counts,
        "metrics": {m: describe(float(getattr(s, m)) for s in scores)
                    for m in SUMMARY_METRICS},
        "ignored_files": list(ignored_files),
        "warnings": all_warnings,
        "predictions": predictions,
        "truth": truth,
        # --- issue 13: pooled lesion counts, recall by volume, clinical agreement ---
        **lesion_summary([s.lesion for s in scores], [s.gt_volume_ml for s in scores],
                         [s.pred_volume_ml for s in scores], describe),
    }


def write_cases_csv(path: str | os.PathLike[str], scores: Sequence[CaseScore]) -> None:
    """Write cases.csv atomically, one row per score, columns :data:`CSV_COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for score in scores:
        row = [score.case, score.status.value]
        row += [format_number(getattr(score, c)) for c in CSV_COLUMNS[2:12]]
        row.append(" ".join(score.message.split()))  # always one line
        # --- issue 13: lesion columns, NaN where unknown (truth_unreadable) ---
        row += [format_number(score.lesion.get(c, math.nan)) for c in LESION_COLUMNS]
        writer.writerow(row)
    write_text(path, buffer.getvalue())
