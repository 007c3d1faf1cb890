"""Lesion-level and clinical content of the reports: detection by size, volume agreement.

Computed once from the teams' per-case results (the lesion columns of ``cases.csv``) and
handed to the PDF builder, which only lays them out:

- :func:`detection_rows`: per team, truth lesions and detected lesions per volume bin
  pooled over cases (recall = detected / lesions), false-positive lesions per case and
  the pooled lesion F1; :func:`detection_figure` draws the recall per bin;
- :func:`clinical_rows`: per team, :func:`ichbench.metrics.volume_agreement` of its
  volumes (absolute error, the 30 mL table with Cohen's κ, expansion-sized errors,
  case-level detection);
- :func:`missed_lesion_panels`: the largest missed truth lesions, read from the masks
  (needs the truth, prediction and CT files; empty when they cannot be found).

Teams scored before the lesion columns existed have none of these and are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ichbench.metrics import DEFAULT_BIN_EDGES_ML, bin_labels, volume_agreement
from ichbench.reports.inputs import TeamResults

BINS = tuple(bin_labels(DEFAULT_BIN_EDGES_ML))
BIN_TITLES = {"lt1ml": "< 1 mL", "1to5ml": "1–5 mL", "5to30ml": "5–30 mL", "ge30ml": "≥ 30 mL"}


def has_lesion_columns(team: TeamResults) -> bool:
    """Whether the team's cases carry the lesion-wise columns."""
    return team.cases is not None and all(
        f"gt_lesions_{b}" in team.cases.values for b in BINS) and \
        "lesion_tp" in team.cases.values


def _total(values: np.ndarray) -> int:
    known = values[~np.isnan(values)]
    return int(known.sum())


