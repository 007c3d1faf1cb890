"""nnU-Net v2 as a library inside an ichbench run: configure, plan, train folds, predict.

Shared by the ``fine`` (CT alone) and ``cascade`` (CT + coarse mask) methods. Everything
nnU-Net writes lives in ``run_dir/nnunet/{raw,preprocessed,results,trainers}`` (see
:mod:`ichbench.baselines.nnunet_env`); ichbench's own outputs follow the run-folder
contract:

* ``run_dir/folds/<k>/history.csv`` — per-epoch losses and pseudo Dice of fold ``k``;
* ``run_dir/folds/<k>/oof/<id>.nii.gz`` — fold ``k``'s model on its validation cases;
* ``run_dir/predictions/<split>/<id>.nii.gz`` — the ensemble of the trained folds.

Every mask is written by :func:`ichbench.io.volumes.write_volume` with the CT's geometry (not by
nnU-Net's writer), so predictions sit exactly on the CT grid. Prediction runs in this
process, case by case (no worker pools).

Resume: a fold with ``checkpoint_final.pth`` is not trained again; one with
``checkpoint_latest.pth`` (written after every epoch) continues from it; masks already
written are kept.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichbench.baselines.nnunet_config import NnunetConfig, trainer_settings
from ichbench.baselines.nnunet_env import (
    NnunetPaths,
    augmentation_workers,
    nnunet_environment,
    thread_pools,
)
from ichbench.baselines.nnunet_plans import CONFIGURATION, PLANS_NAME, adjust_plans
from ichbench.baselines.nnunet_raw import (
    DATASET_ID,
    DATASET_NAME,
    RawDataset,
    convert_dataset,
    write_splits,
)
from ichbench.harness.stages import Stage, run_inline, shards
from ichbench.io.atomic import write_json
from ichbench.io.cores import usable_cores
from ichbench.io.volumes import Geometry, read_geometry, write_volume

if TYPE_CHECKING:
    from ichbench.harness.methods import RunContext

TRAINER_NAME = "IchbenchTrainer"

@contextlib.contextmanager
def _quiet(log_file: Path) -> Iterator[None]:
    """Send nnU-Net's console chatter (stdout) to ``log_file`` while the block runs."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as handle, contextlib.redirect_stdout(handle):
        yield
        sys.stdout.flush()


def _loud(log: Callable[[str], None], stdout: Any) -> Callable[[str], None]:
    """``log`` that writes to the real console even inside :func:`_quiet`."""
    def say(message: str) -> None:
        with contextlib.redirect_stdout(stdout):
            log(message)
    return say


def _model_dir(paths: NnunetPaths) -> Path:
    return paths.results / DATASET_NAME / f"{TRAINER_NAME}__{PLANS_NAME}__{CONFIGURATION}"


