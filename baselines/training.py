"""Training a 2D slice model for one fold: the epoch loop, early stopping, checkpoints.

The augmentation is :mod:`ichbench.baselines.augment`, the CUDA-only helpers (AMP, pinned
batches) :mod:`ichbench.baselines.amp`, the learning-curve figure
:mod:`ichbench.reports.learning_curve`.

Reproducibility is built in rather than bolted on: everything random in an epoch (the slice
order and every augmentation parameter) is drawn from a generator seeded by
``(seed, epoch)`` *before* the epoch runs
(:func:`~ichbench.baselines.augment.epoch_plan`), so an epoch can be replayed
from its number alone, and a run resumed from a checkpoint draws exactly what an
uninterrupted run would have drawn. Model initialisation uses ``torch.manual_seed(seed)``;
torch's RNG state is still saved and restored with every checkpoint.

A checkpoint (``checkpoint.pt``, written atomically after every epoch) holds the model, the
optimiser, the best weights so far, the epoch, the best validation Dice and its epoch, the
early-stopping counter, the history and the RNG states (and AMP's loss scale on CUDA): one
file, so it can never be half updated. At the end of the fold the best weights go to
``model.pt`` and ``result.json`` marks the fold finished.

On CUDA the loop uses what a GPU run needs: mixed precision (float16 autocast with a
gradient scaler), ``cudnn.benchmark`` (the input size is fixed) and batches copied from
pinned memory asynchronously. On the CPU none of these apply and the arithmetic is plain
float32, so CPU runs stay bit-reproducible.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ichbench.baselines.amp import autocast, backward_step, grad_scaler, to_device
from ichbench.baselines.augment import (
    AugmentParams,
    AugmentSettings,
    apply_augment,
    crop_slice,
    epoch_plan,
)
from ichbench.harness.config import check_ranges
from ichbench.io.atomic import atomic_path, write_json, write_text

HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_dc", "seconds")


# ----------------------------------------------------------------------------- data + loop
@dataclass(frozen=True)
class SliceSet:
    """Cases on the model grid, flattened to slices.

    Attributes
    ----------
    case_ids
        One id per case, in order.
    images
        ``(n_cases, z, channel, y, x)`` float32 in [0, 1]; ``(n_cases, z, y, x)`` is taken as
        one channel.
    labels
        ``(n_cases, z, y, x)`` float32 in [0, 1] (soft after resampling).
    """

    case_ids: tuple[str, ...]
    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.images.ndim == 4:
            object.__setattr__(self, "images", self.images[:, :, None])
        if self.images.ndim != 5 or (self.images.shape[:2] + self.images.shape[3:]
                                     != self.labels.shape):
            raise ValueError(f"slice set: images {self.images.shape} do not match labels "
                             f"{self.labels.shape}; expected (case, z, channel, y, x) and "
                             "(case, z, y, x)")

    @property
    def n_slices(self) -> int:
        """Number of 2D samples (cases × slices)."""
        return int(self.images.shape[0] * self.images.shape[1])

    def foreground_slices(self) -> np.ndarray:
        """Flattened (case, z) flags of the slices whose label has a voxel ≥ 0.5."""
        return (self.labels >= 0.5).any(axis=(2, 3)).reshape(-1)

    def slice(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Slice ``index`` of the flattened (case, z) order: image (channel, y, x), label (y, x)."""
        case, z = divmod(int(index), self.images.shape[1])
        return self.images[case, z], self.labels[case, z]


LR_SCHEDULES = ("constant", "poly")


