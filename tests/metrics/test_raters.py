"""multirater_metrics on hand-computed cases (masks on a line of 1 mm voxels).

The definitions are MBH-Seg25's toolkit's (ichbench.metrics.raters' docstring); every
expected number below is worked out by hand in the comments, and a brute-force
re-implementation written from the definitions checks random small cases.
"""

import itertools
import math

import numpy as np
import pytest

from ichbench.metrics.raters import (
    dice_match,
    dice_soft,
    generalized_energy_distance,
    iou_distance,
    multirater_metrics,
    toolkit_dice,
)


def approx(expected):
    """The per-rater Dice carries the challenge's ε = 1e-5 (0.5 is 0.5000006 for 8
    voxels), the toolkit's values its 1e-8 (an empty mask against n voxels: 1e-8/n)."""
    return pytest.approx(expected, abs=1e-5)


def line(start, stop, n=8):
    mask = np.zeros((1, 1, n), bool)
    mask[0, 0, start:stop] = True
    return mask


EMPTY = line(0, 0)


def test_two_raters_one_prediction_equal_to_the_first():
    # R1 = 0..3, R2 = 2..5, P = R1: D = [[1], [2·2/8 = 0.5]]
    m = multirater_metrics([line(0, 4), line(2, 6)], [line(0, 4)])
    assert m.dice_per_rater == approx((1.0, 0.5))
    assert m.dice_max == approx(1.0)             # the one prediction's best rater
    assert m.dice_max_reverse == approx(0.75)    # each rater's best prediction: (1 + .5)/2
    assert m.dice_max_mean == approx(0.875)
    assert m.dice_match == approx(0.75)          # one prediction: mean over raters
    # shares of raters: 0,1 -> 1/2; 2,3 -> 1; 4,5 -> 1/2. t = .1, .3: 0..5 against P
    # (2·4/10 = .8); t = .5, .7, .9: 2..3 against P (2·2/6 = 2/3): (2·.8 + 3·2/3)/5
    assert m.dice_soft == approx(0.72)
    # d(R1,P) = 0, d(R2,P) = 1 - 2/6 = 2/3: E[d(R,P)] = 1/3; E[d(R,R')] over the four
    # ordered pairs (0, 2/3, 2/3, 0) = 1/3; E[d(P,P')] = 0: GED = 2/3 - 1/3
    assert m.ged == approx(1 / 3)
    assert m.interrater_dice == approx((0.5,))
    assert m.interrater_mean == approx(0.5)


def test_hungarian_matching_pairs_two_predictions_one_to_one():
    r1, r2 = line(0, 4), line(4, 8)
    m = multirater_metrics([r1, r2], [r2, r1])
    # D = [[0, 1], [1, 0]]: every prediction and every rater has a perfect partner
    assert (m.dice_max, m.dice_max_reverse, m.dice_match) == (1.0, 1.0, 1.0)
    # every voxel is marked by 1/2 of the raters and 1/2 of the predictions: t = .1, .3
    # all 8 against all 8 (1); t = .5, .7, .9: .5 is not > .5, both empty (1)
    assert m.dice_soft == 1.0
    # E[d(R,P)] = (1 + 0 + 0 + 1)/4, E[d(R,R')] = E[d(P,P')] = (0 + 1 + 1 + 0)/4
    assert m.ged == approx(2 * 0.5 - 0.5 - 0.5)


def test_three_raters_two_predictions_an_unmatched_rater_takes_its_best():
    r = [line(0, 2), line(0, 2), line(6, 8)]
    m = multirater_metrics(r, [line(0, 2), line(6, 8)])
    # D = [[1, 0], [1, 0], [0, 1]]: the assignment matches R1 (or R2) to P1 and R3 to P2;
    # the rater left over takes its best prediction, P1 (1): Dice_match = 3/3
    assert m.dice_match == approx(1.0)
    assert m.dice_max == approx(1.0) and m.dice_max_reverse == approx(1.0)
    assert dice_match(np.array([[1.0, 0.0], [0.5, 0.2], [0.0, 1.0]])) == pytest.approx(
        (1.0 + 0.5 + 1.0) / 3)  # R2 unmatched: its best, 0.5, not 0.2


