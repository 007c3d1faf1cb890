"""The normal head: tissue HU as an implicit function of head-frame position (mm).

Head frame: x towards the patient's left, y posterior, z superior (LPS), origin near the
centre of the brain (level of the third ventricle). Rendering works on a
:class:`~ichbench.phantom.lattice.Lattice` of points, so a case is made slab by slab at any
resolution.

Layers from outside in: air, scalp (skin, thin fat, galea; temporalis laterally), skull
(outer table, diploe, inner table; thickness varies, thin temporal squama), subarachnoid
CSF, cortex with sulci, white matter, deep grey nuclei, lateral/third/fourth ventricles,
falx and tentorium, cisterns, posterior fossa (cerebellum with folia, brainstem), skull base
(bowl-shaped fossae, dense petrous ridges, sella), orbits and air sinuses below it.
Hyperdense distractors: calcified choroid plexus, pineal, falx plaques, basal ganglia.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ichbench.phantom.fields import Field
from ichbench.phantom.lattice import Lattice

AIR = -1000.0
#: Tissue codes returned with the HU (used by the hemorrhage shapes).
OUTSIDE, CSF, BRAIN, VENTRICLE = 0, 1, 2, 3
#: Region codes of the ground-truth tissue map (for HU statistics per tissue).
REGIONS = {0: "air", 1: "soft tissue", 2: "bone", 3: "CSF", 4: "grey matter",
           5: "white matter", 6: "ventricle", 7: "calcification", 8: "blood", 9: "edema",
           10: "fat", 11: "dura", 12: "venous sinus"}


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
    sinus_hu: float          # dural venous sinuses (dense with a high haematocrit)


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
        sinus_hu=float(rng.uniform(44.0, 64.0)),
    )


def _sig(v: np.ndarray, width: float) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(v / width))


def ellipsoid(x, y, z, c, axes):  # type: ignore[no-untyped-def]
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
        self.axes_in = np.array([66.0, 84.0, 70.0, 92.0], np.float32) * s
        self.cy = 4.0 * s
        self.shape_field = Field(rng, 22.0)
        self.thick_field = Field(rng, 16.0)
        self.diploe_field = Field(rng, 1.6)
        self.sulcus_field = Field(rng, 5.0)
        self.sulcus_depth_field = Field(rng, 8.0)
        self.folia_field = Field(rng, 2.2)
        self.mottle_field = Field(rng, 2.5)
        self.air_field = Field(rng, 2.5)
        n_plaques = int(rng.integers(1, 4))
        self.falx_plaques = [(float(rng.uniform(-40, 40)) * s, float(rng.uniform(25, 55)) * s,
                              float(rng.uniform(4, 9))) for _ in range(n_plaques)]
        self.top_mm = float(self.axes_in[2])

    # -- geometry --------------------------------------------------------------------------
    def _shape(self, x, y, z):  # type: ignore[no-untyped-def]
        """Relative bumpiness of the skull, read on a sphere (smooth in direction)."""
        yy = y - self.cy
        r = np.sqrt(x * x + yy * yy + z * z) + 1e-3
        return self.shape_field(x / r * 70.0, yy / r * 80.0, z / r * 70.0)

    def depth(self, lat: Lattice) -> np.ndarray:
        """Depth below the inner table along the ray from the cranial centre (mm).

        Negative outside the inner table (= distance outward).
        """
        x, y, z = lat.x, lat.y, lat.z
        ax, ay, azu, azd = self.axes_in
        az = np.where(z >= 0, azu, azd)
        yy = y - self.cy
        r = np.sqrt(x * x + yy * yy + z * z) + 1e-3
        u = np.sqrt((x / ax) ** 2 + (yy / ay) ** 2 + (z / az) ** 2)
        u = u / (1.0 + 0.025 * lat.field(self._shape))
        return r * (1.0 - u) / u

    def floor_z(self, x, y):  # type: ignore[no-untyped-def]
        """Height of the cranial floor (mm): anterior, middle and posterior fossae.

        Orbital roofs bulge upwards, the middle fossae are bowls either side of the sella,
        the posterior fossa is the deepest bowl behind the petrous ridges.
        """
        s = self.s
        ax = np.abs(x)
        anterior = (-25.0 + 9.0 * np.exp(-((ax - 27 * s) / (12 * s)) ** 2
                            - ((y + 45 * s) / (24 * s)) ** 2)
                    - 4.0 * np.exp(-(ax / (7 * s)) ** 2)) * s
        middle_lat = (-48.0 + 0.028 / s * (ax - 38 * s) ** 2 + 0.02 / s * (y + 2 * s) ** 2) * s
        sella = (-30.0 - 6.0 * np.exp(-((ax / 6) ** 2 + ((y + 6 * s) / 6) ** 2))) * s
        lat = _sig(ax - 19.0 * s, 3.0)
        middle = np.minimum(lat * middle_lat + (1 - lat) * sella, -22.0 * s)
        posterior = (-80.0 + 0.006 / s * ax ** 2 + 0.009 / s * (y - 50 * s) ** 2) * s
        posterior = np.where(ax ** 2 + (y - 28 * s) ** 2 < (15 * s) ** 2, -140.0, posterior)
        a = _sig(y + 12.0 * s + 0.005 / s * ax ** 2, 2.5)    # lesser sphenoid wings
        p = _sig(y - self.step_y(x), 1.5)
        return ((1 - a) * anterior + a * middle) * (1 - p) + p * posterior

    def step_y(self, x):  # type: ignore[no-untyped-def]
        """Petrous ridge / clivus line: the front of the posterior fossa (y, mm)."""
        return (6.0 + 0.5 * np.abs(x)) * self.s

    def tentorium_z(self, y):  # type: ignore[no-untyped-def]
        """Height of the tentorium above the cerebellum (posterior fossa roof), mm."""
        return (-22.0 - 0.38 * np.clip(y - 8.0 * self.s, 0, None)) * self.s

    def envelope(self, x, y, z):  # type: ignore[no-untyped-def]
        """Boolean, conservative: maybe inside the skin (head and neck); cheap (no fields)."""
        ax, ay, azu, azd = self.axes_in
        pad = self.p.skull_mm * 1.6 + self.p.scalp_mm * 1.8 + 6.0
        az = np.where(z >= 0, azu, azd) + pad
        head = ((x / (ax + pad)) ** 2 + ((y - self.cy) / (ay + pad)) ** 2 + (z / az) ** 2) < 1
        neck = (((x / (58 * self.s)) ** 2 + ((y - 8 * self.s) / (62 * self.s)) ** 2) < 1) & (
            z < -70 * self.s)
        return head | neck

    # -- rendering -------------------------------------------------------------------------
    def render(self, lat: Lattice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """HU, tissue code, depth below the inner table and region code at every point.

        Brain structures are read at the displaced positions ``lat.src`` (mass effect);
        skull, scalp and the cavity outline at the true positions.
        """
        p, s = self.p, self.s
        x, y, z = lat.x, lat.y, lat.z
        hu = np.full(x.shape, AIR, np.float32)
        tissue = np.zeros(x.shape, np.int8)
        region = np.zeros(x.shape, np.uint8)
        depth = self.depth(lat)
        out = -depth
        thick = p.skull_mm * (1.0 + 0.25 * lat.field(self.thick_field))
        thick = thick * (1.0 - 0.45 * np.exp(-((np.abs(x) - 60 * s) / 16.0) ** 2)
                         * np.exp(-((z + 8 * s) / 22.0) ** 2))      # thin temporal squama
        thick = np.clip(thick, 1.8, None)
        temporalis = np.exp(-((np.abs(x) - 55 * s) / 18) ** 2) * np.exp(-((z - 0 * s) / 28) ** 2)
        scalp = p.scalp_mm * (1.0 + 1.0 * temporalis)
        neck = (((x / (58 * s)) ** 2 + ((y - 8 * s) / (62 * s)) ** 2) < 1) & (z < -70 * s)
        env = (out < thick + scalp) | neck
        fz = self.floor_z(x, y)
        # The face (orbits, nose, sinuses) lies in front of and below the anterior fossa:
        # no vault there, the face renderer fills it.
        face = (y < -34 * s) & (z < -30 * s) & (out >= -1.0)
        vault = ~face & (z > fz - 12.0 * s)     # the vault ends at the skull base
        # Scalp: skin, a thin fat layer, galea and muscle.
        from_skin = thick + scalp - out
        in_scalp = env & (out >= thick) & vault
        hu[in_scalp] = np.where(from_skin[in_scalp] < 1.2, 40.0,
                                np.where(from_skin[in_scalp] < 1.2 + 0.3 * scalp[in_scalp]
                                         * (1 - temporalis[in_scalp]), -60.0, 45.0))
        region[in_scalp] = np.where(hu[in_scalp] < 0, 10, 1)
        # Vault: outer table, diploe, inner table.
        in_bone = env & (out >= 0) & (out < thick) & vault
        tb = np.clip(0.25 * thick, 0.9, 2.2)
        dip = 700.0 + 220.0 * lat.field(self.diploe_field)
        hu[in_bone] = np.where((out < tb) | (out > thick - tb), 1800.0, dip)[in_bone]
        region[in_bone] = 2
        inside = env & (depth > 0)
        cavity = inside & (z > fz)
        below = env & ~cavity & ~in_bone & ~in_scalp
        hu[below] = 45.0
        # Skull base: floor bone, dense petrous ridges / clivus, pneumatised parts.
        floor_bone = below & (z > fz - 2.2 * s) & (depth > -2)
        sy = self.step_y(x)
        petrous = (below & (np.abs(y - sy) < 5.5 * s) & (z > -82 * s) & (z < -36 * s)
                   & (np.abs(x) > 9 * s) & (np.abs(x) < 58 * s))
        clivus = below & (np.abs(x) < 10 * s) & (np.abs(y - (sy + 2 * s) + 0.35 * (z + 40 * s))
                                                  < 6 * s) & (z > -95 * s) & (z < -32 * s)
        hu[floor_bone] = 1100.0 + 350.0 * lat.field(self.diploe_field)[floor_bone]
        hu[petrous | clivus] = 1950.0
        region[below] = 2
        self._face(lat, hu, below & ~floor_bone & ~petrous & ~clivus,
                   (out > thick + scalp - 3.0) & (out < thick + scalp))
        region[below] = np.select([hu[below] <= -500, hu[below] < -30, hu[below] >= 300],
                                  [0, 10, 2], 1)
        if p.frontal_sinus:
            fs = in_bone & (ellipsoid(x, y, z, (0, -80 * s, -12 * s), (20 * s, 10 * s, 13 * s))
                            < 1) & (out > 1.0) & (out < thick - 1.0)
            hu[fs] = AIR
            region[fs] = 0
        if cavity.any():
            self._brain(lat, np.flatnonzero(cavity), depth, fz, hu, tissue, region)
        return hu, tissue, depth, region

    def _face(self, lat: Lattice, hu: np.ndarray, region: np.ndarray,
              skin: np.ndarray) -> None:
        s = self.s
        if not region.any():
            return
        idx = np.flatnonzero(region)
        xi, yi, zi = lat.x[idx], lat.y[idx], lat.z[idx]
        v = np.full(idx.shape, 45.0, np.float32)
        cells = lat.field(self.air_field)[idx]
        for side in (-1.0, 1.0):
            orbit = ellipsoid(xi, yi, zi, (side * 31 * s, -60 * s, -42 * s),
                              (16 * s, 24 * s, 15 * s))
            v[orbit < 1] = -90.0
            v[(orbit < 1.07) & (orbit >= 1)] = 800.0          # thin orbital wall
            globe = ellipsoid(xi, yi, zi, (side * 31 * s, -70 * s, -42 * s), (12 * s,) * 3)
            v[globe < 1] = 12.0
            v[(globe < 1) & (globe > 0.93)] = 40.0             # sclera
            mast = ellipsoid(xi, yi, zi, (side * 50 * s, 30 * s, -62 * s),
                             (11 * s, 13 * s, 13 * s))
            v[(mast < 1) & (cells > 0.1)] = AIR
            v[(mast < 1) & (cells <= 0.1)] = 900.0
        sinus = ((ellipsoid(xi, yi, zi, (0, -50 * s, -80 * s), (27 * s, 16 * s, 20 * s)) < 1)
                 | (ellipsoid(xi, yi, zi, (0, -20 * s, -48 * s), (13 * s, 11 * s, 9 * s)) < 1)
                 | (ellipsoid(xi, yi, zi, (0, -52 * s, -40 * s), (9 * s, 18 * s, 10 * s)) < 1))
        v[sinus] = AIR
        v[sinus & (np.abs(cells) < 0.1)] = 600.0              # ethmoid septa
        vert = ellipsoid(xi, yi, zi, (0, 22 * s, -120 * s), (15 * s, 15 * s, 300))
        v[vert < 1] = 350.0
        v[(vert < 1) & (vert > 0.82)] = 1200.0
        airway = ellipsoid(xi, yi, zi, (0, -18 * s, -130 * s), (9 * s, 7 * s, 45 * s))
        v[airway < 1] = AIR
        v[skin[idx]] = 45.0                                     # cheeks and nose close it
        hu[idx] = v

    def _brain(self, lat: Lattice, idx: np.ndarray, depth: np.ndarray, fz: np.ndarray,
               hu: np.ndarray, tissue: np.ndarray, region: np.ndarray) -> None:
        p, s = self.p, self.s
        X, Y, Z = (c[idx] for c in lat.src)
        dsurf = np.minimum(depth[idx], lat.z[idx] - fz[idx])
        gap = 0.6 + 2.6 * p.atrophy                      # subarachnoid CSF over the brain
        bd = dsurf - gap                                 # depth into the brain
        cup = 4.0 * np.exp(-np.clip(dsurf, 0, None) / 5.0)   # beam-hardening cupping
        v = np.full(idx.shape, p.white_hu, np.float32)
        t = np.full(idx.shape, BRAIN, np.int8)
        mottle = lat.field(self.mottle_field, src=True)[idx]
        # Cortex and sulci: CSF sheets from the surface, lined by grey matter.
        sf = np.abs(lat.field(self.sulcus_field, src=True)[idx])
        sdepth = (14.0 + 5.0 * lat.field(self.sulcus_depth_field, src=True)[idx]) * s
        sw = 0.09 + 0.14 * p.atrophy
        grey = (bd < 2.6) | ((sf < sw + 0.32) & (bd < sdepth + 2.0))
        sulcus = (sf < sw * np.clip(1.2 - bd / sdepth, 0.3, 1.0)) & (bd < sdepth)
        # Interhemispheric fissure (above the callosum; full height at the poles).
        cc_z = 20.0 * s - 1e3 * _sig(np.abs(Y - 2 * s) - 40.0 * s, 3.0)
        tent = self.tentorium_z(Y)
        upper = Z > np.maximum(cc_z, tent)
        fis_w = 0.8 + 1.8 * p.atrophy
        fissure = upper & (np.abs(X) < fis_w)
        grey |= upper & (np.abs(X) < fis_w + 3.0)
        # Sylvian fissures: the insular cistern (a near-sagittal sheet lateral to the insula)
        # and its stem opening to the lateral surface.
        ax_ = np.abs(X)
        zband = (Z > -14 * s) & (Z < 12 * s)
        ins_x = (36.0 + 0.08 * Y / s) * s
        insular = zband & (np.abs(ax_ - ins_x) < 0.7 + 1.8 * p.atrophy) & (Y > -24 * s) & (
            Y < 12 * s)
        wobble = 2.5 * lat.field(self.sulcus_depth_field, src=True)[idx]
        stem_d = np.abs((ax_ - 36 * s) * 0.35 + (Y + 16 * s) * 0.94 + wobble)
        stem = (Z > -14 * s) & (Z < 2 * s) & (ax_ > 36 * s) & (stem_d < 0.5 + 1.4 * p.atrophy)
        sylvian = insular | stem
        grey |= zband & (np.abs(ax_ - ins_x) < 4.5) & (Y > -26 * s) & (Y < 14 * s)
        grey |= (Z > -16 * s) & (Z < 4 * s) & (ax_ > 34 * s) & (stem_d < 4.0)
        v[grey] = p.grey_hu
        r = np.where(grey, 4, 5).astype(np.uint8)
        # Deep grey nuclei: caudate head, lentiform nucleus, thalamus.
        for side in (-1.0, 1.0):
            for c, a, dv in (((11, -16, 10), (5, 11, 9), -1.5), ((22, -4, 0), (6, 15, 9), -2.5),
                             ((10, 12, 3), (9, 13, 9), -3.0)):
                q = ellipsoid(X, Y, Z, (side * c[0] * s, c[1] * s, c[2] * s),
                              (a[0] * s, a[1] * s, a[2] * s))
                v[q < 1] = p.grey_hu + dv
                r[q < 1] = 4
        # Posterior fossa: cerebellum with folia; brainstem.
        post = (Z < tent) & (Y > self.step_y(X))
        folia = np.abs(lat.field(self.folia_field, src=True)[idx]) < 0.05 + 0.07 * p.atrophy
        v[post] = p.grey_hu - 2.0
        r[post] = 4
        v[post & (np.abs(lat.field(self.folia_field, src=True)[idx]) > 1.1)] = p.white_hu + 2
        stem = ellipsoid(X, Y, Z, (0, 14 * s, -50 * s), (14 * s, 12 * s, 40 * s)) < 1
        midbrain = ellipsoid(X, Y, Z, (0, 8 * s, -18 * s), (13 * s, 12 * s, 10 * s)) < 1
        v[stem | midbrain] = p.white_hu + 4.0
        r[stem | midbrain] = 5
        csf = (post & folia & ~stem & (bd > 2)) | ((sulcus | fissure | sylvian) & ~post)
        csf |= bd <= 0
        # Cisterns: perimesencephalic ring, suprasellar, prepontine, cisterna magna.
        ring = (ellipsoid(X, Y, Z, (0, 8 * s, -18 * s), (16 * s, 15 * s, 11 * s)) < 1) & ~midbrain
        supra = ellipsoid(X, Y, Z, (0, -10 * s, -25 * s), (11 * s, 7 * s, 4 * s)) < 1
        prepontine = (ellipsoid(X, Y, Z, (0, 0, -50 * s), (10 * s, 5 * s, 25 * s)) < 1) & ~stem
        magna = ellipsoid(X, Y, Z, (0, 64 * s, -76 * s), (14 * s, 12 * s, 10 * s)) < 1
        csf |= ring | supra | prepontine | magna
        # Ventricles: lateral (frontal horn, body, atrium, occipital and temporal horns),
        # third and fourth.
        vs = 0.75 + 0.9 * p.atrophy
        vent = np.zeros(idx.shape, bool)
        for side in (-1.0, 1.0):
            pts = [(side * 6, -30, 12), (side * 6.5, -8, 18), (side * 12, 14, 18),
                   (side * 20, 30, 8), (side * 21, 46, 3)]
            rad = [(2.6, 6.5), (3.6, 5.5), (4.0, 5.0), (6.5, 7.5), (2.5, 2.5)]
            for a, b, ra, rb in zip(pts[:-1], pts[1:], rad[:-1], rad[1:], strict=True):
                q = _segment_q(X, Y, Z, np.array(a) * s, np.array(b) * s,
                               (ra[0] * vs, ra[1] * vs), (rb[0] * vs, rb[1] * vs))
                vent |= q < 1
            q = _segment_q(X, Y, Z, np.array((side * 20, 30, 8)) * s,
                           np.array((side * 30, 4, -18)) * s, (3.0 * vs, 3.0 * vs),
                           (1.5 * vs, 2.0 * vs))
            vent |= q < 1
        vent |= ellipsoid(X, Y, Z, (0, 1 * s, -4 * s), (1.1 + 2.2 * p.atrophy, 13 * s, 10 * s)) < 1
        vent |= ellipsoid(X, Y, Z, (0, 32 * s, -55 * s), (7 * s, 4 * s, 7 * s)) < 1
        csf |= vent
        v[csf] = p.csf_hu
        t[csf] = CSF
        t[vent] = VENTRICLE
        r[csf] = 3
        r[vent] = 6
        # Dura: falx and tentorium (thin dense sheets).
        falx = upper & (np.abs(X) < 0.5)
        tentor = (np.abs(Z - tent) < 0.5) & (Y > self.step_y(X))
        v[falx | tentor] = 62.0
        r[falx | tentor] = 11
        # Dural venous sinuses: superior sagittal (a triangle under the vertex midline),
        # transverse (along the tentorium's occipital attachment), straight sinus.
        near = dsurf < 7.0
        sss = upper & near & (np.abs(X) < 0.6 * (7.0 - dsurf)) & (Y > -60 * s)
        transverse = near & (np.abs(Z - tent) < 3.5) & (Y > 45 * s)
        straight = (np.abs(X) < 2.5) & (np.abs(Z - tent - 2.0) < 2.5) & (Y > 22 * s) & (
            Y < 62 * s)
        venous = sss | transverse | straight
        v[venous] = p.sinus_hu
        r[venous] = 12
        # Calcifications (hyperdense distractors).
        calc = []
        if p.choroid_calc_hu > 0:
            calc += [((side * 21 * s, 31 * s, 6 * s), (3.2, 4.2, 3.2), p.choroid_calc_hu)
                     for side in (-1.0, 1.0)]
        if p.pineal_calc_hu > 0:
            calc.append(((0, 17 * s, 0), (2.8, 3.2, 2.8), p.pineal_calc_hu))
        if p.falx_calc_hu > 0:
            calc += [((0, py, pz), (1.0, pr, pr * 0.6), p.falx_calc_hu)
                     for py, pz, pr in self.falx_plaques]
        if p.bg_calc_hu > 0:
            calc += [((side * 18 * s, -3 * s, -1 * s), (2.5, 4.0, 2.5), p.bg_calc_hu)
                     for side in (-1.0, 1.0)]
        for c, a, value in calc:
            inside_calc = ellipsoid(X, Y, Z, c, a) < 1
            v[inside_calc] = value
            r[inside_calc] = 7
        v += (1.3 * mottle + cup) * (t == BRAIN)
        hu[idx] = v
        tissue[idx] = t
        region[idx] = r
