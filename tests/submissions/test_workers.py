"""Worker processes that cannot start are reported as such, not as every case's fault.

Seen with the editable install: a folder named ``ichbench`` in the working directory is
imported instead of the package by the fork server (``python -c`` puts the working
directory first on its path).
"""

import subprocess
import sys
import textwrap

from submission_files import blob, write

SCRIPT = textwrap.dedent("""
    import sys
    from ichbench.submissions import score, ScoreError
    if __name__ == "__main__":
        if sys.argv[1] == "old-server-start":  # how the server was started before the fix
            score._start_forkserver = lambda: None
        try:
            result = score.score_folder("{pred}", "{truth}", "{out}", jobs=2, progress=False)
        except ScoreError as exc:
            print("ScoreError:", exc)
        else:
            print("statuses", {{k: v for k, v in result.status_counts.items() if v}})
""")


def _run(tmp_path, truth_dir, pred_dir, mode):
    write(pred_dir, "001.nii.gz", blob())
    write(pred_dir, "002.nii.gz", blob(2, 9, 4, 12, 4, 12))
    work = tmp_path / "work"
    (work / "ichbench").mkdir(parents=True)  # the folder that shadows the package
    script = tmp_path / "scripts" / "run_score.py"
    script.parent.mkdir()
    script.write_text(SCRIPT.format(pred=pred_dir, truth=truth_dir, out=tmp_path / "out"))
    return subprocess.run([sys.executable, str(script), mode], cwd=work, capture_output=True,
                          text=True, timeout=120, check=False)


def test_folder_named_ichbench_in_working_directory_does_not_break_workers(
        tmp_path, truth_dir, pred_dir):
    result = _run(tmp_path, truth_dir, pred_dir, "fixed")
    assert "statuses {'ok': 2, 'missing': 1}" in result.stdout, result.stderr[-2000:]


def test_workers_that_cannot_start_raise_score_error_not_truth_unreadable(
        tmp_path, truth_dir, pred_dir):
    result = _run(tmp_path, truth_dir, pred_dir, "old-server-start")
    assert "ScoreError: worker processes fail to start" in result.stdout, result.stderr[-2000:]
    assert "--jobs 1" in result.stdout and "truth_unreadable" not in result.stdout
