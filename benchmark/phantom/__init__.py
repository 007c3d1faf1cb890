"""The synthetic head-CT phantom: realistic non-contrast CT with hemorrhages, in HU.

``generate_dataset`` writes a dataset in the INSTANCE layout (plus ``evaluation_label/``);
``generate_case`` makes one case in memory. Each case is determined by
``SeedSequence(seed, spawn_key=(int(case_id),))``, so case 001 is the same whatever the
number of cases or worker processes; the preset only changes the grid (``small``: 128 × 128
in-plane at 4× the spacing, same field of view and anatomy).

Modules: ``fields`` (smooth random fields in mm), ``lattice`` (points of one thick slice),
``anatomy`` (the normal head), ``lesions`` (five hemorrhage subtypes, mass effect),
``scan`` (acquisition: pose, header, thin-slice averaging, streaks, blur, noise),
``generate`` (datasets, process pool, manifest), ``measure`` (HU per tissue, volumes, time,
memory, threshold floor: ``python -m ichbench.phantom.measure --cases 20``).

What a reader sees (brain window W80/L40): scalp, skull with diploe (bone window), thin
subarachnoid CSF, cortex with sulci, grey/white contrast (~38/28 HU), deep grey nuclei,
lateral/third/fourth ventricles, Sylvian and interhemispheric fissures with the falx,
cisterns, cerebellum and brainstem, dense venous sinuses, calcified choroid plexus, pineal
and falx plaques, skull base with petrous ridges and beam-hardening streaks, orbits and
sinuses; hemorrhages (IPH with edema, IVH with a fluid level, SDH crescent, EDH lens,
SAH in sulci/cisterns) with mass effect. Geometry is simplified (analytic shapes with
random perturbations), not an atlas: good for a benchmark's plumbing and difficulty, not
for judging a model's clinical accuracy.
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
