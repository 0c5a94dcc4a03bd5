"""``check_dataset`` on tiny SYNTHETIC replicas of each dataset in its distributed layout (tests/fixtures/*_files.py):
a faithful replica is accepted and called a partial copy; each damaged replica gives one line naming the file."""

from __future__ import annotations

import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from fixtures.deap_files import py2_pickle_dumps, write_deap
from fixtures.dreamer_files import write_dreamer
from fixtures.mahnob_files import write_mahnob
from fixtures.seed_files import write_seed, write_seed_iv, write_seed_v

from affectstream.models.datasets.check import DATASET_KINDS, DatasetReport, check_dataset
from affectstream.models.datasets.check_common import out_of_range, partial_copy, span
from affectstream.models.datasets.mahnob import MAHNOB_CONTINUOUS_LABEL_FILE

#: Session 2 is subject 1's first trial, in the continuous set of the MAHNOB replica (and so checked by both kinds).
BDF = "Sessions/2/Part_1_S_Trial1_emotion.bdf"


def write_replica(kind: str, root: Path) -> None:
    """A small faithful replica of ``kind`` (2 subjects, 2-3 trials each, a few seconds per trial)."""
    if kind == "deap":
        write_deap(root, n_trials=3, n_seconds=4, face_video_subjects=())
    elif kind in ("mahnob", "mahnob_continuous"):
        write_mahnob(root, trials_per_subject=2, continuous_per_subject=1, video=False)
    elif kind == "dreamer":
        write_dreamer(root)
    elif kind == "seed":
        write_seed(root)
    elif kind == "seed_iv":
        write_seed_iv(root, eye=True)
    else:
        write_seed_v(root)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("replicas")
    for kind in DATASET_KINDS:
        write_replica(kind, root / kind)
    return root


@pytest.fixture
def copy_of(replicas, tmp_path):
    """``copy_of(kind)``: a fresh copy of the replica of ``kind`` to damage."""
    def make(kind: str) -> Path:
        return Path(shutil.copytree(replicas / kind, tmp_path / kind))
    return make


def one_problem(report: DatasetReport, path: Path, *fragments: str) -> str:
    """The report's single problem line, which names ``path`` and holds every fragment."""
    assert not report.ok and len(report.problems) == 1, report.problems
    line = report.problems[0]
    assert "\n" not in line and str(path) in line and all(f in line for f in fragments), line
    return line


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])


def first(root: Path, pattern: str) -> Path:
    return sorted(root.glob(pattern))[0]


# ---------------------------------------------------------------------------------------------- the API


def test_kinds_and_unknown_kind():
    assert DATASET_KINDS == ("deap", "mahnob", "mahnob_continuous", "dreamer", "seed", "seed_iv", "seed_v")
    with pytest.raises(ValueError, match="deap, mahnob, mahnob_continuous, dreamer, seed, seed_iv, seed_v"):
        check_dataset("deap2", ".")


def test_missing_root_and_empty_root_are_problem_lines(tmp_path):
    report = check_dataset("seed", tmp_path / "nowhere")
    assert report.problems == [f"{tmp_path / 'nowhere'} does not exist"] and report.root == tmp_path / "nowhere"
    for kind, expected in [("deap", "data_preprocessed_python/s01.dat"), ("mahnob", "Sessions/<sessionId>"),
                           ("dreamer", "DREAMER.mat"), ("seed", "Preprocessed_EEG/<subject>_<yyyymmdd>.mat"),
                           ("seed_iv", "eeg_raw_data/1/<subject>"), ("seed_v", "EEG_DE_features/<subject>_123")]:
        line = one_problem(check_dataset(kind, tmp_path), tmp_path, f"missing {tmp_path / expected}", "expected ",
                           f"found {tmp_path} is empty")
        assert len(line) > 100  # the expected layout is spelt out


