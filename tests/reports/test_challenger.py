"""challengeR's analyses: checked against scipy and hand-computed fixtures."""

import doctest

import numpy as np
import pytest
from scipy.stats import kendalltau, wilcoxon

from ichbench.reports import challenger
from ichbench.reports.challenger import (
    RANKING_METHODS,
    compare_ranking_methods,
    consensus_ranking,
    kendall_tau_to_bootstrap,
    one_sided_wilcoxon,
    test_then_rank,
)


@pytest.mark.parametrize("seed", range(4))
def test_one_sided_wilcoxon_equals_scipy_in_both_directions(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.7, 0.1, 20)
    b = a - rng.normal(0.03, 0.05, 20)
    assert one_sided_wilcoxon(a, b, higher_is_better=True) == pytest.approx(
        wilcoxon(a - b, alternative="greater").pvalue)
    assert one_sided_wilcoxon(a, b, higher_is_better=False) == pytest.approx(
        wilcoxon(a - b, alternative="less").pvalue)


def test_one_sided_wilcoxon_all_positive_differences_is_two_to_the_minus_n():
    a = np.arange(1.0, 13.0) + 0.5
    b = np.zeros(12)
    # exact null: every sign positive has probability 2^-12
    assert one_sided_wilcoxon(a, b, higher_is_better=True) == pytest.approx(2.0 ** -12)
    assert one_sided_wilcoxon(a, b, higher_is_better=False) == pytest.approx(1.0)


def test_one_sided_wilcoxon_identical_and_unusable():
    same = np.array([0.5, 0.6, 0.7])
    assert one_sided_wilcoxon(same, same, higher_is_better=True) == 1.0
    assert np.isnan(one_sided_wilcoxon(np.array([np.nan]), np.array([1.0]),
                                       higher_is_better=True))


def test_inf_hd_is_worse_than_any_finite_value():
    finite = np.array([3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    with_inf = finite + np.arange(1, 7) * 0.1  # distinct differences: the exact test
    with_inf[0] = np.inf
    assert one_sided_wilcoxon(finite, with_inf, higher_is_better=False) == pytest.approx(
        2.0 ** -6)


def test_test_then_rank_orders_a_strict_chain_and_applies_holm():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.6, 12)
    steps = np.arange(1, 13) * 0.001  # distinct positive differences
    values = np.stack([base + 2 * steps, base + steps, base])  # A > B > C on every case
    result = test_then_rank(["A", "B", "C"], values, metric="dc")
    assert result.wins.tolist() == [2, 1, 0]
    assert result.rank.tolist() == [1, 2, 3]
    assert result.p[0, 1] == pytest.approx(2.0 ** -12)
    # Holm over the 6 ordered pairs: the three smallest equal p-values get 6, 5, 4 × p and
    # the running maximum makes them all 6 × p
    assert result.p_holm[0, 1] == pytest.approx(6 * 2.0 ** -12)
    assert result.significant.tolist() == [[False, True, True], [False, False, True],
                                           [False, False, False]]
    assert [r["team"] for r in result.rows()] == ["A", "B", "C"]
    assert result.rows()[2]["beaten_by"] == 2


def test_test_then_rank_ties_teams_without_significant_differences():
    values = np.array([[0.5, 0.6, 0.7, 0.8], [0.5, 0.6, 0.7, 0.8]])
    result = test_then_rank(["x", "y"], values, metric="dc")
    assert result.rank.tolist() == [1, 1] and not result.significant.any()


def test_test_then_rank_lower_is_better_for_hd():
    good = np.arange(1.0, 13.0)
    values = np.stack([good + np.arange(1, 13) * 0.5, good])  # second team smaller HD
    result = test_then_rank(["far", "near"], values, metric="hd")
    assert result.rank.tolist() == [2, 1]


def test_kendall_tau_matches_scipy_and_marks_constant_rankings_nan():
    rng = np.random.default_rng(1)
    full = np.array([1, 2, 3, 4, 5])
    boot = np.stack([rng.permutation(5) + 1 for _ in range(7)], axis=1)
    boot[:, 3] = 1  # every team tied
    tau = kendall_tau_to_bootstrap(full, boot)
    for s in range(7):
        if s == 3:
            assert np.isnan(tau[s])
        else:
            assert tau[s] == pytest.approx(kendalltau(full, boot[:, s]).statistic)


def test_ranking_methods_mean_and_median_disagree_on_an_outlier():
    # team "steady" 0.70 on every case; "spiky" 0.80 on four cases and 0.0 on one:
    # mean 0.64 < 0.70, median 0.80 > 0.70
    values = np.array([[[0.7] * 5, [0.8, 0.8, 0.8, 0.8, 0.0]]])
    ranks = compare_ranking_methods(["steady", "spiky"], values, ["dc"])
    assert list(ranks) == list(RANKING_METHODS)
    assert ranks["aggregate-then-rank (mean)"].tolist() == [1, 2]
    assert ranks["aggregate-then-rank (median)"].tolist() == [2, 1]
    assert ranks["rank-then-aggregate"].tolist() == [2, 1]  # spiky wins 4 of 5 cases
    assert ranks["test-then-rank"].tolist() == [1, 1]  # 5 cases: nothing significant


def test_consensus_orders_by_mean_rank_and_refuses_different_teams():
    rows = consensus_ranking({"t1": {"a": 1, "b": 2, "c": 3}, "t2": {"a": 2, "b": 1, "c": 3}})
    assert [(r["team"], r["rank"], r["mean_rank"]) for r in rows] == [
        ("a", 1, 1.5), ("b", 1, 1.5), ("c", 3, 3.0)]
    assert rows[0]["rank_t2"] == 2
    rows = consensus_ranking({"t1": {"a": 1, "b": 2, "c": 3}, "t2": {"a": 3, "b": 1, "c": 2}})
    assert [r["team"] for r in rows] == ["b", "a", "c"]  # mean ranks 1.5, 2, 2.5
    with pytest.raises(ValueError, match="different teams"):
        consensus_ranking({"t1": {"a": 1}, "t2": {"b": 1}})


def test_docstring_examples_run():
    result = doctest.testmod(challenger, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
