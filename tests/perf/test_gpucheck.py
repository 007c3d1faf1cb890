"""``python -m ichbench.perf.gpucheck``: the paper-preset GPU path, on CPU at toy sizes."""

import pytest
import torch

from ichbench.perf import gpucheck

pytestmark = pytest.mark.gpu


def test_without_cuda_it_says_so_and_exits_cleanly(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpucheck.main([]) == 0
    out = capsys.readouterr().out
    assert "no CUDA GPU" in out and "--device cpu --tiny" in out


def test_tiny_cpu_run_measures_both_stages_and_projects_the_paper_budget():
    lines = []
    results = gpucheck.run_check(device="cpu", tiny=True, iterations=2, workers=0,
                                 echo=lines.append)
    assert [r.name.split()[0] for r in results] == ["coarse", "fine"]
    for r in results:
        assert r.seconds_per_iteration > 0 and 0 <= r.data_share < 1
        assert r.peak_memory_gib is None  # no GPU memory on the CPU
    coarse, fine = results
    # projection = time per iteration × the paper's iterations (5 folds)
    assert fine.projected_hours == pytest.approx(
        fine.seconds_per_iteration * 250 * 500 * 5 / 3600)
    assert coarse.projected_hours == pytest.approx(
        coarse.seconds_per_iteration * 640 * 200 * 5 / 3600)
    assert "18 h on one V100" in lines[-1]


def test_fine_network_follows_nnunet_topology_for_the_paper_patch():
    net, patch, strides = gpucheck.fine_network((32, 128, 128), (5.0, 0.45, 0.45), in_channels=2)
    assert patch == (32, 128, 128)
    # 5 mm slices: the first poolings are in-plane only (nnU-Net's anisotropy rule)
    assert strides[1] == [1, 2, 2]
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 2, 32, 128, 128))
    assert out[0].shape == (1, 2, 32, 128, 128)


def test_bad_patch_is_refused_with_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        gpucheck.main(["--patch", "32,128"])
    assert exc.value.code == 2
    assert "--patch" in capsys.readouterr().err
