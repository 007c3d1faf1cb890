"""nnU-Net v2's environment variables, set from the run folder instead of by the user.

nnU-Net locates its data through ``nnUNet_raw``, ``nnUNet_preprocessed`` and
``nnUNet_results`` and finds trainers outside its package through ``nnUNet_extTrainer``.
ichbench points all four into ``run_dir/nnunet/`` for the duration of a stage
(:func:`nnunet_environment`) and restores the previous values afterwards, so users never
set them and two runs never share nnU-Net folders.

When the variables are read (nnunetv2 2.8.1, the pinned version):

* the three data paths and ``nnUNet_extTrainer`` are read lazily (``nnunetv2.paths`` wraps
  them in ``_EnvPath`` objects that look at ``os.environ`` on each use), so setting them
  after ``import nnunetv2`` works. Older nnunetv2 versions read them once at import time;
  this module sets them before it imports anything of nnunetv2 in any case.
* ``nnUNet_def_n_proc`` IS read at import time (``nnunetv2.configuration``): it sizes the
  worker pools nnU-Net starts on its own. :func:`nnunet_environment` sets it before the
  first nnunetv2 import of the process; a later change has no effect.
* ``nnUNet_n_proc_DA`` is read on each call. ``0`` makes training use an in-process data
  loader (no worker processes: best on a 2-core CPU) but would make planning call
  ``torch.set_num_threads(0)`` and crash, so planning runs with it at >= 1
  (:func:`augmentation_workers`).

Processes that nnU-Net starts with the ``spawn`` method inherit ``os.environ`` as it is at
that moment; ichbench's own prediction loop starts none. :func:`thread_pools` makes the
planning and preprocessing pools threads of this process instead (``num_processes=0``).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import types
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.pool import ThreadPool
from pathlib import Path

from ichbench.io.atomic import write_text

#: Name of the module nnU-Net imports from ``nnUNet_extTrainer``. It only re-exports the
#: trainer classes defined in :mod:`ichbench.baselines.nnunet_trainers`, so the classes
#: nnU-Net finds are the very objects ichbench defines (no second copy of the module).
SHIM_MODULE = "ichbench_nnunet_trainers"
_SHIM_SOURCE = '''"""Written by ichbench: nnU-Net finds ichbench trainers here."""
from ichbench.baselines.nnunet_trainers import IchbenchTrainer  # noqa: F401
'''


@dataclass(frozen=True)
class NnunetPaths:
    """nnU-Net's folders inside a run folder: ``<root>/{raw,preprocessed,results,trainers}``."""

    root: Path

    @property
    def raw(self) -> Path:
        """``nnUNet_raw``."""
        return self.root / "raw"

    @property
    def preprocessed(self) -> Path:
        """``nnUNet_preprocessed``."""
        return self.root / "preprocessed"

    @property
    def results(self) -> Path:
        """``nnUNet_results``."""
        return self.root / "results"

    @property
    def trainers(self) -> Path:
        """``nnUNet_extTrainer``: holds only the re-export shim."""
        return self.root / "trainers"


def _write_shim(folder: Path) -> None:
    path = folder / f"{SHIM_MODULE}.py"
    if not path.is_file() or path.read_text(encoding="utf-8") != _SHIM_SOURCE:
        write_text(path, _SHIM_SOURCE)


@contextlib.contextmanager
def nnunet_environment(paths: NnunetPaths, *, n_proc: int = 1,
                       augmentation_workers: int = 0) -> Iterator[NnunetPaths]:
    """Point nnU-Net at ``paths`` while the ``with`` block runs.

    Parameters
    ----------
    paths
        The run folder's nnU-Net folders (created if missing).
    n_proc
        ``nnUNet_def_n_proc``: nnU-Net's default pool size (effective only if nnunetv2 has
        not been imported yet in this process).
    augmentation_workers
        ``nnUNet_n_proc_DA`` during training: 0 = data augmentation in the main process.

    Notes
    -----
    Also sets ``nnUNet_compile=f`` (no ``torch.compile``: slow to start for short runs and
    unsupported on CPU). Previous values are restored on exit.
    """
    for folder in (paths.raw, paths.preprocessed, paths.results, paths.trainers):
        folder.mkdir(parents=True, exist_ok=True)
    _write_shim(paths.trainers)
    values = {
        "nnUNet_raw": str(paths.raw),
        "nnUNet_preprocessed": str(paths.preprocessed),
        "nnUNet_results": str(paths.results),
        "nnUNet_extTrainer": str(paths.trainers),
        "nnUNet_def_n_proc": str(max(1, n_proc)),
        "nnUNet_n_proc_DA": str(max(0, augmentation_workers)),
        "nnUNet_compile": "f",
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield paths
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


#: nnU-Net modules that start a ``multiprocessing.get_context("spawn").Pool`` while planning
#: and preprocessing (nnunetv2 2.8.1): fingerprint, dataset integrity check, preprocessing.
POOL_MODULES = (
    "nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor",
    "nnunetv2.experiment_planning.verify_dataset_integrity",
    "nnunetv2.preprocessing.preprocessors.default_preprocessor",
)


@contextlib.contextmanager
def thread_pools() -> Iterator[None]:
    """Run nnU-Net's planning and preprocessing pools as threads of this process.

    nnU-Net starts each of its three pools (:data:`POOL_MODULES`) with ``spawn``: every
    worker is a fresh Python that imports torch and nnunetv2 again (4-5 s on 2 cores). For
    the 20 small cases of the default data that start-up, not the work, was most of the
    cascade's ``fine.prepare`` stage. The work is NumPy, SciPy and SimpleITK on one case
    per task with no shared state, so threads give the same arrays
    (``tests/baselines/test_nnunet_env.py``). Inside the block the ``multiprocessing``
    name in those modules is a stand-in whose ``get_context(...).Pool`` is
    :class:`multiprocessing.pool.ThreadPool` (same ``starmap_async`` / ``_pool`` API);
    the modules are restored on exit.
    """
    stand_in = types.SimpleNamespace(
        get_context=lambda method=None: types.SimpleNamespace(Pool=ThreadPool))
    modules = [importlib.import_module(name) for name in POOL_MODULES]
    saved = [module.multiprocessing for module in modules]
    for module in modules:
        module.multiprocessing = stand_in
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.multiprocessing = original


@contextlib.contextmanager
def augmentation_workers(n: int) -> Iterator[None]:
    """Temporarily set ``nnUNet_n_proc_DA`` (planning needs >= 1, see module notes)."""
    old = os.environ.get("nnUNet_n_proc_DA")
    os.environ["nnUNet_n_proc_DA"] = str(n)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("nnUNet_n_proc_DA", None)
        else:
            os.environ["nnUNet_n_proc_DA"] = old
