"""Synthetic score folders and a timing of the leaderboard on them.

``python -m ichbench.reports.bench [--teams 10] [--cases 70] [--bootstrap 1000] [--report]``
writes ``--teams`` score folders of ``--cases`` cases each (plausible DC/NSD/HD/RVD, a few
empty predictions with ``inf`` HD and one empty truth with ``nan`` RVD) into a temporary
folder, builds the leaderboard with the bootstrap (and with ``--report`` the PDF) and prints
the wall time of each step. The same generator makes the fixtures of the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from ichbench.submissions.columns import CSV_COLUMNS as _ALL_COLUMNS

#: The INSTANCE columns of cases.csv, from its one declaration, up to ``message``: the
#: generator draws no lesions, so it writes no lesion columns (a reader then shows no
#: lesion pages rather than pages of NaN). Columns it does not fill are left empty (NaN).
CSV_COLUMNS = _ALL_COLUMNS[:_ALL_COLUMNS.index("message") + 1]
CASES_HEADER = ",".join(CSV_COLUMNS)


def make_score_folder(folder: Path, rng: np.random.Generator, *, n_cases: int = 70,
                      skill: float = 0.7, first_id: int = 131, empty_truth: bool = True,
                      n_empty_pred: int = 1) -> Path:
    """Write a plausible ``cases.csv`` + ``summary.json`` (contract layout) into ``folder``.

    Parameters
    ----------
    skill : float
        Typical DC of the fake team; the other metrics follow it with noise.
    empty_truth : bool
        Make the last case an empty truth (RVD ``nan``, volumes 0).
    n_empty_pred : int
        Cases (from the first) scored as missing: DC 0, NSD 0, RVD 1, HD ``inf``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    lines = [CASES_HEADER]
    gt_volumes = np.exp(rng.normal(np.log(11.0), 1.0, n_cases))
    for i in range(n_cases):
        case = f"{first_id + i:03d}"
        gt_ml = float(gt_volumes[i])
        dc = float(np.clip(rng.normal(skill, 0.15), 0.0, 0.98))
        nsd = float(np.clip(dc - 0.15 + rng.normal(0, 0.08), 0.0, 1.0))
        hd = float(np.exp(rng.normal(np.log(40 * (1.1 - dc)), 0.5)))
        hd95 = hd * float(rng.uniform(0.2, 0.7))
        pred_ml = gt_ml * float(np.exp(rng.normal(0, 0.45 * (1.1 - dc))))
        status, message = "ok", ""
        if i < n_empty_pred:
            dc, nsd, hd, hd95, pred_ml, status = 0.0, 0.0, math.inf, math.inf, 0.0, "missing"
            message = "no prediction file; scored as empty"
        rvd = abs(pred_ml - gt_ml) / gt_ml
        if empty_truth and i == n_cases - 1:
            gt_ml, rvd = 0.0, math.nan
            dc, nsd = (1.0, 1.0) if pred_ml < 0.5 else (0.0, 0.0)
            pred_ml = 0.0 if pred_ml < 0.5 else pred_ml
        voxel_ml = 0.42 * 0.42 * 5 / 1000
        gt_vox, pred_vox = round(gt_ml / voxel_ml), round(pred_ml / voxel_ml)
        tp = round(dc * (gt_vox + pred_vox) / 2)
        cells = {"case": case, "status": status, "gt_voxels": str(gt_vox),
                 "pred_voxels": str(pred_vox), "tp_voxels": str(tp), "message": message}
        cells.update({k: repr(v) for k, v in zip(
            ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml"),
            (dc, nsd, hd, hd95, rvd, gt_ml, pred_ml), strict=True)})
        lines.append(",".join(cells.get(column, "") for column in CSV_COLUMNS))
    (folder / "cases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {"ichbench_version": "fixture", "tolerance_mm": 0.42, "hd_percentile": 100.0,
               "n_cases": n_cases, "status_counts": {"ok": n_cases - n_empty_pred,
                                                     "missing": n_empty_pred},
               "metrics": {}, "ignored_files": [], "warnings": [],
               "predictions": str(folder / "predictions"), "truth": str(folder / "truth")}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return folder


def make_teams(root: Path, n_teams: int, n_cases: int, seed: int = 0) -> list[Path]:
    """Write ``n_teams`` score folders ``team01 ...`` with skills spread over 0.55–0.75."""
    rng = np.random.default_rng(seed)
    return [make_score_folder(root / f"team{t + 1:02d}", rng, n_cases=n_cases,
                              skill=0.55 + 0.2 * t / max(n_teams - 1, 1),
                              n_empty_pred=t % 3)
            for t in range(n_teams)]


def main(argv: list[str] | None = None) -> None:
    """Time the leaderboard on synthetic score folders and print the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--cases", type=int, default=70)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--no-figures", action="store_true")
    parser.add_argument("--report", action="store_true", help="also time the PDF report")
    args = parser.parse_args(argv)
    from ichbench.reports.analysis import analyse
    from ichbench.reports.inputs import load_inputs
    from ichbench.reports.leaderboard import write_outputs

    with tempfile.TemporaryDirectory() as tmp:
        folders = make_teams(Path(tmp) / "teams", args.teams, args.cases)
        t0 = time.perf_counter()
        teams = load_inputs(folders)
        t1 = time.perf_counter()
        analysis = analyse(teams, n_bootstrap=args.bootstrap, seed=0)
        t2 = time.perf_counter()
        write_outputs(analysis, Path(tmp) / "out", figures=not args.no_figures)
        t3 = time.perf_counter()
        if args.report:
            from ichbench.reports.report import build_report

            _, n_pages = build_report(Path(tmp) / "out", Path(tmp) / "report.pdf")
            print(f"report.pdf: {n_pages} pages in {time.perf_counter() - t3:.2f} s")
    print(f"{args.teams} teams x {args.cases} cases, bootstrap {args.bootstrap}: "
          f"read {t1 - t0:.2f} s, ranking+bootstrap+Wilcoxon {t2 - t1:.2f} s, "
          f"tables{'' if args.no_figures else '+figures'} {t3 - t2:.2f} s, "
          f"total {t3 - t0:.2f} s")


if __name__ == "__main__":  # pragma: no cover
    main()
