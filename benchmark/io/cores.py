"""How many CPU cores this process may use: one rule for every layer of ichbench.

``os.cpu_count()`` counts the machine's cores, not this process's share: inside a Slurm
job, a container or a cgroup with a CPU quota it overstates what a pool of workers can
use, and workers beyond the share only queue for it. :func:`usable_cores` is the minimum
of what each limit allows:

* the affinity mask (``os.sched_getaffinity``; Slurm and ``taskset`` pin jobs this way);
* the cgroup CPU quota: v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``),
  v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota ``-1`` = no limit), read for this
  process's cgroup and every cgroup above it (the tightest counts), rounded down but at
  least 1 (a 1.5-core quota runs one busy worker at full speed, not two);
* ``SLURM_CPUS_PER_TASK`` inside a Slurm job (``SLURM_JOB_ID`` set), in case the job is
  not pinned.

Each caller keeps its own policy on top ("leave one core to the main process", "at most
12"). This module imports nothing of ichbench, so every layer may use it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

#: Where the cgroup file systems are mounted (v2 unified, or v1 one folder per controller).
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: This process's cgroup membership, one ``id:controllers:path`` line per hierarchy.
PROC_CGROUP = Path("/proc/self/cgroup")
#: Folder names a v1 ``cpu`` controller is mounted under.
V1_CPU_MOUNTS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cores(*, environ: Mapping[str, str] | None = None,
                 cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Number of CPU cores this process may keep busy (at least 1).

    Parameters
    ----------
    environ
        Environment to read Slurm's variables from (``None``: ``os.environ``).
    cgroup_root, proc_cgroup
        The cgroup mount point and this process's cgroup file (tests point them at fakes).

    Returns
    -------
    int
        ``min(affinity, cgroup quota, SLURM_CPUS_PER_TASK)`` over the limits that exist.

    Examples
    --------
    >>> usable_cores() >= 1
    True
    """
    limits = [affinity_cores(),
              cgroup_quota_cores(cgroup_root=cgroup_root, proc_cgroup=proc_cgroup),
              slurm_cores(os.environ if environ is None else environ)]
    return max(1, min(n for n in limits if n is not None))


def affinity_cores() -> int:
    """Cores in this process's affinity mask (``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows: no affinity API
        return max(1, os.cpu_count() or 1)


def slurm_cores(environ: Mapping[str, str]) -> int | None:
    """``SLURM_CPUS_PER_TASK`` inside a Slurm job; None outside one or when unset or invalid."""
    if "SLURM_JOB_ID" not in environ:
        return None
    try:
        n = int(environ.get("SLURM_CPUS_PER_TASK", ""))
    except ValueError:
        return None
    return n if n >= 1 else None


def cgroup_quota_cores(*, cgroup_root: Path = CGROUP_ROOT,
                       proc_cgroup: Path = PROC_CGROUP) -> int | None:
    """Cores the tightest cgroup CPU quota above this process allows; None if unlimited.

    The quota ``q`` per period ``p`` gives ``max(1, floor(q / p))`` cores. Unreadable or
    malformed files count as "no limit" (a missing quota must never stop a run).
    """
    try:
        lines = proc_cgroup.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    found: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.strip().lstrip("/")
        if controllers == "":  # v2 unified hierarchy: "0::/path"
            found += [c for folder in _upwards(cgroup_root, relative)
                      if (c := _v2_quota(folder / "cpu.max")) is not None]
        elif "cpu" in controllers.split(","):
            for mount in V1_CPU_MOUNTS:
                found += [c for folder in _upwards(cgroup_root / mount, relative)
                          if (c := _v1_quota(folder)) is not None]
    return min(found) if found else None


def _upwards(root: Path, relative: str) -> Iterator[Path]:
    """``root/relative`` and each folder above it up to ``root`` (the tightest limit wins)."""
    folder = root / relative if relative else root
    yield folder
    while folder != root and root in folder.parents:
        folder = folder.parent
        yield folder


def _cores(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, quota // period)


def _v2_quota(path: Path) -> int | None:
    try:
        fields = path.read_text(encoding="utf-8").split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        return _cores(int(fields[0]), int(fields[1]))
    except ValueError:
        return None


def _v1_quota(folder: Path) -> int | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text(encoding="utf-8"))
        period = int((folder / "cpu.cfs_period_us").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _cores(quota, period)


__all__ = ["affinity_cores", "cgroup_quota_cores", "slurm_cores", "usable_cores"]
