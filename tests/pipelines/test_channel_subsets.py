"""The channel-subsets measurement (pipelines/channel_subsets/, ``affectstream channel-subsets``) on a tiny planted
benchmark (SYNTHETIC data): layouts, rows, the report's fields and markdown, carried-over estimators, the recipes'
seeds, and the command's argument errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from affectstream.app.cli import channel_subsets as cli
from affectstream.app.cli.common import UserError
from affectstream.models.deploy.manifest import MANIFEST
from affectstream.pipelines.channel_subsets.evaluation import LAYOUTS, Estimator, frontal_coverage, layout_record
from affectstream.pipelines.channel_subsets.fair import seed_config, summarise_seeds
from affectstream.pipelines.channel_subsets.measure import measure
from affectstream.pipelines.channel_subsets.report import ReportError, merge_kept, report_markdown

ROW_FIELDS = {"montage", "n_channels", "estimator", "ccc_valence", "ccc_arousal", "n_hops"}


def test_frontal_coverage_names_the_planted_sites_or_their_neighbours():
    muse = frontal_coverage(("TP9", "AF7", "AF8", "TP10", "Right AUX"))
    assert muse["left"] == ["AF7 (next to Fp1/F7)"] and muse["right"] == ["AF8 (next to Fp2/F8)"]
    assert muse["measurable"]
    cyton = frontal_coverage(("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"))
    assert cyton["left"] == ["Fp1"] and cyton["right"] == ["Fp2"]
    back = frontal_coverage(("P3", "Pz", "P4", "O1", "O2", "Fpz"))  # midline Fpz is on neither side
    assert back["left"] == back["right"] == [] and not back["measurable"]


def test_layout_records_say_what_is_copied_and_what_is_rendered():
    records = {name: layout_record(name) for name in LAYOUTS}
    assert [r["n_channels"] for r in records.values()] == [32, 16, 14, 8, 5, 4]
    assert records["muse"]["rendered_by_interpolation"] == ["TP9", "AF7", "AF8", "TP10"]
    assert records["muse"]["non_eeg_noise"] == ["Right AUX"] and records["muse"]["copied"] == []
    assert len(records["emotiv-epoc"]["copied"]) == 14 and records["emotiv-epoc"]["rendered_by_interpolation"] == []
    assert records["10-10-32"]["montage_channels_interpolated_live"] == 0
    assert records["openbci-cyton"]["montage_channels_interpolated_live"] == 24


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A training config over a tiny planted benchmark: 3 subjects of 33 s, subject 3 held out."""
    from affectstream.pipelines.synthetic.planted_dataset import build_planted_xdf_dataset

    folder = tmp_path_factory.mktemp("tiny")
    build_planted_xdf_dataset(folder / "planted", n_subjects=3, n_trials=2, trial_s=12.0, rest_s=3.0,
                              progress=False)
    config = folder / "tiny.toml"
    config.write_text('method = "eeg_student"\n[run]\nname = "tiny"\nout_dir = "runs"\n[data]\npath = "planted"\n'
                      'unit = "session"\n[protocol]\nkind = "holdout"\ntest_subjects = [3]\nval_fraction = 0.5\n'
                      "[eeg_student]\nmontage_subsets = 1\nsubset_sizes = [3, 6]\n[eeg_student.train]\n"
                      "max_epochs = 1\nbatch_size = 2\nwindow = 32\nhop = 16\n")
    return config


@pytest.fixture(scope="module")
def report(tiny) -> dict:
    return measure(tiny, students={"bundled": MANIFEST}, baseline=True, recipes={}, seeds=1, command="test",
                   layouts=("10-10-32", "emotiv-epoc", "muse"))


