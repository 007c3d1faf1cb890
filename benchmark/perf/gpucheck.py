"""GPU readiness in one command: ``python -m ichbench.perf.gpucheck``.

GPU time is rare, so before a paper-scale run this measures, on whatever CUDA GPU is
present, a few training iterations of both stages of the paper preset with the settings a
real run uses (AMP, ``cudnn.benchmark``, pinned memory, data-loader workers):

* **coarse**: the paper's 2D DenseNet (5 × 6 dense layers, growth 32) on 256 × 256 slices,
  batch 2, BCE, Adam 4e-4; the loader applies the paper's augmentation (flips, gamma) in
  worker processes;
* **fine** (cascade): nnU-Net's 3D U-Net for two input channels (CT + coarse mask), planned
  by nnU-Net's own topology rule for the paper patch (``--patch``, default 32 × 128 × 128
  at 5 × 0.45 × 0.45 mm, INSTANCE-like), deep supervision, Dice + CE, SGD with nnU-Net's
  settings; the loader runs nnU-Net's training augmentation with the mask channel protected
  (:func:`ichbench.baselines.nnunet_trainers.restrict_intensity_transforms`).

For each it prints the iteration time, the peak GPU memory, the data-loading share (time
the training loop waited for a batch, over the wall time) and the time the paper budget
would take (coarse: 200 epochs over 80 training cases × 16 slices, 5 folds; fine: 500 epochs
× 250 iterations, 5 folds), next to the paper's 18 h on one V100 for the whole cascade.
Early stopping makes the coarse figure an upper bound.

On a machine without CUDA it says so and exits with status 0; ``--device cpu --tiny`` runs
the same code at toy sizes (what the tests do), so the path is checked without a GPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Paper budgets (Qayyum et al. 2023) used for the projection.
PAPER_HOURS_V100 = 18.0
N_FOLDS = 5
COARSE_EPOCHS = 200
#: INSTANCE: 100 training cases, 4/5 of them train a fold; 16 slices each on the paper grid.
COARSE_SLICES_PER_FOLD = 80 * 16
FINE_EPOCHS = 500
FINE_ITERATIONS = 250


@dataclass(frozen=True)
class StageTiming:
    """What was measured for one stage."""

    name: str
    iterations: int
    seconds_per_iteration: float
    data_share: float
    peak_memory_gib: float | None
    projected_hours: float
    detail: str

    def line(self) -> str:
        """One console line."""
        memory = ("n/a (CPU)" if self.peak_memory_gib is None
                  else f"{self.peak_memory_gib:.2f} GiB")
        return (f"{self.name}: {self.seconds_per_iteration * 1000:.0f} ms/iteration over "
                f"{self.iterations} iterations, peak GPU memory {memory}, data loading "
                f"{100 * self.data_share:.0f} % of wall time; paper budget ≈ "
                f"{self.projected_hours:.1f} h for 5 folds ({self.detail})")


def _timed_loop(loader: Iterator[Any], step: Callable[[Any], None], *, warmup: int,
                iterations: int, sync: Callable[[], None]) -> tuple[float, float]:
    """Seconds per iteration and the share of wall time spent waiting for batches."""
    for _ in range(warmup):
        step(next(loader))
    sync()
    waited, start = 0.0, time.perf_counter()
    for _ in range(iterations):
        t = time.perf_counter()
        batch = next(loader)
        waited += time.perf_counter() - t
        step(batch)
    sync()
    wall = time.perf_counter() - start
    return wall / iterations, waited / wall if wall > 0 else 0.0


def _loader_kwargs(device: Any, workers: int) -> dict[str, Any]:
    on_cuda = device.type == "cuda"
    return {"num_workers": workers, "pin_memory": on_cuda,
            "persistent_workers": workers > 0, **({"prefetch_factor": 4} if workers else {})}


class _CoarseSlices:
    """Random CT-like slices with blob labels, augmented as the paper's coarse recipe."""

    def __init__(self, size: int, n: int) -> None:
        self.size, self.n = size, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import torch

        from ichbench.baselines.augment import AugmentSettings, apply_augment, sample_augment

        rng = np.random.default_rng(index)
        yy, xx = np.mgrid[:self.size, :self.size] / self.size
        image = np.clip(0.3 + 0.1 * rng.standard_normal((self.size, self.size)), 0, 1)
        label = ((yy - rng.random()) ** 2 + (xx - rng.random()) ** 2 < 0.01).astype(np.float32)
        image = np.clip(image + 0.3 * label, 0, 1).astype(np.float32)
        image, label = apply_augment(image, label, sample_augment(rng, AugmentSettings()))
        return torch.from_numpy(image)[None], torch.from_numpy(label)[None]


