"""Runs of one recipe with other seeds become one comparison row: per-seed values, controls, one test over pairs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from affectstream.app.cli.main import main
from affectstream.models.training.compare import fold_comparison, split_comparison
from affectstream.models.training.seed_comparison import seed_rows, seed_rows_markdown


def _summary(tmp_path, seed: int, base, meth, *, method="cmcrd", plain=(0.5, 0.5), shuffled=(0.4, 0.4)):
    c = fold_comparison(base, meth, baseline_name="no_kd", method_name=method, metric="accuracy", dataset="planted",
                        folds="2 LOSO folds", controls={"plain_kd": plain, "shuffled_teacher": shuffled},
                        teacher=[0.9, 0.8], recipe="paper", deviations=["MCC on the validation batch"])
    path = tmp_path / f"{method}_seed{seed}.json"
    path.write_text(json.dumps({"method": method, "data": "synthetic", "protocol": "loso", "seed": seed,
                                "command": f"affectstream train x.toml --set run.seed={seed}", "comparison": c}))
    return path


def test_three_seeds_make_one_row_with_the_test_over_seeds_and_folds(tmp_path):
    paths = [_summary(tmp_path, 0, [0.5, 0.6], [0.6, 0.7]), _summary(tmp_path, 1, [0.4, 0.6], [0.6, 0.6]),
             _summary(tmp_path, 2, [0.5, 0.5], [0.5, 0.8]), _summary(tmp_path, 0, [0.1, 0.2], [0.3, 0.3], method="x")]
    rows = seed_rows(paths)
    assert [r["method"] for r in rows] == ["cmcrd", "x"] and [r["seeds"] for r in rows] == [3, 1]
    assert [r["name"] for r in rows] == ["cmcrd", "x"]  # the experiment, not its first seed's file
    row = rows[0]
    assert row["baseline_per_seed"] == pytest.approx([0.55, 0.5, 0.5])  # fold means, worked by hand
    assert row["method_per_seed"] == pytest.approx([0.65, 0.6, 0.65])
    assert row["method_mean"] == pytest.approx(1.9 / 3)
    expected = scipy.stats.ttest_rel([0.6, 0.7, 0.6, 0.6, 0.5, 0.8], [0.5, 0.6, 0.4, 0.6, 0.5, 0.5],
                                     alternative="greater").pvalue
    assert row["p_value"] == pytest.approx(expected) and row["n_pairs"] == 6
    assert row["controls"]["plain_kd"]["mean"] == pytest.approx(0.5)
    assert row["controls"]["shuffled_teacher"]["per_seed"] == pytest.approx([0.4] * 3)
    assert row["teacher"]["mean"] == pytest.approx(0.85) and row["same_optimizer"] and row["recipe"] == "paper"
    assert row["deviations"] == ["MCC on the validation batch"] and row["seed_values"] == [0, 1, 2]
    assert len(row["commands"]) == 3


def test_compare_writes_the_seed_table_and_json(tmp_path):
    paths = [_summary(tmp_path, s, [0.5, 0.6], [0.6 + s / 10, 0.7]) for s in (0, 1, 2)]
    out, js = tmp_path / "t.md", tmp_path / "t.json"
    assert main(["compare", *map(str, paths), "--by-seed", "--out", str(out), "--json", str(js)]) == 0
    (row,) = json.loads(js.read_text())
    assert row["seeds"] == 3 and {"plain_kd", "shuffled_teacher"} <= set(row["controls"])
    text = out.read_text()
    assert "| 0.550, 0.550, 0.550 | 0.650, 0.700, 0.750 |" in text and "MCC on the validation batch" in text


def test_fixed_split_rows_pool_every_metric_over_seeds(tmp_path):
    """FER+-like runs (one fixed test split): macro-F1 and balanced accuracy are pooled over seeds, each arm's
    per-seed score is the split's, and the method is tested against the baseline over seeds."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    base = np.array([0, 0, 1, 1, 0, 0])            # hand: acc 3/6; recalls 2/3, 1/2, 0 -> balanced 7/18
    paths = []
    for seed, meth in enumerate(([0, 0, 0, 1, 1, 0], [0, 0, 0, 1, 0, 2], [0, 0, 1, 1, 1, 2])):
        c = split_comparison(labels, base, np.array(meth), baseline_name="sup", method_name="ng", dataset="fer",
                             parts=2, seed=seed, n_classes=3, n_boot=20)
        path = tmp_path / f"ng_s{seed}.json"
        path.write_text(json.dumps({"method": "neurogaze", "data": "FER+", "seed": seed, "comparison": c}))
        paths.append(path)
    (row,) = seed_rows(paths)
    bal = row["by_metric"]["balanced_accuracy"]["arms"]
    assert bal["baseline"]["per_seed"] == pytest.approx([7 / 18] * 3)
    # method, seed 0: recalls 1, 1, 0 -> 2/3; seed 1: 1, 1/2, 1 -> 5/6; seed 2: 2/3, 1, 1 -> 8/9
    assert bal["method"]["per_seed"] == pytest.approx([2 / 3, 5 / 6, 8 / 9])
    assert bal["method"]["mean"] == pytest.approx((2 / 3 + 5 / 6 + 8 / 9) / 3)
    expected = scipy.stats.ttest_rel([2 / 3, 5 / 6, 8 / 9], [7 / 18] * 3, alternative="greater").pvalue
    assert row["by_metric"]["balanced_accuracy"]["p_value"] == pytest.approx(expected)
    assert set(row["by_metric"]) == {"accuracy", "macro_f1", "balanced_accuracy"}
    text = seed_rows_markdown([row], "t")
    assert "| balanced_accuracy | 0.3889 ± 0.0000 |" in text
