"""evaluate_case against a brute-force oracle on tiny masks.

The oracle shares nothing with ichbench but the surfel area table (checked against
``surface-distance`` in test_surface.py): it visits every voxel corner in Python, builds
its code from the 8 voxels around it, and takes distances with scipy's ``cdist`` on
corner positions in mm. The tolerance (0.93 mm) is no lattice distance of the spacings
used: ``cdist`` of ``i·s`` positions may differ from the exact lattice distance by an ulp,
which would flip ``<=`` at a tie (ties are checked against ``surface-distance`` in
test_agreement.py).
"""

import itertools

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ichbench.metrics import evaluate_case
from ichbench.metrics._surfel_table import surfel_area_table_mm2


def _oracle_surface(mask, spacing_mm):
    table = surfel_area_table_mm2(spacing_mm)
    points, areas = [], []
    n0, n1, n2 = mask.shape
    for i, j, k in itertools.product(range(n0 + 1), range(n1 + 1), range(n2 + 1)):
        code = 0
        for a, b, c in itertools.product((0, 1), repeat=3):
            z, y, x = i - 1 + a, j - 1 + b, k - 1 + c
            inside = 0 <= z < n0 and 0 <= y < n1 and 0 <= x < n2 and mask[z, y, x]
            code += int(inside) << (7 - (4 * a + 2 * b + c))
        if code not in (0, 255):
            points.append((i * spacing_mm[0], j * spacing_mm[1], k * spacing_mm[2]))
            areas.append(table[code])
    return np.array(points).reshape(-1, 3), np.array(areas)


def _oracle_percentile(distances, areas, percent):
    order = np.lexsort((areas, distances))
    distances, areas = distances[order], areas[order]
    share = np.cumsum(areas) / np.sum(areas)
    return distances[min(int(np.searchsorted(share, percent / 100)), len(distances) - 1)]


def _oracle(gt, pred, spacing_mm, tolerance_mm):
    gt_points, gt_areas = _oracle_surface(gt, spacing_mm)
    pred_points, pred_areas = _oracle_surface(pred, spacing_mm)
    pairwise = cdist(gt_points, pred_points)
    gt_to_pred, pred_to_gt = pairwise.min(axis=1), pairwise.min(axis=0)
    nsd = ((gt_areas[gt_to_pred <= tolerance_mm].sum()
            + pred_areas[pred_to_gt <= tolerance_mm].sum())
           / (gt_areas.sum() + pred_areas.sum()))
    hd = max(gt_to_pred.max(), pred_to_gt.max())
    hd95 = max(_oracle_percentile(gt_to_pred, gt_areas, 95),
               _oracle_percentile(pred_to_gt, pred_areas, 95))
    return nsd, hd, hd95


@pytest.mark.parametrize("seed", range(12))
def test_metrics_equal_brute_force_oracle_on_tiny_random_masks(seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 6, size=3))
    spacing_mm = tuple(float(s) for s in rng.choice([0.42, 0.45, 1.0, 2.5, 5.0], size=3))
    gt = rng.random(shape) < 0.35
    pred = rng.random(shape) < 0.35
    gt.flat[0] = pred.flat[-1] = True  # both non-empty, touching the array border
    m = evaluate_case(gt, pred, spacing_mm=spacing_mm, tolerance_mm=0.93)
    nsd, hd, hd95 = _oracle(gt, pred, spacing_mm, 0.93)
    assert m.nsd == pytest.approx(nsd, abs=1e-9)
    assert m.hd == pytest.approx(hd, abs=1e-9)
    assert m.hd95 == pytest.approx(hd95, abs=1e-9)
    tp = int(np.count_nonzero(gt & pred))
    assert m.tp_voxels == tp
    assert m.dc == pytest.approx((2 * tp + 1e-5) / (gt.sum() + pred.sum() + 1e-5), abs=1e-12)
