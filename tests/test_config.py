from pathlib import Path

import pytest

from finsupport.config import DEFAULT_CONFIG_TOML, load_config
from finsupport.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_and_embedded_example_config_agree():
    assert (ROOT / "datasets" / "robotics44" / "config.toml").read_text(encoding="utf-8") == DEFAULT_CONFIG_TOML
    cfg = load_config()
    assert cfg.data_path is None  # the embedded dataset
    assert cfg["measure"]["subsidy_basis"] == "received"
    assert cfg["shares"]["years"] == [2016, 2021]


@pytest.mark.parametrize("raw, message", [
    ({"measure": {"subsidy_basis": "paid"}}, "measure.subsidy_basis"),
    ({"measure": {"aul_years": 0}}, "measure.aul_years"),
    ({"measure": {"aul_years": "ten"}}, "measure.aul_years"),
    ({"measure": {"colour": "red"}}, "measure.colour"),
    ({"analysis": {"outcomes": ["net profit"]}}, "analysis.outcomes"),
    ({"analysis": {"outcomes": ["share", "share"]}}, "analysis.outcomes"),
    ({"analysis": {"honest_did": "linear"}}, "analysis.honest_did"),
    ({"analysis": {"honest_mbar": [-1]}}, "analysis.honest_mbar"),
    ({"analysis": {"honest_target": "first"}}, "analysis.honest_target"),
    ({"analysis": {"honest_did": "smoothness"}}, "analysis.base_period"),
    ({"analysis": {"honest_did": "smoothness", "estimators": ["twfe"]}}, "analysis.estimators"),
    ({"analysis": {"event_window": [1, 4]}}, "analysis.event_window"),
    ({"sample": {"years": [2022, 2014]}}, "sample.years"),
    ({"sample": {"tier": "gold"}}, "sample.tier"),
    ({"analysis": {"bootstrap": True}}, "analysis.bootstrap"),
    ({"reports": {}}, r"\[reports\]"),
])
def test_bad_keys_and_values_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        load_config(raw)


def test_paths_relative_to_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    cfg_file = tmp_path / "sub" / "config.toml"
    cfg_file.write_text('[data]\npath = "../data"\n', encoding="utf-8")
    cfg = load_config(cfg_file)
    assert cfg.data_path == (tmp_path / "data").resolve()
    assert load_config(tmp_path / "sub").data_path == cfg.data_path  # a folder with config.toml


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\npath=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_hash_is_stable_and_sensitive():
    a, b = load_config(), load_config()
    assert a.hash() == b.hash()
    assert load_config({"measure": {"spread_bp": 50}}).hash() != a.hash()
