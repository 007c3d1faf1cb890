"""The ``ichbench`` command line: a thin layer over the library.

Each sub-command lives in ``ichbench.commands.<name>`` and only parses options, calls one
library function and prints a summary. Heavy imports (torch, nnU-Net, matplotlib) happen
inside the commands, so ``ichbench --help`` is instant.
"""

from __future__ import annotations

import click

from ichbench import __version__
from ichbench.commands import data, grand_challenge, leaderboard, report, run, score


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ichbench")
def cli() -> None:
    """Benchmark and challenge evaluation for intracranial hemorrhage (ICH) segmentation.

    Reproduces the INSTANCE 2022 protocol and metrics, and the coarse-to-fine cascade of
    Qayyum et al. (2023). Start with `ichbench run --method cascade`.
    """


cli.add_command(score.score)
cli.add_command(data.data)
cli.add_command(run.run)
cli.add_command(leaderboard.leaderboard)
cli.add_command(report.report)
cli.add_command(grand_challenge.grand_challenge)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ichbench")


if __name__ == "__main__":  # pragma: no cover
    main()