@dataclass(frozen=True)
class TrainSettings:
    """The optimisation recipe of one fold (paper: BCE, Adam 4e-4, batch 2, 200/20).

    The defaults are the paper's; presets live in :data:`ichbench.baselines.coarse.PRESETS`.
    The seed and the device are not part of the recipe: :func:`train_fold` takes them.

    Attributes
    ----------
    epochs, patience, batch_size, lr
        Adam with BCE; early stopping on validation Dice after ``patience`` epochs without
        improvement; the best epoch's weights are kept.
    pos_weight
        Weight of foreground voxels in the training BCE (1: the paper's plain BCE).
    threshold
        Probability at or above which a voxel is ICH (validation Dice and final masks).
    predict_batch_size
        Slices per forward pass at inference.
    samples_per_epoch, foreground_fraction
        The slices of an epoch (:func:`epoch_plan`): ``None`` visits every slice once (the
        paper); otherwise ``samples_per_epoch`` draws, ``foreground_fraction`` of them from
        slices with ICH.
    dice_weight
        Adds that multiple of a batch soft-Dice loss to the BCE (0: the paper's BCE alone).
    patch_size
        Train on square patches of this edge (:func:`crop_slice`) instead of whole slices
        (``None``, the paper); validation and prediction still see whole slices, which a
        fully convolutional network allows. A multiple of the network's downsampling.
    lr_schedule
        ``"constant"`` (the paper's Adam at ``lr``) or ``"poly"``: epoch ``e`` of ``E`` runs
        at ``lr × (1 − (e − 1) / E) ** 0.9``, nnU-Net's decay, set per epoch so that a
        resumed fold runs at the rate an uninterrupted one would (:func:`epoch_lr`).
    """

    epochs: int = 200
    patience: int = 20
    batch_size: int = 2
    lr: float = 4e-4
    pos_weight: float = 1.0
    threshold: float = 0.5
    predict_batch_size: int = 16
    samples_per_epoch: int | None = None
    foreground_fraction: float = 0.0
    dice_weight: float = 0.0
    patch_size: int | None = None
    lr_schedule: str = "constant"

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"train.lr_schedule={self.lr_schedule!r}: expected one of "
                             f"{', '.join(LR_SCHEDULES)}")
        checks = [
            (self.epochs >= 1, "epochs", "≥ 1", self.epochs),
            (self.patience >= 1, "patience", "≥ 1", self.patience),
            (self.batch_size >= 1, "batch_size", "≥ 1", self.batch_size),
            (self.lr > 0, "lr", "> 0", self.lr),
            (self.pos_weight > 0, "pos_weight", "> 0", self.pos_weight),
            (0 < self.threshold < 1, "threshold", "in (0, 1)", self.threshold),
            (self.predict_batch_size >= 1, "predict_batch_size", "≥ 1",
             self.predict_batch_size),
            (self.samples_per_epoch is None or self.samples_per_epoch >= 1,
             "samples_per_epoch", "≥ 1 or null", self.samples_per_epoch),
            (0 <= self.foreground_fraction <= 1, "foreground_fraction", "in [0, 1]",
             self.foreground_fraction),
            (self.dice_weight >= 0, "dice_weight", "≥ 0", self.dice_weight),
            (self.patch_size is None or self.patch_size >= 1, "patch_size", "≥ 1 or null",
             self.patch_size),
        ]
        for ok, name, expected, found in checks:
            if not ok:
                raise ValueError(f"train.{name}={found!r}: expected {expected}")
        check_ranges("train.", [  # upper bounds no run can reach (issue 23)
            ("epochs", self.epochs, 1, 1_000_000), ("patience", self.patience, 1, 1_000_000),
            ("batch_size", self.batch_size, 1, 4096), ("lr", self.lr, 0, 10.0),
            ("pos_weight", self.pos_weight, 0, 1e6),
            ("predict_batch_size", self.predict_batch_size, 1, 4096),
            ("samples_per_epoch", self.samples_per_epoch, 1, 100_000_000),
            ("dice_weight", self.dice_weight, 0, 1000.0),
            ("patch_size", self.patch_size, 1, 4096),
        ])


def epoch_lr(settings: TrainSettings, epoch: int) -> float:
    """Learning rate of ``epoch`` (1-based) under ``settings.lr_schedule``."""
    if settings.lr_schedule == "poly":
        return settings.lr * (1.0 - (epoch - 1) / settings.epochs) ** 0.9
    return settings.lr


@dataclass(frozen=True)
class FoldResult:
    """Outcome of one fold's training."""

    best_epoch: int
    best_val_dc: float
    epochs_run: int
    stopped_early: bool
    seconds: float


def dice_grid(truth: np.ndarray, pred: np.ndarray) -> float:
    """Dice of two binary arrays; 1.0 when both are empty (used for model selection only)."""
    t, p = truth.astype(bool), pred.astype(bool)
    denom = int(t.sum()) + int(p.sum())
    return 1.0 if denom == 0 else 2.0 * int((t & p).sum()) / denom


