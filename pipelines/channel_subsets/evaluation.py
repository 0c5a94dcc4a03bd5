"""The EEG estimators on headset layouts: simulated sessions rendered to a layout, replayed, scored on the truth.

Each held-out session of the planted benchmark (SYNTHETIC) is rendered to a headset layout
(:func:`affectstream.pipelines.synthetic.headsets.render_layout`: the layout's montage channels copied, its other
10-05 sites interpolated from the 32 simulated channels, its AUX channel noise) and pushed through
:class:`~affectstream.pipelines.engine.AffectPipeline` exactly as ``affectstream replay`` pushes a recording: the
pipeline finds the layout's electrodes by label and interpolates the montage channels it lacks. The EEG estimate of
every hop is compared with the planted valence and arousal at the centre of the hop's window (the label the student
is trained on), over the hops of all sessions pooled (:func:`~affectstream.models.training.evaluation
.evaluate_regression`, as the trainer scores its test subjects).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.electrodes import is_non_eeg, position, template_name
from affectstream.core.bandpower import BAND_NAMES
from affectstream.core.montage import MONTAGE_32, map_channels
from affectstream.core.montage_presets import get_preset
from affectstream.models.datasets.common import DatasetLayoutError
from affectstream.models.training.config import TrainConfig
from affectstream.models.training.evaluation import evaluate_regression
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec
from affectstream.pipelines.synthetic.headsets import render_layout
from affectstream.pipelines.synthetic.subject import planted_pattern

__all__ = ["LAYOUTS", "Estimator", "frontal_coverage", "layout_record", "load_benchmark", "replay_layout",
           "score_layouts"]

#: The layouts measured, largest first: the model montage's 32 channels, Cyton+Daisy 16, EPOC 14, Cyton 8,
#: Insight 5, Muse 4 (+ AUX).
LAYOUTS: tuple[str, ...] = ("10-10-32", "openbci-cyton-daisy", "emotiv-epoc", "openbci-cyton", "emotiv-insight",
                            "muse")

#: An electrode this close (m, on the 10-05 template) to a planted site, on the same side, counts as its neighbour:
#: a 10-05 half step (AF7 is 3.0 cm from Fp1); the next 10-10 site is 4.9 cm or more away.
NEIGHBOUR_M = 0.035

#: Electrodes this close (m) to the sagittal plane are on the midline: they belong to neither side of an asymmetry.
MIDLINE_M = 0.01


@dataclass(frozen=True)
class Estimator:
    """One EEG estimator of the comparison: a student given by its manifest, or the baseline (``manifest`` None)."""

    name: str
    manifest: Path | None = None

    def pipeline(self, spec: EEGStreamSpec) -> AffectPipeline:
        """The replay pipeline with this estimator.

        A student of any manifest is loaded by :meth:`EEGStudentEstimator.from_manifest` (sha256 checked), as the
        pipeline loads the bundled one, and handed to the pipeline, so both run alike.
        """
        student = None
        if self.manifest is not None:
            from affectstream.pipelines.eeg.student import EEGStudentEstimator

            student = EEGStudentEstimator.from_manifest("cpu", self.manifest)
        return AffectPipeline(spec, PipelineConfig(eeg_estimator="baseline"), student=student)


def _planted_sites() -> tuple[list[str], list[str]]:
    """The montage channels whose alpha power the planted valence lowers (left) and raises (right)."""
    alpha = planted_pattern()["valence"][BAND_NAMES.index("alpha")]
    return ([m for m, g in zip(MONTAGE_32, alpha) if g < 0], [m for m, g in zip(MONTAGE_32, alpha) if g > 0])


def _side(xyz: np.ndarray) -> int:
    """-1 left, +1 right, 0 on the midline (within :data:`MIDLINE_M`; the template's midline is not exactly x = 0)."""
    return 0 if abs(xyz[0]) <= MIDLINE_M else int(np.sign(xyz[0]))


def frontal_coverage(labels: tuple[str, ...] | list[str]) -> dict:
    """Which sites of the planted frontal alpha asymmetry a layout measures, or neighbours of them.

    The planted valence effect is alpha power lowered over the left frontal sites and raised over the right ones
    (:func:`~affectstream.pipelines.synthetic.subject.planted_pattern`). A layout can measure it when it has an
    electrode on each side that is one of those sites or within :data:`NEIGHBOUR_M` of one on the same side.
    """
    left, right = _planted_sites()
    out: dict = {"planted_left": left, "planted_right": right}
    for side, sites in (("left", left), ("right", right)):
        found = []
        for label in labels:
            name = template_name(label) if not is_non_eeg(label) else None
            if name is None:
                continue
            if name in sites:
                found.append(name)
                continue
            xyz = position(name)
            near = [s for s in sites if np.linalg.norm(position(s) - xyz) <= NEIGHBOUR_M
                    and _side(position(s)) == _side(xyz) != 0]
            if near:
                found.append(f"{name} (next to {'/'.join(near)})")
        out[side] = found
    out["measurable"] = bool(out["left"] and out["right"])
    return out


def layout_record(name: str) -> dict:
    """What a layout is: its channels, which are copied from the simulation or interpolated, and its frontal
    coverage."""
    labels = get_preset(name).labels
    electrodes = [lab for lab in labels if not is_non_eeg(lab)]
    mapping = map_channels(labels, len(labels))
    return {"montage": name, "n_channels": len(electrodes), "labels": list(labels),
            "copied": [lab for lab in electrodes if lab in MONTAGE_32],
            "rendered_by_interpolation": [lab for lab in electrodes if lab not in MONTAGE_32],
            "non_eeg_noise": [lab for lab in labels if is_non_eeg(lab)],
            "montage_channels_interpolated_live": len(mapping.missing),
            "frontal_asymmetry": frontal_coverage(labels)}


def load_benchmark(config: TrainConfig, subjects: tuple[int, ...], progress: bool = False) -> list:
    """The whole-session recordings of ``subjects`` in the training config's data (the planted benchmark written
    first where the config asks for it, and reused when it is there with the same settings).

    Raises
    ------
    DatasetLayoutError
        A subject without a recording in the data folder.
    """
    from affectstream.models.datasets.xdf_sessions import load_xdf_sessions, subject_number
    from affectstream.pipelines.synthetic.planted_dataset import ensure_planted_data

    ensure_planted_data(config, progress=progress)
    folder = config.resolve(config.data.path)
    files = sorted(folder.glob("sub-*.xdf")) if folder.is_dir() else []
    files = [f for f in files if subject_number(f) in subjects]
    missing = sorted(set(subjects) - {subject_number(f) for f in files})
    if missing:
        raise DatasetLayoutError(f"no recording of subject{'s' if len(missing) > 1 else ''} "
                                 f"{', '.join(map(str, missing))} in {folder}")
    return load_xdf_sessions(files, unit="session", with_frames=False)


def _montage_eeg(trial) -> np.ndarray:
    """(n_samples, 32) of a recording in montage order (the simulator's channels)."""
    mapping = map_channels(trial.ch_names, len(trial.ch_names))
    if mapping.missing:
        raise ValueError(f"{trial.key}: the recording lacks montage channels {', '.join(mapping.missing)}; a layout "
                         "is rendered from all 32")
    return np.ascontiguousarray(trial.eeg[mapping.source_index].T)


def replay_layout(trial, layout: str, estimator: Estimator, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One recording rendered to ``layout`` and replayed: (hops, 2) EEG valence/arousal and (hops, 2) truth."""
    labels = get_preset(layout).labels
    data = render_layout(_montage_eeg(trial), labels, seed=seed)
    spec = EEGStreamSpec(sfreq=trial.sfreq, n_channels=len(labels), labels=labels,
                         name=f"{trial.key} as {layout}", synthetic=bool(trial.meta.get("synthetic")))
    pipe = estimator.pipeline(spec)
    results = pipe.push_eeg(data, np.arange(len(data)) / trial.sfreq)
    centre = np.array([r.t for r in results]) - (pipe.n_window - 1) / (2 * trial.sfreq)
    labels_t = trial.continuous.times
    arousal = trial.meta.get("arousal")
    if arousal is None:
        raise ValueError(f"{trial.key} has no arousal labels")
    truth = np.column_stack([np.interp(centre, labels_t, trial.continuous.values),
                             np.interp(centre, labels_t, arousal)])
    return np.array([[r.eeg.valence, r.eeg.arousal] for r in results]), truth


def score_layouts(trials: list, estimator: Estimator, layouts: tuple[str, ...] = LAYOUTS,
                  progress: bool = False) -> list[dict]:
    """One row per layout: CCC of ``estimator``'s EEG valence and arousal over the hops of ``trials`` pooled.

    Hops without an estimate (NaN) are left out of the pairs; ``n_hops`` counts the scored ones.
    """
    from tqdm import tqdm

    rows = []
    for layout in tqdm(layouts, desc=estimator.name, unit="layout", disable=not progress):
        runs = [replay_layout(t, layout, estimator, seed=i) for i, t in enumerate(trials)]
        row = {"montage": layout, "n_channels": len(get_preset(layout).electrodes), "estimator": estimator.name}
        for i, dim in enumerate(("valence", "arousal")):
            m = evaluate_regression([p[:, i] for p, _ in runs], [y[:, i] for _, y in runs])
            row[f"ccc_{dim}"] = m["ccc"]
        row["n_hops"] = int(sum(np.isfinite(p).all(axis=1).sum() for p, _ in runs))
        rows.append(row)
    return rows
