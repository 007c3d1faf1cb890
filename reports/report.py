"""The PDF report of a run folder or a leaderboard folder, and a run's one-page summary.

:func:`build_report` assembles pages (:mod:`ichbench.reports.pages`) from the numbers of
:mod:`ichbench.reports.leaderboard` and the figures of :mod:`ichbench.reports.figures`; it
computes nothing itself. :func:`build_run_report` is what the run harness calls at the end
of every run: it writes ``report.pdf``, ``summary.md`` and ``summary.png`` into the run
folder. Missing optional pieces (history, images, truth files) drop their pages.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from ichbench import __version__
from ichbench.atomic import atomic_path, write_text
from ichbench.reports.inputs import (
    RANKED_METRICS,
    ReportInputError,
    TeamResults,
    is_run_folder,
    read_run_folder,
)
from ichbench.reports.leaderboard import (
    Analysis,
    analyse,
    leaderboard_columns,
    load_leaderboard_dir,
)
from ichbench.reports.pages import PageSet, figure_page, table_pages, text_pages
from ichbench.reports.tables import fmt, markdown_text

SPLIT_ORDER = ("validation", "test", "train_oof")
HEADS = {"dc": "DC", "nsd": "NSD", "hd": "HD (mm)", "hd95": "HD95 (mm)", "rvd": "RVD",
         "rank_dc": "rank DC", "rank_nsd": "rank NSD", "rank_hd": "rank HD",
         "rank_rvd": "rank RVD", "median hd": "median HD", "rvd n excl.": "RVD n excl.",
         "median_diff": "median diff", "p_holm": "p (Holm)", "team_a": "team a",
         "team_b": "team b"}


def heads(columns: Sequence[str]) -> list[str]:
    """Display names of table columns."""
    return [HEADS.get(c) or (f"mean rank {HEADS[c[10:]]}" if c.startswith("mean_rank_")
                             else c.replace("_", " ")) for c in columns]
CASE_HEADER = ["case", "status", "DC", "NSD", "HD (mm)", "HD95 (mm)", "RVD", "true mL",
               "pred mL"]
CASE_ALIGN = ["left", "left", *["right"] * 7]
CASE_TABLE_COLUMNS = ("dc", "nsd", "hd", "hd95", "rvd", "gt_volume_ml", "pred_volume_ml")


def metric_definitions(tolerance_mm: float = 0.42, hd_percentile: float = 100.0) -> str:
    """The metric and empty-case definitions, as printed on the protocol page."""
    return (
        "DC = (2|P∩G| + 1e-5) / (|P| + |G| + 1e-5) on binarised masks.\n"
        f"NSD: surface Dice at tolerance τ = {tolerance_mm:g} mm (surfel-area weighted, as "
        "DeepMind surface-distance).\n"
        f"HD: symmetric Hausdorff distance, {hd_percentile:g}th percentile, in mm (the "
        "challenge ranked on it); HD95: 95th percentile, extra column.\n"
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


def _protocol_blocks(teams: Sequence[TeamResults], extra: Sequence[tuple[str, str]]
                     ) -> list[tuple[str, str]]:
    blocks = list(extra)
    summaries = [t.summary for t in teams if t.summary]
    tol = next((s["tolerance_mm"] for s in summaries if s.get("tolerance_mm")), 0.42)
    pct = next((s["hd_percentile"] for s in summaries if s.get("hd_percentile")), 100.0)
    for team in teams:
        if not team.run_dir:
            continue
        protocol_path = Path(team.run_dir) / "protocol.json"
        if protocol_path.is_file():
            protocol = json.loads(protocol_path.read_text(encoding="utf-8"))
            counts = ", ".join(f"{s} {len(protocol.get(s) or [])}" for s in
                               ("train", "validation", "test", "unlabeled"))
            folds = protocol.get("folds") or []
            blocks.append((f"Dataset and splits ({team.name})",
                           f"Data: {team.run_config.get('data', '–')}\n"
                           f"Fingerprint: {protocol.get('fingerprint', '–')}\n"
                           f"Cases: {counts}\n"
                           f"Folds: {len(folds)} (sizes "
                           f"{', '.join(str(len(f)) for f in folds) or '–'}), seed "
                           f"{protocol.get('seed', '–')}"))
            break
    blocks.append(("Metrics", metric_definitions(float(tol), float(pct))))
    blocks.append(("Software", f"ichbench {__version__}; report generated "
                               f"{_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}"))
    return blocks


def _figure_pages(pages: PageSet, analysis: Analysis, images: object,
                  captions: dict[str, str]) -> None:
    from ichbench.reports.figures import leaderboard_figures

    for name, fig in leaderboard_figures(analysis, images=images).items():
        figure_page(pages, captions.get(name, name).split(":")[0], fig,
                    caption=captions.get(name, ""))


FIGURE_CAPTIONS = {
    "distributions": "Per-case metrics: box = quartiles, whiskers = 1.5 IQR, dots = cases; "
                     "∞ marks HD of empty predictions; undefined RVD (empty truth) left out.",
    "rank_stability": "Ranking stability: ranks of each team over bootstrap samples of the "
                      "cases (paired); blob area = share of samples.",
    "volumes": "Volumes: predicted vs true and Bland–Altman; ABC/2 (black ×) is the clinical "
               "estimate from the truth masks (largest axial diameter A, perpendicular B, "
               "C = slices × thickness; A·B·C/2).",
    "overlays": "Qualitative: best, median and worst case by DC, slice of largest truth "
                "area, brain window W80/L40.",
}


def leaderboard_pages(folder: Path) -> list[Figure]:
    """The pages of a leaderboard folder's report, in order (footers added)."""
    teams, meta = load_leaderboard_dir(folder)
    analysis = analyse(teams, ranking=meta.get("ranking", "instance"),
                       n_bootstrap=int(meta.get("bootstrap", 1000)), seed=int(meta.get("seed", 0)))
    pages = PageSet(f"ichbench {__version__} — leaderboard {folder.name}", [])
    inputs = "\n".join(f"{t.name}: {t.kind}, {len(t.cases) if t.cases else 'means only'}"
                       f"{' cases' if t.cases else ''} — {t.source}" for t in teams)
    extra = [("Leaderboard", f"{len(teams)} teams; split {meta.get('split', 'test')}; "
                             f"{len(analysis.case_ids)} paired cases."),
             ("Ranking", RANKING_TEXT[analysis.ranking]),
             ("Statistics", f"Bootstrap: {analysis.n_bootstrap} samples of the cases, paired "
                            f"across teams, numpy Generator seed {analysis.seed}; 95% "
                            "percentile CIs. Pairwise: two-sided Wilcoxon signed-rank per "
                            "metric, Holm-corrected within each metric; inf HD ranked above "
                            "every finite value."),
             ("Inputs", inputs)]
    if analysis.notes:
        extra.append(("Notes", "\n".join(analysis.notes)))
    text_pages(pages, "Leaderboard report: protocol", _protocol_blocks(teams, extra))
    columns = leaderboard_columns(analysis)
    rows = [[fmt(r.get(c), c) for c in columns] for r in analysis.table]
    table_pages(pages, "Leaderboard", heads(columns), rows, note=RANKING_TEXT[analysis.ranking],
                align=["right" if c != "team" else "left" for c in columns])
    if analysis.ci_rows:
        by = {(r["team"], r["metric"]): r for r in analysis.ci_rows}
        order = [r["team"] for r in analysis.table if r["team"] in analysis.paired]
        header = ["team", *(f"{HEADS[m]} mean [95% CI]" for m in RANKED_METRICS),
                  "RVD n excl."]
        body = [[t, *(_fmt_ci(by.get((t, m)), m) for m in RANKED_METRICS),
                 str(by[(t, "rvd")]["n_excluded"])] for t in order]
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
    if analysis.rta_table and analysis.ranking == "instance":
        columns = ["rank", "team", "score", *(f"mean_rank_{m}" for m in RANKED_METRICS),
                   *(f"rank_{m}" for m in RANKED_METRICS)]
        table_pages(pages, "Alternative ranking: rank-then-aggregate", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.rta_table],
                    note=RANKING_TEXT["rank-then-aggregate"])
    if analysis.pairwise_rows:
        columns = ["metric", "team_a", "team_b", "n", "median_diff", "p", "p_holm", "better"]
        table_pages(pages, "Pairwise Wilcoxon signed-rank tests (Holm)", heads(columns),
                    [[fmt(r.get(c), c) for c in columns] for r in analysis.pairwise_rows],
                    note="median_diff = median of a − b; better: the significantly better team "
                         "(Holm-adjusted p < 0.05).")
    _figure_pages(pages, analysis, meta.get("images"), FIGURE_CAPTIONS)
    for team in teams:
        if team.cases is not None:
            table_pages(pages, f"Per-case results: {team.name}", CASE_HEADER,
                        case_rows(team), align=CASE_ALIGN)
    return pages.finish()