@torch.no_grad()
def predict_volume(model: nn.Module, volume: np.ndarray, *, device: str,
                   batch_size: int = 16) -> np.ndarray:
    """Sigmoid probabilities (z, y, x) of a grid volume, one slice per sample (float32).

    ``volume`` is (z, channel, y, x), or (z, y, x) for one channel.
    """
    model.eval().to(memory_format=torch.channels_last)
    if volume.ndim == 3:
        volume = volume[:, None]
    out = np.empty(volume.shape[:1] + volume.shape[2:], dtype=np.float32)
    for start in range(0, volume.shape[0], batch_size):
        batch = to_device(volume[start:start + batch_size], device)
        with autocast(device):
            logits = model(batch)
        out[start:start + batch_size] = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
    return out


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 − soft Dice of the sigmoid over the whole batch (one pooled Dice, smooth 1)."""
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum()
    return 1.0 - (2.0 * inter + 1.0) / (prob.sum() + target.sum() + 1.0)


def _training_sample(train: SliceSet, index: int, params: AugmentParams,
                     settings: TrainSettings) -> tuple[np.ndarray, np.ndarray]:
    """Slice ``index`` of ``train``, or its patch when ``settings.patch_size`` is set."""
    image, label = train.slice(index)
    if settings.patch_size is None:
        return image, label
    return crop_slice(image, label, params, settings.patch_size)


def _evaluate(model: nn.Module, val: SliceSet, settings: TrainSettings, *,
              device: str) -> tuple[float, float]:
    """Validation BCE (mean over voxels) and mean per-case Dice on the model grid."""
    losses, dices = [], []
    for images, labels in zip(val.images, val.labels, strict=True):
        prob = predict_volume(model, images, device=device,
                              batch_size=settings.predict_batch_size)
        p = torch.from_numpy(prob).clamp(1e-7, 1 - 1e-7)
        losses.append(float(F.binary_cross_entropy(p, torch.from_numpy(labels))))
        dices.append(dice_grid(labels >= 0.5, prob >= settings.threshold))
    return float(np.mean(losses)), float(np.mean(dices))


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),  # noqa: NPY002 - saved, not used
                             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])  # noqa: NPY002 - restoring the legacy global state
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` with ``torch.save`` atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def load_checkpoint(path: Path, device: str) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own files, full pickle)."""
    try:
        return torch.load(path, map_location=device, weights_only=False)  # type: ignore[no-any-return]
    except Exception as exc:  # a torn or foreign file: say which and what to do
        raise RuntimeError(f"{path}: cannot read the checkpoint ({type(exc).__name__}: {exc}); "
                           "delete it to restart this fold from scratch") from None


