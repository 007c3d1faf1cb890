"""``fine``: nnU-Net v2 3d_fullres on the CT alone (the paper's fine stage, as an ablation).

The method converts the dataset into an nnU-Net raw dataset inside the run folder, lets
nnU-Net plan and preprocess it, adjusts the plan to the preset (see
:mod:`ichbench.baselines.nnunet_plans`), trains one model per protocol fold with
ichbench's :class:`~ichbench.baselines.nnunet_trainers.IchbenchTrainer`, and writes
out-of-fold masks and the fold ensemble's predictions (see :mod:`ichbench.baselines.nnunet`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ichbench.baselines.nnunet import NnunetConfig, preset_config, run_nnunet

if TYPE_CHECKING:
    from ichbench.methods import RunContext


class FineMethod:
    """nnU-Net on CT alone, 5-fold cross-validation, fold-ensemble prediction."""

    name = "fine"

    def default_config(self, preset: str) -> Mapping[str, Any]:
        """The preset's nnU-Net settings as a plain dict (written to config.json)."""
        return preset_config(preset).to_dict()

    def validate_config(self, config: Mapping[str, Any]) -> None:
        """Raise ValueError (one line) if ``config`` is not a valid nnU-Net stage config."""
        NnunetConfig.from_mapping(config)

    def run(self, ctx: RunContext) -> None:
        """Train ``ctx.folds``, write out-of-fold masks and ensemble predictions."""
        cfg = NnunetConfig.from_mapping(ctx.config)
        run_nnunet(ctx, cfg, masks=None)