def _split_teams(run_dir: Path, notes: list[str] | None = None) -> list[TeamResults]:
    """One team per scored split of a run; unreadable splits are noted and skipped."""
    scores = run_dir / "scores"
    if not scores.is_dir():
        return []
    names = sorted((p.name for p in scores.iterdir() if (p / "cases.csv").is_file()),
                   key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else 9, s))
    teams = []
    for split in names:
        try:
            teams.append(read_run_folder(run_dir, split, name=split))
        except ReportInputError as exc:
            if notes is not None:
                notes.append(f"split {split} left out: {exc}")
    return teams


def _split_rows(analysis: Analysis, teams: Sequence[TeamResults]) -> list[dict]:
    by = {(r["team"], r["metric"]): r for r in analysis.ci_rows}
    rows = []
    for team in teams:
        status = {}
        if team.cases is not None:
            for s in team.cases.status:
                status[s] = status.get(s, 0) + 1
        row = {"split": team.name, "cases": len(team.cases) if team.cases else 0,
               "not ok": sum(v for k, v in status.items() if k != "ok")}
        for m in RANKED_METRICS:
            ci = by.get((team.name, m))
            row[m] = (f"{fmt(team.means[m], m)} [{fmt(ci['ci_low'], m)}, "
                      f"{fmt(ci['ci_high'], m)}]") if ci else fmt(team.means[m], m)
        row["hd95"] = fmt(team.means.get("hd95"), "hd95")
        if team.cases is not None and "hd" in team.cases.values:
            row["median hd"] = fmt(float(np.median(team.cases.values["hd"])), "hd")
        row["rvd n excl."] = team.n_rvd_excluded
        rows.append(row)
    return rows