def _forever(loader: Any) -> Iterator[Any]:
    while True:
        yield from loader


def check_coarse(device: Any, *, iterations: int, tiny: bool, workers: int) -> StageTiming:
    """Time the paper's coarse DenseNet (tiny: a toy network on 64 × 64 slices)."""
    import torch
    from torch.nn import functional as F

    from ichbench.baselines.amp import autocast, backward_step, grad_scaler
    from ichbench.baselines.coarse import PRESETS, build_model

    config = PRESETS["paper"]
    size = config.grid_zyx[1]
    if tiny:
        import dataclasses

        config = dataclasses.replace(config, model=dataclasses.replace(
            config.model, growth_rate=4, bn_size=2, init_features=8,
            block_layers=(1, 1, 1, 1, 1), decoder_channels=(8, 8, 8, 8, 8)))
        size = 64
    model = build_model(config, seed=0).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    scaler = grad_scaler(device)
    loader = torch.utils.data.DataLoader(
        _CoarseSlices(size, 10_000), batch_size=config.train.batch_size, shuffle=True,
        **_loader_kwargs(device, workers))

    def step(batch: Any) -> None:
        x, y = (t.to(device, non_blocking=True) for t in batch)
        optimizer.zero_grad(set_to_none=True)
        with autocast(device):
            loss = F.binary_cross_entropy_with_logits(model(x), y)
        backward_step(loss, optimizer, scaler)

    seconds, share = _timed_loop(_forever(loader), step, warmup=3, iterations=iterations,
                                 sync=_sync(device))
    steps_per_epoch = COARSE_SLICES_PER_FOLD / config.train.batch_size
    hours = seconds * steps_per_epoch * COARSE_EPOCHS * N_FOLDS / 3600
    return StageTiming("coarse DenseNet (paper)", iterations, seconds, share,
                       _peak_gib(device), hours,
                       f"{COARSE_EPOCHS} epochs × {steps_per_epoch:.0f} steps, upper bound: "
                       "early stopping ends most folds sooner")


def _sync(device: Any) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def _peak_gib(device: Any) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    return float(torch.cuda.max_memory_allocated(device)) / 2 ** 30


def fine_network(patch_zyx: tuple[int, int, int], spacing_zyx: tuple[float, float, float],
                 *, in_channels: int, features: tuple[int, ...] | None = None) -> Any:
    """nnU-Net's ``3d_fullres`` PlainConvUNet as nnU-Net plans it for this patch and spacing."""
    import torch
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    from nnunetv2.experiment_planning.experiment_planners.network_topology import (
        get_pool_and_conv_props,
    )

    from ichbench.baselines.nnunet_plans import MIN_FEATURE_MAP_SIZE

    _, strides, kernels, patch, _ = get_pool_and_conv_props(
        list(spacing_zyx), list(patch_zyx), MIN_FEATURE_MAP_SIZE, 999999)
    n = len(strides)
    feats = [min(32 * 2 ** i, 320) for i in range(n)] if features is None else [
        features[min(i, len(features) - 1)] for i in range(n)]
    net = PlainConvUNet(in_channels, n, feats, torch.nn.Conv3d, kernels, strides,
                        [2] * n, 2, [2] * (n - 1), conv_bias=True,
                        norm_op=torch.nn.InstanceNorm3d,
                        norm_op_kwargs={"eps": 1e-5, "affine": True},
                        nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True},
                        deep_supervision=True)
    return net, tuple(int(p) for p in patch), [list(s) for s in strides]


