"""Methods compared on the same held-out cases, with their uncertainty.

``ichbench run --method all`` ends with this comparison: every method's mean DC, NSD, HD95
and RVD over the held-out cases (validation and test pooled: the cases no fold trained on),
each with a paired bootstrap 95 % CI, and the paper's ordering claims tested case by case:
cascade > coarse, coarse > threshold, cascade > fine (Qayyum et al. 2023, Table 2). A claim
is reported with the mean DC difference, its bootstrap CI and a one-sided Wilcoxon
signed-rank p-value, Holm-adjusted over the claims, so "the cascade beats the coarse model"
is a statement with a size and an error bar rather than two numbers side by side. Verdicts:
"holds" (ΔDC > 0, Holm p < 0.05), "reversed" (the bootstrap CI of ΔDC lies below 0: the
other method is better) or "not shown" (neither: a ΔDC whose sign the cases cannot settle).

Cases are paired by id; a case missing from any method's scores is left out of every
method (and counted), so all numbers describe the same cases.

Each claim also says how well its cases can resolve a difference: the standard deviation
of the paired ΔDC gives the half-width of a 95 % CI at this case count and the number of
cases at which a real ΔDC of :data:`EFFECT` would exclude 0 with 80 % power (normal
approximation, two-sided 5 %). Computed on the cross-validation cases (``train_oof``), it is
how a protocol sizes its held-out splits before looking at them.

The same comparison runs on the cross-validation cases (``splits=("train_oof",)``): the
numbers on which settings are chosen, printed before the held-out ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

from ichbench.reports.challenger import one_sided_wilcoxon
from ichbench.reports.inputs import read_cases_csv
from ichbench.reports.stats import holm, nanmean

#: Metrics shown per method (HD95 rather than HD: one far voxel sets HD).
METRICS = ("dc", "nsd", "hd95", "rvd")
#: The paper's ordering, as (better, worse) pairs tested on DC.
PAPER_CLAIMS = (("cascade", "coarse"), ("coarse", "threshold"), ("cascade", "fine"))
HELD_OUT = ("validation", "test")
#: The cross-validation split: out-of-fold masks of the training cases.
CROSS_VALIDATION = ("train_oof",)
#: The ΔDC a protocol should resolve (the cascade's gain over its coarse stage is of this
#: order), and the power at which :meth:`Claim.cases_needed` resolves it.
EFFECT = 0.02
POWER = 0.8


def cases_needed(sd: float, effect: float = EFFECT, *, power: float = POWER,
                 alpha: float = 0.05) -> int:
    """Paired cases at which a true mean difference ``effect`` gives a CI excluding 0.

    Normal approximation of a paired two-sided test at level ``alpha`` with the given
    ``power``: n = ((z(1 − α/2) + z(power)) · sd / effect)². ``sd`` is the standard deviation
    of the per-case differences.

    >>> cases_needed(0.041)
    33
    """
    if not effect > 0 or not sd >= 0:
        raise ValueError(f"cases_needed: expected effect > 0 and sd >= 0, got {effect}, {sd}")
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return max(2, int(np.ceil((z * sd / effect) ** 2)))


@dataclass(frozen=True)
class Claim:
    """One ordering claim ``better > worse`` on DC, tested on the paired cases."""

    better: str
    worse: str
    mean_diff: float
    ci: tuple[float, float]
    p: float
    p_holm: float
    sd: float = float("nan")
    n: int = 0

    @property
    def half_width(self) -> float:
        """Half-width of the normal 95 % CI of ΔDC at this case count (1.96 · sd / √n)."""
        return float(norm.ppf(0.975) * self.sd / np.sqrt(self.n)) if self.n > 1 else np.nan

    def cases_needed(self, effect: float = EFFECT) -> int:
        """Paired cases that resolve a true ΔDC of ``effect`` (see :func:`cases_needed`)."""
        return cases_needed(self.sd, effect)

    @property
    def holds(self) -> bool:
        """The difference is positive and significant at 5 % after Holm."""
        return self.mean_diff > 0 and self.p_holm < 0.05

    @property
    def reversed(self) -> bool:
        """The opposite ordering is shown: the whole bootstrap CI of ΔDC is below 0."""
        return self.mean_diff < 0 and self.ci[1] < 0

    @property
    def verdict(self) -> str:
        """``"holds"``, ``"reversed"`` or ``"not shown"``."""
        return "holds" if self.holds else ("reversed" if self.reversed else "not shown")


@dataclass(frozen=True)
class Comparison:
    """Means with CIs per method and the tested claims."""

    methods: tuple[str, ...]
    cases: tuple[str, ...]
    n_dropped: int
    means: dict[str, dict[str, float]]
    cis: dict[str, dict[str, tuple[float, float]]]
    claims: tuple[Claim, ...]
    splits: tuple[str, ...]

    def format(self) -> str:
        """Plain-text table and claim lines, as printed at the end of ``--method all``."""
        what = ("cross-validation cases (out-of-fold masks" if self.splits == CROSS_VALIDATION
                else f"held-out cases ({' + '.join(self.splits)} pooled")
        head = (f"{what}, n = {len(self.cases)}"
                + (f", {self.n_dropped} not scored by every method left out" if self.n_dropped
                   else "") + "), mean [95 % bootstrap CI]:")
        width = max(len(m) for m in self.methods)
        lines = [head, f"{'method':<{width}}  " + "  ".join(f"{m.upper():<21}" for m in METRICS)]
        for method in self.methods:
            cells = []
            for metric in METRICS:
                low, high = self.cis[method][metric]
                cells.append(f"{_num(self.means[method][metric])} "
                             f"[{_num(low)}, {_num(high)}]".ljust(21))
            lines.append(f"{method:<{width}}  " + "  ".join(cells))
        if self.claims:
            lines.append("paper's ordering on DC (paired; one-sided Wilcoxon, Holm over claims):")
        for c in self.claims:
            lines.append(f"  {c.better} > {c.worse}: ΔDC {c.mean_diff:+.3f} "
                         f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}], p = {c.p:.2g} "
                         f"(Holm {c.p_holm:.2g}): {c.verdict}")
            if np.isfinite(c.sd):
                lines.append(f"    SD of the paired ΔDC {c.sd:.3f}: 95 % CI ±{c.half_width:.3f} "
                             f"at n = {c.n}; {c.cases_needed()} cases resolve a ΔDC of "
                             f"{EFFECT} ({POWER:.0%} power)")
        return "\n".join(lines)


def _num(x: float) -> str:
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def compare_runs(runs: Mapping[str, str | Path], *, splits: Sequence[str] = HELD_OUT,
                 claims: Sequence[tuple[str, str]] = PAPER_CLAIMS, n_boot: int = 2000,
                 seed: int = 0) -> Comparison:
    """Compare run folders (method name → run folder) on their pooled held-out cases.

    Raises
    ------
    ValueError
        If no case is scored by every method (names the first method and split lacking).
    """
    tables: dict[str, dict[str, dict[str, float]]] = {}
    used_splits = [s for s in splits
                   if all((Path(r) / "scores" / s / "cases.csv").is_file() for r in runs.values())]
    if not used_splits:
        raise ValueError(f"no split of {list(splits)} is scored by every run: expected "
                         "RUN/scores/<split>/cases.csv for each run")
    for method, run in runs.items():
        rows: dict[str, dict[str, float]] = {}
        for split in used_splits:
            table = read_cases_csv(Path(run) / "scores" / split / "cases.csv")
            columns = {m: table.values.get(m, np.full(len(table), np.nan)) for m in METRICS}
            for i, cid in enumerate(table.ids):
                rows[f"{split}/{cid}"] = {m: float(columns[m][i]) for m in METRICS}
        tables[method] = rows
    all_ids = set().union(*(set(t) for t in tables.values()))
    common = sorted(set.intersection(*(set(t) for t in tables.values())))
    if not common:
        raise ValueError("the runs share no scored case; compare runs made on one protocol")
    methods = tuple(runs)
    values = np.array([[[tables[m][c][k] for c in common] for m in methods] for k in METRICS])
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(common), size=(n_boot, len(common)))
    boot = np.stack([nanmean(values[:, :, row], axis=2) for row in index], axis=-1)
    means = {m: {k: float(nanmean(values[ki, mi], axis=0)) for ki, k in enumerate(METRICS)}
             for mi, m in enumerate(methods)}
    cis = {m: {k: (float(np.quantile(boot[ki, mi], 0.025, method="lower")),
                   float(np.quantile(boot[ki, mi], 0.975, method="higher")))
               for ki, k in enumerate(METRICS)} for mi, m in enumerate(methods)}
    dc = values[METRICS.index("dc")]
    tested = [(a, b) for a, b in claims if a in methods and b in methods]
    raw: list[tuple[str, str, float, tuple[float, float], float, float]] = []
    for better, worse in tested:
        diff = dc[methods.index(better)] - dc[methods.index(worse)]
        boot_diff = np.array([diff[row].mean() for row in index])
        raw.append((better, worse, float(diff.mean()),
                    (float(np.quantile(boot_diff, 0.025, method="lower")),
                     float(np.quantile(boot_diff, 0.975, method="higher"))),
                    one_sided_wilcoxon(dc[methods.index(better)], dc[methods.index(worse)],
                                       higher_is_better=True),
                    float(np.std(diff, ddof=1)) if len(diff) > 1 else float("nan")))
    adjusted = holm([r[4] for r in raw]) if raw else np.array([])
    return Comparison(
        methods=methods, cases=tuple(common), n_dropped=len(all_ids) - len(common),
        means=means, cis=cis, splits=tuple(used_splits),
        claims=tuple(Claim(b, w, d, ci, p, float(ph), sd, len(common))
                     for (b, w, d, ci, p, sd), ph in zip(raw, adjusted, strict=True)))


__all__ = ["CROSS_VALIDATION", "EFFECT", "HELD_OUT", "METRICS", "PAPER_CLAIMS", "POWER", "Claim",
           "Comparison", "cases_needed", "compare_runs"]
