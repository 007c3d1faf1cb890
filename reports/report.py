"""The PDF report of a run folder or a leaderboard folder, and a run's one-page summary.

The builder only assembles pages: everything it shows is computed once by
:mod:`ichbench.reports.report_content` (the leaderboard analysis with its bootstrap,
per-split CIs, lesion detection and clinical tables, missed-lesion panels) and handed in;
:func:`leaderboard_pages` and :func:`run_pages` lay that bundle out with
:mod:`ichbench.reports.pages` and the figures of :mod:`ichbench.reports.figures`.
:func:`build_run_report` is what the run harness calls at the end of every run: it writes
``report.pdf``, ``summary.md`` and ``summary.png`` from one bundle. Missing optional pieces
(history, images, truth files, lesion columns) drop their pages.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from ichbench import __version__
from ichbench.atomic import atomic_path, write_text
from ichbench.reports.inputs import ReportInputError, TeamResults, is_run_folder
from ichbench.reports.leaderboard import Analysis, leaderboard_columns
from ichbench.reports.lesion_report import BIN_TITLES, BINS, detection_figure
from ichbench.reports.pages import PageSet, figure_page, table_pages, text_pages
from ichbench.reports.report_content import (
    SPLIT_COLUMNS,
    LeaderboardContent,
    LesionContent,
    RunContent,
    Settings,
    leaderboard_content,
    run_content,
    tolerance_text,
)
from ichbench.reports.tables import fmt, markdown_text

HEADS = {"dc": "DC", "nsd": "NSD", "hd": "HD (mm)", "hd95": "HD95 (mm)", "rvd": "RVD",
         "rank_dc": "rank DC", "rank_nsd": "rank NSD", "rank_hd": "rank HD",
         "rank_rvd": "rank RVD", "median hd": "median HD", "rvd n excl.": "RVD n excl.",
         "median_diff": "median diff", "p_holm": "p (Holm)", "team_a": "team a",
         "team_b": "team b", "lesionwise_dc": "lesion-wise DC",
         "lesionwise_hd95": "lesion-wise HD95 (mm)", "lesion_f1": "lesion F1",
         "rank_lesionwise_dc": "rank lw DC", "rank_lesionwise_hd95": "rank lw HD95",
         "rank_lesion_f1": "rank F1", "mean_rank": "mean rank"}


def heads(columns: Sequence[str]) -> list[str]:
    """Display names of table columns."""
    return [HEADS.get(c) or (f"mean rank {HEADS.get(c[10:], c[10:])}"
                             if c.startswith("mean_rank_") else c.replace("_", " "))
            for c in columns]


CASE_HEADER = ["case", "status", "DC", "NSD", "HD (mm)", "HD95 (mm)", "RVD", "true mL",
               "pred mL"]
CASE_ALIGN = ["left", "left", *["right"] * 7]
CASE_TABLE_COLUMNS = ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml")


def metric_definitions(tolerance_mm: float | None, hd_percentile: float | None) -> str:
    """The metric and empty-case definitions, with the settings the inputs recorded.

    ``None`` (not recorded, e.g. published means, or inputs that disagree) is said so
    rather than replaced by the INSTANCE default.
    """
    tau = (f"τ = {tolerance_mm:g} mm" if tolerance_mm is not None
           else "a tolerance τ not recorded in the inputs (INSTANCE 2022: 0.42 mm)")
    pct = (f"{hd_percentile:g}th percentile" if hd_percentile is not None
           else "percentile not recorded (INSTANCE 2022: 100th)")
    return (
        "DC = (2|P∩G| + 1e-5) / (|P| + |G| + 1e-5) on binarised masks.\n"
        f"NSD: surface Dice at {tau} (surfel-area weighted, as DeepMind "
        "surface-distance).\n"
        f"HD: symmetric Hausdorff distance, {pct}, in mm (the challenge ranked on it); "
        "HD95: 95th percentile, extra column.\n"
        "RVD = | |P| − |G| | / |G|.\n"
        "Spacing from the truth header. Empty prediction with non-empty truth: DC 0, NSD 0, "
        "RVD 1, HD inf (an inf HD makes that mean inf). A missing or unreadable prediction "
        "is scored as empty and flagged in the status column. Empty truth: RVD undefined, "
        "left out of RVD means and counted.")


RANKING_TEXT = {
    "instance": "INSTANCE 2022: rank teams on the mean of DC and NSD (higher better), HD and "
                "RVD (lower better) separately; ties take the minimum rank; final score = "
                "mean of the four ranks (lower better); equal scores share the rank.",
    "rank-then-aggregate": "Rank-then-aggregate: rank teams on every case per metric (ties "
                           "minimum), average each team's ranks per metric, then rank those "
                           "averages and take the mean of the four ranks.",
    "lesionwise": "Lesion-wise: rank teams on the mean lesion-wise DC and lesion F1 (higher "
                  "better) and lesion-wise HD95 (lower better) separately; ties take the "
                  "minimum rank; final score = mean of the three ranks.",
}


def _fmt_ci(row: dict | None, column: str) -> str:
    if row is None:
        return "–"
    return f"{fmt(row['mean'], column)} [{fmt(row['ci_low'], column)}, " \
           f"{fmt(row['ci_high'], column)}]"


def case_rows(team: TeamResults) -> list[list[str]]:
    """A team's per-case table as strings (for the PDF)."""
    cases = team.cases
    if cases is None:
        return []
    rows = []
    for i, case in enumerate(cases.ids):
        cells = [case, cases.status[i]]
        for column in CASE_TABLE_COLUMNS:
            v = cases.values.get(column)
            cells.append(fmt(float(v[i]), column) if v is not None else "–")
        rows.append(cells)
    return rows