def prepare(paths: NnunetPaths, raw: RawDataset, protocol, cfg: NnunetConfig,  # type: ignore[no-untyped-def]
            *, mask_channels: tuple[int, ...], log: Callable[[str], None],
            seed: int = 0) -> dict[str, Any]:
    """Fingerprint, plan, adjust the plans to ``cfg``, preprocess, write splits and settings.

    ``seed`` is the run's training seed; fold ``k`` of the trainer draws from ``(seed, k)``.

    Returns the ``"ichbench"`` record of the adjusted plans (patch, stages, ...). Steps whose
    output exists are skipped (resume).
    """
    from nnunetv2.experiment_planning.plan_and_preprocess_api import (
        extract_fingerprints,
        plan_experiments,
        preprocess,
    )

    from ichbench.baselines.nnunet_trainers import mask_prior_logit

    pre = paths.preprocessed / DATASET_NAME
    n_proc = cfg.num_processes or usable_cores()
    pools = thread_pools if cfg.num_processes == 0 else contextlib.nullcontext
    with augmentation_workers(n_proc), pools():
        if not (pre / "dataset_fingerprint.json").is_file():
            extract_fingerprints([DATASET_ID], num_processes=n_proc,
                                 check_dataset_integrity=True, show_progress_bar=False)
        if not (pre / "nnUNetPlans.json").is_file():
            plan_experiments([DATASET_ID])
    plans = json.loads((pre / "nnUNetPlans.json").read_text(encoding="utf-8"))
    # the mask prior needs a mask channel: the CT-only fine model keeps nnU-Net's network
    mask_logit = (mask_prior_logit(cfg.mask_prior, cfg.output_prior)
                  if cfg.mask_prior is not None and mask_channels else None)
    adjusted = adjust_plans(plans, patch_size_zyx=cfg.patch_size_zyx,
                            features_per_stage=cfg.features_per_stage,
                            max_stages=cfg.max_stages, batch_size=cfg.batch_size,
                            mask_channel=None if mask_logit is None else mask_channels[0],
                            mask_logit=mask_logit)
    plans_file = pre / f"{PLANS_NAME}.json"
    old = json.loads(plans_file.read_text(encoding="utf-8")) if plans_file.is_file() else None
    if old is not None and old != json.loads(json.dumps(adjusted)):
        raise ValueError(f"{plans_file}: existing plans differ from this run's configuration; "
                         "resume with the same config or start a new run folder")
    write_json(plans_file, adjusted)
    write_splits(protocol, pre)
    trainer_settings(cfg, mask_channels=mask_channels, seed=seed).write(pre)
    data_dir = pre / adjusted["configurations"][CONFIGURATION]["data_identifier"]
    n_train = len(tuple(protocol.train))
    done = data_dir.is_dir() and sum(1 for p in data_dir.glob("*.pkl")) >= n_train
    if not done:
        with augmentation_workers(n_proc), pools():
            preprocess([DATASET_ID], plans_identifier=PLANS_NAME, configurations=(CONFIGURATION,),
                       num_processes=(n_proc,), show_progress_bar=False)
    info = adjusted["ichbench"]
    log(f"nnU-Net plan: spacing {info['spacing']} mm (z, y, x), median size "
        f"{info['median_image_size_in_voxels']}, nnU-Net patch {info['planned_patch_size']} -> "
        f"used {info['patch_size']}, {info['n_stages']} stages {info['features_per_stage']}, "
        f"batch {info['batch_size']}"
        + ("" if info.get("mask_logit") is None else
           f", mask prior: {info['network'].rsplit('.', 1)[-1]} adds {info['mask_logit']:.2f} "
           "to the foreground logit inside the coarse mask"))
    return dict(info)


def _training_workers(device: str) -> int:
    """Data-augmentation worker processes while training (``nnUNet_n_proc_DA``).

    On CPU, 0: augmentation runs in the training process, which leaves both cores of a small
    machine to the network instead of sharing them with worker processes. On a GPU,
    nnU-Net's usual background workers (at most 12, one core left for the main process).
    """
    if device == "cpu":
        return 0
    return max(1, min(12, usable_cores() - 1))


def train_fold(paths: NnunetPaths, fold: int, *, device: str, history_to: Path,
               log: Callable[[str], None]) -> None:
    """Train (or resume, or skip when finished) fold ``fold`` with :class:`IchbenchTrainer`.

    nnU-Net finds the trainer by name through ``nnUNet_extTrainer``, exactly as
    ``nnUNetv2_train ... -tr IchbenchTrainer`` would.
    """
    import torch
    from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint

    fold_out = _model_dir(paths) / f"fold_{fold}"
    history = fold_out / "history.csv"
    if (fold_out / "checkpoint_final.pth").is_file():
        log(f"fold {fold}: nnU-Net training already finished, kept")
    else:
        resume = (fold_out / "checkpoint_latest.pth").is_file()
        start = time.monotonic()
        with augmentation_workers(_training_workers(device)):
            trainer = get_trainer_from_args(str(DATASET_ID), CONFIGURATION, fold, TRAINER_NAME,
                                            PLANS_NAME, resume, device=torch.device(device))
            maybe_load_checkpoint(trainer, resume, False)
            if resume:
                log(f"fold {fold}: resuming nnU-Net at epoch {trainer.current_epoch}")
            trainer.run_training()
        log(f"fold {fold}: nnU-Net trained {trainer.num_epochs} epochs in "
            f"{time.monotonic() - start:.0f} s")
    if history.is_file():
        history_to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(history, history_to)


@dataclass(frozen=True)
class PredictionJob:
    """One case to predict: its nnU-Net input files, CT geometry and output mask path."""

    case_id: str
    inputs: tuple[Path, ...]
    geometry: Geometry
    output: Path