def detection_rows(teams: Sequence[TeamResults]) -> list[dict]:
    """Pooled lesion detection per team (teams without lesion columns left out).

    Returns
    -------
    list of dict
        ``team, cases, lesions, lesion_tp, lesion_fp, lesion_fn, lesion_f1, fp_per_case``
        and per bin ``n_<bin>``, ``tp_<bin>``, ``recall_<bin>`` (NaN for an empty bin).
    """
    rows = []
    for team in teams:
        if not has_lesion_columns(team):
            continue
        v = team.cases.values  # type: ignore[union-attr]
        known = ~np.isnan(v["lesion_tp"])
        tp, fp, fn = (_total(v[c]) for c in ("lesion_tp", "lesion_fp", "lesion_fn"))
        n_cases = int(known.sum())
        row: dict[str, Any] = {
            "team": team.name, "cases": n_cases, "lesions": tp + fn, "lesion_tp": tp,
            "lesion_fp": fp, "lesion_fn": fn,
            "lesion_f1": (2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else
            (1.0 if n_cases else math.nan),
            "fp_per_case": fp / n_cases if n_cases else math.nan}
        for b in BINS:
            n, found = _total(v[f"gt_lesions_{b}"]), _total(v[f"lesion_tp_{b}"])
            row[f"n_{b}"], row[f"tp_{b}"] = n, found
            row[f"recall_{b}"] = found / n if n else math.nan
        rows.append(row)
    return rows


def detection_figure(rows: Sequence[dict], *, title: str = "") -> Figure:
    """Grouped bars: recall of truth lesions per volume bin, one colour per team.

    Each bar is labelled ``detected/lesions``; an empty bin has no bar and says ``n = 0``.
    """
    from ichbench.reports.style import SLIDE, short_name

    fig = Figure(figsize=SLIDE, layout="constrained")
    ax = fig.subplots()
    n = max(len(rows), 1)
    width = 0.8 / n
    x = np.arange(len(BINS))
    for t, row in enumerate(rows):
        recall = np.array([row[f"recall_{b}"] for b in BINS], float)
        xs = x - 0.4 + width * (t + 0.5)
        ax.bar(xs, np.nan_to_num(recall), width=width, color=f"C{t % 10}",
               label=f"{short_name(row['team'], 20)} (F1 {row['lesion_f1']:.2f}, "
                     f"{row['fp_per_case']:.2f} FP/case)")
        for xi, b, r in zip(xs, BINS, recall, strict=True):
            text = f"{row[f'tp_{b}']}/{row[f'n_{b}']}" if row[f"n_{b}"] else "n = 0"
            ax.text(xi, (0 if np.isnan(r) else r) + 0.02, text, ha="center", fontsize=8,
                    rotation=90 if n > 3 else 0, va="bottom")
    ax.set_xticks(x, [f"truth lesions {BIN_TITLES.get(b, b)}" for b in BINS])
    ax.set_ylim(0, 1.25)
    ax.set_ylabel("recall (detected / truth lesions)")
    ax.grid(axis="y", alpha=0.3)
    if rows:
        ax.legend(fontsize=9, loc="upper left")
    ax.set_title(title or "Detection by lesion size: a truth lesion is detected when a "
                          "predicted component overlaps it (26-connected components)",
                 fontsize=11)
    return fig


def clinical_rows(teams: Sequence[TeamResults]) -> list[dict]:
    """Clinical volume agreement per team (teams without volumes left out).

    Returns
    -------
    list of dict
        ``team, n, mae_ml, median_ae_ml, max_ae_ml, agree_30ml, kappa_30ml,
        table_30ml`` ("TN/FP/FN/TP" of the ≥ 30 mL category, truth by prediction),
        ``expansion_sized`` (count), ``expansion_share``, ``sensitivity``, ``specificity``.
    """
    rows = []
    for team in teams:
        if team.cases is None or "gt_volume_ml" not in team.cases.values:
            continue
        a = volume_agreement(team.cases.values["gt_volume_ml"],
                             team.cases.values["pred_volume_ml"])
        (tn, fp), (fn, tp) = a.category_table
        rows.append({"team": team.name, "n": a.n, "mae_ml": a.mean_abs_error_ml,
                     "median_ae_ml": a.median_abs_error_ml, "max_ae_ml": a.max_abs_error_ml,
                     "table_30ml": f"{tn}/{fp}/{fn}/{tp}",
                     "agree_30ml": a.category_agreement, "kappa_30ml": a.category_kappa,
                     "expansion_sized": a.expansion_sized,
                     "expansion_share": a.expansion_sized_share,
                     "sensitivity": a.sensitivity, "specificity": a.specificity})
    return rows


def missed_lesion_panels(team: TeamResults, *, images: object = None, limit: int = 3,
                         margin_vox: int = 24) -> list[dict]:
    """Panels of the ``limit`` largest missed truth lesions of a team, zoomed in.

    Cases are those with ``lesion_fn > 0`` in the team's results; their masks are read,
    :func:`ichbench.metrics.evaluate_lesions` finds the missed lesions, and each panel
    shows the axial slice through a lesion's largest cross-section, cropped to the
    lesion's box plus ``margin_vox`` voxels. Files are read by
    :func:`ichbench.reports.sources.read_case`; empty when they are missing.
    """
    from ichbench.metrics import evaluate_lesions
    from ichbench.reports.sources import image_files, prediction_files, read_case, truth_files

    cases = team.cases
    if cases is None or "lesion_fn" not in cases.values:
        return []
    truth, preds, cts = truth_files(team), prediction_files(team), image_files(team, images)
    if not (truth and cts):
        return []
    fn = cases.values["lesion_fn"]
    found: list[tuple[float, dict]] = []
    for i in np.flatnonzero(np.nan_to_num(fn) > 0):
        case = cases.ids[i]
        if case not in truth or case not in cts:
            continue
        read = read_case(truth[case], cts[case], preds.get(case) if preds else None)
        if read is None:
            continue
        gt, ct, pred = read
        spacing = gt.geometry.spacing_zyx_mm
        lesions = evaluate_lesions(gt.array != 0, pred != 0, spacing_mm=spacing).lesions
        for lesion in (x for x in lesions if not x.detected):
            (z0, z1), (y0, y1), (x0, x1) = lesion.box
            block = gt.array[z0:z1, y0:y1, x0:x1] != 0
            k = z0 + int(np.argmax(block.sum(axis=(1, 2))))
            ys = slice(max(y0 - margin_vox, 0), y1 + margin_vox)
            xs = slice(max(x0 - margin_vox, 0), x1 + margin_vox)
            found.append((lesion.volume_ml, {
                "title": f"case {case}: missed {lesion.volume_ml:.2f} mL, slice {k}",
                "ct": ct[k, ys, xs], "truth": gt.array[k, ys, xs],
                "pred": pred[k, ys, xs], "aspect": spacing[1] / spacing[2]}))
    found.sort(key=lambda item: -item[0])
    return [panel for _, panel in found[:limit]]
