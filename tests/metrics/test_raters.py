"""multirater_metrics on hand-computed cases (masks on a line of 1 mm voxels)."""

import math

import numpy as np
import pytest

from ichbench.metrics.raters import iou_distance, multirater_metrics


def approx(expected):
    """Dice carries the challenge's ε = 1e-5 (0.5 is 0.5000006 for 8 voxels)."""
    return pytest.approx(expected, abs=1e-5)


def line(start, stop, n=8):
    mask = np.zeros((1, 1, n), bool)
    mask[0, 0, start:stop] = True
    return mask


def test_two_raters_one_prediction_equal_to_the_first():
    # R1 = 0..3, R2 = 2..5, P = R1: DC(P,R1) = 1, DC(P,R2) = 2·2/8 = 0.5
    m = multirater_metrics([line(0, 4), line(2, 6)], [line(0, 4)])
    assert m.dice_per_rater == approx((1.0, 0.5))
    assert m.dice_max == approx(1.0)
    assert m.dice_match == approx(0.75)      # one prediction: mean over raters
    # soft truth s = .5 .5 1 1 .5 .5: 2·(.5+.5+1+1) / (4 + 4) = 0.75
    assert m.dice_soft == approx(0.75)
    # d(P,R1) = 0, d(P,R2) = 1 - 2/6; E[d(R,R')] = (0 + 2/3 + 2/3 + 0)/4
    assert m.ged == approx(2 * (2 / 3) / 2 - 0 - (4 / 3) / 4)
    assert m.interrater_dice == approx((0.5,))
    assert m.interrater_mean == approx(0.5)


def test_hungarian_matching_pairs_two_predictions_one_to_one():
    r1, r2 = line(0, 4), line(4, 8)
    m = multirater_metrics([r1, r2], [r2, r1])
    assert m.dice_match == approx(1.0)   # P1↔R2, P2↔R1
    assert m.dice_max == approx(1.0)
    # E[d(P,R)] = 1/2 (two pairs of d 0, two of d 1), E[d(P,P')] = E[d(R,R')] = 1/2
    assert m.ged == approx(2 * 0.5 - 0.5 - 0.5)


def test_three_raters_two_predictions_repeat_to_lcm_six():
    r = [line(0, 2), line(0, 2), line(6, 8)]
    m = multirater_metrics(r, [line(0, 2), line(6, 8)])
    # six copies: P1 ×3, P2 ×3 against R1 ×2, R2 ×2 (both equal to P1), R3 ×2 (P2):
    # the three P1 copies take three of the four R1/R2 slots, two P2 copies the two R3
    # slots, the last P2 copy the last R1/R2 slot (DC 0): 5 of 6 pairs perfect
    assert m.dice_match == approx(5 / 6)


def test_empty_prediction_and_empty_raters():
    empty = line(0, 0)
    m = multirater_metrics([empty, empty], [empty])
    assert (m.dice_max, m.dice_match, m.dice_soft, m.ged) == (1.0, 1.0, 1.0, 0.0)
    m = multirater_metrics([line(0, 2), empty], [empty])
    assert m.dice_per_rater == (0.0, 1.0)
    assert m.dice_soft == 0.0
    # d(P,R1) = 1, d(P,R2) = 0; d(R1,R2) = 1 twice of four pairs
    assert m.ged == approx(2 * 0.5 - 0 - 0.5)
    assert iou_distance(empty, empty) == 0.0


def test_one_rater_has_no_interrater_value():
    m = multirater_metrics([line(0, 4)], [line(0, 2)])
    assert math.isnan(m.interrater_mean) and m.interrater_dice == ()
    assert m.ged == approx(2 * (1 - 2 / 4))


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one grid"):
        multirater_metrics([line(0, 2, 8)], [line(0, 2, 9)])
