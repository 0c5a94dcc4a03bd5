"""``--set KEY=VALUE``: values parsed as TOML, applied before the typed checks; the paper-versus-ours table."""

from __future__ import annotations

import pytest

from affectstream.models.training.config import (ConfigError, PaperConfig, apply_overrides, load_train_config,
                                                 parse_override)
from affectstream.models.training.reports import paper_comparison


def test_values_are_toml_and_bare_text_is_a_string():
    assert parse_override("protocol.n_folds=3") == (["protocol", "n_folds"], 3)
    assert parse_override("data.subjects=[1, 2]") == (["data", "subjects"], [1, 2])
    assert parse_override("run.amp=off") == (["run", "amp"], "off")
    assert parse_override('data.root="/a b"') == (["data", "root"], "/a b")
    assert parse_override("x.y=true") == (["x", "y"], True)
    for bad in ("novalue", "=3", "a..b=1"):
        with pytest.raises(ConfigError, match="KEY=VALUE"):
            parse_override(bad)


def test_overrides_go_through_the_same_checks_as_the_file(tmp_path):
    from affectstream.models.methods import BUILT_IN

    methods = {name: m.config_cls for name, m in BUILT_IN.items()}
    path = tmp_path / "c.toml"
    path.write_text('method = "cmcrd"\n[data]\nkind = "seed_v"\nroot = "r"\n[cmcrd]\nn_classes = 3\n')
    config = load_train_config(path, methods, ["cmcrd.n_classes=5", "protocol.kind=within_subject",
                                               "data.subjects=[1, 3]"])
    assert config.options.n_classes == 5 and config.protocol.kind == "within_subject"
    assert config.data.subjects == (1, 3)
    for override, message in (("cmcrd.n_classes=five", "cmcrd.n_classes: expected an integer"),
                              ("data.kind=deep", "data.kind: expected one of"),
                              ("data.nope=1", "unknown key data.nope")):
        with pytest.raises(ConfigError, match=message):
            load_train_config(path, methods, [override])
    data = {"data": {"root": "x"}}
    with pytest.raises(ConfigError, match="data.root is a value"):
        apply_overrides(data, ["data.root.deeper=1"])


def test_the_paper_table_puts_reported_beside_measured():
    paper = PaperConfig("A paper", "Table 2", ("kd.ccc_mean", "teacher.ccc_mean"), (0.433, 0.674), ("KD", "teacher"))
    rows, text = paper_comparison(paper, {"data": "synthetic", "folds": 3, "kd": {"ccc_mean": 0.25}})
    assert rows[0] == {"what": "KD", "summary_key": "kd.ccc_mean", "paper": 0.433, "ours": 0.25}
    assert rows[1]["ours"] is None  # a number the run did not produce is shown as missing, not as zero
    assert "| KD | `kd.ccc_mean` | 0.433 | 0.25 |" in text and "synthetic data, 3 folds" in text
    with pytest.raises(ValueError, match="one entry each"):
        PaperConfig("p", "t", ("a",), (1.0, 2.0), ("x",))
