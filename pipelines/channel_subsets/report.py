"""The channel-subsets report: its JSON (rows, estimators, layouts, the fair comparison) and its markdown.

A report is built up over several runs of ``affectstream channel-subsets``: a student measured before it was
replaced keeps its rows, its sha256 and the command that measured it when a later run carries the report over
(``--keep``), and only the estimators and the comparison measured again are replaced.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ACCEPT_RATIO", "ReportError", "acceptance", "build_report", "merge_kept", "report_markdown"]

#: The 14-channel Emotiv layout's valence CCC, as a share of the 32-channel one, that issue 17 asks of the student.
ACCEPT_RATIO = 0.75
_FULL, _EMOTIV = "10-10-32", "emotiv-epoc"


class ReportError(ValueError):
    """The report cannot be made as asked: no subjects to measure, or a kept report of other data."""


def _finite(value: Any) -> Any:
    """JSON has no NaN: a NaN score is written as null (and read as "not computable")."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def build_report(*, data: str, command: str, benchmark: dict, layouts: list[dict], estimators: dict[str, dict],
                 rows: list[dict], fair: dict | None) -> dict:
    """The report's JSON: ``data`` ("synthetic" for the planted benchmark), the command, the rows and what they
    measured."""
    if fair is not None:
        fair = {**fair, "emotiv_over_32_valence": _seed_ratios(fair["rows"])}
    report = {"data": data, "title": "EEG estimators on headset layouts", "command": command,
              "benchmark": benchmark, "layouts": layouts, "estimators": estimators, "rows": rows,
              "acceptance": acceptance(rows, estimators), "fair_comparison": fair}
    return _finite(report)


def _seed_ratios(rows: list[dict]) -> dict[str, list[float]]:
    """Per recipe, each seed's valence CCC on the Emotiv layout over its 32-channel one (where both were measured)."""
    ccc = {(r["recipe"], r["seed"], r["montage"]): r["ccc_valence"] for r in rows}
    out: dict[str, list[float]] = {}
    for recipe, seed, montage in ccc:
        if montage == _FULL and (recipe, seed, _EMOTIV) in ccc:
            out.setdefault(recipe, []).append(ccc[(recipe, seed, _EMOTIV)] / ccc[(recipe, seed, _FULL)])
    return out


def merge_kept(kept: dict, estimators: dict[str, dict], rows: list[dict], fair: dict | None, benchmark: dict
               ) -> tuple[dict[str, dict], list[dict], dict | None]:
    """Add to this run's estimators, rows and comparison those of an earlier report that this run did not measure.

    Raises
    ------
    ReportError
        The earlier report was measured on other data, subjects or layouts.
    """
    if kept.get("benchmark") != benchmark:
        raise ReportError(f"the kept report was measured on {kept.get('benchmark')}, not on {benchmark}")
    old = {name: record for name, record in kept.get("estimators", {}).items() if name not in estimators}
    kept_rows = [row for row in kept.get("rows", []) if row["estimator"] in old]
    return {**old, **estimators}, kept_rows + rows, fair if fair is not None else kept.get("fair_comparison")


def acceptance(rows: list[dict], estimators: dict[str, dict]) -> dict:
    """Per student: its valence CCC on the 14-channel Emotiv layout over its 32-channel one, against
    :data:`ACCEPT_RATIO`."""
    out = {}
    for name, record in estimators.items():
        if record.get("kind") != "student":
            continue
        ccc = {row["montage"]: row["ccc_valence"] for row in rows if row["estimator"] == name}
        full, emotiv = ccc.get(_FULL), ccc.get(_EMOTIV)
        if full is None or emotiv is None or not full > 0:
            continue
        out[name] = {"ccc_valence_32": full, "ccc_valence_emotiv_epoc": emotiv, "ratio": emotiv / full,
                     "required": ACCEPT_RATIO, "met": emotiv / full >= ACCEPT_RATIO}
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _score_tables(report: dict) -> list[str]:
    names = list(report["estimators"])
    cell = {(r["montage"], r["estimator"]): r for r in report["rows"]}
    lines: list[str] = []
    if not names:
        return lines
    for dim in ("valence", "arousal"):
        lines += [f"## {dim.capitalize()} CCC", "", "| layout | channels | " + " | ".join(names) + " |",
                  "|---|---|" + "---|" * len(names)]
        for layout in report["layouts"]:
            scores = [_num(cell[(layout["montage"], n)][f"ccc_{dim}"]) if (layout["montage"], n) in cell else "-"
                      for n in names]
            lines.append(f"| {layout['montage']} | {layout['n_channels']} | " + " | ".join(scores) + " |")
        lines.append("")
    return lines


