"""Writing tables as CSV, Markdown and LaTeX, with one number format everywhere.

Tables are lists of row dicts plus a column order. CSV keeps full precision (``inf`` and
``nan`` written as such, like ``cases.csv``); Markdown, LaTeX and the PDF use
:func:`fmt`, which shows ``∞``/``inf`` and ``–`` for undefined values.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

from ichbench.io.atomic import write_text

#: Decimals per column family in human-readable tables.
DECIMALS = {"dc": 4, "nsd": 4, "rvd": 4, "hd": 2, "hd95": 2, "score": 2, "p": 4,
            "p_holm": 4, "median_diff": 4, "statistic": 1, "gt_volume_ml": 2,
            "pred_volume_ml": 2, "lesionwise_dc": 4, "lesionwise_hd95": 2, "lesion_f1": 4,
            "mean_rank": 2}

_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}", "\n": " ", "\r": " "}


def fmt(value: object, column: str = "", *, infinity: str = "inf") -> str:
    """Format one cell for people: fixed decimals by column, ``inf``, ``–`` for nan/None."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if math.isinf(value):
            return infinity if value > 0 else "-" + infinity
        if column.startswith(("rank_", "mean_rank")):
            return f"{value:.2f}" if not value.is_integer() else str(int(value))
        if column in ("p", "p_holm") and 0 < value < 1e-4:
            return f"{value:.1e}"
        base = column.split(":")[0].removeprefix("ci_").removesuffix("_low").removesuffix(
            "_high")
        return f"{value:.{DECIMALS.get(base, 4)}f}"
    return str(value)


def csv_text(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """Rows as CSV text with full precision (floats via ``repr``; ``inf``/``nan`` literal)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else
                         (repr(float(row[c])) if isinstance(row[c], float) else row[c])
                         for c in columns])
    return out.getvalue()


def markdown_text(rows: Sequence[dict], columns: Sequence[str],
                  headers: Sequence[str] | None = None) -> str:
    """Rows as a GitHub Markdown table (``|`` in cells escaped)."""
    headers = list(headers or columns)
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if _numeric(rows, c) else "---" for c in columns) + "|"]
    for row in rows:
        cells = [fmt(row.get(c), c).replace("|", r"\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters in ``text``."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_text(rows: Sequence[dict], columns: Sequence[str],
               headers: Sequence[str] | None = None, *, caption: str = "") -> str:
    """Rows as a ``booktabs`` LaTeX table; text escaped, ``inf`` as infinity."""
    headers = list(headers or columns)
    spec = "".join("r" if _numeric(rows, c) else "l" for c in columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + latex_escape(caption) + "}")
    lines += [r"\begin{tabular}{" + spec + "}", r"\toprule",
              " & ".join(latex_escape(h) for h in headers) + r" \\", r"\midrule"]
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            if isinstance(value, float) and math.isinf(value):  # a number, never text
                cells.append(r"$\infty$" if value > 0 else r"$-\infty$")
            else:
                cells.append(latex_escape(fmt(value, c)))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_tables(stem: Path, rows: Sequence[dict], columns: Sequence[str], *,
                 markdown: bool = True, latex: bool = False, caption: str = "") -> list[Path]:
    """Write ``stem.csv`` (and ``.md`` / ``.tex``) atomically; return the paths written."""
    written = [stem.with_suffix(".csv")]
    write_text(written[0], csv_text(rows, columns))
    if markdown:
        written.append(stem.with_suffix(".md"))
        title = f"**{caption}**\n\n" if caption else ""
        write_text(written[-1], title + markdown_text(rows, columns))
    if latex:
        written.append(stem.with_suffix(".tex"))
        write_text(written[-1], latex_text(rows, columns, caption=caption))
    return written


def _numeric(rows: Sequence[dict], column: str) -> bool:
    return any(isinstance(r.get(column), int | float) and not isinstance(r.get(column), bool)
               for r in rows)
