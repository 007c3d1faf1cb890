"""Scoring against several raters as MBH-Seg25's evaluation toolkit does.

MBH-Seg25 ships one mask per rater and its toolkit (``evaluate_diverse_performance``
over ``metrics_set``) scores a set of predictions against the set of raters, per case,
then averages each value over the cases. With R_1 … R_K the rater masks and P_1 … P_M
the predictions of one case (M = 1 for an ordinary submission), binary masks, and TD the
toolkit's Dice (2|A ∩ B| + 10⁻⁸) / (|A| + |B| + 10⁻⁸) (:func:`toolkit_dice`: 1 when both
masks are empty, 10⁻⁸/|B| when only A is), its binary definitions are:

- the Dice matrix D[k, i] = TD(R_k, P_i) (raters as rows);
- **Dice_max** = mean_i max_k D[k, i]: each prediction's best rater, averaged over the
  predictions (M = 1: the best rater's Dice);
- **Dice_max_reverse** = mean_k max_i D[k, i]: each rater's best prediction, averaged
  over the raters (M = 1: the mean per-rater Dice);
- **Dice_max_mean** = (Dice_max + Dice_max_reverse) / 2;
- **Dice_match**: the Hungarian assignment (:func:`scipy.optimize.linear_sum_assignment`)
  on the K × M cost 1 − D matches min(K, M) pairs; a matched rater counts its pair's
  Dice, a rater left unmatched (K > M) its best prediction's, and Dice_match is the mean
  over the K raters (predictions left unmatched when M > K count nothing). M = 1: the
  mean per-rater Dice;
- **Dice_soft**: for each threshold t in 0.1, 0.3, 0.5, 0.7, 0.9, TD of the voxels marked
  by more than a share t of the raters and those marked by more than a share t of the
  predictions; the mean of the five (a share equal to t does not count);
- **GED** = 2 E[d(R, P)] − E[d(R, R′)] − E[d(P, P′)], each E the mean over *all* ordered
  pairs of the sets, identical pairs included, with d(a, b) = 1 − |a ∩ b| / (|a ∪ b| +
  10⁻⁸): the IoU of two empty masks is 0, so d(∅, ∅) = 1, an empty mask's distance to
  itself included. Before that: 0 when every rater and every prediction is empty, 1 when
  only one of the two sets is all empty.

Beside them, not from the toolkit and with ichbench's DC
(:func:`ichbench.metrics.dice_coefficient`, the per-rater rows' Dice: ε = 10⁻⁵, exactly 0
when one mask is empty): the per-rater Dice DC(R_k, P_1), their mean (``dice_mean``), and
the **inter-rater Dice** DC(R_k, R_l) over the K(K−1)/2 pairs k < l (the human ceiling);
NaN with one rater.

Why TD and not DC for the toolkit's values: the 10⁻⁸ is not negligible there. An empty
mask against a non-empty one scores 10⁻⁸/n instead of 0, and such tiny values decide the
Hungarian assignment when K > M ≥ 2, hence which rater is left to its best prediction:
with DC, Dice_match can differ from the toolkit's by 0.2 (a test: 1/3 against 5/9). TD
is computed in float32, as the toolkit computes it, for the same reason: values float64
would tell apart (an empty-mask term of 10⁻⁹) are ties in float32, and scipy breaks ties
by position. The toolkit's ``--multiclass`` mode (one macro Dice over the classes a rater
marks, a one-hot GED) is not reproduced: the caller scores each class on its ``== c``
masks with the binary definitions above.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ichbench.metrics.case import dice_coefficient

#: Dice_soft's thresholds on the share of raters (of predictions) marking a voxel, in
#: tenths: 0.1, 0.3, 0.5, 0.7, 0.9.
SOFT_THRESHOLDS_TENTHS: tuple[int, ...] = (1, 3, 5, 7, 9)

#: The toolkit's smoothing term in GED's IoU denominator (it makes IoU(∅, ∅) = 0).
GED_IOU_EPSILON = 1e-8

#: The toolkit's smoothing term of its Dice, in numerator and denominator.
TOOLKIT_DICE_EPSILON = 1e-8


@dataclass(frozen=True)
class RaterMetrics:
    """A prediction (or several) against the raters of one case.

    Attributes
    ----------
    dice_per_rater : tuple of float
        DC(R_k, P) per rater, ichbench's Dice (the first prediction's, when there are
        several).
    dice_mean : float
        Mean of ``dice_per_rater``.
    dice_max, dice_max_reverse, dice_max_mean, dice_match, dice_soft : float
        The toolkit's values (module docstring).
    ged : float
        The toolkit's generalized energy distance (module docstring).
    interrater_dice : tuple of float
        DC(R_k, R_l) for k < l, in the order (1, 2), (1, 3), …, (2, 3), …
    """

    dice_per_rater: tuple[float, ...]
    dice_mean: float
    dice_max: float
    dice_max_reverse: float
    dice_max_mean: float
    dice_match: float
    dice_soft: float
    ged: float
    interrater_dice: tuple[float, ...]

    @property
    def interrater_mean(self) -> float:
        """Mean pairwise inter-rater Dice; NaN with one rater."""
        pairs = self.interrater_dice
        return float(np.mean(pairs)) if pairs else math.nan


def _counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    return int(np.count_nonzero(a)), int(np.count_nonzero(b)), int(np.count_nonzero(a & b))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """DC of two boolean masks through :func:`ichbench.metrics.dice_coefficient`."""
    n_a, n_b, both = _counts(a, b)
    return dice_coefficient(n_a, n_b, both)


def toolkit_dice(a: np.ndarray, b: np.ndarray) -> float:
    """Return the toolkit's Dice (2|a ∩ b| + 10⁻⁸) / (|a| + |b| + 10⁻⁸) of two masks.

    Both empty: 1; one empty: 10⁻⁸ over the other's voxel count (not 0). Computed in
    float32, as the toolkit does (its torch tensors): near-equal values that float64
    would tell apart are ties there, and ties decide Dice_match's assignment.
    """
    n_a, n_b, both = _counts(a, b)
    eps = np.float32(TOOLKIT_DICE_EPSILON)
    numerator = np.float32(2.0) * np.float32(both) + eps
    return float(numerator / (np.float32(n_a) + np.float32(n_b) + eps))


def iou_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return GED's distance d = 1 − |a ∩ b| / (|a ∪ b| + 10⁻⁸), the toolkit's.

    Two empty masks are at distance 1 (their IoU is 0/10⁻⁸ = 0), as in the toolkit.
    """
    n_a, n_b, both = _counts(a, b)
    return 1.0 - both / (n_a + n_b - both + GED_IOU_EPSILON)