@pytest.mark.slow
def test_rows_fields_and_the_synthetic_label(report):
    assert report["data"] == "synthetic" and report["command"] == "test"
    assert report["benchmark"]["subjects"] == [3] and report["benchmark"]["sessions"] == 1
    assert [(r["montage"], r["estimator"]) for r in report["rows"]] == [
        (m, e) for m in ("10-10-32", "emotiv-epoc", "muse") for e in ("baseline", "bundled")]
    for row in report["rows"]:
        assert ROW_FIELDS <= set(row) and -1 <= row["ccc_valence"] <= 1 and -1 <= row["ccc_arousal"] <= 1
        assert row["n_hops"] > 100 and row["n_channels"] == {"10-10-32": 32, "emotiv-epoc": 14, "muse": 4}[
            row["montage"]]
    assert report["estimators"]["bundled"]["sha256"] == json.loads(MANIFEST.read_text())["models"][
        "eeg_student"]["sha256"]
    assert set(report["acceptance"]) == {"bundled"}  # the baseline is no student
    a = report["acceptance"]["bundled"]
    assert np.isclose(a["ratio"], a["ccc_valence_emotiv_epoc"] / a["ccc_valence_32"]) and a["required"] == 0.75
    text = report_markdown(report)
    assert text.startswith("# EEG estimators on headset layouts — SYNTHETIC DATA") and "**SYNTHETIC DATA**" in text
    assert "| muse | 4 |" in text and "AF7 (next to Fp1/F7)" in text
    json.dumps(report, allow_nan=False)  # strict JSON


@pytest.mark.slow
def test_the_student_is_replayed_through_the_same_path_as_the_bundled_one(tiny):
    from affectstream.pipelines.channel_subsets.evaluation import load_benchmark, replay_layout
    from affectstream.models.training.runner import load_config
    from affectstream.pipelines.config import PipelineConfig
    from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
    from affectstream.pipelines.eeg_student_training import training_methods

    (trial,) = load_benchmark(load_config(tiny, training_methods()), (3,))
    pred, truth = replay_layout(trial, "10-10-32", Estimator("bundled", MANIFEST))
    spec = EEGStreamSpec(sfreq=trial.sfreq, n_channels=len(trial.ch_names), labels=trial.ch_names, synthetic=True)
    results = AffectPipeline(spec, PipelineConfig(eeg_estimator="student")).push_eeg(
        np.ascontiguousarray(trial.eeg.T), np.arange(trial.n_samples) / trial.sfreq)
    np.testing.assert_allclose(pred, [[r.eeg.valence, r.eeg.arousal] for r in results], atol=1e-6)
    assert truth.shape == pred.shape and np.isfinite(truth).all()


def test_a_kept_report_keeps_the_estimators_not_measured_again():
    bench = {"subjects": [13]}
    kept = {"benchmark": bench, "estimators": {"before": {"kind": "student"}, "baseline": {"kind": "baseline"}},
            "rows": [{"montage": "muse", "estimator": "before"}, {"montage": "muse", "estimator": "baseline"}],
            "fair_comparison": {"seeds": 3}}
    estimators, rows, fair = merge_kept(kept, {"after": {"kind": "student"}},
                                        [{"montage": "muse", "estimator": "after"}], None, bench)
    assert list(estimators) == ["before", "baseline", "after"] and len(rows) == 3 and fair == {"seeds": 3}
    estimators, rows, fair = merge_kept(kept, {"baseline": {"kind": "baseline", "new": 1}},
                                        [{"montage": "muse", "estimator": "baseline"}], {"seeds": 1}, bench)
    assert estimators["baseline"]["new"] == 1 and len(rows) == 2 and fair == {"seeds": 1}
    with pytest.raises(ReportError, match="measured on"):
        merge_kept(kept, {}, [], None, {"subjects": [14]})


def test_a_kept_student_whose_manifest_now_names_other_weights_is_marked(tmp_path):
    from affectstream.pipelines.channel_subsets.measure import _replaced

    sha = json.loads(MANIFEST.read_text())["models"]["eeg_student"]["sha256"]
    student = {"kind": "student", "manifest": str(MANIFEST), "sha256": sha}
    assert not _replaced(student) and not _replaced({"kind": "baseline"})
    assert _replaced({**student, "sha256": "0" * 64}) and _replaced({**student, "manifest": str(tmp_path / "m.json")})
    assert "since replaced" in report_markdown(_minimal_report({"old": {**student, "training_montages": "x",
                                                                        "command": "c", "replaced": True}}))


def _minimal_report(estimators: dict) -> dict:
    return {"title": "t", "data": "synthetic", "command": "c", "rows": [], "acceptance": {}, "fair_comparison": None,
            "estimators": estimators, "layouts": [layout_record("muse")],
            "benchmark": {"subjects": [13], "config": "c.toml", "sessions": 1, "seconds": 605.0}}