def test_the_toolkit_dice_epsilon_decides_which_rater_is_left_unmatched():
    # R1 = 0..1, R2 = 0, R3 = ∅; P1 = 0..1, P2 = 7 (touches no rater). Toolkit's Dice:
    #   R1: P1 1,        P2 1e-8/3
    #   R2: P1 2·1/3,    P2 1e-8/2
    #   R3: P1 1e-8/2,   P2 1e-8/1    (∅ against one voxel)
    # best assignment R1-P1, R3-P2 (1 + 1e-8); R2 is left to its best, 2/3:
    # Dice_match = (1 + 1e-8 + 2/3)/3 = 5/9. With an exact 0 for an empty mask (ichbench's
    # DC) R2 would take P2 (1e-5/3 > 0) and R3 be left with 0: 1/3.
    m = multirater_metrics([line(0, 2), line(0, 1), EMPTY], [line(0, 2), line(7, 8)])
    e = 1e-8
    r1_p1, r2_p1, r3_p2 = 1.0, (2 + e) / (3 + e), e / (1 + e)  # (float32 in the toolkit)
    assert m.dice_match == pytest.approx((r1_p1 + r3_p2 + r2_p1) / 3, abs=1e-7)
    assert m.dice_match == pytest.approx(5 / 9, abs=1e-7)
    assert m.dice_max == pytest.approx((r1_p1 + r3_p2) / 2, abs=1e-7)
    assert m.dice_max_reverse == pytest.approx((r1_p1 + r2_p1 + r3_p2) / 3, abs=1e-7)
    assert toolkit_dice(EMPTY, line(7, 8)) == pytest.approx(1e-8, rel=1e-7)
    assert toolkit_dice(EMPTY, line(5, 8)) == pytest.approx(1e-8 / 3, rel=1e-7)
    assert toolkit_dice(EMPTY, EMPTY) == 1.0


def test_more_predictions_than_raters():
    # R1 = 0..1; P1 = 0..1, P2 = 6..7: D = [[1, 0]]
    m = multirater_metrics([line(0, 2)], [line(0, 2), line(6, 8)])
    assert m.dice_max == approx(0.5)          # mean over predictions of (1, 0)
    assert m.dice_max_reverse == approx(1.0)  # the one rater's best
    assert m.dice_max_mean == approx(0.75)
    assert m.dice_match == approx(1.0)        # R1-P1 matched; P2 unmatched counts nothing
    # predictions' shares: 0,1 and 6,7 -> 1/2. t = .1, .3: {0,1} against {0,1,6,7}
    # (2·2/6 = 2/3); t = .5 .. .9: {0,1} against nothing (0): 2·(2/3)/5
    assert m.dice_soft == approx(4 / 15)
    # E[d(R,P)] = (0 + 1)/2; E[d(R,R')] = 0; E[d(P,P')] = (0 + 1 + 1 + 0)/4: 1 - 0 - 1/2
    assert m.ged == approx(0.5)


def test_three_raters_shares_against_the_soft_thresholds():
    # R1 = 0..2, R2 = 0..1, R3 = 0: shares 1 (voxel 0), 2/3 (1), 1/3 (2); P = 0..1
    m = multirater_metrics([line(0, 3), line(0, 2), line(0, 1)], [line(0, 2)])
    # t = .1, .3: {0,1,2} (2·2/5 = .8); t = .5: {0,1} (1); t = .7, .9: {0} (2·1/3)
    assert m.dice_soft == approx((0.8 + 0.8 + 1.0 + 2 / 3 + 2 / 3) / 5)


def test_all_empty():
    m = multirater_metrics([EMPTY, EMPTY], [EMPTY])
    # DC(∅, ∅) = 1 everywhere; every threshold compares ∅ with ∅ (1); GED: all empty = 0
    assert (m.dice_max, m.dice_max_reverse, m.dice_max_mean, m.dice_match,
            m.dice_soft, m.ged) == (1.0, 1.0, 1.0, 1.0, 1.0, 0.0)
    assert m.interrater_dice == (1.0,)


def test_empty_prediction():
    # R1 = 0..1, R2 = 0..3, P = ∅: D = [[0], [0]]
    m = multirater_metrics([line(0, 2), line(0, 4)], [EMPTY])
    # (the toolkit's Dice of ∅ against n voxels is 1e-8/n, not 0)
    assert (m.dice_max, m.dice_max_reverse, m.dice_match, m.dice_soft) == approx((0, 0, 0, 0))
    assert m.dice_per_rater == (0.0, 0.0)  # ichbench's DC: exactly 0
    # the predictions are all empty and the raters not: GED = 1 by the toolkit's rule
    # (the formula would give 2·1 - (0 + .5 + .5 + 0)/4 - 1 = 0.75)
    assert m.ged == 1.0
    # and raters all empty against a non-empty prediction: 1 too
    m = multirater_metrics([EMPTY, EMPTY], [line(0, 2)])
    assert (m.dice_max, m.dice_match, m.dice_soft, m.ged) == approx((0.0, 0.0, 0.0, 1.0))


