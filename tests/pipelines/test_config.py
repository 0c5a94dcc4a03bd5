"""Typed TOML configuration: defaults, overrides, and clear refusals."""

import pytest

from affectstream.pipelines.config import ConfigError, PipelineConfig, load_config


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('hop_s = 0.5\nbandpass = [1, 40]\n[quality]\nnoisy_std_uv = 150\n')
    cfg = load_config(path)
    assert cfg.hop_s == 0.5 and cfg.bandpass == (1.0, 40.0) and cfg.quality.noisy_std_uv == 150.0
    assert cfg.window_s == PipelineConfig().window_s


@pytest.mark.parametrize("text, message", [
    ("hop = 0.5", "unknown key hop"),
    ("hop_s = 'fast'", "hop_s: expected a number"),
    ("reference = 'median'", "reference: expected one of"),
    ("[quality]\nflat = 1", "unknown key quality.flat"),
    ("bandpass = [1]", "bandpass"),
    ("max_backlog_hops = 2.5", "expected an integer"),
    ("hop_s = ", "not valid TOML"),
])
def test_bad_configs_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
