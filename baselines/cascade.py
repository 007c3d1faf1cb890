"""``cascade``: the paper's method, the coarse 2D DenseNet's mask as a second nnU-Net input.

Stage 1 is the ``coarse`` method's stages in ``run_dir/coarse`` (its own run folder layout,
all protocol folds; with ``--method all``, the ``coarse`` run's own folder, so the model is
trained once for both). Stage 2 runs nnU-Net (:mod:`ichbench.baselines.nnunet`) on two channels:
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ichbench.baselines import coarse, nnunet_config
from ichbench.baselines.coarse import CoarseConfig
from ichbench.baselines.nnunet import nnunet_stages
from ichbench.baselines.nnunet_config import NnunetConfig
from ichbench.harness.stages import Stage, run_inline

if TYPE_CHECKING:
    from ichbench.data.protocol import Protocol
    from ichbench.harness.methods import RunContext


@dataclass(frozen=True)
class CascadeConfig:
    """The cascade's two stages: the coarse model and the fine nnU-Net.

    Attributes
    ----------
    coarse
        The coarse stage (``--set coarse.train.epochs=5``).
    fine
        The two-channel nnU-Net (``--set fine.num_epochs=50``).
    """

    coarse: CoarseConfig
    fine: NnunetConfig


#: The presets: each stage takes its method's preset of the same name (declared in
#: :data:`ichbench.baselines.coarse.PRESETS` and :data:`ichbench.baselines.nnunet_config.PRESETS`),
#: so a stand-alone ``coarse`` run and the cascade's coarse stage are the same model.
PRESETS: dict[str, CascadeConfig] = {
    name: CascadeConfig(coarse=coarse.PRESETS[name], fine=nnunet_config.PRESETS[name])
    for name in coarse.PRESETS
}


def coarse_mask_sources(protocol: Protocol,
                        coarse_ctx: RunContext[CoarseConfig]) -> dict[str, Path]:
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


class CascadeMethod:
    """Coarse 2D DenseNet, then nnU-Net on CT + coarse mask."""

    name = "cascade"
    config_type = CascadeConfig
    presets = PRESETS

    def coarse_context(self, ctx: RunContext[CascadeConfig]) -> RunContext[CoarseConfig]:
        """The coarse stage's context: all protocol folds, in ``ctx.shared["coarse"]``.

        By default the coarse stage lives in ``run_dir/coarse``; ``--method all`` points
        it at the ``coarse`` run's folder instead, so that the two share one training.
        """
        config = ctx.config
        home = Path(ctx.shared.get("coarse", ctx.run_dir / "coarse"))
        return dataclasses.replace(ctx.with_run_dir(home, config.coarse),
                                   folds=tuple(range(ctx.protocol.n_folds)))

    def stages(self, ctx: RunContext[CascadeConfig]) -> list[Stage]:
        """The coarse method's stages (all folds), then nnU-Net on CT + coarse mask."""
        from ichbench.harness.methods import get_method

        config = ctx.config
        coarse_ctx = self.coarse_context(ctx)
        coarse_stages = get_method("coarse").stages(coarse_ctx)

        def masks() -> dict[str, Path]:
            if tuple(ctx.folds) != coarse_ctx.folds:
                ctx.log(f"cascade: the coarse stage trained all folds {list(coarse_ctx.folds)} "
                        "(every training case needs its out-of-fold mask)")
            sources = coarse_mask_sources(ctx.protocol, coarse_ctx)
            missing = [cid for cid, path in sources.items() if not path.is_file()]
            if missing:
                raise RuntimeError(f"the coarse stage wrote no mask for {len(missing)} case(s) "
                                   f"(first: {sources[missing[0]]}); check {coarse_ctx.run_dir}")
            ctx.log("cascade: nnU-Net on CT + coarse mask")
            return sources

        return [*coarse_stages, *nnunet_stages(ctx, config.fine, prefix="fine", masks=masks,
                                               after=tuple(coarse_stages))]

    def run(self, ctx: RunContext[CascadeConfig]) -> None:
        """Run the coarse stages, then the two-channel nnU-Net, in this process."""
        run_inline(self.stages(ctx), ctx.log)
