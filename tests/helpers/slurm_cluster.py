"""A real one-node Slurm cluster for tests: munged, slurmctld and slurmd on this host.

Debian's ``slurm-wlm`` and ``munge`` packages (``.ci/run`` installs them). The cluster's
files live in a temporary folder: ``slurm.conf`` (``ProctrackType=proctrack/linuxproc``,
``TaskPlugin=task/none``, ``SelectType=select/cons_tres``: no cgroups needed), state,
spool and daemon logs. Clients find it through ``SLURM_CONF``. munged uses the packaged
key (``/etc/munge/munge.key``) and its default socket; it is started only if no munged
answers already, and only what this module started is stopped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol",
            "scancel")


def missing_reason() -> str | None:
    """Why a local cluster cannot start here, or None if it can."""
    absent = [b for b in BINARIES if shutil.which(b) is None]
    if absent:
        return (f"Slurm/munge binaries absent ({', '.join(absent)}); install them with "
                "'apt-get install -y slurm-wlm munge' (as .ci/run does)")
    if os.geteuid() != 0:
        return "starting slurmd needs root (CI runs as root)"
    if not Path("/etc/munge/munge.key").is_file():
        return "no /etc/munge/munge.key (reinstall the munge package)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _munge_ok() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=True)
        subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10,
                       check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        return False
    return True


@dataclass
class Cluster:
    """A running cluster; :meth:`stop` ends the daemons this object started."""

    root: Path
    conf: Path
    node: str
    cpus: int
    pids: list[int] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """Environment entries that point Slurm clients at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def stop(self) -> None:
        """Stop slurmd, slurmctld (and munged if started here) by their pid files."""
        for name in ("slurmd.pid", "slurmctld.pid"):
            self._kill_pidfile(self.root / name)
        for pid in self.pids:
            _kill(pid)

    def _kill_pidfile(self, path: Path) -> None:
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return
        _kill(pid)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def start(root: Path, *, cpus: int | None = None, timeout_s: float = 60.0) -> Cluster:
    """Write the config under ``root``, start the daemons, wait until the node is idle.

    Raises
    ------
    RuntimeError
        If the node does not come up within ``timeout_s`` (with the daemons' log tails).
    """
    root.mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    cpus = cpus or os.cpu_count() or 1
    mem_mb = max(1000, int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                           / 2**20) - 2000)
    for sub in ("state", "spool"):
        (root / sub).mkdir(exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""\
ClusterName=ichbenchtest
SlurmctldHost={node}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root / 'state'}
SlurmdSpoolDir={root / 'spool'}
SlurmctldPidFile={root / 'slurmctld.pid'}
SlurmdPidFile={root / 'slurmd.pid'}
SlurmctldLogFile={root / 'slurmctld.log'}
SlurmdLogFile={root / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
JobRequeue=1
MinJobAge=300
KillWait=5
AuthInfo=cred_expire=10
NodeName={node} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
""")
    cluster = Cluster(root=root, conf=conf, node=node, cpus=cpus)
    env = {**os.environ, **cluster.env()}
    if not _munge_ok():
        run_dir = Path("/run/munge")
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(run_dir, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True,
                       timeout=30)
        pid_file = run_dir / "munged.pid"
        if pid_file.is_file():
            cluster.pids.append(int(pid_file.read_text().strip()))
        for _ in range(50):
            if _munge_ok():
                break
            time.sleep(0.1)
    subprocess.run(["slurmctld", "-f", str(conf)], check=True, env=env, timeout=30)
    subprocess.run(["slurmd", "-f", str(conf)], check=True, env=env, timeout=30)
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                             env=env, check=False)
        state = out.stdout.strip()
        if state in ("idle", "mixed", "allocated"):
            return cluster
        time.sleep(0.5)
    cluster.stop()
    tails = "\n".join(f"{name}: {(root / name).read_text()[-800:]}"
                      for name in ("slurmctld.log", "slurmd.log") if (root / name).exists())
    raise RuntimeError(f"the test Slurm node did not come up (state {state!r}):\n{tails}")
