"""Sections shared by the leaderboard report and the run report.

Each function lays one kind of content, already computed
(:mod:`ichbench.reports.report_content`), onto pages of a :class:`PageSet`: the protocol
page, figure pages, per-case tables, lesion detection and clinical agreement, label-map
classes and subtypes, and the cases that decide a ranking. Nothing here computes a
number; the words come from :mod:`ichbench.reports.report_text` and
:mod:`ichbench.reports.labels`.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from ichbench import __version__
from ichbench.reports.inputs import TeamResults
from ichbench.reports.labels import METRIC_LABELS
from ichbench.reports.lesion_report import BIN_TITLES, BINS, detection_figure
from ichbench.reports.pages import PageSet, figure_page, table_pages, text_pages
from ichbench.reports.report_content import LesionContent, Settings
from ichbench.reports.report_text import LESION_TEXT, metric_definitions
from ichbench.reports.tables import fmt

CASE_TABLE_COLUMNS = ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml")
CASE_HEADER = ["case", "status", *(METRIC_LABELS[c] for c in CASE_TABLE_COLUMNS[:5]),
               "true mL", "pred mL"]
CASE_ALIGN = ["left", "left", *["right"] * 7]


def fmt_ci(row: dict | None, column: str) -> str:
    """``mean [low, high]`` of a CI row, formatted as ``column`` (– without one)."""
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


def protocol_blocks(settings: Settings, protocol: tuple[str, dict, dict] | None,
                    extra: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The protocol page's blocks: ``extra``, dataset and splits, metrics, software."""
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


def figure_pages(pages: PageSet, figures: dict[str, Figure], captions: dict[str, str],
                 suffix: str = "", skip: Sequence[str] = ()) -> None:
    """One page per figure, titled by its caption up to the first colon."""
    for name, fig in figures.items():
        if name in skip:
            continue
        title = captions.get(name, name.replace("_", " ").capitalize()).split(":")[0]
        figure_page(pages, title + suffix, fig, caption=captions.get(name, ""))


def lesion_pages(pages: PageSet, lesions: LesionContent, suffix: str = "") -> None:
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


def class_pages(pages: PageSet, classes: Sequence[dict], subtypes: Sequence[dict], *,
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
        header = ["class", "rank", who, "score", *(METRIC_LABELS[c] for c in columns[4:9]),
                  "rows"]
        table_pages(pages, "Ranking per class and macro-averaged", header, body,
                    note="Each class scored on label == c masks (classes.csv) and ranked "
                         "with the INSTANCE scheme on its means; macro = mean of the class "
                         "means. rows: cases where the class is in the truth or the "
                         "prediction (a class absent from both is left out, or scored 1 "
                         "under --absent-class one).")


def decisive_page(pages: PageSet, rows: Sequence[dict], n_cases: int) -> None:
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
