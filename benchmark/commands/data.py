"""`ichbench data`."""

from __future__ import annotations

import click


@click.command("data")
def data() -> None:
    """Not yet available in this version."""
    raise click.ClickException("'ichbench data' is not available yet")
