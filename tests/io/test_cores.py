"""The one "how many cores" rule: affinity, cgroup v1/v2 quotas and Slurm, on fake files."""

import ast
import os
from pathlib import Path

import pytest

from ichbench.io import cores
from ichbench.io.cores import cgroup_quota_cores, slurm_cores, usable_cores


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def many_cores(monkeypatch):
    """Pretend the affinity mask holds 64 cores, so the other limits decide."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)


def usable(tmp_path: Path, environ: dict | None = None) -> int:
    return usable_cores(environ=environ or {}, cgroup_root=tmp_path / "cg",
                        proc_cgroup=tmp_path / "proc_cgroup")


def test_no_cgroup_files_and_no_slurm_give_the_affinity_mask(tmp_path, many_cores):
    assert usable(tmp_path) == 64


@pytest.mark.parametrize(("cpu_max", "expected"), [
    ("400000 100000\n", 4),  # 4 cores
    ("150000 100000\n", 1),  # 1.5 rounds down
    ("50000 100000\n", 1),  # half a core is still one
    ("max 100000\n", 64),  # no quota
    ("garbage\n", 64),  # unreadable counts as no limit
])
def test_cgroup_v2_cpu_max_quota_rounds_down_but_at_least_one(tmp_path, many_cores, cpu_max,
                                                              expected):
    write(tmp_path / "proc_cgroup", "0::/job/step\n")
    write(tmp_path / "cg" / "job" / "step" / "cpu.max", cpu_max)
    assert usable(tmp_path) == expected


def test_cgroup_v2_tightest_quota_above_the_process_counts(tmp_path, many_cores):
    write(tmp_path / "proc_cgroup", "0::/job/step\n")
    write(tmp_path / "cg" / "job" / "step" / "cpu.max", "max 100000\n")
    write(tmp_path / "cg" / "job" / "cpu.max", "300000 100000\n")
    write(tmp_path / "cg" / "cpu.max", "800000 100000\n")
    assert cgroup_quota_cores(cgroup_root=tmp_path / "cg",
                              proc_cgroup=tmp_path / "proc_cgroup") == 3


def test_cgroup_v2_namespace_root_path_reads_the_mount_root(tmp_path, many_cores):
    write(tmp_path / "proc_cgroup", "0::/\n")  # inside a container: its cgroup is "/"
    write(tmp_path / "cg" / "cpu.max", "200000 100000\n")
    assert usable(tmp_path) == 2


@pytest.mark.parametrize("mount", ["cpu", "cpu,cpuacct"])
def test_cgroup_v1_cfs_quota_and_period(tmp_path, many_cores, mount):
    write(tmp_path / "proc_cgroup", "5:memory:/a\n3:cpu,cpuacct:/docker/abc\n")
    folder = tmp_path / "cg" / mount / "docker" / "abc"
    write(folder / "cpu.cfs_quota_us", "250000\n")
    write(folder / "cpu.cfs_period_us", "100000\n")
    assert usable(tmp_path) == 2


def test_cgroup_v1_quota_minus_one_is_no_limit(tmp_path, many_cores):
    write(tmp_path / "proc_cgroup", "3:cpu,cpuacct:/\n")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_quota_us", "-1\n")
    write(tmp_path / "cg" / "cpu" / "cpu.cfs_period_us", "100000\n")
    assert usable(tmp_path) == 64


def test_slurm_cpus_per_task_counts_only_inside_a_job(tmp_path, many_cores):
    assert usable(tmp_path, {"SLURM_CPUS_PER_TASK": "6"}) == 64  # no SLURM_JOB_ID: stale
    assert usable(tmp_path, {"SLURM_JOB_ID": "42", "SLURM_CPUS_PER_TASK": "6"}) == 6
    assert slurm_cores({"SLURM_JOB_ID": "42"}) is None
    assert slurm_cores({"SLURM_JOB_ID": "42", "SLURM_CPUS_PER_TASK": "six"}) is None
    assert slurm_cores({"SLURM_JOB_ID": "42", "SLURM_CPUS_PER_TASK": "0"}) is None


def test_smallest_limit_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    write(tmp_path / "proc_cgroup", "0::/\n")
    write(tmp_path / "cg" / "cpu.max", "800000 100000\n")
    job = {"SLURM_JOB_ID": "1", "SLURM_CPUS_PER_TASK": "16"}
    assert usable(tmp_path, job) == 5  # affinity
    write(tmp_path / "cg" / "cpu.max", "300000 100000\n")
    assert usable(tmp_path, job) == 3  # cgroup
    assert usable(tmp_path, {**job, "SLURM_CPUS_PER_TASK": "2"}) == 2  # Slurm


def test_this_machine_has_at_least_one_usable_core():
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def test_cores_imports_nothing_of_ichbench():
    """Every layer (metrics excepted, which needs no cores) may import it: no cycles."""
    tree = ast.parse(Path(cores.__file__).read_text(encoding="utf-8"))
    names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names]
    names += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [n for n in names if n.startswith("ichbench")]
