"""Hemorrhages of the five subtypes, as implicit shapes in the head frame, and mass effect.

* IPH, intraparenchymal: irregular blob, deep (basal ganglia, thalamus), lobar or
  cerebellar; optional hypodense edema rim.
* IVH, intraventricular: blood in the dependent (posterior) part of a lateral ventricle,
  or a cast of the whole ventricle.
* SDH, subdural: crescent along the inner table, wide and thin (≥ 5 mm), crossing sutures.
* EDH, epidural: biconvex lens, short and thick, usually temporoparietal.
* SAH, subarachnoid: blood in the CSF of sulci over the convexity, or in the basal
  cisterns and Sylvian fissures.

Volumes follow a log-normal law (median ~11 mL, from below 1 mL to above 100 mL); the
measured label volume is recorded per case, since shape and clipping by the skull change it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ichbench.phantom.anatomy import BRAIN, CSF, VENTRICLE, Head, ellipsoid
from ichbench.phantom.fields import Field
from ichbench.phantom.lattice import Lattice

KINDS = ("IPH", "IVH", "SDH", "EDH", "SAH")
#: Label value of each subtype in a phantom label: BHSD's convention (Wu et al. 2023), the
#: one MBH-Seg24/25 use. 0 is background; ``label > 0`` is the merged ICH mask.
SUBTYPE_CODES = {"EDH": 1, "IPH": 2, "IVH": 3, "SAH": 4, "SDH": 5}
_PRIMARY_P = {"IPH": 0.40, "SDH": 0.22, "SAH": 0.14, "IVH": 0.12, "EDH": 0.12}


@dataclass(frozen=True)
class LesionParams:
    """One hemorrhage. Positions in mm (head frame), densities in HU."""

    kind: str
    center: tuple[float, float, float]    # IPH centre; SDH/EDH/SAH: unit direction
    axes: tuple[float, float, float]      # IPH half-axes; SDH/EDH: (theta_max rad, t_max, 0)
    target_ml: float
    hu: float
    swirl: bool
    edema: float                          # edema rim width relative to the radius (0: none)
    level: float                          # IVH: fluid level (y, mm); SAH: 1 basal, 0 convexity
    side: float                           # -1 right, +1 left, 0 both (IVH)
    push_mm: float                        # mass-effect displacement magnitude

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form."""
        return asdict(self)


def _unit(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, float)
    v = v / np.linalg.norm(v)
    return (float(v[0]), float(v[1]), float(v[2]))


def sample_lesions(rng: np.random.Generator, scale: float,
                   atrophy: float = 0.3) -> list[LesionParams]:
    """Draw one to three hemorrhages with a log-normal total volume (median ~11 mL)."""
    total = float(np.clip(rng.lognormal(np.log(11.0), 1.15), 0.3, 160.0))
    n = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
    shares = np.sort(rng.dirichlet(np.full(n, 1.2)))[::-1]
    kinds = list(_PRIMARY_P)
    first = str(rng.choice(kinds, p=list(_PRIMARY_P.values())))
    chosen = [first]
    for _ in range(n - 1):
        if first == "IPH" and "IVH" not in chosen and rng.random() < 0.5:
            chosen.append("IVH")
        else:
            chosen.append(str(rng.choice(["IPH", "SDH", "SAH", "IVH", "EDH"],
                                         p=[0.3, 0.25, 0.25, 0.12, 0.08])))
    side = float(rng.choice([-1.0, 1.0]))
    out = []
    for kind, share in zip(chosen, shares, strict=True):
        vol = max(float(total * share), 0.2)
        out.append(_sample_one(rng, kind, vol, scale, side, atrophy))
    return out


