"""The default synthetic dataset: generated once per (phantom version, size, seed), cached.

Kept beside the phantom, not in :mod:`ichbench.data.dataset`: the cache needs the generator,
and the generator needs the layout's naming rules from :mod:`ichbench.data.dataset`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ichbench.data.cases import cache_root
from ichbench.data.dataset import SYNTH_MANIFEST

#: Cases of the default synthetic dataset: INSTANCE's 100/30/70 halved (50 train, 15
#: validation, 35 test). The 50 held-out cases resolve the ΔDC of about 0.02 that the
#: cascade-vs-coarse question is about: the paired per-case ΔDC had a standard deviation of
#: 0.031-0.051 in the runs measured, which needs 19-52 cases for a 95 % CI excluding 0 at
#: 80 % power (README, "The default data"). Generation takes about 3.5 minutes on 2 cores.
DEFAULT_SYNTHETIC_CASES = 100


def default_synthetic_dataset(cases: int = DEFAULT_SYNTHETIC_CASES, preset: str = "small",
                              seed: int = 0, *, jobs: int | None = None) -> Path:
    """Generate (once) and return a cached synthetic dataset.

    The dataset is written into a temporary folder beside its final place and renamed
    into place when complete, so a folder that exists is whole; two processes racing keep
    the first finished copy and the other discards its own. The cache name carries the
    phantom version, so a changed generator never serves stale data.

    Parameters
    ----------
    cases, preset, seed
        As ``ichbench data synth``.
    jobs
        Worker processes (default: all cores, at most ``cases``).

    Returns
    -------
    Path
        The dataset root (INSTANCE layout plus ``evaluation_label/``).
    """
    from ichbench.phantom import PHANTOM_VERSION, generate_dataset

    root = cache_root()
    final = root / f"synthetic-v{PHANTOM_VERSION}-{preset}-n{cases}-seed{seed}"
    if (final / SYNTH_MANIFEST).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
    try:
        generate_dataset(tmp, cases=cases, preset=preset, seed=seed, jobs=jobs,
                         progress=False)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another process finished first (or a stale incomplete folder is in the way).
            if not (final / SYNTH_MANIFEST).is_file():
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