def _protocol_blocks(settings: Settings, protocol: tuple[str, dict, dict] | None,
                     extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    blocks = list(extra)
    if protocol is not None:
        name, info, config = protocol
        counts = ", ".join(f"{s} {len(info.get(s) or [])}" for s in
                           ("train", "validation", "test", "unlabeled"))
        folds = info.get("folds") or []
        blocks.append((f"Dataset and splits ({name})",
                       f"Data: {config.get('data', '–')}\n"
                       f"Fingerprint: {info.get('fingerprint', '–')}\n"
                       f"Cases: {counts}\n"
                       f"Folds: {len(folds)} (sizes "
                       f"{', '.join(str(len(f)) for f in folds) or '–'}), seed "
                       f"{info.get('seed', '–')}"))
    blocks.append(("Metrics", metric_definitions(settings.tolerance_mm,
                                                 settings.hd_percentile)))
    blocks.append(("Lesion-wise metrics", LESION_TEXT))
    blocks.append(("Software", f"ichbench {__version__}; report generated "
                               f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"))
    return blocks


LESION_TEXT = (
    "Lesions are 26-connected components of truth and prediction. A truth lesion is "
    "detected when a predicted component overlaps it by at least one voxel; a predicted "
    "component overlapping no truth lesion is a false positive. Lesion F1 = 2TP / (2TP + "
    "FP + FN). Lesion-wise DC and HD95 (BraTS 2023 style) average each truth lesion against "
    "its matched components with missed and false lesions scored DC 0 and HD95 374 mm; "
    "every component counts (no minimum size). Clinical agreement: |V_P − V_G| in mL, the "
    "≥ 30 mL category (Cohen's κ), errors as large as hematoma expansion (≥ 6 mL or ≥ 33 % "
    "of V_G), case detection (volume > 0).")


def _figure_pages(pages: PageSet, figures: dict[str, Figure], captions: dict[str, str],
                  suffix: str = "", skip: Sequence[str] = ()) -> None:
    for name, fig in figures.items():
        if name in skip:
            continue
        title = captions.get(name, name.replace("_", " ").capitalize()).split(":")[0]
        figure_page(pages, title + suffix, fig, caption=captions.get(name, ""))


def figure_captions(settings: Settings, analysis: Analysis | None = None) -> dict[str, str]:
    """Captions of the report's figures, with the recorded NSD tolerance."""
    captions = dict(FIGURE_CAPTIONS)
    captions["distributions"] = (f"Per-case metrics: NSD at {tolerance_text(settings)}; box "
                                 "= quartiles, whiskers = 1.5 IQR, dots = cases; ∞ marks HD of "
                                 "empty predictions; undefined RVD (empty truth) left out.")
    if analysis is not None and analysis.challenger is not None and analysis.challenger.tests:
        alpha = analysis.challenger.tests[0].alpha
        captions["significance_map"] = (
            f"Significance maps: dark cell = the row team is better than the column team "
            f"(one-sided Wilcoxon signed-rank on paired cases, Holm-adjusted over all ordered "
            f"pairs, α = {alpha:g}); test-then-rank counts these wins.")
        captions["podium"] = (f"Podium: each case's {analysis.metrics[0]} values placed by "
                              "their per-case rank, one line per case; bars = how often each "
                              "team took each place.")
    return captions


FIGURE_CAPTIONS = {
    "rank_stability": "Ranking stability: ranks of each team over bootstrap samples of the "
                      "cases (paired); blob area = share of samples.",
    "volumes": "Volumes: predicted vs true and Bland–Altman; ABC/2 (black ×) is the clinical "
               "estimate from the truth masks (largest axial diameter A, perpendicular B, "
               "C = slices × thickness; A·B·C/2).",
    "overlays": "Qualitative: best, median and worst case by DC, slice of largest truth "
                "area, brain window W80/L40.",
    "ranking_methods": "Ranking methods: each team's rank under aggregate-then-rank (mean, "
                       "median), rank-then-aggregate and test-then-rank, per-metric ranks "
                       "combined by their mean.",
    "kendall_tau": "Kendall's τ: agreement of the leaderboard ranking with the ranking of "
                   "each bootstrap sample (τ-b; 1 = identical).",
    "lesionwise_distributions": "Lesion-wise metrics: per-case lesion-wise DC, HD95 and "
                                "lesion F1.",
}


def _lesion_pages(pages: PageSet, lesions: LesionContent, suffix: str = "") -> None:
    """Detection by lesion size, clinical agreement and missed-lesion overlays."""
    from ichbench.reports.figures import case_overlays

    if lesions.detection:
        figure_page(pages, "Detection by lesion size" + suffix,
                    detection_figure(lesions.detection),
                    caption="Recall of truth lesions per truth-lesion volume bin, pooled over "
                            "cases (detected/lesions on each bar); F1 and false-positive "
                            "components per case in the legend.")
        columns = ["team", "cases", "lesions", "lesion_tp", "lesion_fp", "lesion_fn",
                   "lesion_f1", "fp_per_case", *(f"recall_{b}" for b in BINS)]
        header = ["team", "cases", "truth lesions", "TP", "FP", "FN", "lesion F1",
                  "FP / case", *(f"recall {BIN_TITLES[b]}" for b in BINS)]
        body = [[fmt(r[c], c) if c != "team" else r[c] for c in columns[:8]]
                + [f"{fmt(r[f'recall_{b}'], 'dc')} ({r[f'tp_{b}']}/{r[f'n_{b}']})"
                   for b in BINS] for r in lesions.detection]
        table_pages(pages, "Lesion detection" + suffix, header, body,
                    note="recall per bin: detected/truth lesions pooled over cases; – = no "
                         "truth lesion in that bin.")
    if lesions.clinical:
        columns = ["team", "n", "mae_ml", "median_ae_ml", "max_ae_ml", "table_30ml",
                   "agree_30ml", "kappa_30ml", "expansion_sized", "expansion_share",
                   "sensitivity", "specificity"]
        header = ["team", "cases", "mean |ΔV| mL", "median |ΔV| mL", "max |ΔV| mL",
                  "≥30 mL table", "agreement", "Cohen's κ", "expansion-sized",
                  "share", "sensitivity", "specificity"]
        decimals = {"mae_ml": "hd", "median_ae_ml": "hd", "max_ae_ml": "hd"}
        body = [[fmt(r[c], decimals.get(c, "dc")) if isinstance(r[c], float) else str(r[c])
                 for c in columns] for r in lesions.clinical]
        table_pages(pages, "Clinical volume agreement" + suffix, header, body,
                    note="ΔV = predicted − true volume. ≥30 mL table: the ICH score's "
                         "category, TN/FP/FN/TP of the prediction against the truth. "
                         "Expansion-sized: |ΔV| ≥ 6 mL or ≥ 33 % of the true volume (as "
                         "large as hematoma expansion). Sensitivity / "
                         "specificity: case-level hemorrhage present (volume > 0); – where no "
                         "truth-negative case exists.")
    if lesions.missed_panels:
        figure_page(pages, f"Largest missed lesions: {lesions.missed_team}",
                    case_overlays(lesions.missed_panels,
                                  title=f"{lesions.missed_team}: largest missed lesions"),
                    caption="Zoomed on each missed truth lesion (slice of its largest "
                            "cross-section), brain window W80/L40.")


def _class_pages(pages: PageSet, classes: Sequence[dict], subtypes: Sequence[dict], *,
                 who: str = "team") -> None:
    """Label maps: the subtype detection figure and table, the per-class ranking."""
    from ichbench.reports.classes_report import subtype_figure

    if subtypes:
        figure_page(pages, "Which subtypes are found", subtype_figure(subtypes),
                    caption="Truth lesions of each subtype (26-connected components of "
                            "label == c) overlapped by the merged prediction, pooled over "
                            "cases; detected/lesions above each bar.")
        columns = ["team", "class", "cases", "gt_lesions", "detected", "lesion_recall",
                   "dc_pooled", "voxel_recall_pooled", "missed_volume_ml"]
        header = [who, "subtype", "cases", "truth lesions", "detected", "lesion recall",
                  "DC in subtype", "voxel recall", "missed mL"]
        decimals = {"lesion_recall": "dc", "dc_pooled": "dc", "voxel_recall_pooled": "dc",
                    "missed_volume_ml": "hd"}
        body = [[str(r[c]) if c in ("team", "class") else
                 fmt(r[c], decimals[c]) if c in decimals else str(int(r[c]))
                 for c in columns] for r in subtypes]
        table_pages(pages, "Detection and DC by subtype", header, body,
                    note="DC in subtype = 2|P ∩ G_c| / (|G_c| + |P_c|), P_c = the predicted "
                         "components touching subtype c's lesions less other subtypes' "
                         "voxels, pooled over cases; voxel recall = |P ∩ G_c| / |G_c|.")
    if classes:
        columns = ["class", "rank", "team", "score", "dc", "nsd", "hd", "rvd", "lesion_f1",
                   "rows"]
        body = [[str(r[c]) if c in ("class", "team") else fmt(r[c], c) if c != "rows"
                 else str(int(r[c])) if not math.isnan(r[c]) else "–" for c in columns]
                for r in classes]
        body = [[*row[:1], str(int(float(row[1]))), *row[2:]] for row in body]
        header = ["class", "rank", who, "score", "DC", "NSD", "HD (mm)", "RVD", "lesion F1",
                  "rows"]
        table_pages(pages, "Ranking per class and macro-averaged", header, body,
                    note="Each class scored on label == c masks (classes.csv) and ranked "
                         "with the INSTANCE scheme on its means; macro = mean of the class "
                         "means. rows: cases where the class is in the truth or the "
                         "prediction (a class absent from both is left out, or scored 1 "
                         "under --absent-class one).")


def _decisive_page(pages: PageSet, rows: Sequence[dict], n_cases: int) -> None:
    """Which cases decide the ranking (:mod:`ichbench.reports.decisive`), as a table."""
    note = ("removed: the case left out of every team's results; hd_capped: on that case "
            "every infinite HD (an empty prediction) set to 374 mm; all_hd_capped (*): "
            "every infinite HD capped. changes: team old rank→new rank. Full table: "
            "decisive_cases.csv in the leaderboard folder.")
    if not rows:
        text_pages(pages, "Which cases decide the ranking",
                   [("Result", f"No single case changes any rank: leaving out any one of "
                               f"the {n_cases} cases, or capping its infinite HDs, keeps "
                               "every team's rank."), ("How", note)])
        return
    n_podium = len({r["case"] for r in rows if r["podium_changed"] == "yes"
                    and r["case"] != "*"})
    header = ["scenario", "case", "podium changed", "teams moved", "teams with inf HD",
              "changes"]
    body = [[r["scenario"], r["case"], r["podium_changed"], str(r["teams_moved"]),
             str(r["teams_with_inf_hd"]), r["changes"]] for r in rows]
    table_pages(pages, f"Which cases decide the ranking ({n_podium} of {n_cases} cases "
                       "move the podium)", header, body, note=note, max_col_in=5.5,
                align=["left", "left", "left", "right", "right", "left"])


def leaderboard_pages(content: LeaderboardContent) -> list[Figure]:
    """The pages of a leaderboard folder's report, in order (footers added)."""
    from ichbench.reports.figures import leaderboard_figures

    analysis, meta, teams = content.analysis, content.meta, content.analysis.teams
    metrics = analysis.metrics
    pages = PageSet(f"ichbench {__version__} — leaderboard {content.folder.name}", [])
    inputs = "\n".join(f"{t.name}: {t.kind}, {len(t.cases) if t.cases else 'means only'}"
                       f"{' cases' if t.cases else ''} — {t.source}" for t in teams)
    extra = [("Leaderboard", f"{len(teams)} teams; split {meta.get('split', 'test')}; "
                             f"{len(analysis.case_ids)} paired cases."),
             ("Ranking", RANKING_TEXT[analysis.ranking]),
             ("Statistics", f"Bootstrap: {analysis.n_bootstrap} samples of the cases, paired "
                            f"across teams, numpy Generator seed {analysis.seed}; 95% "
                            "percentile CIs. Pairwise: two-sided Wilcoxon signed-rank per "
                            "metric, Holm-corrected within each metric; test-then-rank: "
                            "one-sided, Holm over all ordered pairs; inf HD ranked above "
                            "every finite value."),
             ("Inputs", inputs)]
    if analysis.notes:
        extra.append(("Notes", "\n".join(analysis.notes)))
    text_pages(pages, "Leaderboard report: protocol",
               _protocol_blocks(content.settings, content.protocol, extra))
    columns = leaderboard_columns(analysis)
    rows = [[fmt(r.get(c), c) for c in columns] for r in analysis.table]
    table_pages(pages, "Leaderboard", heads(columns), rows, note=RANKING_TEXT[analysis.ranking],
                align=["right" if c != "team" else "left" for c in columns])
    if analysis.ci_rows:
        by = {(r["team"], r["metric"]): r for r in analysis.ci_rows}
        order = [r["team"] for r in analysis.table if r["team"] in analysis.paired]
        header = ["team", *(f"{heads([m])[0]} mean [95% CI]" for m in metrics)]
        body = [[t, *(_fmt_ci(by.get((t, m)), m) for m in metrics)] for t in order]
        if "rvd" in metrics:
            header.append("RVD n excl.")
            for row, t in zip(body, order, strict=True):
                row.append(str(by[(t, "rvd")]["n_excluded"]))
        table_pages(pages, "Bootstrap confidence intervals", header, body,
                    note="inf: at least one resampled mean is inf (an empty prediction "
                         "gives HD inf).")
        stab = analysis.stability_rows
        header = ["team", "median rank", "95% interval",
                  *(f"P(rank {k + 1})" for k in range(len(order)))]
        body = [[r["team"], fmt(r["median_rank"], "rank_"),
                 f"{r['rank_ci_low']}–{r['rank_ci_high']}",
                 *(f"{r[f'p_rank_{k + 1}']:.3f}" for k in range(len(order)))] for r in stab]
        table_pages(pages, "Ranking stability (bootstrap)", header, body)
    if analysis.rta_table and analysis.ranking != "rank-then-aggregate":
        columns = ["rank", "team", "score", *(f"mean_rank_{m}" for m in metrics),
                   *(f"rank_{m}" for m in metrics)]
        table_pages(pages, "Alternative ranking: rank-then-aggregate", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.rta_table],
                    note=RANKING_TEXT["rank-then-aggregate"])
    if analysis.pairwise_rows:
        columns = ["metric", "team_a", "team_b", "n", "median_diff", "p", "p_holm", "better"]
        table_pages(pages, "Pairwise Wilcoxon signed-rank tests (Holm)", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.pairwise_rows],
                    note="median_diff = median of a − b; better: the significantly better team "
                         "(Holm-adjusted p < 0.05).")
    if analysis.values is not None and len(analysis.paired) >= 2:  # issue 22
        _decisive_page(pages, content.decisive, len(analysis.case_ids))
    if analysis.challenger is not None and analysis.challenger.consensus:
        from ichbench.reports.challenger_analysis import strata_rows

        rows_ = strata_rows(analysis.challenger)
        columns = list(rows_[0])
        table_pages(pages, "Consensus over lesion-size strata", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in rows_],
                    note="Cases split by their true volume; each stratum ranked like the "
                         "leaderboard; consensus = mean rank over strata.")
    captions = figure_captions(content.settings, analysis)
    _figure_pages(pages, leaderboard_figures(analysis, files=content.files), captions)
    _lesion_pages(pages, content.lesions)
    _class_pages(pages, content.classes, content.subtypes)
    if content.raters:
        columns = ["team", "class", "cases", "dice_mean", "dice_max", "dice_max_mean",
                   "dice_match", "dice_soft", "ged", "interrater_dice_mean",
                   "model_to_ceiling"]
        header = ["team", "class", "cases", "Dice (mean over raters)", "Dice_max",
                  "Dice_max_mean", "Dice_match", "Dice_soft", "GED", "inter-rater Dice",
                  "model / ceiling"]
        body = [[str(r[c]) if c in ("team", "class") else str(int(r[c])) if c == "cases"
                 else fmt(r.get(c, math.nan), "dc") for c in columns] for r in content.raters]
        table_pages(pages, "Against several raters: the model and its ceiling", header,
                    body, note="Means over cases, MBH-Seg25's toolkit's definitions. One "
                               "prediction: Dice_match = the mean per-rater Dice; GED with "
                               "d = 1 − IoU, d(∅, ∅) = 1; inter-rater Dice: pairwise between "
                               "raters, the human ceiling (README, Several raters).")
    for team in teams:
        if team.cases is not None:
            table_pages(pages, f"Per-case results: {team.name}", CASE_HEADER,
                        case_rows(team), align=CASE_ALIGN)
    return pages.finish()