def dice_match(matrix: np.ndarray) -> float:
    """Dice_match of a K × M rater-by-prediction Dice matrix (module docstring).

    Parameters
    ----------
    matrix : numpy.ndarray
        D[k, i] = TD(R_k, P_i), raters as rows.

    Returns
    -------
    float
        The mean over raters of the matched pair's Dice, or of the rater's best Dice when
        the Hungarian assignment leaves it unmatched.
    """
    rows, cols = linear_sum_assignment(1.0 - matrix)
    per_rater = matrix.max(axis=1)
    per_rater[rows] = matrix[rows, cols]
    return float(per_rater.mean())


def _votes_above(masks: Sequence[np.ndarray], tenths: int) -> np.ndarray:
    """Voxels marked by more than a share tenths/10 of the masks (exact integer test)."""
    votes = np.add.reduce([m.astype(np.int64) for m in masks])
    return 10 * votes > tenths * len(masks)


def dice_soft(raters: Sequence[np.ndarray], predictions: Sequence[np.ndarray]) -> float:
    """Dice_soft: the mean Dice over thresholds of the raters' and predictions' shares.

    Parameters
    ----------
    raters, predictions : sequence of numpy.ndarray
        Boolean masks of one grid.

    Returns
    -------
    float
        Mean over t in :data:`SOFT_THRESHOLDS_TENTHS` of :func:`toolkit_dice` of
        {share of raters > t} and {share of predictions > t}.
    """
    return float(np.mean([toolkit_dice(_votes_above(raters, t), _votes_above(predictions, t))
                          for t in SOFT_THRESHOLDS_TENTHS]))


