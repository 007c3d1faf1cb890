"""One definition of a usable mask pair: evaluate_case, evaluate_lesions and the per-class
metrics refuse the same inputs with the same message, each naming its own function."""

import numpy as np
import pytest

from ichbench.metrics import evaluate_case, evaluate_lesions
from ichbench.metrics.checks import check_pair, check_spacing
from ichbench.metrics.subtypes import stratify_by_class

CUBE = np.zeros((2, 2, 2), bool)
BAD = [
    ({"gt": np.zeros((2, 2))}, "gt must be a 3D numpy array, found 2D array"),
    ({"pred": [0]}, "pred must be a 3D numpy array, found <class 'list'>"),
    ({"gt": np.zeros((0, 2, 2)), "pred": np.zeros((0, 2, 2))}, "gt has no voxels"),
    ({"pred": np.zeros((2, 2, 3))}, r"gt shape \(2, 2, 2\) != pred shape \(2, 2, 3\)"),
    ({"spacing_mm": (1.0, 1.0)}, "spacing_mm must be 3 positive finite floats"),
    ({"spacing_mm": (1.0, -1.0, 1.0)}, "spacing_mm must be 3 positive finite floats"),
    ({"spacing_mm": (1.0, float("inf"), 1.0)}, "spacing_mm must be 3 positive finite floats"),
    ({"spacing_mm": ("a", 1.0, 1.0)}, "spacing_mm must be 3 positive finite floats"),
    ({"spacing_mm": 1.0}, "spacing_mm must be 3 positive finite floats"),
]


@pytest.mark.parametrize("function", [evaluate_case, evaluate_lesions])
@pytest.mark.parametrize("bad, message", BAD)
def test_metrics_refuse_the_same_pairs_naming_themselves(function, bad, message):
    args = {"gt": CUBE, "pred": CUBE, "spacing_mm": (1.0, 1.0, 1.0), **bad}
    with pytest.raises(ValueError, match=f"^{function.__name__}: {message}"):
        function(args["gt"], args["pred"], spacing_mm=args["spacing_mm"])
    with pytest.raises(ValueError, match=f"^x: {message}"):
        check_pair(args["gt"], args["pred"], args["spacing_mm"], caller="x")


def test_per_class_metrics_check_spacing_the_same_way():
    with pytest.raises(ValueError, match=r"^stratify_by_class: spacing_mm must be 3 positive"):
        stratify_by_class(CUBE.astype(np.uint8), CUBE, spacing_mm=(0.0, 1.0, 1.0))


def test_a_usable_pair_returns_its_spacing_as_floats():
    assert check_pair(CUBE, CUBE.astype(np.uint8), [5, 0.45, 0.45], caller="x") == (
        5.0, 0.45, 0.45)
    assert check_spacing(np.array([1, 2, 3]), caller="x") == (1.0, 2.0, 3.0)
