"""Fixtures for the metrics tests.

``surface-distance`` 0.1 (the reference implementation, a test extra) uses ``np.Inf`` and
``np.NaN``, removed in NumPy 2. The fixture adds the aliases, for tests only; ichbench
itself never imports that library (see test_imports.py).
"""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def surface_distance():
    """The reference library ``surface_distance``, with NumPy 2 aliases in place."""
    module = pytest.importorskip("surface_distance")
    for old, new in (("Inf", np.inf), ("NaN", np.nan)):
        if not hasattr(np, old):
            setattr(np, old, new)
    return module