def write_history(fold_dir: Path, history: list[dict[str, float]]) -> None:
    """``history.csv`` with :data:`HISTORY_COLUMNS`, atomically."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (row[k] if k == "epoch" else f"{row[k]:.6g}")
                         for k in HISTORY_COLUMNS})
    write_text(fold_dir / "history.csv", out.getvalue())


def _save_learning_curve(fold_dir: Path, history: list[dict[str, float]], label: str) -> None:
    """``fold_dir/learning_curve.png``: the fold's curve, drawn by the report's function."""
    from ichbench.reports.learning_curve import history_columns, learning_curve_figure

    fig = learning_curve_figure({label: {"": history_columns(history)}},
                                title=f"{label}: learning curve", figsize=(10.0, 4.0))
    with atomic_path(fold_dir / "learning_curve.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def _fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def train_fold(model: nn.Module, train: SliceSet, val: SliceSet, settings: TrainSettings,
               fold_dir: Path, *, augment: AugmentSettings, seed: int, device: str,
               log: Callable[[str], None], label: str = "fold",
               on_epoch_end: Callable[[int], None] | None = None) -> FoldResult:
    """Train ``model`` with early stopping on validation Dice, resuming if possible.

    An epoch improves when its validation Dice is higher than the best so far, or equal
    with a lower validation loss (so a run whose Dice is still 0 keeps the model that is
    learning, not its first epoch).

    Parameters
    ----------
    model
        Freshly initialised (its weights are replaced when a checkpoint exists).
    train, val
        The fold's training slices and its validation cases (never the same cases).
    settings, augment
        The recipe and the augmentation.
    seed
        Seed of the epoch plans (slice order and augmentation, see :func:`epoch_plan`).
    device
        Where to train (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    fold_dir
        Receives ``checkpoint.pt`` (every epoch), ``history.csv``, ``learning_curve.png``,
        and at the end ``model.pt`` (best weights) and ``result.json``.
    log
        One line per epoch: epoch, loss, validation DC, ETA.
    on_epoch_end
        Called with the epoch number after its checkpoint is written (tests use it to
        simulate a kill).

    Returns
    -------
    FoldResult
        With ``model`` holding the best weights.
    """
    if set(train.case_ids) & set(val.case_ids):
        raise ValueError(f"{label}: cases {sorted(set(train.case_ids) & set(val.case_ids))} "
                         "are in both the training and the validation set")
    fold_dir.mkdir(parents=True, exist_ok=True)
    model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    cuda = torch.device(device).type == "cuda"
    if cuda:  # fixed input size: let cuDNN pick its fastest kernels once
        torch.backends.cudnn.benchmark = True
    scaler = grad_scaler(device)  # AMP on CUDA only
    ckpt_path = fold_dir / "checkpoint.pt"
    start_epoch, best_dc, best_epoch, bad_epochs = 1, -math.inf, 0, 0
    best_loss = math.inf
    history: list[dict[str, float]] = []
    best_state: dict[str, torch.Tensor] = copy.deepcopy(model.state_dict())
    stopped = False
    if ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, device)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler") is not None:
            scaler.load_state_dict(ckpt["scaler"])
        best_state = ckpt["best_model"]
        best_dc, best_epoch = ckpt["best_val_dc"], ckpt["best_epoch"]
        best_loss = ckpt["best_val_loss"]
        bad_epochs, history, stopped = ckpt["bad_epochs"], ckpt["history"], ckpt["stopped"]
        start_epoch = ckpt["epoch"] + 1
        _set_rng_state(ckpt["rng"])
        log(f"{label}: resuming after epoch {ckpt['epoch']} (best DC {best_dc:.4f} at epoch "
            f"{best_epoch})")
    pos_weight = (None if settings.pos_weight == 1.0 else
                  torch.tensor(settings.pos_weight, device=device))
    foreground = train.foreground_slices()
    t_fold = time.perf_counter()
    for epoch in range(start_epoch, settings.epochs + 1):
        if stopped:
            break
        t0 = time.perf_counter()
        order, params = epoch_plan(seed, epoch, train.n_slices, augment,
                                   foreground=foreground, samples=settings.samples_per_epoch,
                                   foreground_fraction=settings.foreground_fraction)
        for group in optimizer.param_groups:
            group["lr"] = epoch_lr(settings, epoch)
        model.train()
        total, count = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            pairs = [apply_augment(*_training_sample(train, i, params[start + j], settings),
                                   params[start + j]) for j, i in enumerate(idx)]
            x = to_device(np.stack([p[0] for p in pairs]), device)
            y = to_device(np.stack([p[1] for p in pairs])[:, None], device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(device):
                logits = model(x)
            logits = logits.float()
            loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
            if settings.dice_weight > 0:
                loss = loss + settings.dice_weight * soft_dice_loss(logits, y)
            backward_step(loss, optimizer, scaler)
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        val_loss, val_dc = _evaluate(model, val, settings, device=device)
        seconds = time.perf_counter() - t0
        history.append({"epoch": epoch, "train_loss": total / max(count, 1),
                        "val_loss": val_loss, "val_dc": val_dc, "seconds": seconds})
        if val_dc > best_dc or (val_dc == best_dc and val_loss < best_loss):
            best_dc, best_loss, best_epoch, bad_epochs = val_dc, val_loss, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        stopped = bad_epochs >= settings.patience
        save_checkpoint(ckpt_path, {
            "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "best_model": best_state, "best_val_dc": best_dc, "best_val_loss": best_loss,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs, "stopped": stopped, "history": history,
            "scaler": None if scaler is None else scaler.state_dict(),
            "rng": _rng_state(), "settings": asdict(settings), "augment": asdict(augment),
            "seed": seed, "device": device})
        write_history(fold_dir, history)
        mean_epoch = float(np.mean([row["seconds"] for row in history]))
        eta = 0.0 if stopped else mean_epoch * (settings.epochs - epoch)
        log(f"{label} epoch {epoch}/{settings.epochs}: loss {history[-1]['train_loss']:.4f}, "
            f"val loss {val_loss:.4f}, val DC {val_dc:.4f} (best {best_dc:.4f} @ {best_epoch}), "
            f"{seconds:.1f} s, ETA ≤ {_fmt_seconds(eta)}"
            + (f"; early stop: no improvement for {bad_epochs} epochs" if stopped else ""))
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    model.load_state_dict(best_state)
    save_checkpoint(fold_dir / "model.pt", {"model": best_state, "best_epoch": best_epoch,
                                            "best_val_dc": best_dc})
    write_history(fold_dir, history)
    _save_learning_curve(fold_dir, history, label)
    result = FoldResult(best_epoch=best_epoch, best_val_dc=float(best_dc),
                        epochs_run=len(history), stopped_early=bool(stopped),
                        seconds=time.perf_counter() - t_fold)
    write_json(fold_dir / "result.json", asdict(result))
    return result


def read_fold_result(fold_dir: Path) -> FoldResult | None:
    """The finished fold's result, or None if the fold has not finished."""
    path = fold_dir / "result.json"
    if not (path.exists() and (fold_dir / "model.pt").exists()):
        return None
    return FoldResult(**json.loads(path.read_text(encoding="utf-8")))
