"""`ichbench report` through click's CliRunner on a leaderboard and a minimal run folder."""

from __future__ import annotations

import json

from click.testing import CliRunner

from ichbench.cli import cli
from ichbench.reports.bench import make_score_folder, make_teams


def test_report_cli_on_a_leaderboard_folder(tmp_path):
    folders = make_teams(tmp_path / "teams", 2, 6, seed=4)
    runner = CliRunner()
    lb = tmp_path / "lb"
    assert runner.invoke(cli, ["leaderboard", *map(str, folders), "--out", str(lb),
                               "--bootstrap", "20", "--no-figures"]).exit_code == 0
    result = runner.invoke(cli, ["report", str(lb), "--out", str(tmp_path / "r.pdf")])
    assert result.exit_code == 0, result.output
    assert "pages)" in result.output
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def test_report_cli_on_a_minimal_run_folder_defaults_to_report_pdf(tmp_path):
    import numpy as np

    run = tmp_path / "threshold-20260101-000000"
    make_score_folder(run / "scores" / "test", np.random.default_rng(0), n_cases=4)
    (run / "config.json").write_text(json.dumps({"method": "threshold"}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report.pdf").is_file()


def test_report_cli_refuses_a_folder_that_is_neither(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 1
    assert "neither a run folder" in result.output and "Traceback" not in result.output
