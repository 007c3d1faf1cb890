"""Clinical volume agreement: hand-computed tables, κ, expansion-sized errors, detection."""

import math

import numpy as np
import pytest

from ichbench.metrics import expansion_sized, volume_agreement
from ichbench.metrics.clinical import cohen_kappa


def test_kappa_of_a_hand_computed_table():
    # p_o = 35/50 = 0.7; marginals rows (25, 25), columns (30, 20): p_e = (25·30 + 25·20)/2500
    # = 0.5; κ = (0.7 − 0.5) / 0.5 = 0.4
    assert cohen_kappa([[20, 5], [10, 15]]) == pytest.approx(0.4)


def test_kappa_is_nan_when_chance_agreement_is_certain_or_table_empty():
    assert math.isnan(cohen_kappa([[7, 0], [0, 0]]))
    assert math.isnan(cohen_kappa([[0, 0], [0, 0]]))


def test_perfect_and_opposite_agreement():
    assert cohen_kappa([[3, 0], [0, 2]]) == pytest.approx(1.0)
    assert cohen_kappa([[0, 3], [3, 0]]) == pytest.approx(-1.0)


def test_expansion_sized_absolute_relative_and_empty_truth():
    gt = np.array([10.0, 10.0, 100.0, 100.0, 0.0, 0.0, 3.0])
    pred = np.array([13.3, 13.2, 106.0, 105.9, 5.9, 6.0, 1.9])
    # 3.3 ≥ 33 % of 10; 3.2 neither; 6 mL absolute; 5.9 neither (5.9 % of 100);
    # empty truth: relative criterion off, 5.9 < 6, 6 ≥ 6; 1.1 mL ≥ 33 % of 3 mL
    assert expansion_sized(gt, pred).tolist() == [True, False, True, False, False, True, True]


def test_volume_agreement_table_counts_and_rates():
    gt = [0.0, 0.0, 12.0, 45.0, 31.0, 29.0, float("nan")]
    pred = [0.0, 0.4, 12.5, 20.0, 33.0, 30.0, 5.0]
    a = volume_agreement(gt, pred)
    assert (a.n, a.n_excluded) == (6, 1)
    errors = np.array([0.0, 0.4, 0.5, 25.0, 2.0, 1.0])
    assert a.mean_abs_error_ml == pytest.approx(errors.mean())
    assert a.median_abs_error_ml == pytest.approx(np.median(errors))
    assert a.max_abs_error_ml == 25.0
    # large (>= 30): truth 45, 31; prediction 33, 30
    assert a.category_table == ((3, 1), (1, 1))
    assert a.category_agreement == pytest.approx(4 / 6)
    assert a.category_kappa == pytest.approx(cohen_kappa([[3, 1], [1, 1]]))
    assert a.expansion_sized == 1 and a.expansion_sized_share == pytest.approx(1 / 6)
    assert (a.detection_tp, a.detection_fn, a.detection_tn, a.detection_fp) == (4, 0, 1, 1)
    assert (a.sensitivity, a.specificity) == (1.0, 0.5)


def test_detection_threshold_and_no_truth_negatives():
    a = volume_agreement([2.0, 8.0], [0.3, 9.0], detection_ml=0.5)
    assert (a.detection_tp, a.detection_fn) == (1, 1)
    assert a.sensitivity == 0.5 and math.isnan(a.specificity)


def test_no_cases_gives_nan_statistics():
    a = volume_agreement([], [])
    assert a.n == 0 and math.isnan(a.mean_abs_error_ml) and math.isnan(a.category_kappa)
    assert a.as_dict()["category_table"] == [[0, 0], [0, 0]]


def test_length_mismatch_and_negative_threshold_are_refused():
    with pytest.raises(ValueError, match="one of each"):
        volume_agreement([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="category_ml"):
        volume_agreement([1.0], [1.0], category_ml=-1.0)


def test_docstring_examples_of_lesions_and_clinical_run():
    import doctest

    from ichbench.metrics import clinical, lesions

    for module in (clinical, lesions):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
