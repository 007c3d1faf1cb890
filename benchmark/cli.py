"""The ``ichbench`` command line: a thin layer over the library.

Each sub-command lives in ``ichbench.commands.<name>`` and only parses options, calls one
library function and prints a summary. A command's module is imported only when that
command runs (or when ``--help`` lists them all), and heavy imports (torch, nnU-Net,
matplotlib) happen inside the commands, so ``ichbench --help`` is instant and
``ichbench score`` does not load the training code.
"""

from __future__ import annotations

import importlib

import click

from ichbench import __version__

#: Sub-command name → ``"module:attribute"`` of its click command.
COMMANDS: dict[str, str] = {
    "data": "ichbench.commands.data:data",
    "grand-challenge": "ichbench.commands.grand_challenge:grand_challenge",
    "leaderboard": "ichbench.commands.leaderboard:leaderboard",
    "report": "ichbench.commands.report:report",
    "run": "ichbench.commands.run:run",
    "score": "ichbench.commands.score:score",
}


class _LazyGroup(click.Group):
    """A click group that imports a sub-command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=_LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ichbench")
def cli() -> None:
    """Benchmark and challenge evaluation for intracranial hemorrhage (ICH) segmentation.

    Reproduces the INSTANCE 2022 protocol and metrics, and the coarse-to-fine cascade of
    Qayyum et al. (2023). Start with `ichbench run --method cascade`.
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ichbench")


if __name__ == "__main__":  # pragma: no cover
    main()
