"""The synthetic head-CT phantom: realistic non-contrast CT with hemorrhages, in HU.

``generate_dataset`` writes a dataset in the INSTANCE layout (plus ``evaluation_label/``);
``generate_case`` makes one case in memory. Each case is determined by
``SeedSequence(seed, spawn_key=(int(case_id),))``, so case 001 is the same whatever the
number of cases, the preset only changes the grid (``small``: 128 × 128 in-plane at 4×
the spacing, same field of view and anatomy), and parallel runs give identical files.
"""

from __future__ import annotations

from ichbench.phantom.generate import (
    PHANTOM_VERSION,
    PRESETS,
    SyntheticCase,
    case_seed,
    generate_case,
    generate_dataset,
)

__all__ = ["PHANTOM_VERSION", "PRESETS", "SyntheticCase", "case_seed", "generate_case",
           "generate_dataset"]
