"""Bootstrap, Holm and Wilcoxon: determinism, hand cases, special values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from ichbench.reports.stats import bootstrap, holm, pairwise_wilcoxon


def _values(seed: int = 0, n_teams: int = 3, n_cases: int = 30) -> np.ndarray:
    rng = np.random.default_rng(seed)
    skill = np.linspace(0.5, 0.8, n_teams)[:, None]
    dc = np.clip(skill + rng.normal(0, 0.1, (n_teams, n_cases)), 0, 1)
    nsd = np.clip(dc - 0.1, 0, 1)
    hd = 40 * (1.1 - dc)
    rvd = np.abs(rng.normal(0, 0.3, (n_teams, n_cases)))
    return np.stack([dc, nsd, hd, rvd])


def test_holm_hand_case():
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_nan_out_of_the_family():
    # m = 3 finite: 0.2*3 = 0.6, 0.5*2 = 1.0, 0.9*1 = 0.9 -> running max 1.0
    adjusted = holm([0.5, math.nan, 0.2, 0.9])
    assert adjusted[[0, 2, 3]].tolist() == pytest.approx([1.0, 0.6, 1.0])
    assert math.isnan(adjusted[1])
    assert holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # 1.2 capped at 1


def test_bootstrap_same_seed_same_result_other_seed_differs():
    values = _values()
    a = bootstrap(["a", "b", "c"], values, np.random.default_rng(7), n_samples=200)
    b = bootstrap(["a", "b", "c"], values, np.random.default_rng(7), n_samples=200)
    c = bootstrap(["a", "b", "c"], values, np.random.default_rng(8), n_samples=200)
    np.testing.assert_array_equal(a.means, b.means)
    np.testing.assert_array_equal(a.ranks, b.ranks)
    assert not np.array_equal(a.means, c.means)


def test_bootstrap_ci_contains_the_mean_and_rank_counts_sum_to_samples():
    values = _values()
    boot = bootstrap(["a", "b", "c"], values, np.random.default_rng(0), n_samples=300)
    ci = boot.ci()
    means = values.mean(axis=2)
    assert np.all(ci[..., 0] <= means) and np.all(means <= ci[..., 1])
    assert boot.rank_counts().sum(axis=1).tolist() == [300, 300, 300]
    assert boot.ranks.min() >= 1 and boot.ranks.max() <= 3


def test_bootstrap_is_paired_across_teams():
    # Team b = team a + 0.1 on every case: in every paired sample b's DC mean is higher.
    values = _values(n_teams=2)
    values[:, 1] = values[:, 0]
    values[0, 1] += 0.1
    boot = bootstrap(["a", "b"], values, np.random.default_rng(0), n_samples=100)
    assert np.all(boot.means[0, 1] > boot.means[0, 0])


def test_bootstrap_inf_hd_gives_inf_upper_bound_and_nan_rvd_is_left_out():
    values = _values(n_teams=2, n_cases=10)
    values[2, 0, 0] = math.inf
    values[3, :, 9] = math.nan
    boot = bootstrap(["a", "b"], values, np.random.default_rng(0), n_samples=200)
    ci = boot.ci()
    assert math.isinf(ci[2, 0, 1]) and math.isfinite(ci[2, 0, 0])
    assert np.isfinite(boot.means[3]).all()


def test_bootstrap_rank_then_aggregate_runs_and_ranks_clear_winner_first():
    values = _values(n_teams=3)
    boot = bootstrap(["a", "b", "c"], values, np.random.default_rng(0), n_samples=100,
                     ranking="rank-then-aggregate")
    assert np.median(boot.ranks[2]) == 1


def test_pairwise_wilcoxon_matches_scipy_and_flags_the_better_team():
    values = _values(n_teams=2, n_cases=40)
    rows = pairwise_wilcoxon(["a", "b"], values)
    dc = next(r for r in rows if r["metric"] == "dc")
    assert dc["p"] == pytest.approx(wilcoxon(values[0, 0], values[0, 1]).pvalue)
    assert dc["p_holm"] == dc["p"]  # one pair: nothing to correct
    assert dc["better"] == "b"
    hd = next(r for r in rows if r["metric"] == "hd")
    assert hd["better"] == "b"  # lower HD is better


def test_pairwise_wilcoxon_identical_teams_p_is_one():
    values = _values(n_teams=1)
    values = np.concatenate([values, values], axis=1)
    rows = pairwise_wilcoxon(["a", "b"], values)
    assert all(r["p"] == 1.0 and r["better"] == "" for r in rows)


def test_pairwise_wilcoxon_inf_counts_as_the_largest_difference():
    values = _values(n_teams=2, n_cases=20)
    values[2, 0, :] = math.inf  # team a: every HD inf
    hd = next(r for r in pairwise_wilcoxon(["a", "b"], values) if r["metric"] == "hd")
    assert hd["better"] == "b" and hd["p"] < 0.001
