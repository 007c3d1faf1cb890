"""Acquisition: head placement, thin-slice rendering, thick slices, blur, streaks, noise.

One case in, (CT, label, geometry) out.

Each thick slice is rendered as several thin sub-slices (about 1.2 mm apart) that are
averaged, so structures cut obliquely by a 5 mm slice show partial volume (the skull base
reads 60-200 HU over brain, small bleeds fade). The label is the hemorrhage fraction of a
voxel thresholded at one half, on the thick grid; a labelled voxel holds its subtype's code
(BHSD's 1 EDH, 2 IPH, 3 IVH, 4 SAH, 5 SDH; :func:`~ichbench.phantom.lesions.subtype_codes`
says which where subtypes meet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from ichbench.io.volumes import Geometry
from ichbench.phantom.anatomy import AnatomyParams, Head, sample_anatomy
from ichbench.phantom.lattice import Lattice
from ichbench.phantom.lesions import (
    SUBTYPE_CODES,
    Lesion,
    LesionParams,
    sample_lesions,
    subtype_codes,
)

#: Presets: in-plane matrix size and how many sub-samples per voxel side in-plane.
PRESETS = {"full": {"matrix": 512, "factor": 1, "supersample": 1},
           "small": {"matrix": 128, "factor": 4, "supersample": 2}}
EDEMA_DROP_HU = 11.0


@dataclass(frozen=True)
class ScanParams:
    """Acquisition parameters of one case (full-preset grid; ``small`` coarsens in-plane)."""

    spacing_mm: float          # in-plane, full preset
    slice_mm: float
    n_slices: int
    direction: str             # "identity", "tilt" (oblique header) or "flip" (x, y reversed)
    tilt_deg: float            # header tilt about x (direction "tilt")
    pose_deg: tuple[float, float, float]   # head rotation about x (pitch), y (roll), z (yaw)
    center_mm: tuple[float, float, float]  # scanner position of the grid centre
    top_margin_mm: float
    noise_hu: float
    blur_mm: float


@dataclass(frozen=True)
class CaseParams:
    """Everything that defines a case; sampled once from the case seed."""

    anatomy: AnatomyParams
    lesions: tuple[LesionParams, ...]
    scan: ScanParams

    def as_dict(self) -> dict[str, object]:
        """Plain-JSON form (recorded in the dataset manifest)."""
        return {"anatomy": asdict(self.anatomy), "scan": asdict(self.scan),
                "lesions": [les.as_dict() for les in self.lesions]}


def sample_scan(rng: np.random.Generator, scale: float) -> ScanParams:
    """Draw acquisition parameters like the INSTANCE scans (header varies per case)."""
    thick = rng.random() < 0.08
    slice_mm = float(rng.uniform(5.5, 7.5) if thick else rng.uniform(4.3, 5.4))
    long_scan = rng.random() < 0.08
    # Coverage from above the vertex to below the foramen magnum; a few scans go further.
    coverage = rng.uniform(230, 340) if long_scan else max(rng.normal(178, 12), 150.0)
    n = int(np.clip(round(coverage / slice_mm), 20, 70))
    spacing = float(rng.uniform(0.37, 0.6))
    spacing = max(spacing, 190.0 * scale / 512.0 * 1.02)   # keep the head in the field
    kind = str(rng.choice(["identity", "tilt", "flip"], p=[0.84, 0.08, 0.08]))
    pitch = rng.normal(0, 5.0) + (rng.choice([-1, 1]) * rng.uniform(10, 22)
                                  if rng.random() < 0.15 else 0.0)
    roll = rng.normal(0, 2.5) + (rng.uniform(-10, 10) if rng.random() < 0.07 else 0.0)
    yaw = rng.normal(0, 2.5)
    center = (float(rng.uniform(-15, 15)), float(rng.uniform(-40, 10)),
              float(rng.uniform(-250, -100)))
    return ScanParams(spacing_mm=spacing, slice_mm=slice_mm, n_slices=n, direction=kind,
                      tilt_deg=float(rng.uniform(12, 25) * rng.choice([-1, 1])),
                      pose_deg=(float(pitch), float(roll), float(yaw)), center_mm=center,
                      top_margin_mm=float(rng.uniform(-2, 12)),
                      noise_hu=float(rng.uniform(3.0, 6.5)), blur_mm=float(rng.uniform(0.3, 0.55)))


def sample_case(seed: np.random.SeedSequence) -> tuple[CaseParams, np.random.SeedSequence]:
    """Case parameters, and the seed for the rendering randomness (fields, noise)."""
    params_seed, render_seed = seed.spawn(2)
    rng = np.random.default_rng(params_seed)
    anatomy = sample_anatomy(rng)
    lesions = tuple(sample_lesions(rng, anatomy.scale, anatomy.atrophy))
    scan = sample_scan(rng, anatomy.scale)
    return CaseParams(anatomy, lesions, scan), render_seed


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    ax, ay, az = np.radians(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def case_geometry(scan: ScanParams, preset: str,
                  head_top_mm: float) -> tuple[Geometry, np.ndarray, np.ndarray]:
    """(geometry, head→scanner rotation, head origin in scanner mm) for a preset."""
    cfg = PRESETS[preset]
    n_xy = cfg["matrix"]
    sp = scan.spacing_mm * cfg["factor"]
    if scan.direction == "tilt":
        direction = _rotation((scan.tilt_deg, 0.0, 0.0))
    elif scan.direction == "flip":
        direction = np.diag([-1.0, -1.0, 1.0])
    else:
        direction = np.eye(3)
    # Head pose: the grid follows an oblique header (gantry tilt), plus the patient's pose.
    rot = direction @ _rotation(scan.pose_deg) if scan.direction == "tilt" else _rotation(
        scan.pose_deg)
    spacing = np.array([sp, sp, scan.slice_mm])
    size = np.array([n_xy, n_xy, scan.n_slices])
    center = np.asarray(scan.center_mm)
    origin = center - direction @ (spacing * (size - 1) / 2.0)
    # Head origin: the top slice sits just above the vertex.
    top_of_grid = (scan.n_slices - 1) / 2.0 * scan.slice_mm
    head_z = top_of_grid - head_top_mm - scan.top_margin_mm
    head_origin = center + direction @ np.array([0.0, 8.0, head_z])
    geom = Geometry(size_xyz=tuple(int(v) for v in size),  # type: ignore[arg-type]
                    spacing_xyz_mm=tuple(float(v) for v in spacing),  # type: ignore[arg-type]
                    origin_mm=tuple(float(v) for v in origin),  # type: ignore[arg-type]
                    direction=tuple(float(v) for v in direction.ravel()))
    return geom, rot, head_origin


def render_case(params: CaseParams, render_seed: np.random.SeedSequence, preset: str, *,
                regions: bool = False,
                ) -> tuple[np.ndarray, np.ndarray, Geometry, dict[str, float], np.ndarray | None]:
    """Render one case.

    Returns
    -------
    ct : np.ndarray of int16, (z, y, x), HU
    label : np.ndarray of uint8, (z, y, x)
        0 background, else the hemorrhage's subtype code (:data:`SUBTYPE_CODES`, BHSD's
        convention); ``label > 0`` is the merged ICH mask, the same voxels as phantom v5's
        binary label.
    geometry : Geometry
    volumes_ml : dict
        Label volume per hemorrhage kind (overlaps counted in each) and ``"total"``.
    region_map : np.ndarray of uint8 or None
        With ``regions``: the tissue of each voxel (codes in
        :data:`ichbench.phantom.anatomy.REGIONS`), 255 where a voxel mixes tissues.
    """
    fields_seed, noise_seed = render_seed.spawn(2)
    frng = np.random.default_rng(fields_seed)
    nrng = np.random.default_rng(noise_seed)
    head = Head(params.anatomy, frng)
    lesions = [Lesion(lp, head, frng) for lp in params.lesions]
    scan = params.scan
    head_top = head.top_mm + params.anatomy.skull_mm + params.anatomy.scalp_mm
    geom, rot, head_origin = case_geometry(scan, preset, head_top)
    cfg = PRESETS[preset]
    ss = cfg["supersample"]
    n_sub = max(3, round(scan.slice_mm / 1.2))
    nz, ny, nx = geom.shape
    spacing = np.array(geom.spacing_xyz_mm)
    direction = np.array(geom.direction).reshape(3, 3)
    origin = np.array(geom.origin_mm)
    # Index (column, row, slice) → head frame: p = R^T (origin + D (s * idx) - head_origin).
    to_head = rot.T @ direction @ np.diag(spacing)
    shift = rot.T @ (origin - head_origin)
    d_xy = max(1, round(1.6 / (spacing[0] / ss)))
    coarse = (2 if n_sub >= 4 else 1, d_xy, d_xy)
    ct = np.empty((nz, ny, nx), np.int16)
    label = np.empty((nz, ny, nx), np.uint8)
    region_map = np.full((nz, ny, nx), 255, np.uint8) if regions else None
    kind_vox = dict.fromkeys((les.p.kind for les in lesions), 0)
    first = 0.5 / ss - 0.5
    for k in range(nz):
        lat = Lattice(to_head, shift, k + 0.5 / n_sub - 0.5, first, first,
                      (1.0 / n_sub, 1.0 / ss, 1.0 / ss), (n_sub, ny * ss, nx * ss), coarse)
        lat.coarse_mask = head.envelope(lat.cx, lat.cy, lat.cz)
        if lat.coarse_mask.any():
            hu, blood, per_kind, reg = _render_points(head, lesions, lat)
        else:  # above the vertex or beside the head: air only
            hu = np.full(lat.x.shape, -1000.0, np.float32)
            blood = np.zeros(lat.x.shape, bool)
            per_kind = {les.p.kind: blood for les in lesions}
            reg = np.zeros(lat.x.shape, np.uint8)
        pooled = (n_sub, ny, ss, nx, ss)
        hu_slice = hu.reshape(pooled).mean(axis=(0, 2, 4))
        # Hemorrhage = half the voxel or more is blood and almost none is bone (an
        # annotator does not outline the inner table's partial volume).
        clean = (reg == 2).reshape(pooled).mean(axis=(0, 2, 4)) < 0.15
        merged = (blood.reshape(pooled).mean(axis=(0, 2, 4)) >= 0.5) & clean
        if region_map is not None:
            r5 = reg.reshape(pooled)
            lo, hi = r5.min(axis=(0, 2, 4)), r5.max(axis=(0, 2, 4))
            region_map[k] = np.where(lo == hi, lo, 255)
        # share[c - 1] = fraction of the voxel's sub-samples inside subtype code c.
        share = np.zeros((len(SUBTYPE_CODES), ny, nx), np.float32)
        for kind, occ in per_kind.items():
            fraction = occ.reshape(pooled).mean(axis=(0, 2, 4))
            share[SUBTYPE_CODES[kind] - 1] = fraction
            kind_vox[kind] += int(((fraction >= 0.5) & clean).sum())
        label[k] = np.where(merged, subtype_codes(share), 0)
        hu_slice = _artifacts(hu_slice, spacing[0], scan, preset, nrng)
        ct[k] = np.clip(np.rint(hu_slice), -1024, 3071).astype(np.int16)
    vml = geom.voxel_volume_ml
    volumes = {kind: n * vml for kind, n in kind_vox.items()}
    volumes["total"] = float(np.count_nonzero(label)) * vml
    return ct, label, geom, volumes, region_map


def _render_points(head: Head, lesions: list[Lesion], lat: Lattice,
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
    def push(x, y, z):  # type: ignore[no-untyped-def]
        total = [np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)]
        for les in lesions:
            for acc, comp in zip(total, les.displacement(x, y, z), strict=True):
                acc += comp
        return total[0], total[1], total[2]

    lat.set_displacement(push)
    hu, tissue, depth, region = head.render(lat)
    blood = np.zeros(hu.shape, bool)
    per_kind = {les.p.kind: np.zeros(hu.shape, bool) for les in lesions}
    for les in lesions:
        b, edema = les.render(lat, tissue, depth)
        hu[edema & ~blood] = head.p.white_hu - EDEMA_DROP_HU
        region[edema & ~blood] = 9
        if b.any():
            hu[b] = les.hu(lat, b)
            region[b] = 8
        blood |= b
        per_kind[les.p.kind] |= b
    return hu, blood, per_kind, region


def _artifacts(sl: np.ndarray, spacing_mm: float, scan: ScanParams, preset: str,
               rng: np.random.Generator) -> np.ndarray:
    """Beam-hardening streaks near dense skull base, blur, correlated noise (one slice)."""
    head_mask = sl > -500
    dense = sl > 1300
    if dense.any() and head_mask.any():
        inner = ndimage.distance_transform_edt(head_mask) * spacing_mm > 28.0
        seeds = np.argwhere(dense & inner)
        if len(seeds) > 3:
            strength = min(1.0, len(seeds) * spacing_mm ** 2 / 250.0)
            yy, xx = np.mgrid[0:sl.shape[0], 0:sl.shape[1]].astype(np.float32)
            streak = np.zeros_like(sl)
            for _ in range(int(rng.integers(2, 6))):
                a, b = seeds[rng.integers(len(seeds), size=2)]
                ang = (np.arctan2(b[0] - a[0], b[1] - a[1]) if (a != b).any()
                       else rng.uniform(0, np.pi))
                ang += rng.normal(0, 0.15)
                nvec = np.array([np.cos(ang), -np.sin(ang)])
                dist = np.abs((yy - a[0]) * nvec[0] + (xx - a[1]) * nvec[1]) * spacing_mm
                # Along the line: full strength between the two dense spots, fading beyond.
                along = ((yy - (a[0] + b[0]) / 2) * nvec[1] - (xx - (a[1] + b[1]) / 2)
                         * nvec[0]) * spacing_mm
                half = 0.5 * float(np.hypot(*(b - a))) * spacing_mm
                fade = np.exp(-0.5 * (np.clip(np.abs(along) - half, 0, None) / 25.0) ** 2)
                amp = rng.uniform(-45, -12) if rng.random() < 0.7 else rng.uniform(8, 25)
                streak += (amp * strength * fade
                           * np.exp(-0.5 * (dist / rng.uniform(0.6, 1.6)) ** 2))
            sl = sl + streak * (head_mask & (sl < 300))
    sl = ndimage.gaussian_filter(sl, scan.blur_mm / spacing_mm)
    if preset == "full":
        sigma_n, corr = scan.noise_hu, 0.9
    else:
        sigma_n, corr = scan.noise_hu * 0.8, 0.6
    noise = ndimage.gaussian_filter(rng.standard_normal(sl.shape).astype(np.float32), corr)
    noise *= sigma_n / max(float(noise.std()), 1e-6)
    return sl + noise
