"""What happened to each case of a scored submission: the ``status`` column of cases.csv.

Every truth case gets exactly one row. A row whose status is not ``ok`` is still scored,
as an EMPTY prediction (the INSTANCE 2022 rule: a missing or unusable mask counts as
"nothing found"), so that means over submissions stay comparable; the ``message`` column
names the file and the fix. The one exception is ``truth_unreadable``: without a usable
truth nothing can be measured, so its metrics are NaN and it is left out of every
statistic (the summary's per-metric ``count`` shows it).

This module imports nothing heavy, so the CLI can build its help text from it.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Outcome of one truth case; the value is what cases.csv and summary.json hold."""

    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    GEOMETRY_MISMATCH = "geometry_mismatch"
    NOT_A_MASK = "not_a_mask"
    AMBIGUOUS = "ambiguous"
    OUTSIDE_FOLDER = "outside_folder"
    TRUTH_UNREADABLE = "truth_unreadable"

    @property
    def description(self) -> str:
        """One sentence saying what the status means and how the case was scored."""
        return DESCRIPTIONS[self]

    @property
    def scored_as_empty(self) -> bool:
        """True if the case's metrics are those of an empty prediction."""
        return self not in (Status.OK, Status.TRUTH_UNREADABLE)


#: One sentence per status (tests check that the table is complete).
DESCRIPTIONS: dict[Status, str] = {
    Status.OK: "The prediction passed every check and was scored as submitted.",
    Status.MISSING: "No file for this case in the submission folder; scored as an empty "
                    "prediction.",
    Status.UNREADABLE: "The file is empty, truncated, corrupt, not single-file NIfTI-1 or "
                       "MetaImage (.mha with its data inside), not a regular file, not one 3D "
                       "scalar volume, its header contradicts itself or the file (bitpix, "
                       "vox_offset, length), or it claims an absurd size (refused before any "
                       "voxel is read); scored as an empty prediction.",
    Status.GEOMETRY_MISMATCH: "The mask's shape differs from the truth's, or its spacing, "
                              "origin or direction differ beyond a small tolerance (without "
                              "--lenient-geometry, which reorients flipped axes exactly and "
                              "never scores a grid that does not coincide); scored as an "
                              "empty prediction.",
    Status.NOT_A_MASK: "The values are not whole numbers (e.g. probabilities) or include NaN "
                       "or infinity; scored as an empty prediction.",
    Status.AMBIGUOUS: "The case appears twice (two of .nii, .nii.gz and .mha), so it is "
                      "unclear which one is meant; neither is read and it is scored as an "
                      "empty prediction.",
    Status.OUTSIDE_FOLDER: "The file is a symbolic link, or is the truth file itself (a hard "
                           "link); it is never read, so a submission cannot point at the "
                           "truth, and it is scored as an empty prediction.",
    Status.TRUTH_UNREADABLE: "The truth file for this case cannot be used; nothing can be "
                             "measured, so the metrics are NaN and the case is left out of "
                             "every statistic.",
}
