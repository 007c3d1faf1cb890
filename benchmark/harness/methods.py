"""The contract between the run harness and a method, and the one list of methods.

A method turns a dataset and a protocol into submission folders: one mask per case, on the
case's own CT grid. Everything a method writes goes under the run folder it is given, so
the harness can score it with the same code as an external submission.

This module is the one place that declares the method names (:data:`REGISTRY`,
:data:`ALL_METHODS`), the preset names (:data:`PRESETS`) and the device choices
(:data:`DEVICES`); the CLI and the harness read them from here. Each method declares its
own preset values (one frozen config instance per name of :data:`PRESETS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from ichbench.data.dataset import Dataset
    from ichbench.data.protocol import Protocol as SplitProtocol
    from ichbench.harness.stages import Stage


#: Preset names every method provides: ``cpu`` (minutes on 2 CPU cores, the default) and
#: ``paper`` (the paper's budgets, a GPU).
PRESETS = ("cpu", "paper")
DEFAULT_PRESET = "cpu"
#: ``--device`` choices: ``auto`` is ``cuda`` when torch sees a GPU, else ``cpu``.
DEVICES = ("auto", "cpu", "cuda")


class MethodConfig(Protocol):
    """What every method's config is: a (frozen, nested) dataclass instance.

    Each method has its own config class (its ``config_type``); the harness builds, writes
    and reads it through :mod:`ichbench.harness.config` without knowing which.
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]


#: The config type of a run context: the method's own ``config_type``.
ConfigT = TypeVar("ConfigT", bound=MethodConfig)
#: The config type of a sub-stage's context (:meth:`RunContext.with_run_dir`).
SubConfigT = TypeVar("SubConfigT", bound=MethodConfig)


@dataclass(frozen=True)
class RunContext(Generic[ConfigT]):
    """What a method may use while it runs; ``RunContext[CoarseConfig]`` for ``coarse``.

    Attributes
    ----------
    run_dir
        The method's folder. For a stand-alone run this is the run folder; a cascade gives
        its coarse stage a sub-folder.
    dataset, protocol
        The cases and their splits/folds. Methods train only on ``protocol`` training ids.
    config
        The method's typed configuration (its ``config_type``: the preset with ``--set``
        overrides applied), built once by the harness and written to ``config.json``. The
        preset's name is not passed: a method acts on its config's values, never on which
        preset they came from (``config.json`` records the name).
    device
        A torch device: ``"cpu"``, ``"cuda"`` or ``"cuda:<n>"``.
    folds
        The folds to train, a subset of ``range(protocol.n_folds)``.
    seed
        Base seed; fold ``k`` uses ``seed + k``.
    log
        Writes one line to the console and to ``log.txt``.
    shared
        Method name → run folder of another run whose stages this run reuses
        (``--method all``: the cascade's coarse stage is the ``coarse`` run's).
    """

    run_dir: Path
    dataset: Dataset
    protocol: SplitProtocol
    config: ConfigT
    device: str
    folds: tuple[int, ...]
    seed: int
    log: Callable[[str], None]
    shared: Mapping[str, Path] = field(default_factory=dict)

    def fold_dir(self, fold: int) -> Path:
        """``run_dir/folds/<fold>``: checkpoints, history.csv, out-of-fold masks."""
        return self.run_dir / "folds" / str(fold)

    def oof_dir(self, fold: int) -> Path:
        """Out-of-fold masks of fold ``fold``'s validation cases."""
        return self.fold_dir(fold) / "oof"

    def prediction_dir(self, split: str) -> Path:
        """``run_dir/predictions/<split>``: a submission folder for that split."""
        return self.run_dir / "predictions" / split

    def with_run_dir(self, run_dir: Path, config: SubConfigT) -> RunContext[SubConfigT]:
        """The same run seen by a sub-stage (e.g. the cascade's coarse model)."""
        return RunContext(run_dir=run_dir, dataset=self.dataset, protocol=self.protocol,
                          config=config, device=self.device, folds=self.folds,
                          seed=self.seed, log=self.log, shared=self.shared)


class Method(Protocol[ConfigT]):
    """A segmentation method runnable by ``ichbench run``, typed by its config class.

    Its ``stages`` train each fold in ``ctx.folds`` (resuming from checkpoints found in
    ``ctx.fold_dir``), write each fold's out-of-fold masks to ``ctx.oof_dir(k)``, and write
    the fold ensemble's masks for every non-training split of ``ctx.protocol`` to
    ``ctx.prediction_dir(split)``, one ``<case_id>.nii.gz`` per case with the CT's geometry.
    ``run`` runs every stage in this process (tests, and methods used as a library).
    """

    name: str
    #: The method's frozen (nested) config dataclass.
    config_type: type[ConfigT]
    #: Preset name (every name of :data:`PRESETS`) → config instance.
    presets: Mapping[str, ConfigT]

    def stages(self, ctx: RunContext[ConfigT]) -> list[Stage]:
        """The method's work as idempotent stages (:mod:`ichbench.harness.stages`)."""
        ...

    def run(self, ctx: RunContext[ConfigT]) -> None:
        """Train, predict and write submission folders under ``ctx.run_dir``."""
        ...


#: Method name → "module:attribute" of a zero-argument factory, imported on demand so that
#: torch and nnU-Net load only for the methods that need them. The order is the order of
#: ``--method all`` (and of its comparison table).
REGISTRY: dict[str, str] = {
    "threshold": "ichbench.baselines.threshold:ThresholdMethod",
    "coarse": "ichbench.baselines.coarse:CoarseMethod",
    "fine": "ichbench.baselines.fine:FineMethod",
    "cascade": "ichbench.baselines.cascade:CascadeMethod",
}
#: The methods ``--method all`` runs, in order.
ALL_METHODS = tuple(REGISTRY)
#: ``--method`` choices.
METHOD_CHOICES = (*REGISTRY, "all")


def get_method(name: str) -> Method[Any]:
    """Instantiate the method registered as ``name``."""
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; choose one of {sorted(REGISTRY)}") from None
    module_name, attr = target.split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory()  # type: ignore[no-any-return]