def predict(paths: NnunetPaths, folds: Sequence[int], jobs: Sequence[PredictionJob], *,
            device: str, cfg: NnunetConfig, mask_channels: tuple[int, ...]) -> None:
    """Predict ``jobs`` with the ensemble of ``folds`` (mean of softmax logits, nnU-Net's way).

    Runs nnU-Net's preprocessing and sliding window in this process (tiles in batches of
    ``cfg.tile_batch``); mask channels are thresholded at 0.5 after preprocessing (as the
    trainer does after augmentation); the network, mask prior included, is the one the
    plans name; the segmentation is brought back to the CT grid by nnU-Net and written by
    ichbench with the CT's geometry.
    """
    import torch
    from nnunetv2.inference.export_prediction import (
        convert_predicted_logits_to_segmentation_with_correct_shape,
    )

    from ichbench.baselines.nnunet_predictor import TileBatchPredictor

    todo = [j for j in jobs if not j.output.is_file()]
    if not todo:
        return
    dev = torch.device(device)
    predictor = TileBatchPredictor(tile_step_size=cfg.tile_step_size, use_gaussian=True,
                                   use_mirroring=cfg.use_mirroring,
                                   perform_everything_on_device=dev.type == "cuda", device=dev,
                                   verbose=False, verbose_preprocessing=False, allow_tqdm=False,
                                   tile_batch=cfg.tile_batch)
    predictor.initialize_from_trained_model_folder(str(_model_dir(paths)),
                                                   use_folds=tuple(folds),
                                                   checkpoint_name="checkpoint_final.pth")
    preprocessor = predictor.configuration_manager.preprocessor_class(verbose=False)
    for job in todo:
        data, _, properties = preprocessor.run_case(
            [str(p) for p in job.inputs], None, predictor.plans_manager,
            predictor.configuration_manager, predictor.dataset_json)
        for c in mask_channels:
            data[c] = (data[c] >= 0.5).astype(data.dtype)
        logits = predictor.predict_logits_from_preprocessed_data(
            torch.from_numpy(np.ascontiguousarray(data))).cpu()
        seg = convert_predicted_logits_to_segmentation_with_correct_shape(
            logits, predictor.plans_manager, predictor.configuration_manager,
            predictor.label_manager, properties, return_probabilities=False)
        seg = np.asarray(seg)
        if seg.shape != job.geometry.shape:
            raise RuntimeError(f"case {job.case_id}: nnU-Net returned shape {seg.shape}, the CT "
                               f"is {job.geometry.shape} (z, y, x)")
        write_volume((seg > 0).astype(np.uint8), job.geometry, job.output)


@contextlib.contextmanager
def _nnunet_env(ctx: RunContext[Any], cfg: NnunetConfig) -> Iterator[NnunetPaths]:
    """nnU-Net's environment for ``ctx.run_dir/nnunet``, its import-time warning silenced."""
    paths = NnunetPaths(ctx.run_dir / "nnunet")
    with warnings.catch_warnings(), nnunet_environment(paths, n_proc=cfg.num_processes,
                                                       augmentation_workers=0):
        # nnU-Net's network library triggers this at import; it is not ours to act on.
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.interface.*",
                                category=FutureWarning)
        yield paths


def _raw(paths: NnunetPaths, with_mask: bool) -> RawDataset:
    return RawDataset(folder=paths.raw / DATASET_NAME, n_channels=2 if with_mask else 1)


