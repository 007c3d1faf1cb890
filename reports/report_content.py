"""What a PDF report shows, computed once and handed to the page builder.

:func:`leaderboard_content` and :func:`run_content` read their folder (each file once),
run every analysis (the leaderboard analysis with its bootstrap, per-split CIs, lesion
detection and clinical tables, the panels that need NIfTI files) and return a frozen
bundle; :mod:`ichbench.reports.report` only lays the bundle out on pages, so the PDF,
``summary.md`` and ``summary.png`` of a run are built from one set of numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ichbench.reports.analysis import Analysis, analyse
from ichbench.reports.inputs import (
    RANKED_METRICS,
    ReportInputError,
    TeamResults,
    read_run_folder,
)
from ichbench.reports.leaderboard import load_leaderboard_dir
from ichbench.reports.lesion_report import (
    clinical_rows,
    detection_rows,
    has_lesion_columns,
    missed_lesion_panels,
)
from ichbench.reports.sources import FigureFiles, file_inputs, optional
from ichbench.reports.tables import fmt

SPLIT_ORDER = ("validation", "test", "train_oof")
SPLIT_COLUMNS = ["split", "cases", "not ok", "dc", "nsd", "hd", "rvd", "hd95", "median hd",
                 "rvd n excl."]
#: Bootstrap of the per-split CIs of a run report.
RUN_BOOTSTRAP, RUN_SEED = 1000, 0


@dataclass(frozen=True)
class LesionContent:
    """Lesion-level pages: detection rows, clinical rows, missed-lesion panels."""

    detection: list[dict] = field(default_factory=list)
    clinical: list[dict] = field(default_factory=list)
    missed_panels: list[dict] = field(default_factory=list)
    missed_team: str = ""


@dataclass(frozen=True)
class Settings:
    """Scoring settings recorded in the inputs (None when no input recorded them)."""

    tolerance_mm: float | None
    hd_percentile: float | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LeaderboardContent:
    """Everything the leaderboard report shows."""

    folder: Path
    meta: dict
    analysis: Analysis
    settings: Settings
    protocol: tuple[str, dict, dict] | None
    lesions: LesionContent
    files: FigureFiles = field(default_factory=FigureFiles)
    decisive: list[dict] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)
    subtypes: list[dict] = field(default_factory=list)
    raters: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class RunContent:
    """Everything the run report, ``summary.md`` and ``summary.png`` show."""

    run_dir: Path
    config: dict
    method: str
    teams: list[TeamResults]
    main: Analysis | None
    split_rows: list[dict]
    histories: dict
    notes: list[str]
    settings: Settings
    protocol: tuple[str, dict, dict] | None
    lesions: LesionContent
    meta_team: TeamResults
    files: FigureFiles = field(default_factory=FigureFiles)
    classes: list[dict] = field(default_factory=list)
    subtypes: list[dict] = field(default_factory=list)


def recorded_settings(teams: Sequence[TeamResults]) -> Settings:
    """The τ and HD percentile the inputs were scored with; a note when they differ."""
    notes = []
    values = {}
    for key in ("tolerance_mm", "hd_percentile"):
        found = sorted({float(t.summary[key]) for t in teams if t.summary.get(key) is not None})
        values[key] = found[0] if len(found) == 1 else None
        if len(found) > 1:
            notes.append(f"inputs were scored with different {key} ("
                         f"{', '.join(f'{v:g}' for v in found)}); their NSD/HD differ in "
                         "definition")
    return Settings(values["tolerance_mm"], values["hd_percentile"], tuple(notes))


def _protocol(teams: Sequence[TeamResults]) -> tuple[str, dict, dict] | None:
    """(team name, protocol.json, config) of the first run folder that has one."""
    for team in teams:
        if team.run_dir:
            path = Path(team.run_dir) / "protocol.json"
            if path.is_file():
                return team.name, json.loads(path.read_text(encoding="utf-8")), team.run_config
    return None


def lesion_content(teams: Sequence[TeamResults], order: Sequence[str], *,
                   images: object = None, notes: list[str] | None = None) -> LesionContent:
    """Detection and clinical rows of every team; missed-lesion panels of the first team in
    ``order`` whose files can be found (a note in ``notes`` for each that fails)."""  # noqa: D205, D209
    by_name = {t.name: t for t in teams}
    ordered = [by_name[n] for n in order if n in by_name]
    ordered += [t for t in teams if t.name not in order]
    panels, who = [], ""
    for team in ordered:
        if not has_lesion_columns(team):
            continue
        found = optional(lambda t=team: missed_lesion_panels(t, images=images),
                          "missed-lesion overlays", notes if notes is not None else [])
        if found:
            panels, who = found, team.name
            break
    return LesionContent(detection_rows(ordered), clinical_rows(ordered), panels, who)


def leaderboard_content(folder: Path) -> LeaderboardContent:
    """Read a leaderboard folder and run its analyses once."""
    teams, meta = load_leaderboard_dir(folder)
    analysis = analyse(teams, ranking=meta.get("ranking", "instance"),
                       n_bootstrap=int(meta.get("bootstrap", 1000)),
                       seed=int(meta.get("seed", 0)))
    settings = recorded_settings(teams)
    notes = list(settings.notes)
    order = [r["team"] for r in analysis.table]
    lesions = lesion_content(teams, order, images=meta.get("images"), notes=notes)
    files = file_inputs(analysis, images=meta.get("images"))
    analysis = analysis.with_notes([*notes, *files.notes])
    decisive: list[dict] = []
    if analysis.values is not None and len(analysis.paired) >= 2:  # issue 22
        from ichbench.reports.decisive import decisive_cases, decisive_summary

        decisive = decisive_summary(decisive_cases(
            analysis.paired, analysis.case_ids, analysis.values, analysis.metrics,
            scheme=analysis.ranking))
    from ichbench.reports.classes_report import read_rows

    return LeaderboardContent(folder, meta, analysis, settings, _protocol(teams), lesions,
                              files, decisive, read_rows(folder / "classes_leaderboard.csv"),
                              read_rows(folder / "subtypes.csv"),
                              read_rows(folder / "raters_leaderboard.csv"))


def split_teams(run_dir: Path, notes: list[str] | None = None) -> list[TeamResults]:
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


def _split_rows(teams: Sequence[TeamResults], ci_rows: list[dict]) -> list[dict]:
    by = {(r["team"], r["metric"]): r for r in ci_rows}
    rows = []
    for team in teams:
        status: dict[str, int] = {}
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


def _meta_team(run_dir: Path, teams: list[TeamResults], config: dict) -> TeamResults:
    """The team carrying the run's protocol and summary (for the protocol page)."""
    method = str(config.get("method", run_dir.name))
    if not teams:
        return TeamResults(method, "run", str(run_dir), {}, run_config=config,
                           run_dir=str(run_dir))
    team = teams[0]
    return TeamResults(method, team.kind, team.source, team.means, team.cases,
                       team.n_rvd_excluded, team.summary, config, str(run_dir), team.split)


