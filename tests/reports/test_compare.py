"""Method comparison at the end of ``--method all``: pooled held-out cases, CIs, claims."""

import numpy as np
import pytest
from scipy.stats import wilcoxon

from ichbench.reports.compare import compare_runs


def _run(tmp_path, name, scores):
    """scores: split -> list of (case, dc)."""
    run = tmp_path / name
    for split, rows in scores.items():
        folder = run / "scores" / split
        folder.mkdir(parents=True)
        lines = ["case,status,dc,nsd,hd,hd95,rvd"]
        lines += [f"{c},ok,{dc},{dc},10,{5 if dc else 'inf'},0.5" for c, dc in rows]
        (folder / "cases.csv").write_text("\n".join(lines) + "\n")
    return run


def test_claims_are_paired_one_sided_and_holm_adjusted(tmp_path):
    rng = np.random.default_rng(1)
    val_ids = [f"1{i:02d}" for i in range(6)]
    test_ids = [f"2{i:02d}" for i in range(14)]
    base = rng.uniform(0.2, 0.5, 20)
    dcs = {"threshold": base, "coarse": base + rng.uniform(0.0, 0.2, 20),
           "fine": base + rng.uniform(-0.1, 0.1, 20)}
    dcs["cascade"] = dcs["coarse"] + rng.uniform(0.01, 0.1, 20)
    runs = {m: _run(tmp_path, m, {"validation": list(zip(val_ids, v[:6], strict=True)),
                                  "test": list(zip(test_ids, v[6:], strict=True))})
            for m, v in dcs.items()}
    cmp = compare_runs(runs, n_boot=500)
    assert len(cmp.cases) == 20 and cmp.splits == ("validation", "test")
    for m, v in dcs.items():
        assert cmp.means[m]["dc"] == pytest.approx(v.mean())
        low, high = cmp.cis[m]["dc"]
        assert low <= v.mean() <= high
    claims = {(c.better, c.worse): c for c in cmp.claims}
    c = claims[("cascade", "coarse")]
    diff = dcs["cascade"] - dcs["coarse"]
    assert c.mean_diff == pytest.approx(diff.mean())
    assert c.p == pytest.approx(wilcoxon(diff, alternative="greater").pvalue)
    assert c.holds and c.ci[0] > 0
    # Holm over three claims: the smallest p is multiplied by 3
    ps = sorted(x.p for x in cmp.claims)
    assert min(x.p_holm for x in cmp.claims) == pytest.approx(min(1.0, 3 * ps[0]))
    text = cmp.format()
    assert "cascade > coarse" in text and "holds" in text and "n = 20" in text


def test_a_reversed_claim_is_called_reversed_and_missing_cases_are_dropped(tmp_path):
    runs = {"cascade": _run(tmp_path, "a", {"test": [("1", 0.1), ("2", 0.2), ("3", 0.3)]}),
            "coarse": _run(tmp_path, "b", {"test": [("1", 0.5), ("2", 0.6), ("4", 0.1)]})}
    cmp = compare_runs(runs, n_boot=100)
    assert cmp.cases == ("test/1", "test/2") and cmp.n_dropped == 2
    (claim,) = cmp.claims
    assert claim.mean_diff == pytest.approx(-0.4) and not claim.holds and claim.reversed
    assert "reversed" in cmp.format() and "2 not scored by every method" in cmp.format()


def test_a_negative_difference_the_cases_cannot_settle_is_not_shown_not_reversed(tmp_path):
    ids = [str(i) for i in range(8)]
    coarse = [0.5, 0.6, 0.4, 0.7, 0.5, 0.6, 0.3, 0.5]
    diffs = [-0.2, 0.1, -0.05, 0.08, -0.1, 0.06, -0.04, 0.05]  # mean -0.0125
    cascade = [c + d for c, d in zip(coarse, diffs, strict=True)]
    runs = {"cascade": _run(tmp_path, "a", {"test": list(zip(ids, cascade, strict=True))}),
            "coarse": _run(tmp_path, "b", {"test": list(zip(ids, coarse, strict=True))})}
    cmp = compare_runs(runs, n_boot=500)
    (claim,) = cmp.claims
    assert claim.mean_diff == pytest.approx(-0.0125)
    assert claim.ci[0] < 0 < claim.ci[1]
    assert not claim.holds and not claim.reversed and claim.verdict == "not shown"
    assert cmp.format().splitlines()[-2].endswith("not shown")


def test_runs_without_a_common_split_are_refused(tmp_path):
    runs = {"cascade": _run(tmp_path, "a", {"test": [("1", 0.1)]}),
            "coarse": _run(tmp_path, "b", {"validation": [("1", 0.5)]})}
    with pytest.raises(ValueError, match="no split"):
        compare_runs(runs)


def test_each_claim_says_how_many_cases_resolve_a_002_difference(tmp_path):
    from ichbench.reports.compare import cases_needed

    rng = np.random.default_rng(3)
    coarse = rng.uniform(0.3, 0.7, 30)
    diff = rng.normal(0.01, 0.05, 30)
    runs = {"cascade": _run(tmp_path, "a", {"train_oof": [(f"{i:03d}", v) for i, v in
                                                        enumerate(coarse + diff)]}),
            "coarse": _run(tmp_path, "b", {"train_oof": [(f"{i:03d}", v) for i, v in
                                                       enumerate(coarse)]})}
    cmp = compare_runs(runs, splits=("train_oof",), n_boot=200)
    (claim,) = cmp.claims
    sd = np.std(diff, ddof=1)
    assert claim.sd == pytest.approx(sd, rel=1e-6) and claim.n == 30
    assert claim.half_width == pytest.approx(1.959964 * sd / np.sqrt(30), rel=1e-5)
    # n = ((1.96 + 0.8416) * sd / 0.02) ** 2, rounded up
    assert claim.cases_needed() == int(np.ceil((2.8016 * sd / 0.02) ** 2 - 1e-3))
    assert cases_needed(0.041) == 33 and cases_needed(0.0) == 2
    text = cmp.format()
    assert text.startswith("cross-validation cases (out-of-fold masks, n = 30)")
    assert f"{claim.cases_needed()} cases resolve a ΔDC of 0.02 (80% power)" in text
    with pytest.raises(ValueError, match="effect > 0"):
        cases_needed(0.04, 0.0)
