"""The columns of cases.csv and the statistics over them, declared once.

Every reader and writer of per-case scores uses this module: the scorer writes
:data:`CSV_COLUMNS` in this order, ``summary.json`` summarises :data:`SUMMARY_METRICS`
with :func:`describe`, and the leaderboard and report read the same columns and take
their means with :func:`mean`. So a mean on the leaderboard is, by construction, the
``mean`` of ``summary.json``.

One meaning of "mean": the arithmetic mean over the rows whose value is not NaN.

- NaN marks an undefined value and is left out: RVD of a case with an empty truth
  (|G| = 0 divides by zero) and every metric of a ``truth_unreadable`` row (nothing
  could be measured). The number of values used is reported beside every mean
  (``count`` in ``summary.json``).
- Every other status is scored as an empty prediction and counts like any case.
- ``inf`` is kept: one infinite HD (an empty prediction) makes the mean infinite, as in
  the INSTANCE 2022 challenge.
- With no value at all the mean is NaN.

The INSTANCE columns end with ``message``; the lesion-wise and clinical-volume columns of
:mod:`ichbench.submissions.lesions` follow it (appended, so existing readers of the first
thirteen columns are unaffected).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ichbench.submissions.lesions import LESION_COLUMNS


def _is_count(name: str) -> bool:
    return name.endswith("_lesions") or name.startswith(("gt_lesions", "lesion_tp", "lesion_fp",
                                                         "lesion_fn", "pred_lesions"))


def _lesion_meaning(name: str) -> str:
    """One sentence for a lesion column (the rules: ichbench.metrics.lesions)."""
    fixed = {
        "gt_lesions": "Truth lesions (26-connected components).",
        "pred_lesions": "Predicted lesions (26-connected components).",
        "lesion_tp": "Truth lesions overlapped by a predicted lesion (≥ 1 voxel).",
        "lesion_fp": "Predicted lesions touching no truth lesion.",
        "lesion_fn": "Truth lesions touched by no predicted lesion.",
        "lesion_f1": "Lesion detection F1 of the case.",
        "fp_volume_ml": "Volume of the false-positive lesions in mL.",
        "lesionwise_dc": "Lesion-wise Dice (missed and false lesions count 0).",
        "lesionwise_hd95": "Lesion-wise HD95 in mm (missed and false lesions: the penalty).",
        "abs_volume_error_ml": "|predicted − truth volume| in mL.",
        "expansion_sized_error": "1 if the volume error is ≥ 6 mL or ≥ 33 % (as large as "
                                 "hematoma expansion), else 0.",
    }
    if name in fixed:
        return fixed[name]
    kind, _, bin_label = name.rpartition("_")
    what = {"gt_lesions": "Truth lesions", "lesion_tp": "Detected truth lesions",
            "recall": "Lesion recall"}.get(kind, name)
    return f"{what} in the truth-volume bin {bin_label}."


@dataclass(frozen=True)
class Column:
    """One column of cases.csv.

    Attributes
    ----------
    name : str
        Header text, and the attribute of ``CaseScore`` that holds the value.
    kind : str
        ``"text"`` (id, status, message), ``"metric"`` (a float; NaN = undefined) or
        ``"count"`` (a voxel count; NaN only for ``truth_unreadable``).
    meaning : str
        One sentence with the unit.
    summarised : bool
        Whether ``summary.json`` gives its statistics (:func:`describe`) and the
        leaderboard reads it per case.
    """

    name: str
    kind: str
    meaning: str
    summarised: bool = False


#: cases.csv, in order (the contract). ``message`` stays last.
CASE_COLUMNS: tuple[Column, ...] = (
    Column("case", "text", "Case id (the truth file name without .nii/.nii.gz)."),
    Column("status", "text", "What happened to the case (see ichbench.submissions.status)."),
    Column("dc", "metric", "Dice coefficient, 0 to 1.", summarised=True),
    Column("nsd", "metric", "Normalised surface Dice at the run's tolerance, 0 to 1.",
           summarised=True),
    Column("hd", "metric", "Hausdorff distance in mm (inf if one mask is empty).",
           summarised=True),
    Column("hd95", "metric", "95th-percentile Hausdorff distance in mm.", summarised=True),
    Column("rvd", "metric", "Absolute relative volume difference |P - G| / |G| (NaN for "
           "an empty truth).", summarised=True),
    Column("gt_volume_ml", "metric", "Truth volume in mL.", summarised=True),
    Column("pred_volume_ml", "metric", "Predicted volume in mL.", summarised=True),
    Column("gt_voxels", "count", "Truth foreground voxels."),
    Column("pred_voxels", "count", "Predicted foreground voxels."),
    Column("tp_voxels", "count", "Voxels in both masks."),
    Column("message", "text", "One line: the file and the fix, or remarks on an ok case."),
    # Lesion-wise and clinical-volume columns (ichbench.submissions.lesions), appended after
    # the INSTANCE columns so that those keep their positions; summary.json pools them in
    # its "lesions" and "clinical" blocks rather than per column.
    *(Column(name, "count" if _is_count(name) else "metric", _lesion_meaning(name))
      for name in LESION_COLUMNS),
)

#: Column names of cases.csv, in order.
CSV_COLUMNS: tuple[str, ...] = tuple(c.name for c in CASE_COLUMNS)

#: Columns summarised in summary.json and read per case by the reports, in order.
SUMMARY_METRICS: tuple[str, ...] = tuple(c.name for c in CASE_COLUMNS if c.summarised)

#: Plausible range of each metric (closed); a value outside it is not a score.
VALID_RANGE: dict[str, tuple[float, float]] = {
    "dc": (0.0, 1.0), "nsd": (0.0, 1.0), "hd": (0.0, math.inf), "hd95": (0.0, math.inf),
    "rvd": (0.0, math.inf), "gt_volume_ml": (0.0, math.inf),
    "pred_volume_ml": (0.0, math.inf),
    # Lesion-wise columns (issue 23: `--ranking lesionwise` ranked lesion_f1 = inf first):
    # fractions in [0, 1]; counts, volumes and distances non-negative.
    **{name: ((0.0, 1.0) if name in ("lesion_f1", "lesionwise_dc", "expansion_sized_error")
              or name.startswith("recall_") else (0.0, math.inf))
       for name in LESION_COLUMNS},
}


def mean(values: Iterable[float] | np.ndarray) -> float:
    """The one mean of ichbench: over the non-NaN values, ``inf`` kept, NaN if none.

    Examples
    --------
    >>> mean([1.0, 3.0, float("nan")]), mean([1.0, float("inf")]), mean([float("nan")])
    (2.0, inf, nan)
    """
    data = np.asarray(list(values) if not isinstance(values, np.ndarray) else values,
                      dtype=float).ravel()
    data = data[~np.isnan(data)]
    if data.size == 0:
        return math.nan
    if np.isinf(data).any():
        return float(np.sum(data[np.isinf(data)]))  # +inf (or NaN for +inf and -inf)
    return float(np.mean(data))


def describe(values: Iterable[float]) -> dict[str, float | int]:
    """Mean, std, median, quartiles, min, max and count of the non-NaN values.

    ``mean`` is :func:`mean`; ``std`` is the population standard deviation (``ddof=0``),
    infinite with the mean; ``median``, ``q1``, ``q3`` interpolate linearly between order
    statistics (NumPy's default) and stay ``inf`` next to an infinite value.

    Examples
    --------
    >>> describe([1.0, 3.0, float("nan")])["mean"], describe([1.0, float("inf")])["mean"]
    (2.0, inf)
    """
    data = np.sort(np.asarray([v for v in values if not math.isnan(v)], dtype=float))
    n = int(data.size)
    if n == 0:
        nan = float("nan")
        return {"mean": nan, "std": nan, "median": nan, "q1": nan, "q3": nan, "min": nan,
                "max": nan, "count": 0}
    average = mean(data)
    std = math.inf if math.isinf(average) else float(np.std(data))
    return {"mean": average, "std": std, "median": _quantile(data, 0.5),
            "q1": _quantile(data, 0.25), "q3": _quantile(data, 0.75),
            "min": float(data[0]), "max": float(data[-1]), "count": n}


def _quantile(sorted_data: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile that stays inf, not NaN, next to an infinite value."""
    h = (sorted_data.size - 1) * q
    lo, hi = math.floor(h), math.ceil(h)
    low, high = float(sorted_data[lo]), float(sorted_data[hi])
    frac = h - lo
    if lo == hi or frac == 0.0 or low == high:
        return low
    if math.isinf(high) or math.isinf(low):
        return high if math.isinf(high) else low
    return low + (high - low) * frac


def format_number(value: float | int) -> str:
    """Text of one number in cases.csv: ``inf``, ``nan``, an int, or a round-trip float."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)
