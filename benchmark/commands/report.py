"""`ichbench report`."""

from __future__ import annotations

import click


@click.command("report")
def report() -> None:
    """Not yet available in this version."""
    raise click.ClickException("'ichbench report' is not available yet")
