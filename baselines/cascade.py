"""``cascade``: the paper's method, the coarse 2D DenseNet's mask as a second nnU-Net input.

Stage 1 runs the ``coarse`` method in ``run_dir/coarse`` (its own run folder layout, all
protocol folds). Stage 2 runs nnU-Net (:mod:`ichbench.baselines.nnunet`) on two channels:
channel 0 the CT ("CT" normalisation), channel 1 the coarse mask ("noNorm", 0/1).

Which coarse mask each case gets (the out-of-fold guarantee):

* a training case gets the mask made by the coarse model of the fold in which that case was
  a VALIDATION case (``coarse/folds/<j>/oof/<id>.nii.gz``), so no coarse model ever
  predicts a case it was trained on, and the fine model never trains on a coarse mask that
  is better than what it will see at test time;
* validation, test and unlabeled cases get the coarse fold ensemble's mask
  (``coarse/predictions/<split>/<id>.nii.gz``), as at deployment.

The coarse stage always trains all protocol folds, because every training case needs its
out-of-fold mask, even when the fine stage trains only some folds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ichbench.baselines.nnunet import NnunetConfig, preset_config, run_nnunet

if TYPE_CHECKING:
    from ichbench.methods import RunContext
    from ichbench.protocol import Protocol

#: Key of the coarse stage's configuration inside the cascade's config.
COARSE_KEY = "coarse"


def coarse_mask_sources(protocol: Protocol, coarse_ctx: RunContext) -> dict[str, Path]:
    """Case id → the coarse mask the cascade feeds to nnU-Net for that case.

    Training cases map to the out-of-fold mask of the fold where the case is in validation;
    every case of ``protocol.predict_splits()`` maps to the coarse ensemble's mask.

    Raises
    ------
    ValueError
        If a training case is in no fold's validation set or in more than one.
    """
    sources: dict[str, Path] = {}
    for cid in protocol.train:
        holders = [k for k in range(protocol.n_folds) if cid in protocol.fold_val(k)]
        if len(holders) != 1:
            raise ValueError(f"training case {cid} is a validation case of folds {holders}; "
                             "the protocol must put it in exactly one")
        sources[cid] = coarse_ctx.oof_dir(holders[0]) / f"{cid}.nii.gz"
    for split in protocol.predict_splits():
        for cid in getattr(protocol, split):
            sources[cid] = coarse_ctx.prediction_dir(split) / f"{cid}.nii.gz"
    return sources


def _coarse_config(config: Mapping[str, Any], preset: str) -> dict[str, Any]:
    """The coarse stage's config: preset values updated by the ``coarse`` entry.

    The entry is a dict (from config.json) or JSON text (from ``--set coarse=...``).
    """
    from ichbench.methods import get_method

    value = config.get(COARSE_KEY)
    if value is None:
        return dict(get_method("coarse").default_config(preset))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--set {COARSE_KEY}=...: expected a JSON object such as "
                             f"'{{\"epochs\": 2}}' ({exc})") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"config {COARSE_KEY!r}: expected a mapping of the coarse method's "
                         f"settings, got {type(value).__name__}")
    # Keys not given keep the coarse preset's values (``--set coarse='{"epochs": 2}'``).
    return {**get_method("coarse").default_config(preset), **value}


class CascadeMethod:
    """Coarse 2D DenseNet, then nnU-Net on CT + coarse mask."""

    name = "cascade"

    def default_config(self, preset: str) -> Mapping[str, Any]:
        """The fine stage's settings plus the coarse preset's under ``"coarse"``."""
        from ichbench.methods import get_method

        config: dict[str, Any] = preset_config(preset).to_dict()
        config[COARSE_KEY] = dict(get_method("coarse").default_config(preset))
        return config

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ValueError (one line) if the fine part or the ``coarse`` entry is invalid."""
        NnunetConfig.from_mapping({k: v for k, v in config.items() if k != COARSE_KEY})
        _coarse_config(config, "smoke")

    def run(self, ctx: RunContext) -> None:
        """Run the coarse stage, then the two-channel nnU-Net."""
        from ichbench.methods import get_method

        coarse = get_method("coarse")
        coarse_config = _coarse_config(ctx.config, ctx.preset)
        all_folds = tuple(range(ctx.protocol.n_folds))
        coarse_ctx = dataclasses.replace(
            ctx.with_run_dir(ctx.run_dir / "coarse", dict(coarse_config)), folds=all_folds)
        if tuple(ctx.folds) != all_folds:
            ctx.log(f"cascade: the coarse stage trains all folds {list(all_folds)} (every "
                    "training case needs its out-of-fold mask)")
        ctx.log("cascade: stage 1/2, coarse 2D DenseNet")
        coarse.run(coarse_ctx)
        sources = coarse_mask_sources(ctx.protocol, coarse_ctx)
        missing = [cid for cid, path in sources.items() if not path.is_file()]
        if missing:
            raise RuntimeError(f"the coarse stage wrote no mask for {len(missing)} case(s) "
                               f"(first: {sources[missing[0]]}); check {coarse_ctx.run_dir}")
        ctx.log("cascade: stage 2/2, nnU-Net on CT + coarse mask")
        fine_config = {k: v for k, v in ctx.config.items() if k != COARSE_KEY}
        run_nnunet(ctx, NnunetConfig.from_mapping(fine_config), masks=sources)
