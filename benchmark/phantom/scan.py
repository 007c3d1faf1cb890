"""Acquisition: head placement, thin-slice rendering, thick slices, blur, streaks, noise.

One case in, (CT, label, geometry) out.

Each thick slice is rendered as several thin sub-slices (about 1.2 mm apart) that are
averaged, so structures cut obliquely by a 5 mm slice show partial volume (the skull base
reads 60-200 HU over brain, small bleeds fade). The label is the hemorrhage fraction of a
voxel thresholded at one half, on the thick grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from ichbench.nifti import Geometry
from ichbench.phantom.anatomy import AnatomyParams, Head, sample_anatomy
from ichbench.phantom.lesions import Lesion, LesionParams, sample_lesions
from scipy import ndimage

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
    coverage = rng.uniform(230, 340) if long_scan else rng.normal(165, 22)
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
    lesions = tuple(sample_lesions(rng, anatomy.scale))
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


def render_case(params: CaseParams, render_seed: np.random.SeedSequence, preset: str,
                ) -> tuple[np.ndarray, np.ndarray, Geometry, dict[str, float]]:
    """Render one case.

    Returns
    -------
    ct : np.ndarray of int16, (z, y, x), HU
    label : np.ndarray of uint8, (z, y, x), 1 = hemorrhage
    geometry : Geometry
    volumes_ml : dict
        Label volume per hemorrhage kind (overlaps counted in each) and ``"total"``.
    """
    fields_seed, noise_seed = render_seed.spawn(2)
    frng = np.random.default_rng(fields_seed)
    nrng = np.random.default_rng(noise_seed)
    head = Head(params.anatomy, frng)
    lesions = [Lesion(lp, head, frng) for lp in params.lesions]
    scan = params.scan
    head_top = 70.0 * head.s + params.anatomy.skull_mm + params.anatomy.scalp_mm
    geom, rot, head_origin = case_geometry(scan, preset, head_top)
    cfg = PRESETS[preset]
    ss = cfg["supersample"]
    n_sub = max(3, round(scan.slice_mm / 1.2))
    nz, ny, nx = geom.shape
    spacing = np.array(geom.spacing_xyz_mm)
    direction = np.array(geom.direction).reshape(3, 3)
    origin = np.array(geom.origin_mm)
    # Index → head frame: p = R^T (origin + D (s * idx) - head_origin).
    to_head = rot.T @ direction @ np.diag(spacing)
    shift = rot.T @ (origin - head_origin)
    sub = (np.arange(ss) + 0.5) / ss - 0.5
    ii = (np.arange(nx)[:, None] + sub[None, :]).ravel()      # x index, x-fast per voxel
    jj = (np.arange(ny)[:, None] + sub[None, :]).ravel()
    kk_sub = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    ct = np.empty((nz, ny, nx), np.int16)
    label = np.empty((nz, ny, nx), np.uint8)
    kind_vox = {les.p.kind: 0 for les in lesions}
    grid_j, grid_i = np.meshgrid(jj, ii, indexing="ij")
    for k in range(nz):
        kk = k + kk_sub
        shape = (n_sub, ny * ss, nx * ss)
        kz = np.broadcast_to(kk[:, None, None], shape).ravel()
        jy = np.broadcast_to(grid_j[None], shape).ravel()
        ix = np.broadcast_to(grid_i[None], shape).ravel()
        pts = to_head @ np.stack([ix, jy, kz]) + shift[:, None]
        x, y, z = (pts[a].astype(np.float32) for a in range(3))
        hu, blood, per_kind = _render_points(head, lesions, x, y, z)
        hu_slice = hu.reshape(n_sub, ny, ss, nx, ss).mean(axis=(0, 2, 4))
        frac = blood.reshape(n_sub, ny, ss, nx, ss).mean(axis=(0, 2, 4))
        lab = frac >= 0.5
        for kind, occ in per_kind.items():
            kind_vox[kind] += int((occ.reshape(n_sub, ny, ss, nx, ss).mean(axis=(0, 2, 4))
                                   >= 0.5).sum())
        hu_slice = _artifacts(hu_slice, spacing[0], scan, preset, nrng)
        ct[k] = np.clip(np.rint(hu_slice), -1024, 3071).astype(np.int16)
        label[k] = lab
    vml = geom.voxel_volume_ml
    volumes = {kind: n * vml for kind, n in kind_vox.items()}
    volumes["total"] = float(label.sum()) * vml
    return ct, label, geom, volumes


def _render_points(head: Head, lesions: list[Lesion], x, y, z):  # type: ignore[no-untyped-def]
    hu = np.full(x.shape, -1000.0, np.float32)
    blood = np.zeros(x.shape, bool)
    per_kind = {les.p.kind: np.zeros(x.shape, bool) for les in lesions}
    env = head.envelope(x, y, z)
    idx = np.flatnonzero(env)
    if idx.size == 0:
        return hu, blood, per_kind
    xi, yi, zi = x[idx], y[idx], z[idx]
    dx = np.zeros_like(xi)
    dy = np.zeros_like(xi)
    dz = np.zeros_like(xi)
    for les in lesions:
        a, b, c = les.displacement(xi, yi, zi)
        dx += a
        dy += b
        dz += c
    src = (xi - dx, yi - dy, zi - dz)
    h, tissue, depth = head.render(xi, yi, zi, src)
    b_all = np.zeros(xi.shape, bool)
    for les in lesions:
        b, edema = les.render(xi, yi, zi, src, tissue, depth)
        h[edema & ~b_all] = head.p.white_hu - EDEMA_DROP_HU
        if b.any():
            h[b] = les.hu(xi[b], yi[b], zi[b])
        b_all |= b
        per_kind[les.p.kind][idx] |= b
    hu[idx] = h
    blood[idx] = b_all
    return hu, blood, per_kind


def _artifacts(sl: np.ndarray, spacing_mm: float, scan: ScanParams, preset: str,
               rng: np.random.Generator) -> np.ndarray:
    """Beam-hardening streaks near dense skull base, blur, correlated noise (one slice)."""
    head_mask = sl > -500
    dense = sl > 1300
    if dense.any() and head_mask.any():
        inner = ndimage.distance_transform_edt(head_mask) * spacing_mm > 18.0
        seeds = np.argwhere(dense & inner)
        if len(seeds) > 3:
            strength = min(1.0, len(seeds) * spacing_mm ** 2 / 150.0)
            yy, xx = np.mgrid[0:sl.shape[0], 0:sl.shape[1]].astype(np.float32)
            streak = np.zeros_like(sl)
            for _ in range(int(rng.integers(2, 6))):
                a, b = seeds[rng.integers(len(seeds), size=2)]
                ang = (np.arctan2(b[0] - a[0], b[1] - a[1]) if (a != b).any()
                       else rng.uniform(0, np.pi))
                ang += rng.normal(0, 0.15)
                nvec = np.array([np.cos(ang), -np.sin(ang)])
                dist = np.abs((yy - a[0]) * nvec[0] + (xx - a[1]) * nvec[1]) * spacing_mm
                amp = rng.uniform(-55, -15) if rng.random() < 0.7 else rng.uniform(10, 30)
                streak += amp * strength * np.exp(-0.5 * (dist / rng.uniform(0.8, 2.5)) ** 2)
            sl = sl + streak * (head_mask & (sl < 300))
    sl = ndimage.gaussian_filter(sl, scan.blur_mm / spacing_mm)
    if preset == "full":
        sigma_n, corr = scan.noise_hu, 0.9
    else:
        sigma_n, corr = scan.noise_hu * 0.5, 0.6
    noise = ndimage.gaussian_filter(rng.standard_normal(sl.shape).astype(np.float32), corr)
    noise *= sigma_n / max(float(noise.std()), 1e-6)
    return sl + noise