def run_content(run_dir: Path, *, images: object = None) -> RunContent:
    """Read a run folder (``config.json`` once) and run its analyses once."""
    from ichbench.reports.sources import run_histories

    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise ReportInputError(f"{run_dir}: no config.json; expected a run folder")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    method = str(config.get("method", run_dir.name))
    notes: list[str] = []
    teams = split_teams(run_dir, notes)
    main_team = next((t for t in teams if t.name == "test"), teams[0] if teams else None)
    main = None
    if main_team is not None:
        main = analyse([main_team], n_bootstrap=0)
        notes += main.notes
    ci_rows = [r for t in teams
               for r in analyse([t], n_bootstrap=RUN_BOOTSTRAP, seed=RUN_SEED).ci_rows]
    settings = recorded_settings(teams)
    notes += settings.notes
    lesions = (lesion_content([main_team], [main_team.name], images=images, notes=notes)
               if main_team is not None else LesionContent())
    if main_team is not None:  # every split in the detection and clinical tables
        lesions = LesionContent(detection_rows(teams), clinical_rows(teams),
                                lesions.missed_panels, lesions.missed_team)
    meta_team = _meta_team(run_dir, teams, config)
    protocol = _protocol([meta_team])
    # the run report shows `notes`; what the figures could not read stays unnoted there,
    # as before the analysis was frozen (files.notes)
    files = file_inputs(main, images=images) if main is not None else FigureFiles()
    from ichbench.reports.classes_report import class_ranking_rows, subtype_rows

    return RunContent(run_dir, config, method, teams, main, _split_rows(teams, ci_rows),
                      run_histories(run_dir, method), notes, settings, protocol, lesions,
                      meta_team, files, class_ranking_rows(teams), subtype_rows(teams))
