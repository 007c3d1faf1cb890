import json
from dataclasses import dataclass, field

import pytest

from ichbench.harness.config import (
    ConfigError,
    apply_overrides,
    config_hash,
    from_dict,
    to_dict,
    valid_keys,
)


@dataclass(frozen=True)
class Inner:
    epochs: int = 200
    grid_zyx: tuple[int, int, int] = (16, 256, 256)
    prior: float | None = 0.01

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs}: expected ≥ 1")


@dataclass(frozen=True)
class Outer:
    lr: float = 4e-4
    flag: bool = True
    hu_window: tuple[float, float] = (-100.0, 200.0)
    keep: tuple[str, ...] = ("largest",)
    patch: tuple[int | None, int | None] = (None, 128)
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    blocks: tuple[int, ...] = (6, 6)
    channels: tuple[int, ...] = (32, 32)

    def __post_init__(self) -> None:
        if len(self.blocks) != len(self.channels):
            raise ValueError("channels needs one entry per block")


BASE = Outer()


def test_overrides_are_typed_by_the_annotations():
    out = apply_overrides(BASE, ["lr=1e-3", "flag=false", "hu_window=[0, 80]", "keep=all",
                                 "name=y", "patch=null,64", "inner.epochs=3",
                                 "inner.grid_zyx=8,64,64", "inner.prior=none"])
    assert out == Outer(lr=1e-3, flag=False, hu_window=(0.0, 80.0), keep=("all",),
                        name="y", patch=(None, 64),
                        inner=Inner(epochs=3, grid_zyx=(8, 64, 64), prior=None))
    assert isinstance(out.hu_window[0], float) and BASE.inner.epochs == 200


def test_a_nested_part_takes_a_partial_json_object():
    out = apply_overrides(BASE, ['inner={"epochs": 3}'])
    assert out.inner == Inner(epochs=3)
    with pytest.raises(ConfigError, match=r"config\.inner: unknown key\(s\) epoch; valid keys: "
                                          r"epochs, grid_zyx, prior"):
        apply_overrides(BASE, ['inner={"epoch": 3}'])


def test_overrides_are_checked_together_not_one_at_a_time():
    out = apply_overrides(BASE, ["blocks=2,2,2", "channels=8,8,8"])
    assert out.blocks == (2, 2, 2)
    with pytest.raises(ConfigError, match="one entry per block"):
        apply_overrides(BASE, ["blocks=2,2,2"])


@pytest.mark.parametrize(("item", "message"), [
    ("lr", "expected key=value"),
    ("epochs=3", r"--set epochs: not a setting of demo \(did you mean inner\.epochs\?\); "
                 r"valid keys: lr, flag"),
    ("inner.epoch=3", r"--set inner\.epoch: not a setting of demo \(did you mean "
                      r"inner\.epochs\?\); valid keys under inner: inner\.epochs, "
                      r"inner\.grid_zyx, inner\.prior"),
    ("colour=3", r"--set colour: not a setting of demo; valid keys: lr, flag, hu_window, keep, "
                 r"patch, name, inner\.epochs, inner\.grid_zyx, inner\.prior, blocks"),
    ("lr.x=3", r"lr is a single value"),
    ("inner.epochs=three", r"--set inner\.epochs=three: cannot read as int"),
    ("inner.grid_zyx=8,64", r"expected 3 comma-separated values"),
    ("flag=maybe", "expected true or false"),
    ("inner.epochs=0", r"demo: epochs=0: expected ≥ 1"),
])
def test_bad_overrides_are_one_line_errors(item, message):
    with pytest.raises(ConfigError, match=message) as info:
        apply_overrides(BASE, [item], what="demo")
    assert "\n" not in str(info.value)