def _sample_one(rng: np.random.Generator, kind: str, vol_ml: float, s: float,
                side: float, atrophy: float) -> LesionParams:
    hu = float(rng.uniform(60.0, 85.0) if rng.random() < 0.8 else rng.uniform(50.0, 62.0))
    swirl = bool(rng.random() < 0.35)
    # The rough outline adds ~30% on average: aim the smooth ellipsoid lower.
    r_eq = (3.0 * vol_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0) / 1.09
    if kind == "IPH":
        site = rng.choice(["putamen", "thalamus", "lobar", "cerebellum"], p=[0.35, 0.2, 0.35, 0.1])
        if site == "putamen":
            c = np.array([side * 24, -4, 2]) * s
        elif site == "thalamus":
            c = np.array([side * 11, 12, 4]) * s
        elif site == "cerebellum":
            c = np.array([side * 22, 45, -62]) * s
            r_eq = min(r_eq, 22.0)
        else:
            az = rng.uniform(-1.2, 1.2) + (0 if side > 0 else np.pi)
            el = rng.uniform(-0.1, 0.8)
            d = np.array([np.cos(el) * np.cos(az) * 0.8, np.cos(el) * np.sin(az), np.sin(el)])
            c = d / np.linalg.norm(d) * max(55.0 * s - r_eq - 12.0, 25.0)
        c = c + rng.normal(0, 3.0, 3)
        ratios = rng.uniform(0.65, 1.45, 3)
        ratios /= np.prod(ratios) ** (1 / 3)
        axes = tuple(float(a) for a in r_eq * ratios)
        return LesionParams("IPH", tuple(float(v) for v in c), axes, vol_ml, hu, swirl,  # type: ignore[arg-type]
                            float(rng.uniform(0.15, 0.5)) if rng.random() < 0.6 else 0.0,
                            0.0, side, float(min(0.55 * r_eq, 13.0)) if vol_ml > 3 else 0.0)
    if kind == "IVH":
        both = rng.random() < 0.35
        # Blood settles posteriorly (patient supine): pick the fluid level that leaves about
        # the target volume behind it (a lateral ventricle holds ~9 mL × size³, most of it
        # in the atrium and occipital horn).
        vs = 0.75 + 0.9 * atrophy
        frac = min(vol_ml / ((2 if both else 1) * 9.0 * vs ** 3 * s ** 3), 1.0)
        level = float((48.0 - 80.0 * frac ** 0.75) * s)
        hu = float(rng.uniform(45.0, 75.0))   # mixed with CSF
        return LesionParams("IVH", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), vol_ml, hu, False, 0.0,
                            level, 0.0 if both else side, 0.0)
    if kind in ("SDH", "EDH"):
        if kind == "SDH":
            az = rng.uniform(-0.9, 0.6)
            el = rng.uniform(0.0, 0.7)
            theta = rng.uniform(0.6, 1.05)
            mean_frac = 0.62
        else:
            az = rng.uniform(-0.5, 0.5)
            el = rng.uniform(-0.25, 0.45)
            theta = rng.uniform(0.45, 0.7)
            mean_frac = 0.5
        d = np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        radius = 70.0 * s
        max_theta = 1.5 if kind == "SDH" else 0.95
        # Widen until the thickness fits the subtype (EDH: a lens at most ~0.6 as thick as
        # half its extent; SDH: at most 22 mm).
        while True:
            area = 2 * np.pi * radius ** 2 * (1 - np.cos(theta))
            t_max = vol_ml * 1000.0 / (area * mean_frac)
            limit = 22.0 if kind == "SDH" else min(30.0, 0.6 * theta * radius)
            if t_max <= limit or theta >= max_theta:
                break
            theta = min(theta * 1.08, max_theta)
        # Thinnest collection 5 mm (SDH) / 4 mm (EDH): at least two pixels of the ``small``
        # preset (1.9 mm). At 2.5 mm (phantom v4) most SDHs under 15 mL were one-pixel rims
        # fused with the inner table by partial volume, visible in the label but not in the
        # CT; the 5-fold coarse model scored DC 0.00-0.10 on every such test case.
        t_min = 5.0 if kind == "SDH" else 4.0
        if t_max < t_min:  # small collection: thin and narrow, not thin and wide
            cos_theta = 1 - vol_ml * 1000.0 / (mean_frac * t_min * 2 * np.pi * radius ** 2)
            theta = float(max(np.arccos(np.clip(cos_theta, -1, 1)), 0.12))
        t_max = float(np.clip(t_max, t_min, limit))
        return LesionParams(kind, _unit(d), (float(theta), t_max, 0.0), vol_ml, hu, swirl,
                            0.0, 0.0, side, float(min(0.7 * t_max, 14.0)) if t_max > 4 else 0.0)
    # SAH
    basal = rng.random() < 0.45
    az = rng.uniform(-1.2, 1.2)
    el = rng.uniform(0.1, 0.9)
    d = np.array([side * np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return LesionParams("SAH", _unit(d), (float(rng.uniform(0.35, 0.8)), 0.0, 0.0), vol_ml,
                        float(rng.uniform(50.0, 72.0)), False, 0.0, 1.0 if basal else 0.0,
                        side, 0.0)


class Lesion:
    """A rendered hemorrhage: occupancy, HU and mass effect at lattice points."""

    def __init__(self, params: LesionParams, head: Head, rng: np.random.Generator) -> None:
        self.p = params
        self.head = head
        scale = max(min(params.axes) * 0.45, 2.5) if params.kind == "IPH" else 6.0
        self.shape_field = Field(rng, scale)
        self.lobe_field = Field(rng, scale * 2.0)
        self.hu_field = Field(rng, 2.5)

    def _angle(self, x, y, z):  # type: ignore[no-untyped-def]
        """Angle (rad) between the lesion direction and the point, seen from the centre."""
        d = np.asarray(self.p.center, np.float32)
        yy = y - self.head.cy
        r = np.sqrt(x * x + yy * yy + z * z) + 1e-3
        return np.arccos(np.clip((x * d[0] + yy * d[1] + z * d[2]) / r, -1, 1))

    def displacement(self, x, y, z):  # type: ignore[no-untyped-def]
        """Mass-effect displacement (dx, dy, dz) in mm at true positions."""
        p = self.p
        zero = np.zeros_like(x)
        if p.push_mm <= 0:
            return zero, zero, zero
        if p.kind == "IPH":
            c = np.asarray(p.center, np.float32)
            dx, dy, dz = x - c[0], y - c[1], z - c[2]
            dist = np.sqrt(dx * dx + dy * dy + dz * dz) + 1e-3
            reach = float(np.mean(p.axes)) + 22.0
            w = p.push_mm * np.exp(-0.5 * (dist / reach) ** 2) * np.clip(dist / 4.0, 0, 1)
            return w * dx / dist, w * dy / dist, w * dz / dist
        d = np.asarray(p.center, np.float32)
        c = d * 70.0 * self.head.s + np.array([0, self.head.cy, 0], np.float32)
        dist = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
        reach = 70.0 * p.axes[0] + 30.0
        w = -p.push_mm * np.exp(-0.5 * (dist / reach) ** 2)
        return w * d[0], w * d[1], w * d[2]

    def render(self, lat: Lattice, tissue: np.ndarray,
               depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(blood, edema): boolean occupancies at the lattice points (true positions)."""
        p = self.p
        x, y, z = lat.x, lat.y, lat.z
        cavity = tissue > 0
        edema = np.zeros(x.shape, bool)
        if p.kind == "IPH":
            q = ellipsoid(x, y, z, p.center, p.axes)
            rough = (1.0 + 0.22 * lat.field(self.shape_field)
                     + 0.16 * lat.field(self.lobe_field))
            blood = cavity & (q < rough)
            if p.edema > 0:
                edema = (tissue == BRAIN) & ~blood & (q < rough * (1.0 + p.edema))
            return blood, edema
        if p.kind == "IVH":
            xs, ys, _ = lat.src
            side_ok = (np.sign(xs) == p.side) if p.side != 0 else np.ones_like(cavity)
            return (tissue == VENTRICLE) & (ys > p.level) & side_ok, edema
        a = self._angle(x, y, z) / p.axes[0]
        t_max = p.axes[1]
        if p.kind == "SDH":
            prof = np.sqrt(np.clip(1.0 - a ** 4, 0, None))
            t = t_max * prof * (1.0 + 0.08 * lat.field(self.shape_field))
            return cavity & (depth < t) & (a < 1), edema
        if p.kind == "EDH":
            t = t_max * np.clip(1.0 - a ** 2, 0, None) * (1.0 + 0.05 * lat.field(self.shape_field))
            return cavity & (depth < t) & (a < 1), edema
        # SAH: blood in the subarachnoid CSF (sulci, fissures, cisterns; not ventricles).
        s = self.head.s
        if p.level > 0:  # basal: cisterns and Sylvian fissures near the skull base
            near = ellipsoid(x, y, z, (0, -2 * s, -20 * s), (55 * s, 40 * s, 22 * s)) < 1
            region = near & (lat.field(self.lobe_field) > -0.6)
        else:
            region = (a < 1) & (lat.field(self.lobe_field) > -0.3)
        return (tissue == CSF) & region, edema

    def hu(self, lat: Lattice, mask: np.ndarray) -> np.ndarray:
        """Blood HU at the masked points (heterogeneous; a 'swirl' of fresher, darker blood)."""
        v = self.p.hu + 7.0 * lat.field(self.hu_field)[mask]
        if self.p.swirl:
            v = np.where(lat.field(self.lobe_field)[mask] > 0.8, v - 22.0, v)
        return v


def subtype_codes(share: np.ndarray) -> np.ndarray:
    """The subtype code of each voxel, from how much of the voxel each subtype covers.

    Where several subtypes reach into one voxel (an IVH cast beside an IPH, an SDH over an
    SAH) the voxel gets the subtype that covers the largest share of its sub-samples; a
    tie goes to the lower code (EDH before IPH before IVH before SAH before SDH). The
    share, not a fixed order, decides, so a voxel mostly inside a hematoma is never given to
    a neighbour that only touches it.

    Parameters
    ----------
    share : np.ndarray of float, (5, ...)
        ``share[c - 1]`` = fraction of each voxel's sub-samples inside subtype code ``c``
        (:data:`SUBTYPE_CODES`).

    Returns
    -------
    np.ndarray of uint8, (...)
        Codes 1-5 (a voxel no subtype reaches gets 1; callers keep the code only where the
        merged label is set, which implies some subtype reaches the voxel).
    """
    return (np.argmax(share, axis=0) + 1).astype(np.uint8)
