"""The Examples in the reports docstrings run (pytest collects only tests/)."""

from __future__ import annotations

import doctest

import pytest

from ichbench.reports import labels, ranking, report, stats, style, volumes


@pytest.mark.parametrize("module", [labels, ranking, report, stats, style, volumes])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
