"""The look shared by every figure of the reports: page size, mask colours, short names.

One home for the figure style (issue 24): the leaderboard figures
(:mod:`ichbench.reports.figures`), challengeR's (:mod:`ichbench.reports.challenger_figures`)
and the lesion figures (:mod:`ichbench.reports.lesion_report`) import it; the words on
axes and table heads are :mod:`ichbench.reports.labels`. No matplotlib here.
"""

from __future__ import annotations

#: Figure size (inches) of a 16:9 slide; the PDF uses the same.
SLIDE = (13.33, 7.5)
#: Contour colours of the truth and the predicted mask on CT overlays.
TRUTH_COLOUR, PRED_COLOUR = "#00d000", "#ff2060"


def short_name(name: str, width: int = 14) -> str:
    """``name`` cut to ``width`` characters with an ellipsis, for ticks and legends.

    >>> short_name("a very long team name", 8)
    'a very …'
    """
    return name if len(name) <= width else name[: width - 1] + "…"