def run_pages(content: RunContent) -> list[Figure]:
    """The pages of a run folder's report (footers added)."""
    from ichbench.reports.figures import (
        leaderboard_figures,
        learning_curves,
        metric_distributions,
    )
    from ichbench.reports.sources import learning_notes

    config, teams = content.config, content.teams
    pages = PageSet(f"ichbench {__version__} — run {content.run_dir.name}", [])
    settings = ", ".join(f"{k}={v}" for k, v in _dotted(config.get("config") or {}))
    extra = [("Run", f"Folder: {content.run_dir}\nMethod: {content.method}; preset "
                     f"{config.get('preset', '–')}; device {config.get('device', '–')}; seed "
                     f"{config.get('seed', '–')}; folds {config.get('folds', '–')}\n"
                     f"Config hash: {config.get('config_hash', '–')}; ichbench "
                     f"{config.get('ichbench_version', '–')}"),
             ("Method configuration", settings or "–")]
    if not teams:
        extra.append(("Scores", "No scores/<split>/cases.csv in this run folder."))
    if content.notes:
        extra.append(("Notes", "\n".join(content.notes)))
    text_pages(pages, f"Run report: {content.method}",
               _protocol_blocks(content.settings, content.protocol, extra))
    captions = figure_captions(content.settings)
    if teams and content.main is not None:
        table_pages(pages, "Scores per split (mean [bootstrap 95% CI])", heads(SPLIT_COLUMNS),
                    [[fmt(r.get(c), c) for c in SPLIT_COLUMNS] for r in content.split_rows],
                    note="Bootstrap over cases, 1000 samples, seed 0. train_oof = out-of-fold "
                         "predictions of the training cases.")
        groups = {t.name: t.cases.values for t in teams if t.cases is not None}
        figure_page(pages, "Per-case metrics by split", metric_distributions(groups),
                    caption=captions["distributions"])
        main_name = content.main.teams[0].name
        _figure_pages(pages, leaderboard_figures(content.main, files=content.files), captions,
                      suffix=f" ({main_name} split)", skip=("distributions",))
        _lesion_pages(pages, content.lesions)
        _class_pages(pages, content.classes, content.subtypes, who="split")
    if content.histories:
        did_not_learn = learning_notes(content.histories)
        figure_page(pages, "Learning curves", learning_curves(content.histories),
                    caption="Per fold: training and validation loss and validation DC per "
                            "epoch (dot: best epoch), from folds/<k>/history.csv. The "
                            "coarse stage keeps its best epoch's weights; nnU-Net (fine) "
                            "predicts with its last epoch's, as nnU-Net does, and its "
                            "validation DC is nnU-Net's pseudo Dice on sampled patches. "
                            + ("; ".join(did_not_learn) if did_not_learn else
                               "Every stage improved on its first epoch in every fold."))
    for team in teams:
        table_pages(pages, f"Per-case results: {team.name} split", CASE_HEADER,
                    case_rows(team), align=CASE_ALIGN)
    return pages.finish()