def test_seed_configs_change_the_seed_and_the_export_only(tiny, tmp_path):
    from affectstream.models.training.runner import load_config
    from affectstream.pipelines.eeg_student_training import training_methods

    config = load_config(tiny, training_methods())
    path, export = seed_config(config, "k1", 2, tmp_path)
    copy = load_config(path, training_methods())
    assert copy.options.seed == 2 and copy.options.export_to == str(export) and export == tmp_path / "k1-seed2"
    assert copy.resolve(copy.data.path) == config.resolve(config.data.path) and copy.run.seed == config.run.seed
    assert copy.options.train == config.options.train and copy.options.montage_subsets == 1


def test_seeds_are_summarised_per_layout_and_recipe():
    rows = [{"montage": "muse", "n_channels": 4, "recipe": r, "seed": s, "ccc_valence": v, "ccc_arousal": 0.5}
            for r, values in (("k0", (0.1, 0.3)), ("k8", (0.4, 0.4))) for s, v in enumerate(values)]
    from affectstream.pipelines.channel_subsets.report import _seed_ratios

    k0, k8 = summarise_seeds(rows)
    assert k0["recipe"] == "k0" and np.isclose(k0["ccc_valence_mean"], 0.2) and np.isclose(
        k0["ccc_valence_sd"], np.std([0.1, 0.3], ddof=1))
    assert k8["ccc_valence_sd"] == 0.0 and k8["seeds"] == 2
    assert _seed_ratios(rows) == {}  # no 32-channel and Emotiv rows
    pairs = [{"recipe": "k0", "seed": seed, "montage": montage, "ccc_valence": v}
             for seed, emotiv in ((0, 0.4), (1, 0.6)) for montage, v in (("10-10-32", 0.8), ("emotiv-epoc", emotiv))]
    assert list(_seed_ratios(pairs)) == ["k0"] and np.allclose(_seed_ratios(pairs)["k0"], [0.5, 0.75])


@pytest.mark.slow
def test_the_command_trains_a_recipe_and_writes_the_report(tiny, tmp_path):
    out = tmp_path / "r" / "cs.json"
    assert _run(str(tiny), "--recipe", f"k1={tiny}", "--seeds", "2", "--layouts", "10-10-32,muse",
                "--out", str(out), "--quiet") == 0
    report = json.loads(out.read_text())
    fair = report["fair_comparison"]
    assert report["data"] == "synthetic" and report["rows"] == [] and fair["seeds"] == 2
    assert [s["seed"] for s in fair["recipes"]["k1"]["seeds"]] == [0, 1]
    assert [(r["montage"], r["recipe"], r["seed"]) for r in fair["rows"]] == [
        ("10-10-32", "k1", 0), ("muse", "k1", 0), ("10-10-32", "k1", 1), ("muse", "k1", 1)]
    assert {s["montage"] for s in fair["summary"]} == {"10-10-32", "muse"}
    assert report["command"].startswith("affectstream channel-subsets ")
    assert "Fair comparison" in out.with_suffix(".md").read_text()


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="affectstream")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["channel-subsets", *argv])
    args.argv = ["channel-subsets", *argv]
    return args.func(args)


@pytest.mark.parametrize("argv, message", [
    (["--baseline", "--out", "x.json", "--student", "nameless"], "--student takes NAME=PATH"),
    (["--baseline", "--out", "x.json", "--student", "baseline=m.json"], "the name is taken"),
    (["--out", "x.json"], "nothing to measure"),
    (["--baseline", "--out", "x.json", "--seeds", "0"], "--seeds must be 1 or more"),
    (["--baseline", "--out", "x.md"], "--out names the JSON report"),
    (["--baseline", "--out", "x.json", "--layouts", "muse,nope"], "unknown montage preset 'nope'"),
    (["--baseline", "--out", "x.json", "--subjects", "13,x"], "--subjects takes subject numbers"),
    (["--baseline", "--out", "x.json", "--keep", "missing.json"], "no file at missing.json"),
])
def test_argument_errors_are_one_line(argv, message, tiny):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        _run(str(tiny), *argv)


def test_a_missing_config_is_named(tmp_path):
    with pytest.raises(UserError, match="no file at .*none.toml"):
        _run(str(tmp_path / "none.toml"), "--baseline", "--out", "x.json")
