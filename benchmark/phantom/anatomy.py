"""The normal head: tissue HU as an implicit function of head-frame position (mm).

Head frame: x towards the patient's left, y posterior, z superior (LPS), origin near the
centre of the brain (level of the third ventricle). Everything is evaluated on flat arrays
of point coordinates, so a case is rendered slab by slab at any resolution.

Layers from outside in: air, scalp (skin, fat, galea; temporalis laterally), skull (outer
table, diploe, inner table; thickness varies), subarachnoid CSF, cortex (grey) with sulci,
white matter, deep grey nuclei, lateral/third/fourth ventricles, falx and tentorium,
cisterns, posterior fossa (cerebellum with folia, brainstem), skull base with dense petrous
ridges, orbits and air sinuses below it. Hyperdense distractors: calcified choroid plexus,
pineal, falx plaques, basal ganglia.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ichbench.phantom.fields import Field

AIR = -1000.0


@dataclass(frozen=True)
class AnatomyParams:
    """Per-case anatomy parameters (sizes in mm, densities in HU)."""

    scale: float          # overall head size factor
    atrophy: float        # 0 young .. 1 atrophic (CSF spaces, ventricles)
    skull_mm: float       # mean skull thickness
    scalp_mm: float
    grey_hu: float
    white_hu: float
    csf_hu: float
    choroid_calc_hu: float   # 0 = not calcified
    pineal_calc_hu: float
    falx_calc_hu: float
    bg_calc_hu: float
    frontal_sinus: bool


def sample_anatomy(rng: np.random.Generator) -> AnatomyParams:
    """Draw anatomy parameters (age-like variation: atrophy, calcifications)."""
    atrophy = float(rng.beta(1.6, 2.5))
    return AnatomyParams(
        scale=float(rng.uniform(0.92, 1.05)), atrophy=atrophy,
        skull_mm=float(rng.uniform(5.0, 8.0)), scalp_mm=float(rng.uniform(4.0, 7.0)),
        grey_hu=float(rng.uniform(37.0, 43.0)), white_hu=float(rng.uniform(25.0, 30.0)),
        csf_hu=float(rng.uniform(2.0, 8.0)),
        choroid_calc_hu=float(rng.uniform(250, 700)) if rng.random() < 0.55 + 0.3 * atrophy
        else 0.0,
        pineal_calc_hu=float(rng.uniform(200, 600)) if rng.random() < 0.5 else 0.0,
        falx_calc_hu=float(rng.uniform(250, 800)) if rng.random() < 0.25 else 0.0,
        bg_calc_hu=float(rng.uniform(120, 300)) if rng.random() < 0.1 else 0.0,
        frontal_sinus=bool(rng.random() < 0.8),
    )


def _sig(v: np.ndarray, width: float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(v / width))


def _ellipsoid(x, y, z, c, axes):  # type: ignore[no-untyped-def]
    """Normalised ellipsoid radius (< 1 inside)."""
    return np.sqrt(((x - c[0]) / axes[0]) ** 2 + ((y - c[1]) / axes[1]) ** 2
                   + ((z - c[2]) / axes[2]) ** 2)


def _segment_q(x, y, z, p0, p1, r0, r1):  # type: ignore[no-untyped-def]
    """Normalised distance to a tapered capsule from p0 to p1 with radii (rx, rz) r0 → r1."""
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    d = p1 - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    rx = r0[0] + (r1[0] - r0[0]) * t
    rz = r0[1] + (r1[1] - r0[1]) * t
    dx = x - (p0[0] + t * d[0])
    dy = y - (p0[1] + t * d[1])
    dz = z - (p0[2] + t * d[2])
    return np.sqrt((dx / rx) ** 2 + (dy / rx) ** 2 + (dz / rz) ** 2)


class Head:
    """A normal head: geometry, tissue fields and HU values for one case."""

    def __init__(self, params: AnatomyParams, rng: np.random.Generator) -> None:
        self.p = params
        s = params.scale
        self.s = s
        # Inner-table ellipsoid: half-axes x, y, z-up, z-down; centre offset in y.
        self.axes_in = np.array([66.0, 84.0, 70.0, 95.0], np.float32) * s
        self.cy = 4.0 * s
        self.shape_field = Field(rng, 25.0)
        self.thick_field = Field(rng, 18.0)
        self.diploe_field = Field(rng, 1.5)
        self.sulcus_field = Field(rng, 5.5)
        self.folia_field = Field(rng, 2.5)
        self.mottle_field = Field(rng, 3.0)
        self.air_field = Field(rng, 3.0)
        n_plaques = int(rng.integers(1, 4))
        self.falx_plaques = [(float(rng.uniform(-40, 40)) * s, float(rng.uniform(25, 55)) * s,
                              float(rng.uniform(4, 9))) for _ in range(n_plaques)]

    # -- geometry helpers -------------------------------------------------------------
    def radial(self, x, y, z):  # type: ignore[no-untyped-def]
        """(r, u): distance from the cranial centre and normalised inner-table radius.

        ``depth_mm = r * (1 - u) / u`` is the distance inside the inner table along the ray
        from the centre (negative outside).
        """
        ax, ay, azu, azd = self.axes_in
        az = np.where(z >= 0, azu, azd)
        yy = y - self.cy
        r = np.sqrt(x * x + yy * yy + z * z) + 1e-3
        u = np.sqrt((x / ax) ** 2 + (yy / ay) ** 2 + (z / az) ** 2)
        ex, ey, ez = x / r * 70.0, yy / r * 80.0, z / r * 70.0
        u = u / (1.0 + 0.025 * self.shape_field(ex, ey, ez))
        return r, u

    def floor_z(self, x, y):  # type: ignore[no-untyped-def]
        """Height of the cranial floor (anterior, middle and posterior fossae), mm."""
        s = self.s
        lat = _sig(np.abs(x) - 17.0 * s, 4.0)
        middle = _sig(y + 18.0 * s, 5.0)
        posterior = _sig(y - self.step_y(x), 2.0)
        z = -26.0 * s - 14.0 * s * middle * (0.45 + 0.55 * lat)
        return z - 30.0 * s * posterior

    def step_y(self, x):  # type: ignore[no-untyped-def]
        """Petrous ridge / clivus line: the front of the posterior fossa (y, mm)."""
        return (6.0 + 0.45 * np.abs(x)) * self.s

    def tentorium_z(self, y):  # type: ignore[no-untyped-def]
        """Height of the tentorium above the cerebellum (posterior fossa roof), mm."""
        return (-22.0 - 0.38 * np.clip(y - 8.0 * self.s, 0, None)) * self.s

    # -- rendering -----------------------------------------------------------------------
    def envelope(self, x, y, z, depth=None):  # type: ignore[no-untyped-def]
        """Boolean: inside the skin (head and neck); ``depth`` as from :meth:`radial`."""
        if depth is None:
            r, u = self.radial(x, y, z)
            depth = r * (1.0 - u) / u
        head = depth > -(self.p.skull_mm * 1.6 + self.p.scalp_mm + 2.0)
        neck = (((x / (58 * self.s)) ** 2 + ((y - 8 * self.s) / (62 * self.s)) ** 2) < 1) & (
            z < -70 * self.s)
        return head | neck

    def render(self, x, y, z, src):  # type: ignore[no-untyped-def]
        """HU at head-frame points.

        Parameters
        ----------
        x, y, z
            Point coordinates (mm, head frame), flat float32 arrays.
        src
            (xs, ys, zs): the same points moved back through the mass-effect displacement;
            brain structures are read there, skull and scalp at (x, y, z).

        Returns
        -------
        hu : np.ndarray
            Tissue HU.
        tissue : np.ndarray of int8
            0 outside the cranial cavity, 1 CSF space (sulci, cisterns, ventricles,
            subarachnoid), 2 brain, 3 ventricle (subset of CSF, for IVH).
        depth : np.ndarray
            Depth below the inner table (mm), used by extra-axial lesions.
        """
        p, s = self.p, self.s
        hu = np.full(x.shape, AIR, np.float32)
        tissue = np.zeros(x.shape, np.int8)
        r, u = self.radial(x, y, z)
        depth = r * (1.0 - u) / u                # > 0 inside the inner table
        thick = p.skull_mm * (1.0 + 0.28 * self.thick_field(x, y, z))
        # Thin temporal squama, thicker occiput.
        thick = thick * (1.0 - 0.4 * np.exp(-((np.abs(x) - 60 * s) / 15.0) ** 2)
                         * np.exp(-((z + 5 * s) / 25.0) ** 2))
        thick = np.clip(thick, 2.0, None)
        out = -depth                              # distance outside the inner table
        scalp = p.scalp_mm * (1.0 + 0.7 * np.exp(-((np.abs(x) - 55 * s) / 18) ** 2)
                              * np.exp(-((z - 5 * s) / 25) ** 2))   # temporalis
        env = self.envelope(x, y, z, depth)
        skin_out = thick + scalp
        # Scalp: skin, subcutaneous fat, galea/muscle.
        in_scalp = env & (out >= thick)
        from_skin = skin_out - out
        hu[in_scalp] = np.where(from_skin[in_scalp] < 1.5, 45.0,
                                np.where(from_skin[in_scalp] < 1.5 + 0.35 * scalp[in_scalp],
                                         -85.0, 42.0))
        # Skull vault: tables and diploe.
        in_bone = env & (out >= 0) & (out < thick)
        tb = np.clip(0.22 * thick, 1.0, 2.2)
        cortical = (out < tb) | (out > thick - tb)
        dip = 650.0 + 180.0 * self.diploe_field(x, y, z)
        hu[in_bone] = np.where(cortical[in_bone], 1750.0, dip[in_bone])
        # Below the vault (neck, face): muscle by default.
        below = env & (out < 0)
        hu[below] = 45.0

        inside = env & (depth > 0)
        xs, ys, zs = src
        fz = self.floor_z(x, y)
        cavity = inside & (z > fz)
        # Skull base: bone slab under the floor, dense petrous ridge / clivus at the step.
        base = inside & ~cavity
        slab = base & (z > fz - 9.0 * s)
        hu[slab] = 900.0 + 500.0 * np.clip(self.diploe_field(x, y, z)[slab], -1, 1)
        sy = self.step_y(x)
        petrous = base & (np.abs(y - sy) < 6.0 * s) & (z > -80 * s) & (z < -36 * s) & (
            np.abs(x) < 62 * s)
        hu[petrous] = 1900.0
        self._face(x, y, z, hu, base & ~slab & ~petrous, cavity)
        # Frontal sinus: air pocket in the frontal bone.
        if p.frontal_sinus:
            fs = in_bone & (_ellipsoid(x, y, z, (0, -80 * s, -14 * s), (22 * s, 9 * s, 14 * s))
                            < 1) & (out > 1.2)
            hu[fs] = AIR
        if not cavity.any():
            return hu, tissue, depth
        self._brain(cavity, x, y, z, xs, ys, zs, depth, fz, hu, tissue)
        return hu, tissue, depth

    def _face(self, x, y, z, hu, region, cavity):  # type: ignore[no-untyped-def]
        s = self.s
        if not region.any():
            return
        idx = np.flatnonzero(region)
        xi, yi, zi = x[idx], y[idx], z[idx]
        v = np.full(idx.shape, 45.0, np.float32)
        # Orbits: fat cone with the globe.
        for side in (-1.0, 1.0):
            orbit = _ellipsoid(xi, yi, zi, (side * 31 * s, -62 * s, -40 * s),
                               (17 * s, 22 * s, 16 * s))
            v[orbit < 1] = -90.0
            globe = _ellipsoid(xi, yi, zi, (side * 31 * s, -70 * s, -40 * s), (12 * s,) * 3)
            v[globe < 1] = 12.0
            # Mastoid air cells with bony septa.
            mast = _ellipsoid(xi, yi, zi, (side * 50 * s, 28 * s, -60 * s),
                              (12 * s, 14 * s, 14 * s))
            cells = self.air_field(xi, yi, zi)
            v[(mast < 1) & (cells > 0.2)] = AIR
            v[(mast < 1) & (cells <= 0.2)] = 700.0
        # Nasal cavity and sinuses: air with bony walls.
        sinus = (_ellipsoid(xi, yi, zi, (0, -52 * s, -75 * s), (30 * s, 22 * s, 22 * s)) < 1) | (
            _ellipsoid(xi, yi, zi, (0, -22 * s, -52 * s), (14 * s, 12 * s, 10 * s)) < 1)
        walls = np.abs(self.air_field(xi, yi, zi)) < 0.12
        v[sinus] = AIR
        v[sinus & walls] = 500.0
        # Cervical spine and airway in the neck.
        vert = _ellipsoid(xi, yi, zi, (0, 22 * s, -120 * s), (16 * s, 16 * s, 300))
        v[vert < 1] = 350.0
        v[(vert < 1) & (vert > 0.8)] = 1200.0
        airway = _ellipsoid(xi, yi, zi, (0, -18 * s, -130 * s), (9 * s, 7 * s, 45 * s))
        v[airway < 1] = AIR
        hu[idx] = v

    def _brain(self, cavity, x, y, z, xs, ys, zs, depth, fz, hu, tissue):  # type: ignore[no-untyped-def]
        p, s = self.p, self.s
        idx = np.flatnonzero(cavity)
        X, Y, Z = xs[idx], ys[idx], zs[idx]
        # Depth below the cavity surface (vault or floor), read at the true position.
        dvault = depth[idx]
        dfloor = z[idx] - fz[idx]
        dsurf = np.minimum(dvault, dfloor)
        gap = 1.0 + 3.0 * p.atrophy                     # subarachnoid CSF width
        bd = dsurf - gap                                 # depth into the brain
        # Beam-hardening cupping: brain next to bone reads a few HU high.
        cup = 5.0 * np.exp(-np.clip(dsurf, 0, None) / 4.0)
        v = np.full(idx.shape, p.white_hu, np.float32)
        t = np.full(idx.shape, 2, np.int8)
        mottle = self.mottle_field(X, Y, Z)
        grey = bd < 2.8
        # Sulci: thin CSF sheets from the surface, lined by cortex.
        sf = np.abs(self.sulcus_field(X, Y, Z))
        sw = 0.10 + 0.12 * p.atrophy
        sdepth = 16.0 * s
        grey |= (sf < sw + 0.35) & (bd < sdepth + 2.5)
        sulcus = (sf < sw) & (bd < sdepth * (1.0 - 0.5 * sf / sw))
        # Interhemispheric fissure with the falx (above the callosum, full depth at the poles).
        cc_z = 20.0 * s - 1e3 * _sig(np.abs(Y - 2 * s) - 40.0 * s, 3.0)
        fis_w = 1.0 + 2.0 * p.atrophy
        upper = Z > np.maximum(cc_z, self.tentorium_z(Y))
        fissure = upper & (np.abs(X) < fis_w)
        grey |= upper & (np.abs(X) < fis_w + 3.0)
        # Sylvian fissures.
        syl_z = (-8.0 + 0.2 * Y / s) * s
        sylvian = (np.abs(Z - syl_z) < 1.0 + 2.5 * p.atrophy) & (np.abs(X) > 31 * s) & (
            Y > -35 * s) & (Y < 15 * s)
        grey |= (np.abs(Z - syl_z) < 4.5 + 2.5 * p.atrophy) & (np.abs(X) > 29 * s) & (
            Y > -35 * s) & (Y < 15 * s)
        v[grey] = p.grey_hu
        # Deep grey nuclei.
        for side in (-1.0, 1.0):
            for c, a, hv in (((12, -16, 10), (6, 12, 9), -1.5), ((22, -4, 0), (7, 15, 9), -2.5),
                             ((10, 12, 3), (9, 13, 9), -3.0)):
                q = _ellipsoid(X, Y, Z, (side * c[0] * s, c[1] * s, c[2] * s),
                               (a[0] * s, a[1] * s, a[2] * s))
                v[q < 1] = p.grey_hu + hv
        # Posterior fossa: cerebellum with folia, brainstem.
        tent = self.tentorium_z(Y)
        post = (Z < tent) & (Y > self.step_y(X))
        folia = np.abs(self.folia_field(X, Y, Z)) < 0.12 + 0.1 * p.atrophy
        v[post] = p.grey_hu - 3.0
        stem_y = 6.0 * s
        stem = _ellipsoid(X, Y, Z, (0, stem_y + 8 * s, -48 * s), (14 * s, 12 * s, 40 * s)) < 1
        midbrain = _ellipsoid(X, Y, Z, (0, 8 * s, -18 * s), (13 * s, 12 * s, 10 * s)) < 1
        v[stem | midbrain] = p.white_hu + 4.0
        csf = np.zeros(idx.shape, bool)
        csf |= post & folia & ~stem & (bd > 0)
        csf |= (sulcus | fissure | sylvian) & ~post
        csf |= bd <= 0
        # Cisterns: suprasellar, perimesencephalic ring, prepontine, cisterna magna.
        ring = (_ellipsoid(X, Y, Z, (0, 8 * s, -18 * s), (17 * s, 16 * s, 11 * s)) < 1) & ~midbrain
        supra = _ellipsoid(X, Y, Z, (0, -10 * s, -25 * s), (11 * s, 7 * s, 4 * s)) < 1
        prepontine = (_ellipsoid(X, Y, Z, (0, 4 * s, -50 * s), (10 * s, 5 * s, 25 * s)) < 1) & ~stem
        magna = _ellipsoid(X, Y, Z, (0, 62 * s, -78 * s), (14 * s, 14 * s, 10 * s)) < 1
        cisterns = ring | supra | prepontine | magna
        csf |= cisterns
        # Ventricles.
        vs = 0.75 + 0.9 * p.atrophy
        vent = np.zeros(idx.shape, bool)
        for side in (-1.0, 1.0):
            pts = [(side * 7, -30, 12), (side * 7, -8, 18), (side * 12, 14, 18),
                   (side * 20, 30, 8), (side * 21, 46, 3)]
            rad = [(3.0, 7.0), (4.0, 6.0), (4.0, 5.5), (6.5, 7.5), (3.0, 3.0)]
            for a, b, ra, rb in zip(pts[:-1], pts[1:], rad[:-1], rad[1:], strict=True):
                q = _segment_q(X, Y, Z, np.array(a) * s, np.array(b) * s,
                               (ra[0] * vs, ra[1] * vs), (rb[0] * vs, rb[1] * vs))
                vent |= q < 1
            q = _segment_q(X, Y, Z, np.array((side * 20, 30, 8)) * s,
                           np.array((side * 30, 4, -18)) * s, (3.0 * vs, 3.0 * vs),
                           (1.6 * vs, 2.0 * vs))
            vent |= q < 1
        third = _ellipsoid(X, Y, Z, (0, 1 * s, -4 * s), (1.3 + 2.0 * p.atrophy, 13 * s, 10 * s)) < 1
        fourth = _ellipsoid(X, Y, Z, (0, 30 * s, -55 * s), (7 * s, 4 * s, 7 * s)) < 1
        vent |= third | fourth
        csf |= vent
        v[csf] = p.csf_hu
        t[csf] = 1
        t[vent] = 3
        # Dura: falx and tentorium (thin dense sheets).
        falx = upper & (np.abs(X) < 0.55)
        tentor = (np.abs(Z - tent) < 0.55) & (Y > self.step_y(X)) & (np.abs(X) > 0)
        v[falx | tentor] = 58.0
        t[falx | tentor] = 1
        # Calcifications (hyperdense distractors).
        if p.choroid_calc_hu > 0:
            for side in (-1.0, 1.0):
                q = _ellipsoid(X, Y, Z, (side * 21 * s, 31 * s, 6 * s), (3.5, 4.5, 3.5))
                v[q < 1] = p.choroid_calc_hu
        if p.pineal_calc_hu > 0:
            q = _ellipsoid(X, Y, Z, (0, 17 * s, 0), (3.0, 3.5, 3.0))
            v[q < 1] = p.pineal_calc_hu
        if p.falx_calc_hu > 0:
            for py, pz, pr in self.falx_plaques:
                q = _ellipsoid(X, Y, Z, (0, py, pz), (1.2, pr, pr * 0.7))
                v[q < 1] = p.falx_calc_hu
        if p.bg_calc_hu > 0:
            for side in (-1.0, 1.0):
                q = _ellipsoid(X, Y, Z, (side * 18 * s, -3 * s, -1 * s), (3.0, 4.0, 3.0))
                v[q < 1] = p.bg_calc_hu
        v += (1.2 * mottle + cup) * (t == 2)
        hu[idx] = v
        tissue[idx] = t
