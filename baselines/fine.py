"""``fine``: nnU-Net v2 3d_fullres on the CT alone (the paper's fine stage, as an ablation).

The method converts the dataset into an nnU-Net raw dataset inside the run folder, lets
nnU-Net plan and preprocess it, adjusts the plan to the preset (see
:mod:`ichbench.baselines.nnunet_plans`), trains one model per protocol fold with
ichbench's :class:`~ichbench.baselines.nnunet_trainers.IchbenchTrainer`, and writes
out-of-fold masks and the fold ensemble's predictions (see :mod:`ichbench.baselines.nnunet`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichbench.baselines.nnunet import nnunet_stages
from ichbench.baselines.nnunet_config import PRESETS, NnunetConfig
from ichbench.harness.stages import Stage, run_inline

if TYPE_CHECKING:
    from ichbench.harness.methods import RunContext


class FineMethod:
    """nnU-Net on CT alone, 5-fold cross-validation, fold-ensemble prediction."""

    name = "fine"
    config_type = NnunetConfig
    presets = PRESETS

    def stages(self, ctx: RunContext[NnunetConfig]) -> list[Stage]:
        """``fine.prepare``, ``fine.fold<k>``, ``fine.predict.<split>`` (see nnunet_stages)."""
        return nnunet_stages(ctx, ctx.config, prefix="fine")

    def run(self, ctx: RunContext[NnunetConfig]) -> None:
        """Train ``ctx.folds``, write out-of-fold masks and ensemble predictions."""
        run_inline(self.stages(ctx), ctx.log)
