"""The points of one thick slice, in the head frame, with smooth fields on a coarser copy.

The lattice holds the thin sub-slices and in-plane sub-samples of one thick slice.

Smooth quantities (random fields, the mass-effect displacement) vary over millimetres, so
they are evaluated on every ``d``-th lattice point (about 1.6 mm apart) and linearly
interpolated back; sharp shapes (tables of the skull, lesion and ventricle outlines) are
evaluated at every point. This keeps a 512 × 512 slice to a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Coords = tuple[np.ndarray, np.ndarray, np.ndarray]


def _axis_interp(n_fine: int, step: int) -> tuple[np.ndarray, np.ndarray, int]:
    pos = np.arange(n_fine) / step
    i0 = np.floor(pos).astype(np.intp)
    return i0, (pos - i0).astype(np.float32), int(i0[-1]) + 2


class Lattice:
    """Lattice points (flat, C order over (sub-slice, row, column)) in the head frame.

    Parameters
    ----------
    to_head, shift
        Affine map from (column, row, slice) index to head-frame mm: ``to_head @ idx + shift``.
    k0, j0, i0
        First lattice position along slice, row, column (index units).
    steps
        Lattice step along (slice, row, column), index units.
    shape
        Number of lattice points (slice, row, column).
    coarse
        Decimation of the coarse lattice along (slice, row, column).
    """

    def __init__(self, to_head: np.ndarray, shift: np.ndarray, k0: float, j0: float,
                 i0: float, steps: tuple[float, float, float], shape: tuple[int, int, int],
                 coarse: tuple[int, int, int]) -> None:
        self.to_head, self.shift = to_head.astype(np.float32), shift.astype(np.float32)
        self.origin = (k0, j0, i0)
        self.steps = steps
        self.shape = shape
        self.coarse = coarse
        self.x, self.y, self.z = self._points(shape, (1, 1, 1))
        interp = [_axis_interp(n, d) for n, d in zip(shape, coarse, strict=True)]
        self._interp = interp
        self.coarse_shape = tuple(c[2] for c in interp)
        self.cx, self.cy, self.cz = self._points(self.coarse_shape, coarse)  # type: ignore[arg-type]
        self.src: Coords = (self.x, self.y, self.z)
        self.csrc: Coords = (self.cx, self.cy, self.cz)
        self._cache: dict[tuple[int, bool], np.ndarray] = {}
        #: Coarse points where fields are needed (the rest read 0); set by the renderer.
        self.coarse_mask: np.ndarray | None = None

    def _points(self, shape: tuple[int, int, int], dec: tuple[int, int, int]) -> Coords:
        k = (self.origin[0] + self.steps[0] * dec[0] * np.arange(shape[0])).astype(np.float32)
        j = (self.origin[1] + self.steps[1] * dec[1] * np.arange(shape[1])).astype(np.float32)
        i = (self.origin[2] + self.steps[2] * dec[2] * np.arange(shape[2])).astype(np.float32)
        out = []
        for row in range(3):
            a, b, c = self.to_head[row]
            v = (a * i[None, None, :] + b * j[None, :, None] + c * k[:, None, None]
                 + self.shift[row])
            out.append(v.ravel())
        return out[0], out[1], out[2]

    def upsample(self, coarse: np.ndarray) -> np.ndarray:
        """Trilinear interpolation of a coarse-lattice array back to the full lattice."""
        a = coarse.reshape(self.coarse_shape)
        for axis, (i0, w, _) in enumerate(self._interp):
            shape = [1, 1, 1]
            shape[axis] = -1
            w = w.reshape(shape)
            a = np.take(a, i0, axis=axis) * (1 - w) + np.take(a, i0 + 1, axis=axis) * w
        return a.ravel()

    def set_displacement(self, fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Coords]
                         ) -> None:
        """Set mass effect: brain structures are read at ``p - displacement(p)``."""
        d = fn(self.cx, self.cy, self.cz)
        if not any(np.any(v) for v in d):
            return
        self.csrc = (self.cx - d[0], self.cy - d[1], self.cz - d[2])
        self.src = tuple(full - self.upsample(dc)  # type: ignore[assignment]
                         for full, dc in zip((self.x, self.y, self.z), d, strict=True))

    def field(self, fn: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray], *,
              src: bool = False) -> np.ndarray:
        """A smooth function evaluated on the coarse lattice, interpolated to every point.

        ``src`` reads it at the displaced positions (brain structures under mass effect).
        """
        key = (id(fn), src)
        if key not in self._cache:
            c = self.csrc if src else (self.cx, self.cy, self.cz)
            if self.coarse_mask is None:
                values = fn(*c).astype(np.float32)
            else:
                values = np.zeros(self.cx.shape, np.float32)
                m = self.coarse_mask
                values[m] = fn(c[0][m], c[1][m], c[2][m])
            self._cache[key] = self.upsample(values)
        return self._cache[key]
