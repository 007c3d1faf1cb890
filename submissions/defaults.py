"""Scoring defaults shared by the library and the CLI (one source; imports nothing)."""

#: NSD tolerance τ in mm used by INSTANCE 2022.
DEFAULT_TOLERANCE_MM = 0.42