def test_empty_rater():
    # R1 = 0..1, R2 = ∅, P = 0..1: D = [[1], [0]]
    m = multirater_metrics([line(0, 2), EMPTY], [line(0, 2)])
    assert m.dice_per_rater == approx((1.0, 0.0))
    assert (m.dice_max, m.dice_max_reverse, m.dice_match) == approx((1.0, 0.5, 0.5))
    # shares 1/2 on 0,1: t = .1, .3 {0,1} against P (1); t = .5 .. .9 ∅ against P (0)
    assert m.dice_soft == approx(2 / 5)
    # d(∅, ∅) = 1 (IoU 0/1e-8 = 0), the empty rater's pair with itself included:
    # E[d(R,P)] = (0 + 1)/2; E[d(R,R')] = (0 + 1 + 1 + 1)/4; E[d(P,P')] = 0: 1 - 3/4
    assert m.ged == approx(0.25)
    assert iou_distance(EMPTY, EMPTY) == 1.0
    assert iou_distance(line(0, 2), line(0, 2)) == pytest.approx(1e-8 / 2, abs=1e-15)


def test_one_rater_has_no_interrater_value():
    m = multirater_metrics([line(0, 4)], [line(0, 2)])
    assert math.isnan(m.interrater_mean) and m.interrater_dice == ()
    # E[d(R,P)] = 1 - 2/4; the self pairs are 0
    assert m.ged == approx(2 * (1 - 2 / 4))


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one grid"):
        multirater_metrics([line(0, 2, 8)], [line(0, 2, 9)])


# -- an independent re-implementation, written from the toolkit's definitions --------

def _dc(a, b):
    """The toolkit's Dice: (2|A∩B| + 1e-8) / (|A| + |B| + 1e-8), in float32 as torch."""
    f = np.float32
    return f(f(2) * f(np.sum(a & b)) + f(1e-8)) / f(f(np.sum(a)) + f(np.sum(b)) + f(1e-8))


def _brute(raters, preds):
    k, m = len(raters), len(preds)
    d = np.array([[_dc(r, p) for p in preds] for r in raters], dtype=np.float64)
    dice_max = np.mean([max(d[:, i]) for i in range(m)])
    dice_max_reverse = np.mean([max(d[j, :]) for j in range(k)])
    # every assignment of min(K, M) rater/prediction pairs with the largest sum (1e-8
    # terms count: they decide between otherwise equal assignments); the
    # value: matched raters their pair, the others their best; the set of values over
    # all optimal assignments (ties may let scipy pick any of them)
    n = min(k, m)
    pairs = [list(zip(rows, cols, strict=True)) for rows in itertools.combinations(range(k), n)
             for cols in itertools.permutations(range(m), n)]
    best = max(sum(d[r, c] for r, c in p) for p in pairs)
    matches = set()
    for p in pairs:
        if sum(d[r, c] for r, c in p) >= best - 1e-12:
            got = dict(p)
            matches.add(float(np.mean([d[j, got[j]] if j in got else max(d[j, :])
                                       for j in range(k)])))
    soft = []
    for t in (0.1, 0.3, 0.5, 0.7, 0.9):
        soft.append(float(_dc(np.mean(raters, axis=0) > t, np.mean(preds, axis=0) > t)))

    def dist(a, b):
        return 1.0 - np.sum(a & b) / (np.sum(a | b) + 1e-8)

    if not np.any(raters) and not np.any(preds):
        ged = 0.0
    elif not np.any(raters) or not np.any(preds):
        ged = 1.0
    else:
        ged = (2 * np.mean([dist(r, p) for r in raters for p in preds])
               - np.mean([dist(r, s) for r in raters for s in raters])
               - np.mean([dist(p, q) for p in preds for q in preds]))
    return dice_max, dice_max_reverse, matches, np.mean(soft), ged


@pytest.mark.parametrize("seed", range(100))
def test_against_a_brute_force_reimplementation(seed):
    # (the brute force builds its Dice matrix in float32 too: the ties the toolkit sees)
    rng = np.random.default_rng(seed)
    k, m = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    # small masks, some empty, often overlapping: ties and empties are common
    raters = [rng.random((2, 3)) < rng.choice([0.0, 0.3, 0.6]) for _ in range(k)]
    preds = [rng.random((2, 3)) < rng.choice([0.0, 0.3, 0.6]) for _ in range(m)]
    got = multirater_metrics(raters, preds)
    dice_max, dice_max_reverse, matches, soft, ged = _brute(raters, preds)
    tol = 1e-12
    assert got.dice_max == pytest.approx(dice_max, abs=tol)
    assert got.dice_max_reverse == pytest.approx(dice_max_reverse, abs=tol)
    assert got.dice_max_mean == pytest.approx((dice_max + dice_max_reverse) / 2, abs=tol)
    assert any(abs(got.dice_match - v) <= tol for v in matches), (got.dice_match, matches)
    assert got.dice_soft == pytest.approx(soft, abs=tol)
    assert got.ged == pytest.approx(ged, abs=tol)
    assert dice_soft(raters, preds) == got.dice_soft
    assert generalized_energy_distance(raters, preds) == got.ged