def test_summary_helpers():
    assert span([3, 5, 4]) == "3-5" and span([2.004, 2.01], "{:.0f}") == "2" and span([]) == "none"
    assert partial_copy([([32], 32, "subjects"), ([40, 40], 40, "trials")]) is None
    assert partial_copy([([32], 32, "subjects"), ([3, 40], 40, "trials")]) == "3-40 of 40 trials: a partial copy"
    assert out_of_range([1, 9, 4.5], 1, 9) is None
    assert out_of_range([1, 9, 4.5], 1, 9, integer=True) == "1 of 3 values outside the whole numbers 1 to 9 (4.5)"
    assert out_of_range([0, np.nan, 3], 1, 9) == "2 of 3 values outside 1 to 9 (0, nan)"


# ---------------------------------------------------------------------------------------------- faithful copies

SUMMARIES = {
    "deap": ["2 subjects, 6 trials in 2 readable files, 32 EEG + 8 peripheral channels at 128 Hz",
             "2 of 32 subjects (first missing: s03.dat), 3 of 40 trials, 512 of 8064 samples per trial: a partial "
             "copy", "participant_ratings.csv: 6 rows, the presentation order of 2 of the 2 subjects here"],
    "mahnob": ["4 sessions with a usable BDF from 2 subjects: 32 EEG channels at 256 Hz, 8 s each; 4 sessions rated",
               "lable_continous_Mahnob.mat: 2 valence traces at 4 Hz (4 s), 2 of them with their session here"],
    "mahnob_continuous": ["2 sessions with a usable BDF from 2 subjects", "2 of 24 subjects, 2 of 239 "
                          "continuous-label trials: a partial copy"],
    "dreamer": ["2 subjects, 6 clips, 14 EEG channels at 128 Hz, clips of 3-5 s",
                "2 of 23 subjects, 3 of 18 clips per subject: a partial copy"],
    "seed": ["2 subjects, 4 session files, 12 trials: 62 EEG channels at 200 Hz", "label.mat: 5 negative, 5 "
             "neutral, 5 positive clips", "2 of 15 subjects (first missing: 3_<date>.mat), 2 of 3 sessions per "
             "subject, 3 of 15 trials per session: a partial copy"],
    "seed_iv": ["2 subjects, 4 session files (session folders 1, 2), 12 trials", "eye_feature_smooth/: 4 of 4 "
                "session files, 12 trials of 31 eye-movement features per 4 s window", "2 of 15 subjects, 2 of 3 "
                "sessions per subject, 3 of 24 trials per session: a partial copy"],
    "seed_v": ["2 subjects, 8 trials", "Eye_movement_features/: 2 of 2 subjects, 8 of the 8 trials with 33 "
               "features per window", "2 of 16 subjects, 4 of 45 trials per subject: a partial copy"],
}


@pytest.mark.parametrize("kind", DATASET_KINDS)
def test_a_faithful_replica_is_accepted(replicas, kind):
    report = check_dataset(kind, replicas / kind)
    assert report.ok and report.kind == kind, report.problems
    assert report.found[-1].startswith("no published checksums for ")
    assert sum("a partial copy" in line for line in report.found) == (kind != "mahnob")
    for expected in SUMMARIES[kind]:
        assert any(expected in line for line in report.found), (expected, report.found)


