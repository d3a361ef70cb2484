"""Config: legal ranges name the field, TOML round trip, unknown keys, presets, replace()."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from synaprune.model import config as config_mod
from synaprune.model.config import Config, row_word_shape


def test_defaults_are_valid() -> None:
    cfg = Config()
    assert cfg.validate() is cfg


def test_derived_quantities_by_hand() -> None:
    cfg = Config()  # 64 inputs, 128 neurons, 8 lanes, T = 16, B = 16, W = 8, M = 16, A = 12
    assert cfg.w_max == 255
    assert cfg.v_max == 65535
    assert cfg.adapt_max == 4095
    assert cfg.rows == 16  # 128 / 8
    assert cfg.col_words == 4  # 64 / 16
    assert cfg.never == 16
    assert cfg.time_bits == 5  # 0..16 needs 5 bits
    assert cfg.input_bits == 6  # 0..63
    assert cfg.neuron_bits == 7  # 0..127
    assert cfg.stdp_shift == 20  # 12 + 8
    small = Config(n_inputs=18, image_shape=(3, 6), n_neurons=6, lanes=3, time_steps=15,
                   col_word_bits=8, weight_bits=4, membrane_bits=10, adapt_bits=6,
                   stdp_frac_bits=5, threshold=100, a_plus=10, a_minus=-10,
                   prune_threshold=3, homeo_inc=5, homeo_decay_shift=2).validate()
    assert small.w_max == 15
    assert small.v_max == 1023
    assert small.adapt_max == 63
    assert small.rows == 2
    assert small.col_words == 3  # ceil(18 / 8)
    assert small.time_bits == 4  # 0..15
    assert small.input_bits == 5  # 0..17
    assert small.neuron_bits == 3  # 0..5
    assert small.stdp_shift == 9
    one = Config(n_inputs=1, image_shape=(1, 1), n_neurons=1, lanes=1, time_steps=1).validate()
    assert one.input_bits == 1 and one.neuron_bits == 1 and one.time_bits == 1


BAD: list[tuple[str, dict[str, Any]]] = [
    ("n_inputs", {"n_inputs": 0}),
    ("n_inputs", {"n_inputs": 63}),  # 8x8 image has 64 pixels
    ("n_inputs", {"on_off": True}),  # on_off needs 128 inputs for 8x8
    ("lanes", {"lanes": 0}),
    ("n_neurons", {"n_neurons": 4}),  # fewer than the 8 lanes
    ("n_neurons", {"n_neurons": 12}),  # not a multiple of 8 lanes
    ("time_steps", {"time_steps": 0}),
    ("time_steps", {"time_steps": 256}),
    ("k_max", {"k_max": 0}),
    ("k_max", {"k_max": 9, "k_winners": 1}),
    ("k_winners", {"k_winners": 2}),  # k_max defaults to 1
    ("k_winners", {"k_winners": 0}),
    ("col_word_bits", {"col_word_bits": 12}),
    ("row_word_bits", {"row_word_bits": 12}),
    ("row_word_bits", {"row_word_bits": 64}),
    ("weight_bits", {"weight_bits": 1}),
    ("weight_bits", {"weight_bits": 13}),
    ("membrane_bits", {"membrane_bits": 7}),
    ("membrane_bits", {"membrane_bits": 25}),
    ("membrane_bits", {"membrane_bits": 8, "weight_bits": 8, "adapt_bits": 8, "threshold": 0}),
    ("adapt_bits", {"adapt_bits": 1}),
    ("adapt_bits", {"adapt_bits": 17}),
    ("stdp_frac_bits", {"stdp_frac_bits": 3}),
    ("stdp_frac_bits", {"stdp_frac_bits": 17}),
    ("image_shape", {"image_shape": (8, 0)}),
    ("image_shape", {"image_shape": (64,)}),
    ("input_min", {"input_min": 256}),
    ("input_min", {"input_min": -1}),
    ("threshold", {"threshold": -1}),
    ("threshold", {"threshold": 65536}),
    ("leak_shift", {"leak_shift": -1}),
    ("leak_shift", {"leak_shift": 16}),
    ("a_plus", {"a_plus": -1}),
    ("a_plus", {"a_plus": 8192}),  # F = 12: 0..2**13 - 1
    ("a_minus", {"a_minus": 1}),
    ("a_minus", {"a_minus": -8192}),
    ("prune_threshold", {"prune_threshold": 256}),
    ("prune_threshold", {"prune_threshold": -1}),
    ("homeo_inc", {"homeo_inc": 4096}),
    ("homeo_decay_shift", {"homeo_decay_shift": 12}),
    ("homeo_decay_shift", {"homeo_decay_shift": -1}),
    ("lfsr_seed", {"lfsr_seed": 0}),
    ("lfsr_seed", {"lfsr_seed": 1 << 32}),
    ("init_mean", {"init_mean": 1.5}),
    ("init_mean", {"init_mean": -0.1}),
    ("init_std", {"init_std": -0.01}),
    ("epochs", {"epochs": 0}),
]


@pytest.mark.parametrize(("field", "changes"), BAD, ids=[f"{f}-{i}" for i, (f, _) in
                                                          enumerate(BAD)])
def test_validate_names_the_field(field: str, changes: dict[str, Any]) -> None:
    cfg = Config(**changes)
    with pytest.raises(ValueError, match=rf"^config\.{field} = "):
        cfg.validate()


GOOD: list[dict[str, Any]] = [
    {"time_steps": 1}, {"time_steps": 255}, {"k_max": 8, "k_winners": 8},
    {"col_word_bits": 8}, {"col_word_bits": 32}, {"weight_bits": 2, "prune_threshold": 3},
    {"row_word_bits": 4}, {"row_word_bits": 32},
    {"weight_bits": 12, "stdp_frac_bits": 16, "membrane_bits": 24},
    {"membrane_bits": 9, "adapt_bits": 9, "threshold": 511, "homeo_inc": 32},
    {"input_min": 0}, {"input_min": 255}, {"threshold": 0}, {"threshold": 65535},
    {"leak_shift": 15}, {"a_plus": 0}, {"a_plus": 8191}, {"a_minus": 0}, {"a_minus": -8191},
    {"prune_threshold": 0}, {"prune_threshold": 255}, {"homeo_inc": 4095},
    {"homeo_decay_shift": 11}, {"lfsr_seed": 1}, {"lfsr_seed": 0xFFFFFFFF},
    {"init_mean": 0.0}, {"init_mean": 1.0}, {"init_std": 0.0},
    {"on_off": True, "n_inputs": 128}, {"n_neurons": 8, "lanes": 8}, {"n_neurons": 1, "lanes": 1},
]


@pytest.mark.parametrize("changes", GOOD)
def test_boundary_values_accepted(changes: dict[str, Any]) -> None:
    Config(**changes).validate()


@pytest.mark.parametrize(("field", "value"), [
    ("n_inputs", 64.0), ("threshold", True), ("lanes", "8"), ("lfsr_seed", 1.0),
])
def test_non_int_rejected_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(TypeError, match=rf"config\.{field} must be an int"):
        Config(**{field: value}).validate()


# ---------------------------------------------------------------------------------------------
# TOML
# ---------------------------------------------------------------------------------------------
def _custom() -> Config:
    return Config(n_inputs=32, image_shape=(4, 4), on_off=True, n_neurons=12, lanes=4,
                  time_steps=9, k_max=3, k_winners=2, col_word_bits=8, weight_bits=6,
                  membrane_bits=14, adapt_bits=10, stdp_frac_bits=7, input_min=3,
                  threshold=1234, leak_shift=3, a_plus=17, a_minus=-200, prune_enabled=False,
                  prune_threshold=5, homeo_inc=7, homeo_decay_shift=4, lfsr_seed=0xDEADBEEF,
                  init_mean=0.25, init_std=0.125, seed=42, epochs=3).validate()


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = _custom()
    path = tmp_path / "c.toml"
    cfg.save(path)
    text = path.read_text()
    assert re.search(r"^image_shape = \[\s*4,\s*4,?\s*\]", text, re.M)
    assert "lfsr_seed = 3735928559" in text
    back = Config.load(path)
    assert back == cfg
    assert back.image_shape == (4, 4)
    assert isinstance(back.image_shape, tuple)
    # and the defaults survive too
    cfg2 = Config()
    cfg2.save(tmp_path / "d.toml")
    assert Config.load(tmp_path / "d.toml") == cfg2


def test_partial_toml_keeps_defaults(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("threshold = 700\nimage_shape = [8, 8]\n")
    cfg = Config.load(path)
    assert cfg.threshold == 700
    assert cfg == Config(threshold=700)


def test_unknown_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "u.toml"
    path.write_text("treshold = 700\nlanes = 8\nzeta = 1\n")
    with pytest.raises(ValueError, match="unknown config key.*treshold, zeta"):
        Config.load(path)
    with pytest.raises(ValueError, match="treshold"):
        Config.from_dict({"treshold": 1})


def test_bad_value_in_toml_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text("lanes = 3\n")
    with pytest.raises(ValueError, match=r"config\.n_neurons"):
        Config.load(path)
    path.write_text("time_steps = 300\n")
    with pytest.raises(ValueError, match=r"config\.time_steps"):
        Config.load(path)
    path.write_text("threshold = 1.5\n")
    with pytest.raises(TypeError, match=r"config\.threshold"):
        Config.load(path)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        Config.load(tmp_path / "nope.toml")
    path = tmp_path / "bad.toml"
    path.write_text("threshold = = 3\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        Config.load(path)


def test_to_dict_from_dict_round_trip() -> None:
    cfg = _custom()
    d = cfg.to_dict()
    assert d["image_shape"] == [4, 4]
    assert Config.from_dict(d) == cfg


# ---------------------------------------------------------------------------------------------
# presets
# ---------------------------------------------------------------------------------------------
def test_preset_error_lists_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_mod, "CONFIG_DIR", tmp_path)
    Config(threshold=321).save(tmp_path / "beta.toml")
    _custom().save(tmp_path / "alpha.toml")
    (tmp_path / "notes.txt").write_text("not a preset")
    with pytest.raises(ValueError, match=r"no preset config 'gamma'; presets: alpha, beta$"):
        Config.preset("gamma")
    assert Config.preset("alpha") == _custom()
    assert Config.preset("beta").threshold == 321


def test_shipped_presets_load() -> None:
    for path in sorted(config_mod.CONFIG_DIR.glob("*.toml")):
        Config.preset(path.stem)  # each shipped preset must validate


# ---------------------------------------------------------------------------------------------
# replace
# ---------------------------------------------------------------------------------------------
def test_replace_validates() -> None:
    base = Config()
    with pytest.raises(ValueError, match=r"config\.n_neurons"):
        base.replace(lanes=3)
    with pytest.raises(ValueError, match=r"config\.threshold"):
        base.replace(threshold=-1)
    with pytest.raises(ValueError, match=r"config\.k_winners"):
        base.replace(k_winners=2)


def test_replace_returns_changed_copy() -> None:
    base = Config()
    new = base.replace(k_max=2, k_winners=2, threshold=5)
    assert (new.k_max, new.k_winners, new.threshold) == (2, 2, 5)
    assert (base.k_max, base.k_winners, base.threshold) == (1, 1, 600)
    assert new.replace(threshold=600, k_max=1, k_winners=1) == base


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.threshold = 1  # type: ignore[misc]


@pytest.mark.parametrize(("rows", "row_word_bits", "shape"),
                         [(16, 0, (16, 1)), (16, 16, (16, 1)), (16, 32, (16, 1)),
                          (16, 4, (4, 4)), (20, 8, (8, 3)), (256, 16, (16, 16))])
def test_row_word_shape(rows: int, row_word_bits: int, shape: tuple[int, int]) -> None:
    """(R, W): 0 or a split not below K keeps the whole row in one word; else ceil(K / R)
    words, the last one partial where R does not divide K."""
    assert row_word_shape(rows, row_word_bits) == shape
    cfg = Config(n_neurons=rows, lanes=1, row_word_bits=row_word_bits)
    assert (cfg.row_word_width, cfg.row_words) == shape
    with pytest.raises(ValueError, match="row_word_bits"):
        row_word_shape(rows, 6)