SPLIT_COLUMNS = ["split", "cases", "not ok", "dc", "nsd", "hd", "rvd", "hd95", "median hd",
                 "rvd n excl."]


def _split_analysis(teams: list[TeamResults], seed: int = 0) -> list[Analysis]:
    """One single-team analysis per split (bootstrap CIs of that split's means)."""
    return [analyse([t], n_bootstrap=1000, seed=seed) for t in teams]


def run_pages(run_dir: Path, *, images: object = None) -> tuple[list[Figure], list[dict]]:
    """The pages of a run folder's report (footers added) and the per-split summary rows."""
    from ichbench.reports.figures import learning_curves, metric_distributions
    from ichbench.reports.sources import run_histories

    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    notes: list[str] = []
    teams = _split_teams(run_dir, notes)
    method = str(config.get("method", run_dir.name))
    pages = PageSet(f"ichbench {__version__} — run {run_dir.name}", [])
    settings = ", ".join(f"{k}={v}" for k, v in (config.get("config") or {}).items())
    extra = [("Run", f"Folder: {run_dir}\nMethod: {method}; preset "
                     f"{config.get('preset', '–')}; device {config.get('device', '–')}; seed "
                     f"{config.get('seed', '–')}; folds {config.get('folds', '–')}\n"
                     f"Config hash: {config.get('config_hash', '–')}; ichbench "
                     f"{config.get('ichbench_version', '–')}"),
             ("Method configuration", settings or "–")]
    if not teams:
        extra.append(("Scores", "No scores/<split>/cases.csv in this run folder."))
    main = next((t for t in teams if t.name == "test"), teams[0] if teams else None)
    split_figures: dict[str, Figure] = {}
    if main is not None:
        from ichbench.reports.figures import leaderboard_figures

        single = analyse([main], n_bootstrap=0)
        split_figures = leaderboard_figures(single, images=images)
        notes += single.notes
    if notes:
        extra.append(("Notes", "\n".join(notes)))
    text_pages(pages, f"Run report: {method}",
               _protocol_blocks([read_team_meta(run_dir, teams, config)], extra))
    rows: list[dict] = []
    if teams and main is not None:
        merged = _merge_ci(_split_analysis(teams))
        rows = _split_rows(merged, teams)
        table_pages(pages, "Scores per split (mean [bootstrap 95% CI])", heads(SPLIT_COLUMNS),
                    [[fmt(r.get(c), c) for c in SPLIT_COLUMNS] for r in rows],
                    note="Bootstrap over cases, 1000 samples, seed 0. train_oof = out-of-fold "
                         "predictions of the training cases.")
        groups = {t.name: t.cases.values for t in teams if t.cases is not None}
        figure_page(pages, "Per-case metrics by split", metric_distributions(groups),
                    caption=FIGURE_CAPTIONS["distributions"])
        for name, fig in split_figures.items():
            if name == "distributions":
                continue
            figure_page(pages, f"{name.replace('_', ' ').capitalize()} ({main.name} split)",
                        fig, caption=FIGURE_CAPTIONS.get(name, ""))
    histories = run_histories(run_dir, method)
    if histories:
        figure_page(pages, "Learning curves", learning_curves(histories),
                    caption="Per fold: training and validation loss and validation DC per "
                            "epoch, from folds/<k>/history.csv.")
    for team in teams:
        table_pages(pages, f"Per-case results: {team.name} split", CASE_HEADER,
                    case_rows(team), align=CASE_ALIGN)
    return pages.finish(), rows