def test_json_round_trip_is_exact_and_strict():
    data = json.loads(json.dumps(to_dict(BASE)))
    assert data["inner"]["grid_zyx"] == [16, 256, 256]
    assert from_dict(Outer, data) == BASE
    with pytest.raises(ConfigError, match=r"config: missing key\(s\) name"):
        from_dict(Outer, {k: v for k, v in data.items() if k != "name"})
    with pytest.raises(ConfigError, match=r"config\.inner\.epochs='3': expected int"):
        from_dict(Outer, {**data, "inner": {**data["inner"], "epochs": "3"}})
    with pytest.raises(ConfigError, match=r"config\.hu_window=\[1\.0\]: expected 2 values"):
        from_dict(Outer, {**data, "hu_window": [1.0]})


def test_valid_keys_are_the_dotted_leaves():
    assert valid_keys(Outer)[-5:] == ["inner.epochs", "inner.grid_zyx", "inner.prior",
                                      "blocks", "channels"]


def test_config_hash_ignores_key_order_and_sees_values():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


# --- issue 23: nonsense refused at the boundary, messages one line and cut ----------------


@pytest.mark.parametrize(("item", "message"), [
    ("lr=inf", r"config\.lr=inf: expected a finite number"),
    ("lr=-inf", r"config\.lr=-inf: expected a finite number"),
    ("lr=nan", r"config\.lr=nan: expected a finite number"),
    ("hu_window=0,inf", r"config\.hu_window\[1\]=inf: expected a finite number"),
    ("inner.epochs=4294967296", "expected an int of at most 2,147,483,647 in magnitude"),
    ("blocks=" + "[" * 50_000 + "]" * 50_000, "JSON nested deeper than 32 levels"),
    ("inner=" + "[" * 50_000 + "]" * 50_000, "JSON nested deeper than 32 levels"),
    ("inner=" + '{"epochs": ' * 40 + "1" + "}" * 40, "JSON nested deeper than 32 levels"),
    ("x" * 200_000 + "=1", r"--set x{59}…: not a setting of demo"),
    ("name.x" + "y" * 200_000 + "=1", "name is a single value"),
    ("inner.epochs=" + "7" * 200_000, r"--set inner\.epochs=7{59}…: cannot read as int"),
    ("=" * 200_000, "expected key=value"),
])
def test_nonsense_is_refused_in_one_short_line(item, message):
    with pytest.raises(ConfigError, match=message) as info:
        apply_overrides(BASE, [item], what="demo")
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


def test_a_config_json_with_infinity_or_a_huge_key_is_refused_in_one_short_line():
    data = to_dict(BASE)
    data["lr"] = float("inf")
    with pytest.raises(ConfigError, match=r"config\.lr=inf: expected a finite number"):
        from_dict(Outer, data)
    data = to_dict(BASE)
    data["k" * 200_000] = 1
    with pytest.raises(ConfigError, match="unknown key") as info:
        from_dict(Outer, data)
    assert len(str(info.value)) < 400
    data = to_dict(BASE)
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    data["lr"] = nested
    with pytest.raises(ConfigError, match="nested too deeply to show"):
        from_dict(Outer, data)


def test_every_preset_is_inside_the_ranges_its_config_checks():
    from ichbench.baselines import cascade, coarse, nnunet_config, threshold

    for presets in (coarse.PRESETS, nnunet_config.PRESETS, cascade.PRESETS):
        for preset in presets.values():  # a round trip rebuilds and rechecks it
            assert from_dict(type(preset), json.loads(json.dumps(to_dict(preset)))) == preset
    assert threshold.ThresholdConfig() == from_dict(threshold.ThresholdConfig,
                                                    to_dict(threshold.ThresholdConfig()))


def test_every_nnunet_preset_makes_a_valid_trainer_record():
    """The config's choices and ranges are ones the trainer's settings record accepts."""
    from ichbench.baselines import nnunet_config

    for cfg in nnunet_config.PRESETS.values():
        for channels in ((), (1,)):
            record = nnunet_config.trainer_settings(cfg, mask_channels=channels, seed=3)
            assert (record.optimizer, record.num_epochs) == (cfg.optimizer, cfg.num_epochs)
