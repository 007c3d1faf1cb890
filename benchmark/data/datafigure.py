"""A figure of a few cases of a dataset, so a person can look at the data.

Per case: CT in brain window with and without the label outline, a slice through the skull
base, and a bone window.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ichbench.data.dataset import Dataset, open_dataset
from ichbench.io.volumes import Geometry, read_volume

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

BRAIN_WINDOW = (40.0, 80.0)    # level, width (HU)
BONE_WINDOW = (600.0, 2800.0)


def display_axes(array: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Flip array axes so that it displays in the usual radiological view.

    Rows run anterior → posterior, columns patient right → left (LPS index order), slices
    inferior → superior. Only axis flips are undone; an oblique header is shown as stored.
    """
    d = np.asarray(geometry.direction).reshape(3, 3)
    out = array
    for axis_xyz, axis_arr in ((0, 2), (1, 1), (2, 0)):
        if d[axis_xyz, axis_xyz] < 0:
            out = np.flip(out, axis=axis_arr)
    return out


def _skull_base_slice(ct: np.ndarray) -> int:
    """A slice a quarter of the way up the head: temporal lobes and posterior fossa.

    That is where the petrous bones, partial volume of the skull base and beam-hardening
    streaks are.
    """
    rows = np.flatnonzero((ct > -500).any(axis=(1, 2)))
    if rows.size == 0:
        return ct.shape[0] // 2
    return int(rows[0] + 0.25 * (rows[-1] - rows[0]))


def _window(img: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    level, width = window
    return np.clip((img - (level - width / 2)) / width, 0, 1)


def show_cases(dataset: Dataset | str | os.PathLike[str], case_ids: Sequence[str] | None = None,
               *, n_cases: int = 4) -> Figure:
    """Figure with one row per case.

    Columns: brain window (W80/L40) at the slice with the most hemorrhage, the same with the
    label outlined in red, brain window near the skull base, bone window (W2800/L600).

    Parameters
    ----------
    dataset
        A Dataset or a dataset folder.
    case_ids
        Cases to show (default: the first ``n_cases`` labelled cases, spread over splits).
    """
    from matplotlib.figure import Figure

    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    if case_ids is None:
        labelled = [c.case_id for c in ds.cases if c.label is not None]
        step = max(1, len(labelled) // n_cases)
        case_ids = labelled[::step][:n_cases]
    case_ids = list(case_ids)
    fig = Figure(figsize=(13, 3.3 * len(case_ids)), dpi=110)
    axes = fig.subplots(len(case_ids), 4, squeeze=False)
    for row, cid in zip(axes, case_ids, strict=True):
        case = ds.case(cid)
        vol = read_volume(case.image, dtype=np.float32)
        ct = display_axes(vol.array, vol.geometry)
        lab = None
        if case.label is not None:
            lab = display_axes(read_volume(case.label).array, vol.geometry) > 0
        nz = ct.shape[0]
        if lab is not None and lab.any():
            k = int(np.argmax(lab.sum(axis=(1, 2))))
            vol_ml = float(lab.sum()) * vol.geometry.voxel_volume_ml
        else:
            k, vol_ml = nz // 2, 0.0
        sx, sy, sz = vol.geometry.spacing_xyz_mm
        k_base = _skull_base_slice(ct)
        extent = (0, ct.shape[2] * sx, ct.shape[1] * sy, 0)
        panels = [(ct[k], BRAIN_WINDOW, None, f"{cid} slice {k + 1}/{nz} brain"),
                  (ct[k], BRAIN_WINDOW, None if lab is None else lab[k],
                   f"label {vol_ml:.1f} mL"),
                  (ct[k_base], BRAIN_WINDOW, None if lab is None else lab[k_base],
                   f"slice {k_base + 1} (skull base)"),
                  (ct[k], BONE_WINDOW, None, f"bone window, {sx:.2f}×{sy:.2f}×{sz:.1f} mm")]
        for ax, (img, win, outline, title) in zip(row, panels, strict=True):
            ax.imshow(_window(img, win), cmap="gray", vmin=0, vmax=1, extent=extent,
                      interpolation="nearest")
            if outline is not None and outline.any():
                cols = (np.arange(outline.shape[1]) + 0.5) * sx
                rows = (np.arange(outline.shape[0]) + 0.5) * sy
                ax.contour(cols, rows, outline.astype(float), levels=[0.5], colors="red",
                           linewidths=0.7)
            ax.set_title(title, fontsize=8)
            ax.set_axis_off()
    fig.tight_layout()
    return fig
