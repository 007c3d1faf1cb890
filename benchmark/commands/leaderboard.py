"""`ichbench leaderboard`."""

from __future__ import annotations

import click


@click.command("leaderboard")
def leaderboard() -> None:
    """Not yet available in this version."""
    raise click.ClickException("'ichbench leaderboard' is not available yet")
