"""Scoring a run folder and showing its numbers: the last two stages of every run.

``score``: the folds' out-of-fold masks are gathered into ``predictions/train_oof/`` and
every labelled split is scored by :func:`ichbench.submissions.score_folder` (the code path
of an external submission) into ``scores/<split>/``. ``report``: the run's report, built
by ``ichbench.reports.build_run_report`` where that exists.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.harness.stages import Stage

#: Metrics shown in the console table (means over cases, from ``summary.json``).
TABLE_METRICS = ("dc", "nsd", "hd", "hd95", "rvd")
TRAIN_OOF = "train_oof"


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced.

    Attributes
    ----------
    run_dir
        The run folder.
    method
        The method's registry name.
    summaries
        Split → the ``summary.json`` dict written by ``score_folder``.
    seconds
        Wall time of this invocation.
    finished
        False when the stages were only submitted (``--no-wait``): no scores yet.
    """

    run_dir: Path
    method: str
    summaries: dict[str, dict[str, Any]]
    seconds: float
    finished: bool = True


def gather_oof(run_dir: Path, protocol: Any, folds: Sequence[int]) -> tuple[Path, list[str]]:
    """Copy every fold's out-of-fold masks into ``predictions/train_oof/``.

    Returns the folder and the case ids expected there (the union of the folds' validation
    ids). A missing mask is left missing: scoring flags it rather than hiding it.
    """
    target = run_dir / "predictions" / TRAIN_OOF
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    expected: list[str] = []
    for k in folds:
        expected.extend(protocol.fold_val(k))
        src = run_dir / "folds" / str(k) / "oof"
        if not src.is_dir():
            continue
        for cid in protocol.fold_val(k):
            path = src / f"{cid}.nii.gz"
            if path.exists():
                shutil.copyfile(path, target / path.name)
    return target, sorted(expected)


def score_run(run_dir: Path, dataset: Any, protocol: Any, folds: Sequence[int],
              log: Callable[[str], None], *, jobs: int | None = None
              ) -> dict[str, dict[str, Any]]:
    """Score every labelled split of the run with ``score_folder`` (the one scoring path)."""
    from ichbench.submissions import score_folder

    oof_dir, oof_ids = gather_oof(run_dir, protocol, folds)
    splits: dict[str, tuple[Path, Sequence[str]]] = {
        s: (run_dir / "predictions" / s, protocol.ids(s)) for s in protocol.scored_splits()}
    splits[TRAIN_OOF] = (oof_dir, oof_ids)
    summaries: dict[str, dict[str, Any]] = {}
    for split, (pred_dir, ids) in splits.items():
        truth = {cid: dataset.case(cid).label for cid in ids}
        if not truth:
            continue
        pred_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result = score_folder(pred_dir, truth, run_dir / "scores" / split, jobs=jobs,
                              label_map=getattr(dataset, "label_map", None))
        summaries[split] = result.summary
        counts = result.summary.get("status_counts", {})
        log(f"scored {split}: {len(truth)} cases in {time.perf_counter() - t0:.1f} s "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if v)})")
    return summaries


def means(summary: Mapping[str, Any]) -> dict[str, float | None]:
    """Metric → its mean over cases in a ``summary.json`` (None where absent)."""
    metrics = summary.get("metrics", {})
    return {m: (metrics.get(m) or {}).get("mean") for m in TABLE_METRICS}


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    value = float(value)
    if value != value:
        return "nan"
    if value in (float("inf"), float("-inf")):
        return "inf"
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


def format_table(results: Sequence[RunResult]) -> str:
    """Means per split (rows) and method, as a fixed-width text table."""
    header = ["split", "method", "n"] + [m.upper() for m in TABLE_METRICS]
    rows = [header]
    splits = []
    for r in results:
        splits.extend(s for s in r.summaries if s not in splits)
    for split in splits:
        for r in results:
            summ = r.summaries.get(split)
            if summ is None:
                continue
            row_means = means(summ)
            rows.append([split, r.method, str(summ.get("n_cases", "?"))]
                        + [_fmt(row_means[m]) for m in TABLE_METRICS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_report(run_dir: Path, log: Callable[[str], None]) -> None:
    """Call ``ichbench.reports.build_run_report(run_dir)`` if that function exists.

    A missing function is logged and skipped (the reports package is optional at this
    stage); an error raised by the report builder propagates.
    """
    import ichbench.reports as reports

    build = getattr(reports, "build_run_report", None)
    if build is None:
        log("report: skipped, ichbench.reports.build_run_report is not available in this "
            "version (scores are in scores/<split>/)")
        return
    t0 = time.perf_counter()
    build(run_dir)
    log(f"report: built in {time.perf_counter() - t0:.1f} s")


def read_summaries(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Split → ``scores/<split>/summary.json`` of a scored run (in split order)."""
    out: dict[str, dict[str, Any]] = {}
    order = ("validation", "test", TRAIN_OOF)
    paths = sorted(Path(run_dir, "scores").glob("*/summary.json"),
                   key=lambda p: (order.index(p.parent.name) if p.parent.name in order
                                  else len(order), p.parent.name))
    for path in paths:
        out[path.parent.name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def scoring_stages(run: Any, needs: Sequence[Stage], *, jobs: int | None = None
                   ) -> tuple[Stage, Stage]:
    """The ``score`` stage (needs ``needs``) and the ``report`` stage of an open run."""
    ctx = run.ctx

    def score_work() -> None:
        score_run(run.run_dir, ctx.dataset, ctx.protocol, ctx.folds, ctx.log, jobs=jobs)

    score = Stage(key="score", home=run.run_dir, work=score_work, needs=tuple(needs),
                  group="score")
    report = Stage(key="report", home=run.run_dir,
                   work=lambda: build_report(run.run_dir, ctx.log), needs=(score,),
                   group="report")
    return score, report