def nnunet_stages(ctx: RunContext[Any], cfg: NnunetConfig, *, prefix: str,
                  masks: Callable[[], Mapping[str, Path]] | None = None,
                  after: tuple[Stage, ...] = ()) -> list[Stage]:
    """The nnU-Net stages of ``ctx``: prepare, one per fold, one per prediction split.

    Parameters
    ----------
    ctx
        The run context; outputs go to ``ctx.run_dir`` per the run-folder contract.
    cfg
        The stage's settings.
    prefix
        Start of the stage keys (``fine`` → ``fine.prepare``, ``fine.fold0``, ...).
    masks
        Cascade: called when the prepare stage runs, case id → coarse mask (out-of-fold
        for training cases). None: CT alone.
    after
        Stages that must be done before ``prepare`` (the cascade's coarse stages).

    Returns
    -------
    list of Stage
        ``<prefix>.prepare`` (convert, plan, preprocess; needs ``after``),
        ``<prefix>.fold<k>`` for ``k`` in ``ctx.folds`` (train or resume, then the fold's
        out-of-fold masks) and ``<prefix>.predict.<split>`` (the folds' ensemble; a large
        split in parts, see :func:`ichbench.harness.stages.shards`).
    """
    with_mask = masks is not None
    mask_channels = (1,) if with_mask else ()
    log = _loud(ctx.log, sys.stdout)

    def prepare_work() -> None:
        with _nnunet_env(ctx, cfg) as paths:
            raw = convert_dataset(ctx.dataset, ctx.protocol, paths.raw,
                                  masks=masks() if masks is not None else None, log=log)
            with _quiet(paths.root / "nnunet_console.txt"):
                info = prepare(paths, raw, ctx.protocol, cfg, mask_channels=mask_channels,
                               log=log, seed=ctx.seed)
            write_json(paths.root / "plan_used.json", info)

    def fold_work(k: int) -> None:
        with _nnunet_env(ctx, cfg) as paths:
            raw = _raw(paths, with_mask)
            nn_log = paths.root / "nnunet_console.txt"
            with _quiet(nn_log):
                train_fold(paths, k, device=ctx.device,
                           history_to=ctx.fold_dir(k) / "history.csv", log=log)
            jobs = [_job(ctx, raw, cid, training=True, out=ctx.oof_dir(k) / f"{cid}.nii.gz")
                    for cid in ctx.protocol.fold_val(k)]
            start = time.monotonic()
            with _quiet(nn_log):
                predict(paths, (k,), jobs, device=ctx.device, cfg=cfg,
                        mask_channels=mask_channels)
            log(f"fold {k}: out-of-fold masks of {len(jobs)} cases in "
                f"{time.monotonic() - start:.0f} s")

    def predict_work(split: str, ids: tuple[str, ...]) -> None:
        with _nnunet_env(ctx, cfg) as paths:
            raw = _raw(paths, with_mask)
            jobs = [_job(ctx, raw, cid, training=False,
                         out=ctx.prediction_dir(split) / f"{cid}.nii.gz") for cid in ids]
            start = time.monotonic()
            with _quiet(paths.root / "nnunet_console.txt"):
                predict(paths, tuple(ctx.folds), jobs, device=ctx.device, cfg=cfg,
                        mask_channels=mask_channels)
            log(f"{split}: ensemble of folds {list(ctx.folds)} predicted {len(jobs)} cases "
                f"in {time.monotonic() - start:.0f} s")

    home = ctx.run_dir
    first = Stage(key=f"{prefix}.prepare", home=home, work=prepare_work, needs=after,
                  group=f"{prefix}.prepare")
    folds = [Stage(key=f"{prefix}.fold{k}", home=home, work=functools.partial(fold_work, k),
                   needs=(first,), group=f"{prefix}.fold", fold=k) for k in ctx.folds]
    predictions = [Stage(key=f"{prefix}.predict.{split}{part}", home=home,
                         work=functools.partial(predict_work, split, ids), needs=tuple(folds),
                         group=f"{prefix}.predict")
                   for split in ctx.protocol.predict_splits()
                   for part, ids in shards(ctx.protocol.ids(split))]
    return [first, *folds, *predictions]


def run_nnunet(ctx: RunContext[Any], cfg: NnunetConfig, *,
               masks: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Every nnU-Net stage of ``ctx`` in this process (see :func:`nnunet_stages`).

    Returns
    -------
    dict
        The plan record (patch, stages, features, batch) also written to
        ``run_dir/nnunet/plan_used.json``.
    """
    run_inline(nnunet_stages(ctx, cfg, prefix="fine",
                             masks=None if masks is None else (lambda: masks)), ctx.log)
    path = ctx.run_dir / "nnunet" / "plan_used.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _job(ctx: RunContext[Any], raw: RawDataset, case_id: str, *, training: bool,
         out: Path) -> PredictionJob:
    return PredictionJob(case_id=case_id,
                         inputs=tuple(raw.channel_files(case_id, training=training)),
                         geometry=read_geometry(ctx.dataset.case(case_id).image), output=out)
