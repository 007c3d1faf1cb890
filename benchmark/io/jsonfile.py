"""Reading the small JSON and text files of a run folder without trusting them.

A run folder outlives the process that wrote it: it is copied, synced, edited by hand and
damaged by full disks. ``ichbench run --status`` and ``--resume`` read its ``config.json``,
``protocol.json``, ``all.json`` and ``stages/*`` files, and must answer one line for each
problem rather than a traceback or a hang (issue 23). :func:`read_json` therefore refuses,
with one line naming the file, everything ``json.loads(path.read_text())`` would crash or
block on: a FIFO, device or folder in the file's place (opened without blocking), a file
larger than any such record, text that is not UTF-8, malformed JSON and JSON nested deeper
than Python's parser recurses. A missing file stays :class:`FileNotFoundError`, since
callers give it its own meaning (a stage without a state file is queued).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

#: Larger than any record ichbench writes (a protocol of a few thousand case ids is ~100 KB).
MAX_RECORD_BYTES = 16 << 20


class RecordError(ValueError):
    """A file that is not a usable record; the message is one line naming it."""


def shorten(text: object, limit: int = 300) -> str:
    r"""``text`` on one line (whitespace runs collapsed), cut to ``limit`` characters.

    Examples
    --------
    >>> shorten("a\n  b" + "c" * 400, limit=10)
    'a bcccccc…'
    """
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def read_bytes(path: str | os.PathLike[str], *, max_bytes: int = MAX_RECORD_BYTES) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` long.

    Raises
    ------
    FileNotFoundError
        If nothing is there.
    RecordError
        If it is not a regular file (a FIFO is never waited on), cannot be read, or is
        larger than ``max_bytes``.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RecordError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RecordError(f"{path}: not a regular file (a folder, FIFO or device)")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise RecordError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise RecordError(f"{path}: larger than {max_bytes:,} bytes, so not a record "
                          "ichbench wrote")
    return data


def read_text(path: str | os.PathLike[str], *, max_bytes: int = MAX_RECORD_BYTES) -> str:
    """The UTF-8 text of ``path`` (as :func:`read_bytes`; not UTF-8 is a RecordError)."""
    data = read_bytes(path, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 text (byte {exc.start:,} is "
                          f"{data[exc.start:exc.start + 1]!r})") from None


def read_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """The JSON value in ``path``, read as :func:`read_text`.

    Raises
    ------
    FileNotFoundError
        If nothing is there.
    RecordError
        If the file cannot be read as UTF-8 text or is not JSON, or its JSON is nested
        deeper than the parser recurses (about 1,000 levels; ichbench writes 4).
    """
    text = read_text(path, max_bytes=max_bytes)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON ({shorten(exc, 120)})") from None
    except RecursionError:
        raise RecordError(f"{path}: JSON nested too deeply to be a record ichbench "
                          "wrote") from None
