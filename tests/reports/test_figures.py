"""Figure functions return Figures, handle inf/nan, and leave pyplot alone."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ichbench.reports import figures


def _groups():
    rng = np.random.default_rng(0)
    out = {}
    for name in ("a", "a very long team name that must be shortened"):
        hd = rng.uniform(2, 40, 10)
        hd[0] = math.inf
        rvd = rng.uniform(0, 1, 10)
        rvd[-1] = math.nan
        out[name] = {"dc": rng.uniform(0, 1, 10), "nsd": rng.uniform(0, 1, 10), "hd": hd,
                     "rvd": rvd}
    return out


def test_metric_distributions_marks_inf_and_counts_undefined():
    fig = figures.metric_distributions(_groups())
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("2 inf" in t for t in titles)
    assert any("2 undefined left out" in t for t in titles)
    hd_axis = next(ax for ax in fig.axes if ax.get_title().startswith("HD"))
    assert "∞" in [t.get_text() for t in hd_axis.get_yticklabels()]


def test_rank_stability_volume_and_overlay_build():
    counts = np.array([[8, 2], [2, 8]])
    assert isinstance(figures.rank_stability(["a", "b"], counts, observed={"a": 1}), Figure)
    gt = np.array([1.0, 10.0, 30.0, 0.0])
    vol = figures.volume_agreement({"a": (gt, gt * 1.1)}, abc2=(gt, gt * 1.3))
    assert any("ABC/2" in t.get_text() for t in vol.axes[0].get_legend().get_texts())
    ct = np.full((20, 20), 40.0)
    mask = np.zeros((20, 20))
    mask[5:10, 5:10] = 1
    panels = [{"title": "best", "ct": ct, "truth": mask, "pred": np.roll(mask, 2),
               "aspect": 1.0}]
    assert isinstance(figures.case_overlays(panels), Figure)


def test_brain_window_maps_w80_l40():
    assert figures.window(np.array([0.0, 40.0, 80.0, -1000.0])).tolist() == [0, 0.5, 1, 0]


def test_figures_do_not_touch_pyplot():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures.metric_distributions(_groups())
    assert plt.get_fignums() == before


def test_learning_notes_flag_stages_that_did_not_learn():
    import numpy as np

    from ichbench.reports.sources import learning_notes

    histories = {
        "coarse": {"0": {"epoch": np.arange(1, 4), "val_dc": np.array([0.1, 0.4, 0.3])},
                   "1": {"epoch": np.arange(1, 4), "val_dc": np.array([0.5, 0.2, 0.1])}},
        "fine": {"0": {"epoch": np.arange(3), "val_dc": np.zeros(3)}},
    }
    notes = learning_notes(histories)
    assert notes == [
        "coarse fold 1: best validation DC (0.500) at its first epoch of 3: this stage did "
        "not improve",
        "fine fold 0: validation DC stayed 0 for all 3 epochs: this stage did not learn",
    ]
    assert learning_notes({"coarse": {"0": histories["coarse"]["0"]}}) == []


def test_a_cascade_sharing_the_coarse_run_shows_both_stages(tmp_path):
    import json

    from ichbench.reports.sources import run_histories

    coarse, cascade = tmp_path / "coarse-1", tmp_path / "cascade-1"
    for run in (coarse, cascade):
        (run / "folds" / "0").mkdir(parents=True)
        (run / "folds" / "0" / "history.csv").write_text(
            "epoch,train_loss,val_loss,val_dc,seconds\n1,0.9,0.1,0.2,1.0\n2,0.8,0.1,0.3,1.0\n")
    (cascade / "config.json").write_text(json.dumps({"shared": {"coarse": str(coarse)}}))
    assert set(run_histories(cascade, "cascade")) == {"coarse", "fine"}
    assert set(run_histories(coarse, "coarse")) == {"coarse"}
