"""Scoring against several raters: Dice_max, Dice_match, Dice_soft, GED, inter-rater Dice.

MBH-Seg25 ships one mask per rater and scores a prediction against the set. With
R_1 … R_K the rater masks and P_1 … P_M the predictions of one case (M = 1 for an
ordinary submission), DC the Dice coefficient of :func:`ichbench.metrics.dice_coefficient`
(the INSTANCE ε-smoothed Dice, exactly 0 when one mask is empty, 1 when both are):

- **per-rater Dice** DC(P, R_k), and its mean over raters (``dice_mean``);
- **Dice_max** = max_{i,k} DC(P_i, R_k): the rater the prediction agrees with best;
- **Dice_match**: Hungarian matching of predictions to raters on the cost 1 − DC. When
  M ≠ K the two sets are first repeated to a common size L = lcm(M, K) (each prediction
  L/M times, each rater L/K times; the Hungarian-matched IoU of the stochastic
  segmentation literature, e.g. Zbinden et al. 2023, with Dice instead of IoU), and
  Dice_match is the mean DC over the L matched pairs. With one prediction every copy is
  matched to a rater, so **Dice_match = the mean per-rater Dice** (not Dice_max): a single
  mask is asked to agree with every rater. With M = K it is the best one-to-one pairing.
- **Dice_soft** = 2 Σ p·s / (Σ p + Σ s), with s = (1/K) Σ_k R_k the raters' mean (the
  share of raters marking a voxel) and p = (1/M) Σ_i P_i (the prediction itself when
  M = 1); 1 when both sums are 0. A voxel only half the raters mark is worth half.
- **GED** (generalized energy distance, squared, as Kohl et al. 2018 report it)
  D² = 2 E[d(P, R)] − E[d(P, P′)] − E[d(R, R′)], with **d = 1 − IoU** (IoU of two empty
  masks = 1, so d = 0), each expectation the mean over *all* ordered pairs of the two sets,
  identical pairs included (d = 0 on the diagonal), as Kohl et al.'s code. With one
  prediction E[d(P, P′)] = 0, so D² = 2·mean_k d(P, R_k) − mean_{k,l} d(R_k, R_l).
- **inter-rater Dice**: DC(R_k, R_l) over the K(K−1)/2 pairs k < l (mean, min, max): the
  human ceiling, to read beside the model's per-rater Dice.

Every value is defined for empty masks through DC's and IoU's empty rules above; with a
single rater the inter-rater values are NaN (no pair) and GED reduces to 2 d(P, R_1).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from ichbench.metrics.case import dice_coefficient


@dataclass(frozen=True)
class RaterMetrics:
    """A prediction (or several) against the raters of one case.

    Attributes
    ----------
    dice_per_rater : tuple of float
        DC(P, R_k) per rater (the first prediction's, when there are several).
    dice_mean, dice_max, dice_match, dice_soft : float
        As the module docstring.
    ged : float
        Squared generalized energy distance with d = 1 − IoU.
    interrater_dice : tuple of float
        DC(R_k, R_l) for k < l, in the order (1, 2), (1, 3), …, (2, 3), …
    """

    dice_per_rater: tuple[float, ...]
    dice_mean: float
    dice_max: float
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


def iou_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return the IoU distance d = 1 − |a ∩ b| / |a ∪ b|; 0 for two empty masks."""
    n_a, n_b, both = _counts(a, b)
    union = n_a + n_b - both
    return 0.0 if union == 0 else 1.0 - both / union


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
    >>> round(m.dice_max, 6), round(m.dice_match, 6), round(m.dice_soft, 6), round(m.ged, 6)
    (1.0, 0.75, 0.75, 0.333333)
    """
    rater_masks = _masks(raters, "raters")
    pred_masks = _masks(predictions, "predictions")
    if rater_masks[0].shape != pred_masks[0].shape:
        raise ValueError(f"multirater_metrics: predictions {pred_masks[0].shape} and raters "
                         f"{rater_masks[0].shape} differ in shape; pass masks of one grid")
    k, m = len(rater_masks), len(pred_masks)
    cross = np.array([[dice(p, r) for r in rater_masks] for p in pred_masks])
    common = math.lcm(m, k)
    cost = 1.0 - np.repeat(np.repeat(cross, common // m, axis=0), common // k, axis=1)
    rows, cols = linear_sum_assignment(cost)
    dice_match = float(np.mean(1.0 - cost[rows, cols]))

    soft = np.mean([r.astype(np.float64) for r in rater_masks], axis=0)
    prob = np.mean([p.astype(np.float64) for p in pred_masks], axis=0)
    denominator = float(prob.sum() + soft.sum())
    dice_soft = 1.0 if denominator == 0 else 2.0 * float((prob * soft).sum()) / denominator

    d_pr = np.mean([[iou_distance(p, r) for r in rater_masks] for p in pred_masks])
    d_pp = np.mean([[iou_distance(p, q) for q in pred_masks] for p in pred_masks])
    d_rr = np.mean([[iou_distance(r, s) for s in rater_masks] for r in rater_masks])
    interrater = tuple(dice(a, b) for a, b in itertools.combinations(rater_masks, 2))
    return RaterMetrics(
        dice_per_rater=tuple(float(v) for v in cross[0]),
        dice_mean=float(np.mean(cross[0])), dice_max=float(cross.max()),
        dice_match=dice_match, dice_soft=dice_soft,
        ged=float(2.0 * d_pr - d_pp - d_rr), interrater_dice=interrater)
