"""Generating a synthetic dataset: per-case seeds, a process pool, the manifest."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichbench.io.atomic import write_json
from ichbench.io.cores import usable_cores
from ichbench.io.volumes import Geometry, write_volume
from ichbench.phantom.lesions import SUBTYPE_CODES
from ichbench.phantom.scan import PRESETS, CaseParams, render_case, sample_case

#: Bumped whenever generated data changes; part of the cache folder name. v6: labels hold
#: subtype codes (1 EDH, 2 IPH, 3 IVH, 4 SAH, 5 SDH); CTs and ``label > 0`` equal v5's.
PHANTOM_VERSION = 6


@dataclass(frozen=True)
class SyntheticCase:
    """One generated case in memory."""

    case_id: str
    ct: np.ndarray          # int16 HU, (z, y, x)
    label: np.ndarray       # uint8, (z, y, x): 0, or the subtype code (SUBTYPE_CODES)
    geometry: Geometry
    params: CaseParams
    volumes_ml: dict[str, float]
    seconds: float


def case_seed(seed: int, case_id: str) -> np.random.SeedSequence:
    """The seed of one case: independent of the dataset size and of the other cases."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=(int(case_id),))


def generate_case(case_id: str, *, seed: int = 0, preset: str = "small") -> SyntheticCase:
    """Make one case (numeric ``case_id``, e.g. ``"001"``) in memory."""
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    start = time.perf_counter()
    params, render_seed = sample_case(case_seed(seed, case_id))
    ct, label, geom, volumes, _ = render_case(params, render_seed, preset)
    return SyntheticCase(case_id, ct, label, geom, params, volumes,
                         time.perf_counter() - start)


def _write_case(job: tuple[str, str, int, str, str]) -> dict[str, object]:
    case_id, split, seed, preset, root = job
    case = generate_case(case_id, seed=seed, preset=preset)
    base = Path(root)
    if split == "train":
        image, label = base / "train" / "data", base / "train" / "label"
    else:
        image, label = base / "evaluation", base / "evaluation_label"
    write_volume(case.ct, case.geometry, image / f"{case_id}.nii.gz")
    write_volume(case.label, case.geometry, label / f"{case_id}.nii.gz")
    return {"case": case_id, "split": split, "seconds": round(case.seconds, 2),
            "shape_zyx": list(case.ct.shape),
            "spacing_xyz_mm": [round(v, 4) for v in case.geometry.spacing_xyz_mm],
            "volumes_ml": {k: round(v, 3) for k, v in case.volumes_ml.items()},
            "params": case.params.as_dict()}


def generate_dataset(out_dir: str | os.PathLike[str], *, cases: int = 200,
                     preset: str = "small", seed: int = 0, jobs: int | None = None,
                     progress: bool | None = None) -> list[dict[str, object]]:
    """Write a synthetic dataset in the INSTANCE layout and return the per-case records.

    Parameters
    ----------
    out_dir
        Target folder (created; existing case files are overwritten).
    cases
        Number of cases; split by :func:`ichbench.data.dataset.split_counts` (100/30/70).
    preset
        ``"small"`` (128 × 128 in-plane) or ``"full"`` (512 × 512).
    seed
        Dataset seed; case ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
    jobs
        Worker processes (default: CPU count, at most the number of cases; 1 = in-process).
    progress
        Show a tqdm bar (default: when stderr is a terminal).

    Returns
    -------
    list of dict
        One record per case (split, time, spacing, label volumes, parameters), also written
        with the dataset parameters and the labels' meaning (``label_map``: code → subtype)
        to ``ichbench_synthetic.json`` at the root.
    """
    from ichbench.data.dataset import SYNTH_MANIFEST, synthetic_case_ids

    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r}: expected one of {', '.join(PRESETS)}")
    ids = synthetic_case_ids(cases)
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    job_list = [(cid, split, seed, preset, str(root)) for split, split_ids in ids.items()
                for cid in split_ids]
    n_jobs = max(1, min(jobs or usable_cores(), len(job_list)))
    show = sys.stderr.isatty() if progress is None else progress
    records = _run(job_list, n_jobs, show)
    records.sort(key=lambda r: str(r["case"]))
    write_json(root / SYNTH_MANIFEST, {
        "generator": "ichbench.phantom", "phantom_version": PHANTOM_VERSION, "seed": seed,
        "preset": preset, "cases": cases,
        "splits": {k: list(v) for k, v in ids.items()},
        "label_map": {str(code): kind for kind, code in sorted(SUBTYPE_CODES.items(),
                                                               key=lambda kv: kv[1])},
        "records": records})
    return records


def _run(job_list: Sequence[tuple[str, str, int, str, str]], n_jobs: int,
         show: bool) -> list[dict[str, object]]:
    from tqdm import tqdm

    bar = tqdm(total=len(job_list), desc="synth", unit="case", disable=not show)
    records: list[dict[str, object]] = []
    try:
        if n_jobs == 1:
            for job in job_list:
                records.append(_write_case(job))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=n_jobs) as pool:
                for rec in pool.map(_write_case, job_list):
                    records.append(rec)
                    bar.update()
    finally:
        bar.close()
    return records