def generalized_energy_distance(raters: Sequence[np.ndarray],
                                predictions: Sequence[np.ndarray]) -> float:
    """The toolkit's GED of two sets of boolean masks (module docstring).

    Parameters
    ----------
    raters, predictions : sequence of numpy.ndarray
        Boolean masks of one grid.

    Returns
    -------
    float
        0 when every mask is empty, 1 when exactly one of the two sets is all empty,
        else 2 E[d(R, P)] − E[d(R, R′)] − E[d(P, P′)] over all ordered pairs with
        :func:`iou_distance`.
    """
    raters_empty = not any(r.any() for r in raters)
    predictions_empty = not any(p.any() for p in predictions)
    if raters_empty or predictions_empty:
        return 0.0 if raters_empty and predictions_empty else 1.0

    def mean_distance(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> float:
        return float(np.mean([[iou_distance(x, y) for y in ys] for x in xs]))

    return (2.0 * mean_distance(raters, predictions) - mean_distance(raters, raters)
            - mean_distance(predictions, predictions))


def _masks(arrays: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    if not arrays:
        raise ValueError(f"multirater_metrics: no {what}; pass at least one mask")
    out = [a if a.dtype == np.bool_ else a != 0 for a in arrays]
    if len({a.shape for a in out}) != 1:
        raise ValueError(f"multirater_metrics: {what} have shapes "
                         f"{sorted({a.shape for a in out})}; pass masks of one grid")
    return out


def multirater_metrics(raters: Sequence[np.ndarray], predictions: Sequence[np.ndarray],
                       ) -> RaterMetrics:
    """Score predictions against the raters of one case (definitions: module docstring).

    Parameters
    ----------
    raters : sequence of numpy.ndarray
        The K rater masks, one shape, non-zero = foreground.
    predictions : sequence of numpy.ndarray
        The M predicted masks (one for an ordinary submission), the raters' shape.

    Returns
    -------
    RaterMetrics

    Raises
    ------
    ValueError
        No rater or no prediction, or masks of different shapes.

    Examples
    --------
    >>> import numpy as np
    >>> r1 = np.zeros((1, 1, 8), bool); r1[..., 0:4] = True
    >>> r2 = np.zeros((1, 1, 8), bool); r2[..., 2:6] = True
    >>> m = multirater_metrics([r1, r2], [r1])
    >>> [round(v, 6) for v in (m.dice_max, m.dice_max_reverse, m.dice_match, m.dice_soft,
    ...                        m.ged)]
    [1.0, 0.75, 0.75, 0.72, 0.333333]
    """
    rater_masks = _masks(raters, "raters")
    pred_masks = _masks(predictions, "predictions")
    if rater_masks[0].shape != pred_masks[0].shape:
        raise ValueError(f"multirater_metrics: predictions {pred_masks[0].shape} and raters "
                         f"{rater_masks[0].shape} differ in shape; pass masks of one grid")
    matrix = np.array([[toolkit_dice(r, p) for p in pred_masks] for r in rater_masks])
    per_rater = tuple(dice(r, pred_masks[0]) for r in rater_masks)
    best_max = float(matrix.max(axis=0).mean())
    best_reverse = float(matrix.max(axis=1).mean())
    interrater = tuple(dice(a, b) for a, b in itertools.combinations(rater_masks, 2))
    return RaterMetrics(
        dice_per_rater=per_rater, dice_mean=float(np.mean(per_rater)), dice_max=best_max,
        dice_max_reverse=best_reverse, dice_max_mean=(best_max + best_reverse) / 2.0,
        dice_match=dice_match(matrix), dice_soft=dice_soft(rater_masks, pred_masks),
        ged=generalized_energy_distance(rater_masks, pred_masks),
        interrater_dice=interrater)
