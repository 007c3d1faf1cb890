"""``ichbench run --status RUN_DIR``: every stage of a run and where it stands.

A stage is ``queued``, ``running``, ``done``, ``failed`` (with its error's last line and
its log) or ``blocked`` (a stage it needs failed); see :data:`ichbench.harness.stages.STATES`.
For a run with Slurm jobs, ``squeue`` tells a job that is still waiting from one that
vanished without finishing its stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ichbench.harness.rundir import open_run, read_all_record
from ichbench.harness.stages import status_rows
from ichbench.io.jsonfile import shorten


def run_status(run_dir: Path) -> list[dict[str, Any]]:
    """Every stage of a run (or of each run of an ``all`` folder) with its state.

    Rows as :func:`ichbench.harness.stages.status_rows` plus ``run`` (the run folder); Slurm jobs
    are looked up with ``squeue`` when the run has any.
    """
    from ichbench.harness.worker import run_graph

    run_dir = Path(run_dir)
    if (run_dir / "all.json").exists():
        record = read_all_record(run_dir)
        dirs = [Path(p) for p in record["runs"].values() if p]
    else:
        dirs = [run_dir]
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    runs = [open_run(d) for d in dirs]
    stages = []
    for run in runs:
        for stage in run_graph(run).values():
            if stage.ident not in seen:
                seen.add(stage.ident)
                stages.append((run.run_dir, stage))
    from ichbench.harness.slurm import job_states

    states = job_states([s for _, s in stages])
    for (owner, _stage), row in zip(stages, status_rows([s for _, s in stages], states),
                                    strict=True):
        rows.append({"run": str(owner), **row})
    return rows


def format_status(rows: Sequence[dict[str, Any]]) -> str:
    """The ``--status`` table: one line per stage, then the failed stages' errors."""
    counts: dict[str, int] = {}
    lines = []
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
        job = f"job {row['job_id']}" if row.get("job_id") else ""
        where = Path(row["home"]).name
        lines.append(f"{row['state']:<8} {where + '/' + row['key']:<40} {job}")
        if row["state"] == "failed":  # one line each, cut (an error may be any length)
            lines.append(f"         error: {shorten(row.get('error') or 'unknown')}")
            lines.append(f"         log:   {shorten(row['log'])}")
        elif row["state"] == "blocked":
            lines.append(f"         {shorten(row['error'])}")
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    return "\n".join([*lines, f"{len(rows)} stages: {summary}"])
