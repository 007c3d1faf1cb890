"""Writing a leaderboard folder: tables, figures and ``leaderboard.json``.

:func:`build_leaderboard` reads the inputs, analyses them
(:func:`ichbench.reports.analysis.analyse`) and writes ``OUT_DIR``:

- ``leaderboard.csv/.md/.tex`` — ``rank,team,score,dc,nsd,hd,rvd,rank_dc,rank_nsd,rank_hd,
  rank_rvd`` (+ ``hd95`` where every team has it), ordered by rank;
- with per-case results: ``ci.csv/.md`` (bootstrap 95 % CIs of every mean),
  ``rank_stability.csv/.md`` (bootstrap rank distribution), ``rank_then_aggregate.csv/.md``,
  ``instance_ranking.csv/.md``, ``pairwise_wilcoxon.csv/.md`` (Holm-corrected),
  ``cases_long.csv`` (every team's cases), ``decisive_cases.csv/.md`` (the cases whose
  removal or capped HD changes a rank, :mod:`ichbench.reports.decisive`),
  ``classes_leaderboard.csv/.md`` and ``subtypes.csv/.md`` for label maps
  (:mod:`ichbench.reports.classes_report`), and ``figures/*.png``;
- ``leaderboard.json`` — settings, inputs and notes, enough for ``ichbench report`` to
  rebuild everything (the bootstrap is seeded, so the numbers are identical);
  :func:`load_leaderboard_dir` reads the folder back.

The figures read NIfTI files (ABC/2, overlays) before anything is written
(:func:`with_figure_files`), so the notes of what they could not read are part of the
analysis that every file is written from.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ichbench import __version__
from ichbench.io.atomic import write_json, write_text
from ichbench.reports.analysis import (
    LEADERBOARD_COLUMNS,
    Analysis,
    analyse,
    leaderboard_columns,
)
from ichbench.reports.challenger_analysis import write_challenger_tables
from ichbench.reports.inputs import (
    CASE_COLUMNS,
    RANKED_METRICS,
    CaseTable,
    ReportInputError,
    TeamResults,
    case_means,
    load_inputs,
    parse_float,
)
from ichbench.reports.sources import FigureFiles, file_inputs
from ichbench.reports.tables import markdown_text, write_tables

__all__ = ["build_leaderboard", "cases_long_text", "load_leaderboard_dir", "summary_markdown",
           "with_figure_files", "write_outputs"]


def with_figure_files(analysis: Analysis, *, images: Path | None = None
                      ) -> tuple[Analysis, FigureFiles]:
    """Read what the figures need from NIfTI files; the analysis gains the notes.

    Returns
    -------
    (Analysis, FigureFiles)
        ``analysis`` with a note per file-reading figure left out, and what was read.
    """
    files = file_inputs(analysis, images=images)
    return analysis.with_notes(files.notes), files


def write_outputs(analysis: Analysis, out_dir: Path, *, split: str = "test",
                  figures: bool = True, images: Path | None = None,
                  files: FigureFiles | None = None) -> list[Path]:
    """Write every table (and figure) of ``analysis`` into ``out_dir``; return the paths.

    ``files``: :func:`with_figure_files`' result, whose notes ``analysis`` already
    carries; without it (and with figures) the files are read here and their notes go
    into ``leaderboard.json``.
    """
    if figures and files is None:
        analysis, files = with_figure_files(analysis, images=images)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = {"instance": "Leaderboard (INSTANCE 2022 ranking: mean rank of DC, NSD, HD, "
                           "RVD means)",
               "rank-then-aggregate": "Leaderboard (rank-then-aggregate: per-case ranks "
                                      "averaged per metric)",
               "lesionwise": "Leaderboard (lesion-wise: mean rank of lesion-wise DC, HD95 "
                             "and lesion F1 means)"}[analysis.ranking]
    written = write_tables(out_dir / "leaderboard", analysis.table,
                           leaderboard_columns(analysis), latex=True, caption=caption)
    if analysis.values is not None:
        written += write_tables(out_dir / "instance_ranking", analysis.instance_table,
                                list(LEADERBOARD_COLUMNS))
        written += write_tables(out_dir / "rank_then_aggregate", analysis.rta_table,
                                ["rank", "team", "score", *analysis.metrics,
                                 *(f"rank_{m}" for m in analysis.metrics),
                                 *(f"mean_rank_{m}" for m in analysis.metrics)])
        written.append(out_dir / "cases_long.csv")
        write_text(written[-1], cases_long_text(analysis.teams))
    if analysis.ci_rows:
        written += write_tables(out_dir / "ci", analysis.ci_rows,
                                ["team", "metric", "mean", "ci_low", "ci_high", "n",
                                 "n_excluded"],
                                caption=f"Bootstrap 95% CIs ({analysis.n_bootstrap} samples, "
                                        f"seed {analysis.seed})")
        written += write_tables(out_dir / "rank_stability", analysis.stability_rows,
                                list(analysis.stability_rows[0]))
    if analysis.pairwise_rows:
        written += write_tables(out_dir / "pairwise_wilcoxon", analysis.pairwise_rows,
                                ["metric", "team_a", "team_b", "n", "median_diff",
                                 "statistic", "p", "p_holm", "better"],
                                caption="Wilcoxon signed-rank, Holm-corrected per metric")
    if analysis.challenger is not None:
        written += write_challenger_tables(analysis.paired, analysis.challenger, out_dir)
    if analysis.values is not None and len(analysis.paired) >= 2:  # issue 22: decisive cases
        from ichbench.reports.decisive import DECISIVE_COLUMNS, decisive_cases

        written += write_tables(out_dir / "decisive_cases",
                                decisive_cases(analysis.paired, analysis.case_ids,
                                               analysis.values, analysis.metrics,
                                               scheme=analysis.ranking),
                                list(DECISIVE_COLUMNS),
                                caption="Cases whose removal or capped HD changes a rank")
    from ichbench.reports.classes_report import (
        CLASS_RANKING_COLUMNS,
        RATER_BOARD_COLUMNS,
        SUBTYPE_COLUMNS,
        class_ranking_rows,
        rater_rows,
        subtype_rows,
    )

    class_rows = class_ranking_rows(analysis.teams)  # issue 22: label maps
    if class_rows:
        written += write_tables(out_dir / "classes_leaderboard", class_rows,
                                list(CLASS_RANKING_COLUMNS),
                                caption="Ranking per class and macro-averaged (INSTANCE "
                                        "scheme on each class's means)")
    raters = rater_rows(analysis.teams)
    if raters:
        written += write_tables(out_dir / "raters_leaderboard", raters,
                                list(RATER_BOARD_COLUMNS),
                                caption="Against several raters: the model beside the "
                                        "inter-rater Dice (its ceiling)")
    strata = subtype_rows(analysis.teams)
    if strata:
        written += write_tables(out_dir / "subtypes", strata, list(SUBTYPE_COLUMNS),
                                caption="Detection and DC within each truth subtype")
    if files is not None:
        from ichbench.reports.figures import leaderboard_figures

        fig_dir = out_dir / "figures"
        fig_dir.mkdir(exist_ok=True)
        for name, fig in leaderboard_figures(analysis, files=files).items():
            path = fig_dir / f"{name}.png"
            fig.savefig(path, dpi=110)
            written.append(path)
    written.append(out_dir / "leaderboard.json")
    write_json(written[-1], _meta(analysis, split, images))
    return written


def build_leaderboard(inputs: Sequence[str | Path], out_dir: str | Path, *,
                      names: Sequence[str] = (), ranking: str = "instance",
                      n_bootstrap: int = 1000, seed: int = 0, split: str = "test",
                      figures: bool = True, images: str | Path | None = None) -> Analysis:
    """Read ``inputs``, rank them and write the leaderboard folder (see module docstring).

    Returns the analysis the folder was written from, with the figures' notes.

    Raises
    ------
    ReportInputError
        On unreadable inputs (one-line message naming the file).
    """
    teams = load_inputs(inputs, names=names, split=split)
    analysis = analyse(teams, ranking=ranking, n_bootstrap=n_bootstrap, seed=seed)
    image_dir = Path(images) if images else None
    files = None
    if figures:
        analysis, files = with_figure_files(analysis, images=image_dir)
    write_outputs(analysis, Path(out_dir), split=split, figures=figures, images=image_dir,
                  files=files)
    return analysis


def cases_long_text(teams: Sequence[TeamResults]) -> str:
    """Every team's per-case rows as one CSV (``team`` first, then ``cases.csv`` columns)."""
    columns = ["team", "case", "status", *CASE_COLUMNS]
    lines = [",".join(columns)]
    for team in teams:
        if team.cases is None:
            continue
        for i, case in enumerate(team.cases.ids):
            cells = [team.name, case, team.cases.status[i]]
            for c in CASE_COLUMNS:
                v = team.cases.values.get(c)
                cells.append("" if v is None else repr(float(v[i])))
            lines.append(",".join(_csv_cell(c) for c in cells))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def _meta(analysis: Analysis, split: str, images: Path | None) -> dict:
    inputs = []
    for t in analysis.teams:
        inputs.append({"team": t.name, "kind": t.kind, "source": t.source, "split": t.split,
                       "run_dir": t.run_dir, "n_cases": len(t.cases) if t.cases else None,
                       "n_rvd_excluded": t.n_rvd_excluded,
                       "means": {k: _json_float(v) for k, v in t.means.items()},
                       "truth": t.summary.get("truth"),
                       "predictions": t.summary.get("predictions"),
                       "data": t.run_config.get("data"),
                       "tolerance_mm": t.summary.get("tolerance_mm"),
                       "hd_percentile": t.summary.get("hd_percentile")})
    return {"ichbench_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "ranking": analysis.ranking, "bootstrap": analysis.n_bootstrap,
            "seed": analysis.seed, "split": split,
            "images": str(images.resolve()) if images else None,
            "paired_teams": list(analysis.paired), "paired_cases": len(analysis.case_ids),
            "notes": analysis.notes, "inputs": inputs}


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def load_leaderboard_dir(folder: Path) -> tuple[list[TeamResults], dict]:
    """Rebuild the teams of a leaderboard folder from ``leaderboard.json`` + ``cases_long.csv``.

    Per-case results come from the folder itself, so it stays usable after the input
    folders move; truth, prediction and image paths are kept for figures that need them.

    Raises
    ------
    ReportInputError
        One line, for a folder whose files are missing, not UTF-8 or not as written.
    """
    try:
        return _load_leaderboard_dir(folder)
    except ReportInputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, csv.Error) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise ReportInputError(f"{folder}: not a leaderboard folder as 'ichbench leaderboard' "
                               f"writes it ({reason}); build it again") from None


