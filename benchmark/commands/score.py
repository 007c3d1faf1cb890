"""`ichbench score`."""

from __future__ import annotations

import click


@click.command("score")
def score() -> None:
    """Not yet available in this version."""
    raise click.ClickException("'ichbench score' is not available yet")
