"""The 0/1 short cut of mask_values and label_values gives what the full check gives."""

import numpy as np
import pytest

from ichbench.submissions.case import mask_values
from ichbench.submissions.classes import label_values


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int8, np.int16, np.uint16,
                                   np.float32])
@pytest.mark.parametrize("extra", [None, 0, 1, 2, -1])
def test_values_and_notes_follow_the_labels_whatever_the_type(dtype, extra):
    rng = np.random.default_rng(0)
    array = (rng.random((4, 6, 7)) < 0.3).astype(dtype)
    if extra is not None and dtype is not np.bool_:
        if extra < 0 and np.dtype(dtype).kind == "u":
            pytest.skip("no negative values in an unsigned type")
        array[1, 2, 3] = extra
    mask, problem, note = mask_values(array)
    np.testing.assert_array_equal(mask, array != 0)
    assert problem is None
    labels = tuple(int(v) for v in np.unique(array[array != 0]).tolist())
    assert label_values(array, mask) == labels
    assert (note is None) == (set(labels) <= {1})
    if note is not None:
        assert "non-zero labels" in note


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int16])
def test_empty_mask_has_no_labels_and_no_note(dtype):
    array = np.zeros((2, 3, 4), dtype)
    mask, problem, note = mask_values(array)
    assert not mask.any() and problem is None and note is None
    assert label_values(array, mask) == ()


def test_nonfinite_count_is_still_a_problem_for_a_zero_one_array():
    array = np.zeros((2, 3, 4), np.uint8)
    _, problem, _ = mask_values(array, nonfinite=3)
    assert problem is not None and "3 NaN" in problem