def save_pdf(figures: Sequence[Figure], out: Path) -> int:
    """Write pages into one PDF atomically; returns the page count."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, PdfPages(tmp) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return len(figures)


def build_report(source: str | Path, out: str | Path, *, images: str | Path | None = None
                 ) -> tuple[Path, int]:
    """Write the PDF report of a run folder or a leaderboard folder.

    Returns
    -------
    (Path, int)
        The PDF path and its page count.

    Raises
    ------
    ReportInputError
        If ``source`` is neither a run folder nor a leaderboard folder.
    """
    source, out = Path(source), Path(out)
    if (source / "leaderboard.json").is_file():
        return out, save_pdf(leaderboard_pages(leaderboard_content(source)), out)
    if (source / "config.json").is_file():
        content = run_content(source, images=images)
        return out, save_pdf(run_pages(content), out)
    raise ReportInputError(f"{source}: neither a run folder (config.json) nor a leaderboard "
                           "folder (leaderboard.json); give one of those")


def summary_figure(rows: list[dict], groups: dict, title: str) -> Figure:
    """One-page summary: the per-split table above the per-case distributions."""
    from ichbench.reports.figures import metric_distributions
    from ichbench.reports.pages import PAGE_IN

    page = PageSet(title, [])
    table_pages(page, title, heads(SPLIT_COLUMNS),
                [[fmt(r.get(c), c) for c in SPLIT_COLUMNS] for r in rows])
    fig = page.pages[0]
    if groups:
        import io

        import matplotlib.image as mpimg

        dist = metric_distributions(groups)
        dist.set_size_inches(PAGE_IN[0] - 1.0, 4.6)
        buffer = io.BytesIO()
        dist.savefig(buffer, format="png", dpi=110)
        buffer.seek(0)
        ax = fig.add_axes((0.04, 0.02, 0.92, 0.62))
        ax.imshow(mpimg.imread(buffer, format="png"))
        ax.axis("off")
    return fig


def build_run_report(run_dir: Path) -> Path:
    """Write ``report.pdf``, ``summary.md`` and ``summary.png`` into a run folder.

    Called by the run harness at the end of every run. Works with whatever the folder
    holds: without scores the PDF has the run page only, without history or images those
    pages are left out.

    Returns
    -------
    Path
        ``run_dir / "report.pdf"``.
    """
    run_dir = Path(run_dir)
    content = run_content(run_dir)
    pdf = run_dir / "report.pdf"
    n_pages = save_pdf(run_pages(content), pdf)
    config, method, rows = content.config, content.method, content.split_rows
    lines = [f"# {method}: {run_dir.name}\n",
             f"ichbench {__version__}, preset {config.get('preset', '–')}, seed "
             f"{config.get('seed', '–')}. Full report: report.pdf ({n_pages} pages).\n"]
    if rows:
        lines.append(markdown_text(rows, SPLIT_COLUMNS))
        lines.append("\nMeans with bootstrap 95% CIs (1000 samples over cases, seed 0).\n")
    else:
        lines.append("No scores in this run folder.\n")
    write_text(run_dir / "summary.md", "\n".join(lines))
    groups = {t.name: t.cases.values for t in content.teams if t.cases is not None}
    fig = summary_figure(rows, groups, f"{method} — {run_dir.name}")
    with atomic_path(run_dir / "summary.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return pdf


__all__ = ["build_report", "build_run_report", "is_run_folder"]


def _dotted(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested config as (dotted key, value) pairs, the form ``--set`` takes.

    >>> _dotted({"coarse": {"train": {"epochs": 10}}, "seed": 0})
    [('coarse.train.epochs', 10), ('seed', 0)]
    """
    pairs: list[tuple[str, object]] = []
    for key, value in config.items():
        if isinstance(value, dict):
            pairs.extend(_dotted(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs

