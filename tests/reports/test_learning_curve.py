"""The one learning-curve figure: the report's page and a fold's own PNG."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ichbench.reports.learning_curve import history_columns, learning_curve_figure

ROOT = Path(__file__).resolve().parents[2]


def columns(dc):
    n = len(dc)
    return {"epoch": np.arange(1, n + 1, dtype=float), "train_loss": np.linspace(1, 0.5, n),
            "val_loss": np.linspace(1.2, 0.7, n), "val_dc": np.asarray(dc, dtype=float)}


def test_report_form_has_a_row_per_stage_and_a_line_and_best_dot_per_fold():
    fig = learning_curve_figure({"coarse": {"0": columns([0.1, 0.4, 0.3]),
                                            "1": columns([0.2, 0.5, 0.6])},
                                 "fine": {"0": columns([0.0, 0.1, 0.2])}}, title="run")
    assert isinstance(fig, Figure)
    loss, dc = fig.axes[0], fig.axes[1]
    assert len(fig.axes) == 4
    assert [t.get_text() for t in loss.get_legend().get_texts()] == [
        "fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"]
    assert dc.get_title() == "coarse: validation DC"
    dots = [line for line in dc.get_lines() if line.get_marker() == "o"]
    assert [(float(d.get_xdata()[0]), float(d.get_ydata()[0])) for d in dots] == [
        (2.0, 0.4), (3.0, 0.6)]  # each fold's best epoch
    assert fig.get_suptitle() == "run"


def test_one_folds_figure_is_labelled_by_its_stage_alone():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 2 / e, "val_dc": e / 10,
                "seconds": 1.0} for e in (1, 2, 3)]
    cols = history_columns(history)
    assert sorted(cols) == ["epoch", "train_loss", "val_dc", "val_loss"]
    np.testing.assert_array_equal(cols["val_dc"], [0.1, 0.2, 0.3])
    fig = learning_curve_figure({"fold 2": {"": cols}}, figsize=(10.0, 4.0))
    loss, dc = fig.axes
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "val"]
    assert [t.get_text() for t in dc.get_legend().get_texts()] == ["validation"]
    assert loss.get_title() == "fold 2: loss (solid train, dashed validation)"
    assert tuple(fig.get_size_inches()) == (10.0, 4.0)


def test_empty_history_draws_empty_axes():
    assert history_columns([]) == {}
    assert len(learning_curve_figure({"coarse": {"0": {}}}).axes) == 2
    assert len(learning_curve_figure({}).axes) == 2


def test_saving_a_png_loads_no_pyplot_and_chooses_no_backend(tmp_path):
    """No display needed, none looked for: pyplot (which resolves the backend) stays out."""
    code = ("import sys; "
            "from ichbench.reports.learning_curve import learning_curve_figure; "
            "fig = learning_curve_figure({'s': {'0': {'val_dc': [0.1, 0.2]}}}); "
            f"fig.savefig({str(tmp_path / 'c.png')!r}); "
            "print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False"]
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_no_library_module_forces_a_matplotlib_backend():
    """``matplotlib.use`` belongs in an entry point, never in a library function."""
    offenders = [str(p.relative_to(ROOT)) for folder in ("baselines", "reports", "submissions",
                                                         "metrics", "benchmark")
                 for p in (ROOT / folder).rglob("*.py")
                 if "matplotlib.use(" in p.read_text(encoding="utf-8")
                 and p.parent.name != "commands" and p.name != "cli.py"]
    assert offenders == []
