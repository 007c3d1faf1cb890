"""Per-class rankings and subtype detection tables for leaderboards and reports.

From the ``classes`` and ``subtypes`` blocks that ``ichbench score`` writes into
``summary.json`` for label maps (:mod:`ichbench.submissions.classes`):

- :func:`class_ranking_rows`: every class ranked on its own, and ``macro`` (the mean of
  the class means) ranked the same way, with the leaderboard's INSTANCE scheme (each
  metric's mean ranked, ties at the minimum, final = mean rank). A team's class means are
  over the cases where the class is in its truth or prediction (the NaN policy), or with
  perfect rows added under ``--absent-class one``, exactly as its summary.json says;
- :func:`subtype_rows`: per team and truth subtype, pooled lesion recall and DC within
  the subtype (the binary prediction stratified, ``subtypes.csv``);
- :func:`subtype_figure`: lesion recall per subtype and team, as bars;
- :func:`rater_rows`: for teams scored against several raters (``score --raters``), the
  means of Dice_mean/max/match/soft and GED beside the inter-rater Dice, the ceiling.

Teams without the blocks (binary truth, or scored before issue 22) are left out.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# matplotlib is imported by the figure alone: the tables need none (a scoring-only install
# writes them with `leaderboard --no-figures`).
if TYPE_CHECKING:
    from matplotlib.figure import Figure

from ichbench.reports.inputs import RANKED_METRICS, TeamResults, parse_float
from ichbench.reports.ranking import instance_ranking

#: Columns of classes_leaderboard.csv.
CLASS_RANKING_COLUMNS: tuple[str, ...] = (
    "class", "rank", "team", "score", *RANKED_METRICS, "hd95", "lesion_f1", "rows",
    *(f"rank_{m}" for m in RANKED_METRICS))

#: Columns of the leaderboard's subtypes.csv.
SUBTYPE_COLUMNS: tuple[str, ...] = ("team", "class", "cases", "gt_lesions", "detected",
                                    "lesion_recall", "dc_pooled", "voxel_recall_pooled",
                                    "missed_volume_ml")


def class_ranking_rows(teams: Sequence[TeamResults]) -> list[dict[str, Any]]:
    """Each class's (and the macro average's) INSTANCE ranking over the teams that have it."""
    blocks = {t.name: t.summary["classes"] for t in teams if "classes" in t.summary}
    if not blocks:
        return []
    names: list[str] = []
    for block in blocks.values():
        names += [n for n in block["per_class"] if n not in names]
    rows: list[dict[str, Any]] = []
    for name in [*names, "macro"]:
        means: dict[str, dict[str, float]] = {}
        extra: dict[str, dict[str, Any]] = {}
        for team, block in blocks.items():
            if name == "macro":
                source = block["macro"]
                values = {m: float(source.get(m, math.nan)) for m in
                          (*RANKED_METRICS, "hd95", "lesion_f1")}
                count = math.nan  # a mean over classes, not over rows
            elif name in block["per_class"]:
                c = block["per_class"][name]
                values = {m: float(c["metrics"][m]["mean"]) for m in
                          (*RANKED_METRICS, "hd95", "lesion_f1")}
                count = int(c["rows"])
            else:
                continue
            means[team] = {m: values[m] for m in RANKED_METRICS}
            extra[team] = {"hd95": values["hd95"], "lesion_f1": values["lesion_f1"],
                           "rows": count}
        for row in instance_ranking(means):
            rows.append({"class": name, **row, **extra[row["team"]]})
    return rows


def subtype_rows(teams: Sequence[TeamResults]) -> list[dict[str, Any]]:
    """Per team and truth subtype: pooled detection and DC (the ``subtypes`` block)."""
    rows = []
    for team in teams:
        for name, block in team.summary.get("subtypes", {}).items():
            rows.append({"team": team.name, "class": name,
                         **{c: block[c] for c in SUBTYPE_COLUMNS[2:]}})
    return rows


#: Columns of the leaderboard's raters_leaderboard.csv.
RATER_BOARD_COLUMNS: tuple[str, ...] = (
    "team", "class", "cases", "dice_mean", "dice_max", "dice_max_reverse", "dice_max_mean",
    "dice_match", "dice_soft", "ged", "interrater_dice_mean", "model_to_ceiling")


def rater_rows(teams: Sequence[TeamResults]) -> list[dict[str, Any]]:
    """Per team (scored with ``--raters``) and class: the model beside the inter-rater Dice."""
    rows = []
    for team in teams:
        for name, block in team.summary.get("raters", {}).get("classes", {}).items():
            metrics = block["metrics"]  # (a folder scored before Dice_max_mean: NaN)
            rows.append({"team": team.name, "class": name, "cases": block["cases"],
                         **{c: metrics.get(c, {}).get("mean", math.nan)
                            for c in RATER_BOARD_COLUMNS[3:-1]},
                         "model_to_ceiling": block["model_to_ceiling"]})
    return rows


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A table written by the leaderboard, numbers back as floats (empty if absent)."""
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    text = {"class", "team"}
    return [{k: (v if k in text else parse_float(v)) for k, v in r.items()} for r in rows]


def subtype_figure(rows: Sequence[dict[str, Any]], *, title: str = "") -> Figure:
    """Lesion recall per truth subtype (groups) and team (bars), detected/lesions on top."""
    teams = list(dict.fromkeys(r["team"] for r in rows))
    classes = list(dict.fromkeys(r["class"] for r in rows))
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(len(teams), 1)
    by = {(r["team"], r["class"]): r for r in rows}
    for i, team in enumerate(teams):
        xs, heights, labels = [], [], []
        for j, name in enumerate(classes):
            row = by.get((team, name))
            if row is None:
                continue
            xs.append(j + (i - (len(teams) - 1) / 2) * width)
            recall = float(row["lesion_recall"])
            heights.append(0.0 if math.isnan(recall) else recall)
            labels.append(f"{int(row['detected'])}/{int(row['gt_lesions'])}")
        bars = ax.bar(xs, heights, width=width * 0.95, label=team)
        ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
    ax.set_xticks(np.arange(len(classes)), classes)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("lesion recall (pooled over cases)")
    ax.set_title(title or "Which subtypes are found: truth lesions detected per subtype")
    if len(teams) > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
