"""``ichbench_trainer.json``: a strict record built from the typed config, no defaults."""

import dataclasses
import json

import pytest

from ichbench.baselines.nnunet_config import PRESETS, NnunetConfig, trainer_settings
from ichbench.baselines.nnunet_settings import (
    TRAINER_CONFIG_FILE,
    NnunetTrainerSettings,
    TrainerSettingsError,
)

#: The file as ichbench wrote it before 2026-12-07 (no ``seed``): a real older version.
BEFORE_SEED = {"num_epochs": 30, "num_iterations_per_epoch": 10,
               "num_val_iterations_per_epoch": 1, "initial_lr": 0.002,
               "oversample_foreground_percent": 0.33, "optimizer": "adam",
               "output_prior": 0.01, "mask_channels": [1], "perturb_masks": False,
               "plot_progress": False}


def cpu_record(**changes):
    return dataclasses.replace(trainer_settings(PRESETS["cpu"], mask_channels=(1,), seed=5),
                               **changes)


def written(tmp_path, data) -> str:
    (tmp_path / TRAINER_CONFIG_FILE).write_text(json.dumps(data))
    with pytest.raises(TrainerSettingsError) as info:
        NnunetTrainerSettings.read(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / TRAINER_CONFIG_FILE)), message
    assert "stages/fine.prepare.json" in message and "--resume" in message, message
    return message


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("channels", [(), (1,)])
def test_record_round_trips_through_the_file(tmp_path, preset, channels):
    record = trainer_settings(PRESETS[preset], mask_channels=channels, seed=11)
    path = record.write(tmp_path)
    assert path.name == TRAINER_CONFIG_FILE
    assert NnunetTrainerSettings.read(tmp_path) == record
    assert NnunetTrainerSettings.from_json(json.loads(json.dumps(record.to_json()))) == record


def test_record_takes_every_value_from_the_config_and_the_run():
    """Defaults live in NnunetConfig only: a bare config's record carries its defaults."""
    cfg = NnunetConfig(num_epochs=3, num_iterations_per_epoch=4, num_val_iterations_per_epoch=2)
    record = trainer_settings(cfg, mask_channels=(), seed=9)
    shared = {f.name for f in dataclasses.fields(NnunetTrainerSettings)} & {
        f.name for f in dataclasses.fields(NnunetConfig)}
    assert shared == {f.name for f in dataclasses.fields(NnunetTrainerSettings)} - {
        "seed", "mask_channels"}
    for name in shared - {"perturb_masks"}:
        assert getattr(record, name) == getattr(cfg, name), name
    assert (record.seed, record.mask_channels) == (9, ())
    assert cfg.perturb_masks and not record.perturb_masks  # no mask channel to perturb
    assert trainer_settings(cfg, mask_channels=(1,), seed=9).perturb_masks


def test_record_has_no_defaults_of_its_own():
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in dataclasses.fields(NnunetTrainerSettings))


def test_file_is_the_plain_json_of_the_record(tmp_path):
    cpu_record().write(tmp_path)
    data = json.loads((tmp_path / TRAINER_CONFIG_FILE).read_text())
    assert data == {**BEFORE_SEED, "seed": 5}
    assert next(iter(data)) == "seed"  # same key order as the files written before the record


def test_unknown_key_is_refused_with_the_valid_keys(tmp_path):
    message = written(tmp_path, {**cpu_record().to_json(), "num_epoch": 100})
    assert "unknown key(s) num_epoch" in message and "num_epochs" in message


def test_file_from_before_the_seed_is_refused_with_the_way_to_continue(tmp_path):
    message = written(tmp_path, BEFORE_SEED)
    assert "missing key(s) seed" in message


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("num_epochs", "30", "num_epochs='30': expected int"),
    ("num_epochs", 30.0, "num_epochs=30.0: expected int"),
    ("num_epochs", True, "num_epochs=True: expected int"),
    ("perturb_masks", 0, "perturb_masks=0: expected bool"),
    ("mask_channels", 1, "mask_channels=1: expected tuple"),
    ("output_prior", "0.01", "output_prior='0.01': expected float | None"),
])
def test_wrong_type_names_key_and_expected_type(tmp_path, key, value, expected):
    assert expected in written(tmp_path, {**cpu_record().to_json(), key: value})


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("num_epochs", 0, "num_epochs=0: expected a value in [1, 1e+06]"),
    ("oversample_foreground_percent", 2, "oversample_foreground_percent=2.0: expected a value"),
    ("initial_lr", 0, "initial_lr=0.0: expected a value"),
    ("seed", -1, "seed=-1: expected a value"),
    ("optimizer", "rm -rf /", "optimizer='rm -rf /': expected one of sgd, adam"),
    ("output_prior", 1, "output_prior=1.0: expected a probability"),
    ("mask_channels", [1, 1], "mask_channels=[1, 1]: expected distinct"),
    ("mask_channels", [-1], "mask_channels=[-1]: expected values in [0, 63]"),
])
def test_out_of_range_value_names_the_key(tmp_path, key, value, expected):
    message = written(tmp_path, {**cpu_record().to_json(), key: value})
    assert f"{TRAINER_CONFIG_FILE}: {expected}" in message, message


@pytest.mark.parametrize(("text", "expected"), [
    ("[1, 2]", "expected a JSON object of trainer settings, found list"),
    ("{not json", "not valid JSON"),
])
def test_malformed_file_is_one_line(tmp_path, text, expected):
    (tmp_path / TRAINER_CONFIG_FILE).write_text(text)
    with pytest.raises(TrainerSettingsError, match=expected):
        NnunetTrainerSettings.read(tmp_path)


def test_missing_file_says_it_is_never_replaced_by_nnunet_defaults(tmp_path):
    with pytest.raises(TrainerSettingsError, match="not from nnU-Net's defaults"):
        NnunetTrainerSettings.read(tmp_path)


def test_record_module_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, ichbench.baselines.nnunet_settings; "
            "print('torch' in sys.modules, 'nnunetv2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
