"""Augmentation of 2D training slices: parameters drawn apart from the transform, per epoch.

The coarse model's augmentation is the paper's (Albumentations' names: horizontal and
vertical flip, random gamma) plus an optional patch crop. What makes it replayable: every
random choice of an epoch (the slice order, each slice's flips, gamma and patch position)
is drawn by :func:`epoch_plan` from a generator seeded by ``(seed, epoch)`` *before* the
epoch runs, and recorded in :class:`AugmentParams`; :func:`apply_augment` and
:func:`crop_slice` then apply them deterministically. So an epoch can be replayed from its
number alone, and a fold resumed from a checkpoint draws what an uninterrupted fold would
have drawn (:mod:`ichbench.baselines.training`). NumPy only: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class AugmentParams:
    """The random choices for one training slice (sampled apart from applying them).

    Attributes
    ----------
    hflip, vflip
        Flip along x (left-right) / along y (anterior-posterior).
    gamma
        Exponent applied to the [0, 1] image, or None for no gamma change.
    crop
        Three uniforms in [0, 1) that place a training patch (:func:`crop_slice`): which
        ICH pixel it covers, then its row and column offset.
    on_foreground
        The slice was drawn as an ICH slice: its patch covers an ICH pixel.
    """

    hflip: bool
    vflip: bool
    gamma: float | None
    crop: tuple[float, float, float] = (0.0, 0.0, 0.0)
    on_foreground: bool = False


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and ranges of the paper's augmentation (Albumentations' names).

    ``gamma_range`` defaults to Albumentations' ``RandomGamma(gamma_limit=(80, 120))``,
    the library whose transform names the paper uses; the paper gives no range.
    """

    hflip_p: float = 0.5
    vflip_p: float = 0.5
    gamma_p: float = 0.8
    gamma_range: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self) -> None:
        for name in ("hflip_p", "vflip_p", "gamma_p"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"augment.{name}={value!r}: expected a probability in [0, 1]")
        low, high = self.gamma_range
        if not 0 < low <= high <= 10:
            raise ValueError(f"augment.gamma_range={list(self.gamma_range)!r}: expected "
                             "(low, high) with 0 < low <= high <= 10")


def sample_augment(rng: np.random.Generator, settings: AugmentSettings) -> AugmentParams:
    """Draw one slice's augmentation parameters (always the same number of draws)."""
    u = rng.random(3)
    gamma = float(rng.uniform(*settings.gamma_range))
    return AugmentParams(hflip=bool(u[0] < settings.hflip_p), vflip=bool(u[1] < settings.vflip_p),
                         gamma=gamma if u[2] < settings.gamma_p else None)


def apply_augment(image: np.ndarray, label: np.ndarray,
                  params: AugmentParams) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``params`` to an image in [0, 1] and its (y, x) label; gamma touches the image only.

    The image is (y, x) or (channel, y, x); every channel is flipped with the label.
    """
    if params.hflip:
        image, label = image[..., ::-1], label[:, ::-1]
    if params.vflip:
        image, label = image[..., ::-1, :], label[::-1, :]
    if params.gamma is not None:
        image = np.power(image, np.float32(params.gamma))
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def epoch_plan(seed: int, epoch: int, n_slices: int, settings: AugmentSettings, *,
               foreground: np.ndarray | None = None, samples: int | None = None,
               foreground_fraction: float = 0.0) -> tuple[np.ndarray, list[AugmentParams]]:
    """Slice order and augmentation parameters of ``epoch`` (1-based) for a fold's ``seed``.

    With ``samples=None`` (the paper) an epoch visits every slice once in random order.
    Otherwise it draws ``samples`` slices, of which ``round(foreground_fraction × samples)``
    come from the slices flagged in ``foreground`` and the rest from all slices (each group
    without replacement while it lasts). Why: ICH covers a few percent of a head's slices
    and ~0.2 % of its voxels, so a short CPU budget spent on uniform slices is mostly spent
    learning "background"; drawing a fixed share of lesion slices is nnU-Net's foreground
    oversampling carried over to 2D slices.
    """
    rng = np.random.default_rng([seed, epoch])
    if samples is None:
        order = rng.permutation(n_slices)
        from_fg = np.zeros(order.size, dtype=bool)
    else:
        fg = (np.flatnonzero(foreground) if foreground is not None
              else np.empty(0, dtype=np.int64))
        n_fg = round(foreground_fraction * samples) if fg.size else 0
        order = np.concatenate([_draw(rng, fg, n_fg),
                                _draw(rng, np.arange(n_slices), samples - n_fg)])
        perm = rng.permutation(order.size)
        order, from_fg = order[perm], (np.arange(order.size) < n_fg)[perm]
    params = [sample_augment(rng, settings) for _ in range(order.size)]
    # Patch positions from their own stream, so that the slice order and the flips and
    # gammas of a plan do not depend on whether the run crops.
    crops = np.random.default_rng([seed, epoch, 1]).random((order.size, 3))
    return order, [replace(p, crop=(float(c[0]), float(c[1]), float(c[2])),
                           on_foreground=bool(f))
                   for p, c, f in zip(params, crops, from_fg, strict=True)]


def crop_slice(image: np.ndarray, label: np.ndarray, params: AugmentParams,
               size: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` × ``size`` patch of a (y, x) or (channel, y, x) slice and its (y, x) label.

    The patch is placed by ``params.crop``.

    A slice drawn as an ICH slice gets a patch that holds one of its ICH pixels (label ≥ 0.5,
    chosen by ``crop[0]``) at a random position within the patch; any other slice a patch at
    a uniform position. Why: nnU-Net trains on patches, a share of them centred on
    foreground, and infers on whole images; a 64-pixel patch costs a quarter of a 128-pixel
    slice, so a budget buys four times the steps. (On the default synthetic data whole
    slices still did better at equal time, so the ``cpu`` preset does not crop.)
    """
    height, width = label.shape
    if size > min(height, width):
        raise ValueError(f"patch {size} larger than the slice {height} × {width}")
    pick, u_row, u_col = params.crop
    fg = np.flatnonzero(label >= 0.5) if params.on_foreground else np.empty(0, dtype=np.int64)
    if fg.size:
        row, col = divmod(int(fg[min(int(pick * fg.size), fg.size - 1)]), width)
        top = int(np.clip(row - int(u_row * size), 0, height - size))
        left = int(np.clip(col - int(u_col * size), 0, width - size))
    else:
        top, left = int(u_row * (height - size + 1)), int(u_col * (width - size + 1))
    return (image[..., top:top + size, left:left + size],
            label[top:top + size, left:left + size])


def _draw(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    """``n`` items of ``pool``: whole shuffled copies of it, then a partial one."""
    if n <= 0 or pool.size == 0:
        return np.empty(0, dtype=np.int64)
    reps, rest = divmod(n, pool.size)
    parts = [rng.permutation(pool) for _ in range(reps)] + [rng.permutation(pool)[:rest]]
    return np.concatenate(parts).astype(np.int64)


__all__ = ["AugmentParams", "AugmentSettings", "apply_augment", "crop_slice", "epoch_plan",
           "sample_augment"]