class _FinePatches:
    """Random two-channel patches run through nnU-Net's training augmentation."""

    def __init__(self, patch: tuple[int, int, int], strides: list[list[int]]) -> None:
        from ichbench.baselines.nnunet_trainers import restrict_intensity_transforms

        self.patch = patch
        scales = [list(x) for x in 1 / np.cumprod(np.vstack(strides), axis=0)][:-1]
        from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

        anisotropic = max(patch) / patch[0] > 3
        rotation = (-np.pi, np.pi) if anisotropic else (-np.pi / 6, np.pi / 6)
        pipeline = nnUNetTrainer.get_training_transforms(
            patch, rotation, scales, (0, 1, 2), anisotropic, foreground_labels=[1])
        self.transforms = restrict_intensity_transforms(pipeline, 2, (1,), perturb_masks=True)

    def __len__(self) -> int:
        return 10_000

    def __getitem__(self, index: int) -> tuple[Any, list[Any]]:
        import torch

        rng = np.random.default_rng(index)
        zz, yy, xx = np.meshgrid(*(np.linspace(0, 1, p) for p in self.patch), indexing="ij")
        seg = (((zz - 0.5) ** 2 + (yy - rng.random()) ** 2 + (xx - rng.random()) ** 2) < 0.02)
        ct = (rng.standard_normal(self.patch) + 2 * seg).astype(np.float32)
        image = torch.from_numpy(np.stack([ct, seg.astype(np.float32)]))
        label = torch.from_numpy(seg[None].astype(np.int16))
        out = self.transforms(image=image, segmentation=label)
        return out["image"], out["segmentation"]


def _collate(batch: list[tuple[Any, list[Any]]]) -> tuple[Any, list[Any]]:
    import torch

    images = torch.stack([b[0] for b in batch])
    targets = [torch.stack([b[1][i] for b in batch]) for i in range(len(batch[0][1]))]
    return images, targets


def check_fine(device: Any, *, iterations: int, tiny: bool, workers: int,
               patch_zyx: tuple[int, int, int],
               spacing_zyx: tuple[float, float, float]) -> StageTiming:
    """Time nnU-Net's two-channel 3D U-Net (the cascade's fine stage) on the paper patch."""
    import torch
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.deep_supervision import DeepSupervisionWrapper
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss

    from ichbench.baselines.amp import autocast, backward_step, grad_scaler

    if tiny:
        patch_zyx = (8, 32, 32)
    net, patch, strides = fine_network(patch_zyx, spacing_zyx, in_channels=2,
                                       features=(4, 8, 16) if tiny else None)
    net = net.to(device)
    weights = np.array([1 / 2 ** i for i in range(len(strides))])
    weights[-1] = 0
    loss_fn = DeepSupervisionWrapper(
        DC_and_CE_loss({"batch_dice": False, "smooth": 1e-5, "do_bg": False, "ddp": False}, {},
                       weight_ce=1, weight_dice=1, dice_class=MemoryEfficientSoftDiceLoss),
        weights / weights.sum())
    optimizer = torch.optim.SGD(net.parameters(), 1e-2, weight_decay=3e-5, momentum=0.99,
                                nesterov=True)
    scaler = grad_scaler(device)
    loader = torch.utils.data.DataLoader(_FinePatches(patch, strides), batch_size=2,
                                         collate_fn=_collate, **_loader_kwargs(device, workers))

    def step(batch: Any) -> None:
        x = batch[0].to(device, non_blocking=True)
        y = [t.to(device, non_blocking=True) for t in batch[1]]
        optimizer.zero_grad(set_to_none=True)
        with autocast(device):
            loss = loss_fn(net(x), y)
        backward_step(loss, optimizer, scaler, clip_norm=12)

    seconds, share = _timed_loop(_forever(loader), step, warmup=3, iterations=iterations,
                                 sync=_sync(device))
    hours = seconds * FINE_ITERATIONS * FINE_EPOCHS * N_FOLDS / 3600
    return StageTiming(f"fine nnU-Net 3d_fullres, 2 channels, patch {list(patch)}", iterations,
                       seconds, share, _peak_gib(device), hours,
                       f"{FINE_EPOCHS} epochs × {FINE_ITERATIONS} iterations, batch 2")


