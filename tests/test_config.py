import dataclasses

import pytest

from tsdiff.config import ConfigError, TSDiffConfig


def base(**kw):
    args = dict(prediction_length=24, context_length=96, freq="h", lags=(24,), tail_length=24)
    args.update(kw)
    return TSDiffConfig(**args)


def test_round_trip_plain_data():
    cfg = base(channel_mults=[1, 2], static_cardinalities=[3])
    d = cfg.to_dict()
    assert d["channel_mults"] == [1, 2] and isinstance(d["lags"], list)
    assert TSDiffConfig.from_dict(d) == cfg
    assert cfg.window_length == 48


def test_frozen():
    cfg = base()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.prediction_length = 3  # type: ignore[misc]


def test_unknown_keys_rejected():
    d = base().to_dict()
    d["hiden_channels"] = 3
    with pytest.raises(ConfigError, match="hiden_channels"):
        TSDiffConfig.from_dict(d)


@pytest.mark.parametrize("field,value", [
    ("prediction_length", 0), ("prediction_length", 2.5), ("context_length", -1), ("tail_length", 200),
    ("lags", (500,)), ("scaling", "minmax"), ("beta_schedule", "quad"), ("beta_end", 2.0),
    ("dropout", 1.0), ("grad_clip", 0.0), ("ema_decay", 1.0), ("max_time", -5.0), ("freq", ""),
    ("patch_size", 0), ("patch_size", 1.5),
])
def test_invalid_values_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        base(**{field: value})


def test_config_without_patch_size_loads_as_unpatched():
    """Model files written before ``patch_size`` existed load as patch_size=1 (their architecture)."""
    d = base().to_dict()
    del d["patch_size"]
    assert TSDiffConfig.from_dict(d).patch_size == 1


def test_new_input_fields_default_to_the_robust_inputs():
    cfg = base()
    assert cfg.scale_floor == 0.1 and cfg.level_input and cfg.horizon_mask
    assert cfg.min_context_observed == min(96, max(24, 16))
    assert base(prediction_length=4, context_length=10, tail_length=8, lags=()).min_context_observed == 10
    assert TSDiffConfig.from_dict(cfg.to_dict()) == cfg


def test_config_of_a_version_1_file_gets_the_legacy_inputs():
    """A config dict without the fields added in format version 2 rebuilds the version-1 model."""
    from tsdiff.config import LEGACY_VALUES

    d = base().to_dict()
    for key in LEGACY_VALUES:
        del d[key]
    cfg = TSDiffConfig.from_dict(d)
    assert (cfg.scale_floor, cfg.min_context_observed, cfg.level_input, cfg.horizon_mask) == (0.0, 0, False, False)
    # A legacy config round-trips as itself (the values are written out, not re-defaulted).
    assert TSDiffConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("field,value", [("scale_floor", -0.1), ("min_context_observed", 97),
                                         ("min_context_observed", -1), ("level_input", 1),
                                         ("horizon_mask", "yes")])
def test_new_input_fields_are_validated(field, value):
    with pytest.raises(ConfigError, match=field):
        base(**{field: value})
