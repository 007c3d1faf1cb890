"""`ichbench report`: the PDF report of a run folder or a leaderboard folder."""

from __future__ import annotations

import click

from ichbench.commands.needs import require_full_install


@click.command("report")
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="PDF to write [default: SOURCE/report.pdf].")
@click.option("--images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of CT images named like the cases, for the overlay page.")
def report(source: str, out: str | None, images: str | None) -> None:
    """Write a multi-page PDF report of SOURCE, a run folder or a leaderboard folder."""
    require_full_install("report", "matplotlib")
    from pathlib import Path

    from ichbench.reports.inputs import ReportInputError
    from ichbench.reports.report import build_report

    try:
        pdf, n_pages = build_report(source, out or Path(source) / "report.pdf", images=images)
    except ReportInputError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {pdf} ({n_pages} pages)")
