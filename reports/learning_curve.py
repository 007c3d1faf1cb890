"""The learning-curve figure: loss and validation DC per epoch, by stage and fold.

One function draws it for both of its uses: the run report's "Learning curves" page (every
stage and fold of a run, read from ``folds/<k>/history.csv`` by
:func:`ichbench.reports.sources.run_histories`) and the ``learning_curve.png`` the coarse
training loop leaves in each fold folder (one fold, from the history in memory). It builds
a standalone :class:`~matplotlib.figure.Figure` (no pyplot, no backend chosen, never
shown): saving it to PNG or PDF needs no display. Imports only the figure style
(:mod:`ichbench.reports.style`), so the training code can use it without loading the report
machinery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ichbench.reports.style import SLIDE

#: Columns of ``history.csv`` the figure draws (``seconds`` is not drawn).
COLUMNS = ("epoch", "train_loss", "val_loss", "val_dc")


def history_columns(history: Sequence[Mapping[str, float]]) -> dict[str, np.ndarray]:
    """Rows of a training history (one mapping per epoch) as the figure's columns.

    Examples
    --------
    >>> history_columns([{"epoch": 1, "val_dc": 0.5}, {"epoch": 2, "val_dc": 0.75}])["val_dc"]
    array([0.5 , 0.75])
    """
    names = [c for c in COLUMNS if history and all(c in row for row in history)]
    return {c: np.array([float(row[c]) for row in history]) for c in names}


def learning_curve_figure(histories: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]], *,
                          title: str = "",
                          figsize: tuple[float, float] = SLIDE) -> Figure:
    """Loss and validation DC per epoch, one line per fold, one row per stage.

    A dot marks each fold's best validation DC (the coarse stage keeps those weights;
    nnU-Net predicts with its last epoch's).

    Parameters
    ----------
    histories : mapping of stage to {fold: {column: values}}
        Columns as in ``history.csv``: ``epoch, train_loss, val_loss, val_dc`` (any may be
        missing; without ``epoch`` the epochs are counted from 0). Stages are e.g.
        ``"coarse"`` and ``"fine"`` for a cascade, or the method name. A fold named ``""``
        (one fold's own figure) is labelled by its stage alone.
    title
        Figure title (none if empty).
    figsize
        Inches; the report's page size by default.

    Returns
    -------
    Figure
        ``len(histories)`` rows (at least one) of two axes: loss (solid training, dashed
        validation) and validation DC.
    """
    fig = Figure(figsize=figsize, layout="constrained")
    rows = max(len(histories), 1)
    axes = np.atleast_2d(fig.subplots(rows, 2, squeeze=False))
    for r, (stage, folds) in enumerate(histories.items()):
        ax_loss, ax_dc = axes[r]
        for i, (fold, cols) in enumerate(sorted(folds.items())):
            if not cols:
                continue
            epoch = cols.get("epoch", np.arange(len(next(iter(cols.values())))))
            colour = f"C{i % 10}"
            name = f"fold {fold} " if fold != "" else ""
            if "train_loss" in cols:
                ax_loss.plot(epoch, cols["train_loss"], color=colour, lw=1,
                             label=f"{name}train")
            if "val_loss" in cols:
                ax_loss.plot(epoch, cols["val_loss"], color=colour, lw=1, ls="--",
                             label=f"{name}val")
            if "val_dc" in cols and np.isfinite(cols["val_dc"]).any():
                ax_dc.plot(epoch, cols["val_dc"], color=colour, lw=1,
                           label=name.strip() or "validation")
                best = int(np.nanargmax(cols["val_dc"]))
                ax_dc.plot(epoch[best], cols["val_dc"][best], marker="o", color=colour, ms=5)
        ax_loss.set_title(f"{stage}: loss (solid train, dashed validation)", fontsize=12)
        ax_dc.set_title(f"{stage}: validation DC", fontsize=12)
        for ax in (ax_loss, ax_dc):
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=9, ncol=2)
    if title:
        fig.suptitle(title)
    return fig


__all__ = ["COLUMNS", "history_columns", "learning_curve_figure"]
