"""`ichbench run`."""

from __future__ import annotations

import click


@click.command("run")
def run() -> None:
    """Not yet available in this version."""
    raise click.ClickException("'ichbench run' is not available yet")