def _layout_table(report: dict) -> list[str]:
    lines = ["## Layouts and the planted frontal asymmetry", "",
             "The planted valence effect is frontal alpha asymmetry (alpha lowered at "
             f"{', '.join(report['layouts'][0]['frontal_asymmetry']['planted_left'])}, raised at "
             f"{', '.join(report['layouts'][0]['frontal_asymmetry']['planted_right'])}). A layout measures it when it "
             "has an electrode on each side at one of those sites or next to one; the baseline estimator (frontal "
             "alpha asymmetry itself) shows whether the signal survives.", "",
             "| layout | channels | copied | interpolated from the 32 simulated channels | left frontal | "
             "right frontal | asymmetry measurable |", "|---|---|---|---|---|---|---|"]
    for layout in report["layouts"]:
        fa = layout["frontal_asymmetry"]
        lines.append(f"| {layout['montage']} | {layout['n_channels']} | {len(layout['copied'])} | "
                     f"{', '.join(layout['rendered_by_interpolation']) or '-'} | {', '.join(fa['left']) or 'none'} | "
                     f"{', '.join(fa['right']) or 'none'} | {'yes' if fa['measurable'] else 'no'} |")
    return lines + [""]


def _fair_table(fair: dict) -> list[str]:
    recipes = list(fair["recipes"])
    lines = ["## Fair comparison: the two recipes, same optimiser, schedule, budget and split", "",
             f"Each recipe trained with seeds 0-{fair['seeds'] - 1} of `[eeg_student] seed` (initialisation, batch "
             "order, subsets; the split stays), every seed measured as above; mean ± sd (n - 1) over the seeds. "
             f"{fair['bundled']}", ""]
    for name, recipe in fair["recipes"].items():
        seconds = [s["seconds"] for s in recipe["seeds"]]
        lines.append(f"- **{name}** (`{recipe['config']}`): {recipe['describe']}; "
                     f"{sum(seconds) / len(seconds):.0f} s per seed (features and training).")
    for recipe, ratios in fair.get("emotiv_over_32_valence", {}).items():
        lines.append(f"- {recipe}: Emotiv valence CCC over 32-channel, seed by seed: "
                     f"{', '.join(f'{r:.0%}' for r in ratios)}.")
    lines.append("")
    cell = {(s["montage"], s["recipe"]): s for s in fair["summary"]}
    montages = list(dict.fromkeys(s["montage"] for s in fair["summary"]))
    header = " | ".join(f"{r} valence | {r} arousal" for r in recipes)
    lines += [f"| layout | {header} |", "|---|" + "---|---|" * len(recipes)]
    for montage in montages:
        parts = []
        for recipe in recipes:
            s = cell[(montage, recipe)]
            parts += [f"{_num(s['ccc_valence_mean'])} ± {_num(s['ccc_valence_sd'])}",
                      f"{_num(s['ccc_arousal_mean'])} ± {_num(s['ccc_arousal_sd'])}"]
        lines.append(f"| {montage} | " + " | ".join(parts) + " |")
    return lines + [""]


def report_markdown(report: dict) -> str:
    """The report as markdown, SYNTHETIC said first when the data are."""
    bench = report["benchmark"]
    lines = [f"# {report['title']}{' — SYNTHETIC DATA' if report['data'] == 'synthetic' else ''}", ""]
    if report["data"] == "synthetic":
        lines += ["**SYNTHETIC DATA**: simulated subjects of the planted benchmark, scored against the truth the "
                  "simulator planted. These numbers compare estimators and layouts on the simulator; they are not "
                  "results on human EEG.", ""]
    lines += [f"Held-out subjects {', '.join(map(str, bench['subjects']))} of `{bench['config']}` "
              f"({bench['sessions']} whole sessions, {bench['seconds']:.0f} s in all). Each session is rendered to the "
              "layout (its montage channels copied; other 10-05 sites interpolated from the 32 simulated channels, "
              "where the simulator has no sources; AUX channels small noise) and replayed through the live pipeline "
              "as `affectstream replay` would, which interpolates the montage channels the layout lacks. CCC of the "
              "EEG estimate against the planted valence and arousal at each window's centre, the sessions' hops "
              "pooled.", ""]
    lines += _score_tables(report) + _layout_table(report)
    if report["acceptance"]:
        lines += ["## 14-channel Emotiv layout against the full montage (valence)", ""]
        for name, a in report["acceptance"].items():
            lines.append(f"- {name}: {_num(a['ccc_valence_emotiv_epoc'])} / {_num(a['ccc_valence_32'])} = "
                         f"{a['ratio']:.0%} of its 32-channel valence CCC (issue 17 asks >= {a['required']:.0%}: "
                         f"{'met' if a['met'] else 'not met'}).")
        lines.append("")
    if report.get("fair_comparison"):
        lines += _fair_table(report["fair_comparison"])
    lines += ["## Estimators", ""]
    for name, record in report["estimators"].items():
        what = (f"student `{record['manifest']}`, ONNX sha256 `{record['sha256']}`; trained on "
                f"{record['training_montages']}" if record["kind"] == "student" else "baseline (frontal alpha "
                "asymmetry and beta/alpha ratio, no training)")
        if record.get("replaced"):
            what += (" (since replaced there by other weights; this sha256 names the measured ones, kept in the "
                     "repository's history)")
        lines.append(f"- **{name}**: {what}. Measured by `{record['command']}`.")
    lines += ["", f"Command: `{report['command']}`.", ""]
    return "\n".join(lines)
