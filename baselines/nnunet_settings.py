"""The settings record between ichbench and its nnU-Net trainer (``ichbench_trainer.json``).

nnU-Net builds its trainer from a class name and four arguments of its own, so ichbench
cannot hand the trainer a Python object: the prepare stage writes the trainer's settings to
``ichbench_trainer.json`` beside the plans, and :class:`~ichbench.baselines.nnunet_trainers.
IchbenchTrainer` reads them back. This module is that file's one definition, on both
sides: :class:`NnunetTrainerSettings` is written by :meth:`~NnunetTrainerSettings.write`
and read by :meth:`~NnunetTrainerSettings.read`, strictly. Every field is required (no
defaults here: they live in the method's config,
:class:`~ichbench.baselines.nnunet_config.NnunetConfig`, from which
:func:`~ichbench.baselines.nnunet_config.trainer_settings` builds the record), and an unknown, a
missing or a mistyped key is a one-line error naming the file, the key and what to do.
Reading a file never falls back to nnU-Net's defaults (1,000 epochs, 0.33 oversampling):
a renamed key used to do exactly that, silently.

Version history: the file has no version number; its keys are the record's fields. A
file from ichbench before 2026-12-07 lacks ``seed`` (and older ones more keys): it is
refused with the way to continue (:data:`HOW_TO_CONTINUE`), which rewrites the file from
the run's ``config.json``. Torch-free, so the config and tests use it without nnU-Net.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichbench.harness.config import ConfigError, check_choice, check_ranges, from_dict, to_dict
from ichbench.io.atomic import write_json

#: File in the preprocessed dataset folder holding the trainer's settings.
TRAINER_CONFIG_FILE = "ichbench_trainer.json"
#: Optimisers the trainer knows: nnU-Net's SGD, or Adam (CPU budgets).
OPTIMIZERS = ("sgd", "adam")
#: Largest epoch or iteration count a config may ask for.
MAX_STEPS = 1_000_000
#: Largest input channel index a mask channel may have.
MAX_CHANNEL = 63
#: What a user does with a file this version cannot read. The file is derived data: the
#: ``fine.prepare`` stage (plain ``fine`` and the cascade's nnU-Net alike) writes it from the
#: run's config.json; run again, it keeps the plans and preprocessed data it finds.
HOW_TO_CONTINUE = ("it is written by ichbench's nnU-Net prepare stage from the run's "
                   "config.json: to continue the run, delete stages/fine.prepare.json in the "
                   "run folder and resume it (ichbench run --resume RUN_DIR), or start a new "
                   "run")


class TrainerSettingsError(ConfigError):
    """An ``ichbench_trainer.json`` this version cannot use; one line with the fix."""


@dataclass(frozen=True)
class NnunetTrainerSettings:
    """Every setting :class:`~ichbench.baselines.nnunet_trainers.IchbenchTrainer` reads.

    Attributes
    ----------
    seed
        The run's training seed; fold ``k`` draws from ``(seed, k)`` (≥ 0).
    num_epochs, num_iterations_per_epoch, num_val_iterations_per_epoch
        Training budget, each in [1, :data:`MAX_STEPS`].
    initial_lr
        Learning rate at epoch 0 (poly decay), in [1e-12, 10].
    oversample_foreground_percent
        Share of each batch's patches centred on foreground, in [0, 1].
    optimizer
        One of :data:`OPTIMIZERS`.
    output_prior
        Initial foreground probability of the output layers, in (0, 1); None = nnU-Net's
        initialisation.
    mask_channels
        Input channels holding a binary mask (the cascade's coarse mask: ``(1,)``), distinct,
        in [0, :data:`MAX_CHANNEL`]; empty for CT alone.
    perturb_masks
        nnU-Net-cascade-style random morphology on the mask channels.
    plot_progress
        nnU-Net's per-epoch ``progress.png``.
    """

    seed: int
    num_epochs: int
    num_iterations_per_epoch: int
    num_val_iterations_per_epoch: int
    initial_lr: float
    oversample_foreground_percent: float
    optimizer: str
    output_prior: float | None
    mask_channels: tuple[int, ...]
    perturb_masks: bool
    plot_progress: bool

    def __post_init__(self) -> None:
        owner = f"{TRAINER_CONFIG_FILE} "
        check_choice(owner, "optimizer", self.optimizer, OPTIMIZERS)
        check_ranges(owner, [
            ("seed", self.seed, 0, 2**31 - 1),
            ("num_epochs", self.num_epochs, 1, MAX_STEPS),
            ("num_iterations_per_epoch", self.num_iterations_per_epoch, 1, MAX_STEPS),
            ("num_val_iterations_per_epoch", self.num_val_iterations_per_epoch, 1, MAX_STEPS),
            ("initial_lr", self.initial_lr, 1e-12, 10.0),
            ("oversample_foreground_percent", self.oversample_foreground_percent, 0.0, 1.0),
            ("mask_channels", self.mask_channels, 0, MAX_CHANNEL),
        ])
        if self.output_prior is not None and not 0 < self.output_prior < 1:
            raise ValueError(f"{owner}output_prior={self.output_prior}: expected a probability "
                             "in (0, 1) or null (nnU-Net's initialisation)")
        if len(set(self.mask_channels)) != len(self.mask_channels):
            raise ValueError(f"{owner}mask_channels={list(self.mask_channels)}: expected "
                             "distinct channel indices")

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object (field order; tuples as lists)."""
        return to_dict(self)

    @classmethod
    def from_json(cls, data: Any, *, where: str = TRAINER_CONFIG_FILE) -> NnunetTrainerSettings:
        """Build the record from a parsed file, strictly.

        Parameters
        ----------
        data
            The parsed JSON (anything: a list or a string is refused, too).
        where
            The file, named at the start of every error.

        Raises
        ------
        TrainerSettingsError
            One line: the file, the unknown / missing / mistyped / out-of-range key, and
            :data:`HOW_TO_CONTINUE`.
        """
        try:
            return from_dict(cls, data, where=where)
        except ConfigError as exc:
            message = str(exc)
            own = f"{TRAINER_CONFIG_FILE} "  # a range check's prefix: name the real file
            if message.startswith(own):
                message = message[len(own):]
            if not message.startswith(where):
                message = f"{where}: {message}"
            raise TrainerSettingsError(f"{message}; {HOW_TO_CONTINUE}") from None

    @classmethod
    def read(cls, folder: str | Path) -> NnunetTrainerSettings:
        """The record in ``folder/ichbench_trainer.json`` (the preprocessed dataset folder).

        Raises
        ------
        TrainerSettingsError
            If the file is missing, not JSON, or not a complete and valid record.
        """
        path = Path(folder) / TRAINER_CONFIG_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise TrainerSettingsError(
                f"{path}: not found; IchbenchTrainer takes its budget from this file, not "
                f"from nnU-Net's defaults; {HOW_TO_CONTINUE}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise TrainerSettingsError(f"{path}: cannot read it ({type(exc).__name__}); "
                                       f"{HOW_TO_CONTINUE}") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise TrainerSettingsError(f"{path}: not valid JSON; {HOW_TO_CONTINUE}") from None
        if not isinstance(data, Mapping):
            raise TrainerSettingsError(f"{path}: expected a JSON object of trainer settings, "
                                       f"found {type(data).__name__}; {HOW_TO_CONTINUE}")
        return cls.from_json(data, where=str(path))

    def write(self, folder: str | Path) -> Path:
        """Write ``folder/ichbench_trainer.json`` atomically; return its path."""
        path = Path(folder) / TRAINER_CONFIG_FILE
        write_json(path, self.to_json())
        return path


__all__ = ["HOW_TO_CONTINUE", "MAX_STEPS", "OPTIMIZERS", "TRAINER_CONFIG_FILE",
           "NnunetTrainerSettings", "TrainerSettingsError"]