def read_team_meta(run_dir: Path, teams: list[TeamResults], config: dict) -> TeamResults:
    """The team carrying the run's protocol and summary (for the protocol page)."""
    if not teams:
        return TeamResults(str(config.get("method", run_dir.name)), "run", str(run_dir), {},
                           run_config=config, run_dir=str(run_dir))
    team = teams[0]
    return TeamResults(str(config.get("method", run_dir.name)), team.kind, team.source,
                       team.means, team.cases, team.n_rvd_excluded, team.summary, config,
                       str(run_dir), team.split)


def _merge_ci(analyses: list[Analysis]) -> Analysis:
    merged = analyses[0]
    merged.ci_rows = [r for a in analyses for r in a.ci_rows]
    return merged


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
        return out, save_pdf(leaderboard_pages(source), out)
    if (source / "config.json").is_file():
        return out, save_pdf(run_pages(source, images=images)[0], out)
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
    if not (run_dir / "config.json").is_file():
        raise ReportInputError(f"{run_dir}: no config.json; expected a run folder")
    pdf = run_dir / "report.pdf"
    figures, rows = run_pages(run_dir)
    n_pages = save_pdf(figures, pdf)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    method = str(config.get("method", run_dir.name))
    lines = [f"# {method}: {run_dir.name}\n",
             f"ichbench {__version__}, preset {config.get('preset', '–')}, seed "
             f"{config.get('seed', '–')}. Full report: report.pdf ({n_pages} pages).\n"]
    if rows:
        lines.append(markdown_text(rows, SPLIT_COLUMNS))
        lines.append("\nMeans with bootstrap 95% CIs (1000 samples over cases, seed 0).\n")
    else:
        lines.append("No scores in this run folder.\n")
    write_text(run_dir / "summary.md", "\n".join(lines))
    teams = _split_teams(run_dir)
    groups = {t.name: t.cases.values for t in teams if t.cases is not None}
    fig = summary_figure(rows, groups, f"{method} — {run_dir.name}")
    with atomic_path(run_dir / "summary.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return pdf


__all__ = ["build_report", "build_run_report", "is_run_folder"]
