import json

import pytest

from ichbench.config import from_dict, to_dict
from ichbench.methods import ALL_METHODS, METHOD_CHOICES, PRESETS, REGISTRY, get_method


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
