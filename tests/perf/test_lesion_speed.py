"""python -m ichbench.perf.lesion_speed at a toy size: the printout, not the timings."""

import re
import subprocess
import sys

from ichbench.perf import lesion_speed


def test_lesion_speed_prints_per_case_counts_and_the_score_time_ratio(capsys):
    assert lesion_speed.main(["--cases", "2", "--slices", "6", "--size", "48",
                              "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if re.match(r"\s+00[12] ", line)]
    assert [row[0] for row in rows] == ["001", "002"]
    for row in rows:
        assert row[1] == "6×48×48"
        gt, pred, tp, fp, fn = (int(v) for v in row[-5:])
        assert tp + fn == gt and tp <= pred and fp >= 1  # the far false positive
    assert re.search(r"lesion-wise metrics take \d+% of the INSTANCE metrics' time", out)
    assert re.search(r"lesion-wise scoring adds -?\d+% to score time \(ratio [\d.]+\)", out)
    assert re.search(r"inside the lesion columns: \d+% .* they add \d+% \(ratio [\d.]+\)", out)


def test_lesion_speed_refuses_bad_arguments_with_one_line():
    result = subprocess.run([sys.executable, "-m", "ichbench.perf.lesion_speed", "--repeat", "0"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--repeat" in result.stderr