def test_progress_bar_on_stderr_only_when_asked(replicas, capsys):
    check_dataset("seed", replicas / "seed")
    assert capsys.readouterr().err == ""
    check_dataset("seed", replicas / "seed", progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "checking seed" in err and "4/4" in err


def test_what_the_loaders_skip_is_counted_not_reported(copy_of):
    root = copy_of("mahnob")
    (root / "Sessions" / "4" / "Part_1_S_Trial2_emotion.bdf").unlink()  # sessions without a BDF exist in the release
    report = check_dataset("mahnob", root)
    assert report.ok and "1 session folders without a usable BDF and 0 without session.xml" in report.found[1]
    root = copy_of("seed_v")
    _seed_v_file(root / "EEG_DE_features" / "1_123.npz", {0: np.ones((3, 310))}, {0: np.array([1, 1, 1])})
    (root / "Eye_movement_features" / "1_123.npz").unlink()
    report = check_dataset("seed_v", root)
    assert report.ok and "1 trials whose label differs from the documented session order (load_seed_v uses the " \
        "file's labels)" in report.found, report.found


# ---------------------------------------------------------------------------------------------- truncated files

TRUNCATED = {"deap": "data_preprocessed_python/s02.dat", "mahnob": BDF, "mahnob_continuous": BDF,
             "dreamer": "DREAMER.mat", "seed": "Preprocessed_EEG/1_*.mat", "seed_iv": "eeg_raw_data/2/2_*.mat",
             "seed_v": "EEG_DE_features/2_123.npz"}


@pytest.mark.parametrize("kind", DATASET_KINDS)
def test_a_truncated_data_file_is_one_line(copy_of, kind):
    root = copy_of(kind)
    path = first(root, TRUNCATED[kind])
    truncate(path)
    one_problem(check_dataset(kind, root), path, "truncated")


def test_every_damaged_file_is_reported(copy_of):
    root = copy_of("deap")
    for name in ("s01.dat", "s02.dat"):
        truncate(root / "data_preprocessed_python" / name)
    report = check_dataset("deap", root)
    assert len(report.problems) == 2 and all("cannot be read" in line for line in report.problems)
    assert "0 trials in 0 readable files" in report.found[0]


# ---------------------------------------------------------------------------------------------- wrong shapes


def _deap_file(path: Path, data: np.ndarray, labels: np.ndarray) -> None:
    path.write_bytes(py2_pickle_dumps({"labels": labels, "data": data}))


def test_deap_wrong_shapes(copy_of):
    root = copy_of("deap")
    path = root / "data_preprocessed_python" / "s01.dat"
    rng = np.random.default_rng(1)
    _deap_file(path, rng.normal(size=(3, 39, 512)), np.full((3, 4), 5.0))
    one_problem(check_dataset("deap", root), path, "'data' has shape (3, 39, 512)", "(40, 40, 8064)")
    _deap_file(path, rng.normal(size=(3, 40, 384)), np.full((3, 4), 5.0))
    one_problem(check_dataset("deap", root), path, "384 samples per trial", "3 s baseline")
    _deap_file(path, rng.normal(size=(3, 40, 512)), np.full((3, 3), 5.0))  # a label column lost
    one_problem(check_dataset("deap", root), path, "'labels' has shape (3, 3); expected (3, 4)")
    _deap_file(path, rng.normal(size=(3, 40, 512)), np.full((2, 4), 5.0))  # labels and data disagree
    one_problem(check_dataset("deap", root), path, "'labels' has shape (2, 4); expected (3, 4)")


def test_deap_pickle_naming_a_foreign_global_is_refused(copy_of):
    root = copy_of("deap")
    path = root / "data_preprocessed_python" / "s02.dat"
    path.write_bytes(pickle.dumps({"data": Counter(), "labels": np.ones((3, 4))}))
    one_problem(check_dataset("deap", root), path, "collections.Counter", "numpy arrays only")


def _rename_first_bdf_channel(path: Path, label: bytes) -> None:
    """Overwrite the first channel's 16-byte label in the BDF header (channel labels start at byte 256)."""
    raw = bytearray(path.read_bytes())
    raw[256:272] = label.ljust(16)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("kind", ["mahnob", "mahnob_continuous"])
def test_mahnob_bdf_without_an_eeg_label(copy_of, kind):
    root = copy_of(kind)
    _rename_first_bdf_channel(root / BDF, b"EEG1")
    one_problem(check_dataset(kind, root), root / BDF, "1 of the 32 EEG labels are missing (Fp1)")


def test_mahnob_bdf_at_another_rate(copy_of):
    root = copy_of("mahnob")
    path = root / BDF
    raw = bytearray(path.read_bytes())
    raw[244:252] = b"2".ljust(8)  # 2-s records of 256 samples: 128 Hz, the same file size
    path.write_bytes(bytes(raw))
    one_problem(check_dataset("mahnob", root), path, "sampled at 128 Hz; expected 256")


def _load_dreamer(root: Path) -> np.ndarray:
    return scipy.io.loadmat(root / "DREAMER.mat")["DREAMER"]


def test_dreamer_wrong_shapes(copy_of):
    root = copy_of("dreamer")
    top = _load_dreamer(root)
    stimuli = top[0, 0]["Data"][0, 1]["EEG"][0, 0]["stimuli"][0, 0]
    stimuli[1, 0] = stimuli[1, 0][:, :13]
    scipy.io.savemat(root / "DREAMER.mat", {"DREAMER": top})
    one_problem(check_dataset("dreamer", root), root / "DREAMER.mat", "DREAMER.Data{2}.EEG.stimuli{2}",
                "(512, 13); expected (samples, 14)")


@pytest.mark.parametrize("kind", ["seed", "seed_iv"])
def test_seed_trial_with_61_channels(copy_of, kind):
    root = copy_of(kind)
    path = first(root, TRUNCATED[kind])
    variables = {name: x for name, x in scipy.io.loadmat(path).items() if not name.startswith("__")}
    name = sorted(variables)[0]
    variables[name] = variables[name][:61]
    scipy.io.savemat(path, variables)
    one_problem(check_dataset(kind, root), path, f"{name} has shape (61, ", "expected (62 channels, samples)")


def test_seed_iv_eye_features_of_the_wrong_width(copy_of):
    root = copy_of("seed_iv")
    path = first(root, "eye_feature_smooth/1/1_*.mat")
    scipy.io.savemat(path, {"eye_1": np.ones((30, 2)), "eye_2": np.ones((31, 2)), "eye_3": np.ones((31, 2))})
    one_problem(check_dataset("seed_iv", root), path, "eye_1 has shape (30, 2); expected (31, windows)")


def _seed_v_file(path: Path, data: dict, labels: dict | None) -> None:
    blobs = {"data": pickle.dumps(data)} | ({} if labels is None else {"label": pickle.dumps(labels)})
    np.savez(path, **blobs)


def test_seed_v_wrong_shape(copy_of):
    root = copy_of("seed_v")
    path = root / "EEG_DE_features" / "1_123.npz"
    _seed_v_file(path, {0: np.ones((4, 300))}, {0: np.zeros(4, dtype=np.int64)})
    one_problem(check_dataset("seed_v", root), path, "trial 0 'data' is float64 (4, 300); expected (windows, 310)")
    _seed_v_file(path, {0: np.ones((4, 310))}, {0: np.zeros(3, dtype=np.int64)})  # labels and data disagree
    one_problem(check_dataset("seed_v", root), path, "trial 0 has 4 feature windows but 3 labels")


# ---------------------------------------------------------------------------------------------- missing label files


def test_seed_without_label_mat(copy_of):
    root = copy_of("seed")
    (root / "Preprocessed_EEG" / "label.mat").unlink()
    one_problem(check_dataset("seed", root), root / "Preprocessed_EEG" / "label.mat", "missing ", "'label', 1 x 15")


def test_mahnob_continuous_needs_its_label_file_and_mahnob_does_not(copy_of):
    root = copy_of("mahnob_continuous")
    (root / MAHNOB_CONTINUOUS_LABEL_FILE).unlink()
    one_problem(check_dataset("mahnob_continuous", root), root / MAHNOB_CONTINUOUS_LABEL_FILE, "missing ",
                "separate download")
    report = check_dataset("mahnob", root)
    assert report.ok and "4 sessions with a usable BDF" in report.found[0], report.problems


def test_seed_v_without_its_label_key(copy_of):
    root = copy_of("seed_v")
    path = root / "EEG_DE_features" / "2_123.npz"
    _seed_v_file(path, {0: np.ones((4, 310))}, None)
    one_problem(check_dataset("seed_v", root), path, "holds keys ['data']", "keys 'data' and 'label'")


def test_dreamer_scores_missing_for_a_clip(copy_of):
    root = copy_of("dreamer")
    top = _load_dreamer(root)
    subject = top[0, 0]["Data"][0, 0]
    subject["ScoreArousal"][0, 0] = subject["ScoreArousal"][0, 0][:2]
    scipy.io.savemat(root / "DREAMER.mat", {"DREAMER": top})
    one_problem(check_dataset("dreamer", root), root / "DREAMER.mat", "DREAMER.Data{1}.ScoreArousal holds 2",
                "for 3 clips")


# ---------------------------------------------------------------------------------------------- labels out of range


def test_deap_ratings_off_the_scale(copy_of):
    root = copy_of("deap")
    path = root / "data_preprocessed_python" / "s02.dat"
    _deap_file(path, np.ones((3, 40, 512)), np.array([[5, 5, 5, 5], [9.5, 5, 5, 5], [5, 5, 0, 5]], float))
    one_problem(check_dataset("deap", root), path, "2 of 12 values outside 1 to 9 (0, 9.5)", "1-9 scale")


@pytest.mark.parametrize("kind", ["mahnob", "mahnob_continuous"])
def test_mahnob_felt_rating_off_the_scale(copy_of, kind):
    root = copy_of(kind)
    xml = root / "Sessions" / "2" / "session.xml"
    text = xml.read_text(encoding="utf-8")
    start = text.index('feltVlnc="')
    xml.write_text(text[:start] + 'feltVlnc="12"' + text[text.index('"', start + 10) + 1:], encoding="utf-8")
    one_problem(check_dataset(kind, root), xml, "feltVlnc='12' is not a rating on the 1-9 scale")


def test_mahnob_continuous_trace_with_nan(copy_of):
    root = copy_of("mahnob_continuous")
    path = root / MAHNOB_CONTINUOUS_LABEL_FILE
    mat = scipy.io.loadmat(path)
    mat["labels"][0, 1] = np.array([[0.1, np.nan, 0.2]])
    scipy.io.savemat(path, {k: v for k, v in mat.items() if not k.startswith("__")})
    one_problem(check_dataset("mahnob_continuous", root), path, "holds 1 NaN or infinite values")


def test_dreamer_score_off_the_scale(copy_of):
    root = copy_of("dreamer")
    top = _load_dreamer(root)
    top[0, 0]["Data"][0, 1]["ScoreValence"][0, 0][2, 0] = 6
    scipy.io.savemat(root / "DREAMER.mat", {"DREAMER": top})
    one_problem(check_dataset("dreamer", root), root / "DREAMER.mat", "DREAMER.Data{2}.ScoreValence has 1 of 3 "
                "values outside the whole numbers 1 to 5 (6)")


def test_seed_label_off_the_scale_and_a_v73_label_file(copy_of):
    root = copy_of("seed")
    path = root / "Preprocessed_EEG" / "label.mat"
    scipy.io.savemat(path, {"label": np.array([[1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 2, -1]])})
    one_problem(check_dataset("seed", root), path, "outside the whole numbers -1 to 1 (2)")
    path.write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(512, b"\0"))
    one_problem(check_dataset("seed", root), path, "MATLAB v7.3 (HDF5)")


def test_seed_v_label_off_the_scale(copy_of):
    root = copy_of("seed_v")
    path = root / "EEG_DE_features" / "1_123.npz"
    _seed_v_file(path, {0: np.ones((3, 310))}, {0: np.array([5, 5, 5])})
    one_problem(check_dataset("seed_v", root), path, "trial 0 'label' has 3 of 3 values outside the whole numbers "
                "0 to 4 (5)")