def run_check(*, device: str = "auto", iterations: int = 20, tiny: bool = False,
              workers: int | None = None, patch_zyx: tuple[int, int, int] = (32, 128, 128),
              spacing_zyx: tuple[float, float, float] = (5.0, 0.45, 0.45),
              echo: Callable[[str], None] = print) -> list[StageTiming] | None:
    """Measure both stages; ``None`` when no CUDA GPU is present and ``device`` is ``auto``."""
    import torch

    from ichbench.io.cores import usable_cores

    if device == "auto":
        if not torch.cuda.is_available():
            echo("gpucheck: no CUDA GPU visible to PyTorch "
                 f"(torch {torch.__version__}, CUDA build {torch.version.cuda}); nothing to "
                 "measure. Run it on the GPU machine, or `--device cpu --tiny` to test the path.")
            return None
        device = "cuda"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        props = torch.cuda.get_device_properties(dev)
        echo(f"gpucheck: {props.name}, {props.total_memory / 2 ** 30:.0f} GiB, compute "
             f"capability {props.major}.{props.minor}, torch {torch.__version__}, cuDNN "
             f"{torch.backends.cudnn.version()}, AMP float16, cudnn.benchmark on")
    else:
        echo(f"gpucheck: device {dev} (no AMP, no pinned memory){' at toy sizes' if tiny else ''}")
    n_workers = (max(0, min(8, usable_cores() - 1)) if dev.type == "cuda" else 0) \
        if workers is None else workers
    results = []
    for check in (lambda: check_coarse(dev, iterations=iterations, tiny=tiny, workers=n_workers),
                  lambda: check_fine(dev, iterations=iterations, tiny=tiny, workers=n_workers,
                                     patch_zyx=patch_zyx, spacing_zyx=spacing_zyx)):
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        result = check()
        echo(result.line())
        results.append(result)
    total = sum(r.projected_hours for r in results)
    echo(f"projected full 5-fold cascade at paper budgets: ≈ {total:.1f} h (coarse an upper "
         f"bound) against the paper's {PAPER_HOURS_V100:.0f} h on one V100; data-loader "
         f"workers {n_workers}")
    return results


def _parse_patch(text: str) -> tuple[int, int, int]:
    parts = tuple(int(p) for p in text.split(","))
    if len(parts) != 3 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"--patch {text!r}: expected three positive sizes z,y,x")
    return parts  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m ichbench.perf.gpucheck",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cuda, cpu")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None,
                        help="data-loader workers [default: cores − 1 on CUDA, 0 on CPU]")
    parser.add_argument("--patch", type=_parse_patch, default=(32, 128, 128),
                        help="fine patch z,y,x [default: 32,128,128]")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (tests, CPU)")
    args = parser.parse_args(argv)
    if args.iterations < 1:
        parser.error("--iterations must be ≥ 1")
    try:
        run_check(device=args.device, iterations=args.iterations, tiny=args.tiny,
                  workers=args.workers, patch_zyx=args.patch)
    except RuntimeError as exc:  # e.g. CUDA requested but absent, out of memory
        print(f"gpucheck: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
