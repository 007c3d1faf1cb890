"""ichbench.submissions: validate and score a folder of predicted masks.

The one scoring path, for external submissions and ichbench's own runs alike::

    from ichbench.submissions import score_folder
    result = score_folder("preds/", "labels/", "scores/")   # writes cases.csv, summary.json

Modules: :mod:`~ichbench.submissions.status` (what each ``status`` means),
:mod:`~ichbench.submissions.folder` (matching files to cases, without reading them),
:mod:`~ichbench.submissions.case` (reading, checking and scoring one case),
:mod:`~ichbench.submissions.summary` (statistics, cases.csv) and
:mod:`~ichbench.submissions.score` (:func:`score_folder`).

Attributes are loaded on first use, so that ``ichbench.submissions.status`` (used by the
CLI's help) imports no NumPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ichbench.submissions.case import CaseScore
    from ichbench.submissions.defaults import DEFAULT_TOLERANCE_MM
    from ichbench.submissions.folder import ScoreError
    from ichbench.submissions.score import ScoreResult, score_folder
    from ichbench.submissions.status import DESCRIPTIONS, Status

_EXPORTS = {
    "score_folder": "score", "ScoreResult": "score", "DEFAULT_TOLERANCE_MM": "defaults",
    "CaseScore": "case", "ScoreError": "folder", "Status": "status",
    "DESCRIPTIONS": "status",
}

__all__ = ["DEFAULT_TOLERANCE_MM", "DESCRIPTIONS", "CaseScore", "ScoreError", "ScoreResult",
           "Status", "score_folder"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"ichbench.submissions.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'ichbench.submissions' has no attribute {name!r}")
