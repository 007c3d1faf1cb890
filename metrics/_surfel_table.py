"""Surfel areas of the 256 neighbourhood codes of a 2×2×2 block of voxels.

A surface point sits on every voxel corner whose 2×2×2 neighbourhood holds both
foreground and background voxels. Its *neighbourhood code* is an 8-bit number with one
bit per voxel of the block (see :func:`ichbench.metrics.surface.neighbour_codes`); the
surface through the block is the marching-cubes triangulation of that code (vertices at
edge midpoints, Lorensen & Cline 1987), and the point is weighted by the area of those
triangles in mm².

The triangulation is the one used by DeepMind's ``surface-distance`` (Apache-2.0,
``lookup_tables._NEIGHBOUR_CODE_TO_NORMALS``), so that ichbench's NSD and Hausdorff
distances equal that library's. Only what the area needs is kept here: the absolute
components of each triangle's area vector (its normal, with length = area in voxel units),
in the library's order, so that the areas are summed in the same floating-point order.
A test checks this table against the library for several spacings.

Encoding: one token per code, codes in increasing order; ``-`` means no triangle; each
letter is one triangle whose area vector, times 8, has the absolute components

    a = (1, 1, 1)   b = (2, 2, 2)   c = (3, 3, 3)
    x = (4, 0, 0)   y = (0, 4, 0)   z = (0, 0, 4)
    p = (0, 2, 2)   q = (2, 0, 2)   r = (2, 2, 0)

(component order = array axes 0, 1, 2, i.e. (z, y, x) for SimpleITK arrays).
"""

from functools import lru_cache

import numpy as np

_LETTER_TO_EIGHTHS: dict[str, tuple[int, int, int]] = {
    "a": (1, 1, 1), "b": (2, 2, 2), "c": (3, 3, 3),
    "x": (4, 0, 0), "y": (0, 4, 0), "z": (0, 0, 4),
    "p": (0, 2, 2), "q": (2, 0, 2), "r": (2, 2, 0),
}

_CODE_TO_TRIANGLES = (
    "- a a rr a qq aa xba "  # 0-7
    "a aa qq xba rr xba xba xx "  # 8-15
    "a pp aa yba aa zba aaa abba "  # 16-23
    "aa ppa qqa acpq arr cpar xaba xab "  # 24-31
    "a aa pp yab aa aqq ppa cpaq "  # 32-39
    "aa aaa zba bbaa arr xbaa pcar xba "  # 40-47
    "rr yba yab yy rra cqar ayba yba "  # 48-55
    "arr ybaa craq yba rrrr rra arr rr "  # 56-63
    "a aa aa arr pp zba ppa cpar "  # 64-71
    "aa aaa aqq xbaa yba bbaa qcpa xba "  # 72-79
    "qq zba aqq qcra zba zz aabz abz "  # 80-87
    "qqa zbaa qqqq aqq qcra zba aqq qq "  # 88-95
    "aa aaa app yaba ppa zbaa pppp ppa "  # 96-103
    "aaa aaaa zbaa aaa ybaa aaa ppa aa "  # 104-111
    "xba baba cpaq yba crpa abz app pp "  # 112-119
    "xbaa aaa qqa aa rra aa aa a "  # 120-127
    "a aa aa rra aa qqa aaa xbaa "  # 128-135
    "pp app abz crpa yba cpaq baba xba "  # 136-143
    "aa ppa aaa ybaa aaa zbaa aaaa aaa "  # 144-151
    "ppa pppp zbaa ppa yaba app aaa aa "  # 152-159
    "qq aqq zba qcra aqq qqqq zbaa qqa "  # 160-167
    "abz aabz zz zba qcra aqq zba qq "  # 168-175
    "xba qcpa bbaa yba xbaa aqq aaa aa "  # 176-183
    "cpar ppa zba pp arr aa aa a "  # 184-191
    "rr arr rra rrrr yba craq ybaa arr "  # 192-199
    "yba ayba cqar rra yy yab yba rr "  # 200-207
    "xba pcar xbaa arr bbaa zba aaa aa "  # 208-215
    "cpaq ppa aqq aa yab pp aa a "  # 216-223
    "xab xaba cpar arr acpq qqa ppa aa "  # 224-231
    "abba aaa zba aa yba aa pp a "  # 232-239
    "xx xba xba rr xba qq aa a "  # 240-247
    "xba aa qq a rr a a - "  # 248-255
)

CODE_TO_TRIANGLES: tuple[str, ...] = tuple(
    "" if token == "-" else token for token in _CODE_TO_TRIANGLES.split()
)
"""Per neighbourhood code (0-255), the triangle letters (see the module docstring)."""


@lru_cache(maxsize=64)
def surfel_area_table_mm2(spacing_mm: tuple[float, float, float]) -> np.ndarray:
    r"""Return the surfel area in mm² of every neighbourhood code.

    Parameters
    ----------
    spacing_mm : tuple of 3 floats
        Voxel spacing in mm along array axes 0, 1, 2 (z, y, x for SimpleITK arrays).

    Returns
    -------
    numpy.ndarray
        Shape (256,), float64, read-only. Codes 0 and 255 (no surface) have area 0.

    Notes
    -----
    A triangle with area vector :math:`n` (voxel units, axis order 0, 1, 2) has area
    :math:`\lVert (n_0 s_1 s_2,\; n_1 s_0 s_2,\; n_2 s_0 s_1) \rVert` mm² for spacing
    :math:`s`; a code's area is the sum over its triangles. With 5 mm slices and
    0.45 mm pixels a surfel facing the slice axis has 0.05 mm² per quarter face against
    0.56 mm² for one facing a pixel axis.
    """
    s0, s1, s2 = (float(s) for s in spacing_mm)
    table = np.zeros(256)
    for code, letters in enumerate(CODE_TO_TRIANGLES):
        area_mm2 = 0.0
        for letter in letters:
            e0, e1, e2 = _LETTER_TO_EIGHTHS[letter]
            scaled = np.array([e0 / 8 * s1 * s2, e1 / 8 * s0 * s2, e2 / 8 * s0 * s1])
            area_mm2 += np.linalg.norm(scaled)
        table[code] = area_mm2
    table.flags.writeable = False
    return table
