"""What a command needs beyond the scoring-only install, checked before it writes anything.

The scoring-only install (``requirements/score.txt`` + ``pip install --no-deps .``, what
the evaluation container runs) has no matplotlib, torch or nnU-Net. A command that needs
one of them must say so in one line and exit non-zero before it makes a folder or a file:
issue 23 found ``leaderboard`` ending in a matplotlib traceback after writing its tables
(but before ``leaderboard.json``), and ``run --method threshold`` in a torch traceback.
Only the presence of each module is checked (:func:`importlib.util.find_spec`, no import),
so the check costs nothing on a full install.
"""

from __future__ import annotations

import importlib.util

import click

#: The install that has everything (README, Quickstart), for the message.
FULL_INSTALL = ("pip install torch==2.14.1 torchvision==0.29.1 -e . in a clone of ichbench "
                "(README, Quickstart)")


def missing_modules(*modules: str) -> list[str]:
    """The top-level ``modules`` that cannot be imported here (not installed)."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a finder refusing it counts as not installed
            found = False
        if not found:
            absent.append(name)
    return absent


def require_full_install(command: str, *modules: str, hint: str = "") -> None:
    """Refuse to run ``command`` when one of ``modules`` is not installed.

    Raises
    ------
    click.ClickException
        One line (exit 1): what is missing, that the scoring-only install leaves it out,
        the full install, and ``hint`` (e.g. an option that avoids the need).
    """
    absent = missing_modules(*modules)
    if absent:
        raise click.ClickException(
            f"'ichbench {command}' needs {' and '.join(absent)}, which the scoring-only "
            f"install (requirements/score.txt) leaves out; install ichbench in full: "
            f"{FULL_INSTALL}{'; ' + hint if hint else ''}")
