"""Configuration: validation messages, overrides, digests, TOML loading."""

from __future__ import annotations

import dataclasses

import pytest

from ccgabm.config import SECTIONS, Config, ConfigError, load_config


def test_defaults_are_valid_and_every_parameter_cites_a_source():
    cfg = Config()
    assert Config.from_dict(cfg.to_dict()) == cfg
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert len(f.metadata["source"]) > 5, f"{cls.__name__}.{f.name} has no source"


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[finance]\nbudget_presure = 0.1\n")
    with pytest.raises(ConfigError, match=r"\[finance\] budget_presure is not a known parameter"):
        load_config(path)


def test_out_of_range_names_key_value_and_range():
    with pytest.raises(ConfigError) as err:
        Config().with_overrides({"finance.pace_of_change": 1.5})
    text = str(err.value)
    assert "pace_of_change" in text and "1.5" in text and "between 0.0 and 1.0" in text


@pytest.mark.parametrize(
    ("key", "value"),
    [("run.years", 2.5), ("run.years", "10"), ("world.kind", "mars"), ("costs.outpatient", True),
     ("region.n_groups", 0), ("finance.budget_pressure", float("nan"))],
)
def test_bad_values_rejected(key, value):
    with pytest.raises(ConfigError, match=key.split(".")[1]):
        Config().with_overrides({key: value})


def test_unknown_section_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"\[weather\] is not a known section"):
        Config.from_dict({"weather": {"rain": 1}})
    path = tmp_path / "broken.toml"
    path.write_text("[run\nyears = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_overrides_and_digest():
    cfg = Config()
    other = cfg.with_overrides({"finance.budget_pressure": 0.02})
    assert other.finance.budget_pressure == 0.02
    assert cfg.finance.budget_pressure == 0.0
    assert other.digest() != cfg.digest()
    assert Config().digest() == cfg.digest()
    with pytest.raises(ConfigError, match="section.key"):
        cfg.with_overrides({"budget_pressure": 0.1})


def test_integer_accepted_for_float():
    assert Config().with_overrides({"costs.outpatient": 100}).costs.outpatient == 100.0
