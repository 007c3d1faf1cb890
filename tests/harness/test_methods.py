import json

import pytest

from ichbench.harness.config import from_dict, to_dict
from ichbench.harness.methods import ALL_METHODS, METHOD_CHOICES, PRESETS, REGISTRY, get_method


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_method_declares_one_typed_preset_per_preset_name(name):
    method = get_method(name)
    assert method.name == name
    assert set(method.presets) == set(PRESETS)
    for preset in PRESETS:
        config = method.presets[preset]
        assert isinstance(config, method.config_type)
        assert from_dict(method.config_type, json.loads(json.dumps(to_dict(config)))) == config


def test_the_cli_choices_are_the_registry():
    from ichbench.commands.run import run

    options = {p.name: p for p in run.params}
    assert tuple(options["method"].type.choices) == METHOD_CHOICES == (*ALL_METHODS, "all")
    assert tuple(options["preset"].type.choices) == PRESETS


def test_run_context_carries_the_typed_config_and_no_preset_name(tmp_path):
    """A method acts on its config's values; the preset's name is not there to branch on."""
    import dataclasses

    from ichbench.baselines.cascade import PRESETS as CASCADE
    from ichbench.harness.methods import RunContext

    assert "preset" not in {f.name for f in dataclasses.fields(RunContext)}
    cascade = CASCADE["cpu"]
    ctx: RunContext = RunContext(run_dir=tmp_path, dataset=None, protocol=None,
                                 config=cascade, device="cpu", folds=(0,), seed=3,
                                 log=print, shared={"coarse": tmp_path / "c"})
    sub = ctx.with_run_dir(tmp_path / "coarse", cascade.coarse)
    assert sub.config is cascade.coarse
    assert (sub.run_dir, sub.device, sub.folds, sub.seed, sub.shared) == (
        tmp_path / "coarse", "cpu", (0,), 3, ctx.shared)