def _load_leaderboard_dir(folder: Path) -> tuple[list[TeamResults], dict]:
    meta_path = folder / "leaderboard.json"
    if not meta_path.is_file():
        raise ReportInputError(f"{folder}: no leaderboard.json; build it with "
                               "'ichbench leaderboard'")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    per_team: dict[str, list[dict]] = {}
    long_path = folder / "cases_long.csv"
    if long_path.is_file():
        with open(long_path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                per_team.setdefault(row["team"], []).append(row)
    teams = []
    for item in meta["inputs"]:
        cases = None
        rows = per_team.get(item["team"])
        if rows:
            values = {c: np.array([parse_float(r[c]) for r in rows]) for c in CASE_COLUMNS
                      if rows[0].get(c, "") != "" or c in RANKED_METRICS}
            cases = CaseTable(tuple(r["case"] for r in rows), tuple(r["status"] for r in rows),
                              values)
        if cases is not None:
            means, n_excluded = case_means(cases)
        else:
            means = {k: float(v) for k, v in item["means"].items()}
            n_excluded = item.get("n_rvd_excluded", 0)
        summary = {k: item.get(k) for k in ("truth", "predictions", "tolerance_mm",
                                            "hd_percentile") if item.get(k) is not None}
        config = {"data": item["data"]} if item.get("data") else {}
        if item.get("run_dir"):
            config_path = Path(item["run_dir"]) / "config.json"
            if config_path.is_file():
                config = json.loads(config_path.read_text(encoding="utf-8"))
        teams.append(TeamResults(item["team"], item["kind"], item["source"], means, cases,
                                 n_excluded, summary, config, item.get("run_dir"),
                                 item.get("split")))
    return teams, meta


def summary_markdown(analysis: Analysis) -> str:
    """A short Markdown digest: the leaderboard, notes and CI table."""
    parts = ["# Leaderboard\n", markdown_text(analysis.table, leaderboard_columns(analysis))]
    if analysis.notes:
        parts.append("\n" + "\n".join(f"- {n}" for n in analysis.notes) + "\n")
    if analysis.ci_rows:
        parts.append("\n## Bootstrap 95% CIs\n\n" + markdown_text(
            analysis.ci_rows, ["team", "metric", "mean", "ci_low", "ci_high", "n",
                               "n_excluded"]))
    return "".join(parts)
