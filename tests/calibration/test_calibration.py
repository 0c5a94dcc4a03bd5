"""`affectstream calibrate --headless`: the profile it writes, its before/after report, and how `run`, `replay` and the
dashboard use a profile (and refuse one made for something else). The subject is SIMULATED."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from affectstream.app.cli.main import main
from affectstream.calibration.profiles import ProfileError, load_profile


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    assert main(["calibrate", "--subject", "sim01", "--headless", "--fast", "--profiles", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def atypical(tmp_path_factory):
    """A simulated subject unlike the bundled student's training population (other bands, electrodes, signs)."""
    root = tmp_path_factory.mktemp("atypical")
    assert main(["calibrate", "--subject", "aty01", "--seed", "2", "--headless", "--fast", "--sim-subject",
                 "atypical", "--profiles", str(root)]) == 0
    return root


def test_calibration_keeps_the_best_model_and_says_which_and_whether_it_beats_chance(profiles):
    folder = profiles / "sim01"
    for name in ("profile.json", "baseline.npz", "bad_channels.json", "eeg_student.onnx", "manifest.json",
                 "calibration.xdf", "report.json", "report.md", "report.png"):
        assert (folder / name).is_file(), name
    report = json.loads((folder / "report.json").read_text())
    assert report["data"] == "synthetic" and report["against"] == "truth"
    for key in ("before", "after"):
        assert np.isfinite(report[key]["ccc"]) and report[key]["rmse"] > 0
    # a typical subject: the bundled student fits, and calibration never makes it worse without saying so
    assert report["after"]["ccc"] >= report["before"]["ccc"] - 0.01
    assert report["kept"] in ("calibrated", "uncalibrated", "baseline")
    assert report["after"] == report["candidates"][report["kept"]]
    assert report["before"] == report["candidates"]["uncalibrated"]
    assert set(report["selection"]["training_ccc"]) == {"uncalibrated", "baseline", "student_head",
                                                        "band_power_ridge"}
    assert report["chance_p"] <= 0.05 and report["better_than_chance"]  # the bundled student tracks the reports
    assert report["used_by_default"] == (report["kept"] == "calibrated")
    assert report["seconds"] < 180
    page = (folder / "report.md").read_text()
    assert "SYNTHETIC" in page and "better than chance (p = " in page and "(kept)" in page
    profile = load_profile(profiles, "sim01")
    assert profile.meta["data"] == "synthetic" and profile.norm_state["count"].max() > 100  # the baseline's frames
    assert profile.selection["kept"] == report["kept"] and profile.selection["chance_p"] == report["chance_p"]


def test_an_atypical_subject_gets_a_model_of_its_own_that_beats_chance(atypical, tmp_path, capsys):
    report = json.loads((atypical / "aty01" / "report.json").read_text())
    assert report["before"]["ccc"] < 0.2  # the bundled student does not fit this subject
    assert report["after"]["ccc"] - report["before"]["ccc"] >= 0.2
    assert report["kept"] == "calibrated" and report["chance_p"] <= 0.05 and report["used_by_default"]
    assert "SYNTHETIC" in report["kept_line"] and report["chance_line"].startswith("better than chance (p = ")
    from affectstream.pipelines.synthetic.recording import write_simulated_recording

    rec = write_simulated_recording(tmp_path / "s.xdf", 20.0)
    with_profile, without = tmp_path / "p.jsonl", tmp_path / "n.jsonl"
    assert main(["replay", str(rec), "--headless", "--out", str(with_profile), "--subject", "aty01",
                 "--profiles", str(atypical)]) == 0
    assert "using the calibration profile of 'aty01'" in capsys.readouterr().err
    assert main(["replay", str(rec), "--headless", "--out", str(without), "--subject", "sim99",
                 "--profiles", str(atypical)]) == 0
    assert "no calibration profile for subject 'sim99'" in capsys.readouterr().err
    a = [json.loads(line) for line in with_profile.read_text().splitlines()]
    b = [json.loads(line) for line in without.read_text().splitlines()]
    assert len(a) == len(b) and a[-1]["t"] == b[-1]["t"]
    assert any(x["valence_eeg"] != y["valence_eeg"] for x, y in zip(a, b))


def test_ratings_that_carry_no_information_give_a_profile_that_is_not_used_by_default(tmp_path):
    """The self-reports are drawn at random, whatever the subject felt: no model can beat chance on them."""
    import dataclasses

    from affectstream.calibration.profiles import default_use
    from affectstream.calibration.protocol import CalibrationConfig, simulate_session
    from affectstream.calibration.selection import SelectionConfig
    from affectstream.calibration.session import calibrate_session

    session = simulate_session("noinfo", CalibrationConfig().fast(), subject_kind="atypical")
    rng = np.random.default_rng(7)
    session.blocks = [dataclasses.replace(b, sam_valence=int(rng.integers(1, 10)), sam_arousal=int(rng.integers(1, 10)))
                      for b in session.blocks]
    folder, report = calibrate_session(session, tmp_path, selection=SelectionConfig(permutations=49))
    assert report["chance_p"] > 0.05 and not report["better_than_chance"] and not report["used_by_default"]
    assert report["chance_line"] == (f"not better than chance (p = {report['chance_p']:.3g}): the profile is not "
                                     "used by default")
    notice = default_use(load_profile(tmp_path, "noinfo"))
    assert notice is not None and "using the bundled EEG student" in notice
    assert "not better than chance" in (folder / "report.md").read_text()


def test_a_profile_made_for_something_else_is_refused(profiles, tmp_path, capsys):
    for what, change, message in (
            ("montage", lambda m: m.update(montage=m["montage"][:16]), "another montage"),
            ("model", lambda m: m["base_model"].update(sha256="0" * 64), "another version of the EEG student"),
            ("version", lambda m: m.update(version=99), "format version")):
        root = tmp_path / what
        shutil.copytree(profiles / "sim01", root / "sim01")
        meta = json.loads((root / "sim01" / "profile.json").read_text())
        change(meta)
        (root / "sim01" / "profile.json").write_text(json.dumps(meta))
        with pytest.raises(ProfileError, match=message):
            load_profile(root, "sim01")
    root = tmp_path / "tampered"
    shutil.copytree(profiles / "sim01", root / "sim01")
    with open(root / "sim01" / "eeg_student.onnx", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ProfileError, match="sha256"):
        load_profile(root, "sim01")
    from affectstream.pipelines.synthetic.recording import write_simulated_recording

    rec = write_simulated_recording(tmp_path / "s.xdf", 4.0)
    capsys.readouterr()
    assert main(["replay", str(rec), "--headless", "--subject", "sim01", "--profiles", str(root)]) == 2
    err = capsys.readouterr().err
    assert "sha256" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ProfileError, match="letters"):
        load_profile(root, "../etc")


def test_calibrate_without_a_display_says_what_to_do(capsys, monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert main(["calibrate", "--subject", "x1"]) == 2
    assert "--headless" in capsys.readouterr().err


def test_dashboard_subject_button_uses_a_profile_and_refuses_a_bad_one(qtbot, profiles, atypical, tmp_path):
    """A profile whose calibrated model beats chance is used; one that kept the uncalibrated student names the subject
    but estimates with the bundled student and says why; a missing profile is refused."""
    pytest.importorskip("pytestqt")
    from affectstream.app.dashboard import _application
    from affectstream.app.dashboard.main_window import DashboardWindow
    from affectstream.calibration.profiles import default_use

    root = tmp_path / "profiles"
    shutil.copytree(atypical / "aty01", root / "aty01")
    shutil.copytree(profiles / "sim01", root / "sim01")
    assert default_use(load_profile(root, "aty01")) is None
    assert "kept the uncalibrated student" in default_use(load_profile(root, "sim01"))
    _application()
    w = DashboardWindow(None, publish=False, list_streams=False, profiles_dir=root)
    qtbot.addWidget(w)
    assert w.subject_button.isEnabled()
    assert w.use_subject("aty01") and w.config.profile == str(root / "aty01")
    assert w.subject_button.text() == "Subject: aty01" and w.notice.level == "info"
    assert w.use_subject("sim01") and w.config.profile is None and w.subject == "sim01"
    assert w.notice.level == "warn" and "kept the uncalibrated student" in w.notice.label.text()
    assert not w.use_subject("sim42")  # no such profile: refused with the reason, the previous choice stays
    assert w.notice.level == "error" and "no profile for subject 'sim42'" in w.notice.label.text()
    assert w.subject == "sim01"
    assert w.use_subject(None) and w.config.profile is None and w.subject_button.text() == "Subject…"
    w.close()


def test_calibration_from_a_recorded_session_matches_the_live_one(tmp_path, capsys):
    """A protocol recorded to XDF (as a lab records PsychoPy's markers with the headset) calibrates like the session
    itself: the same blocks, ratings, baseline and scores."""
    from affectstream.calibration.protocol import CalibrationConfig, simulate_session, write_recording
    from affectstream.calibration.recording import session_from_recording
    from affectstream.calibration.session import calibrate_session

    session = simulate_session("sim03", CalibrationConfig().fast())
    path = write_recording(session, tmp_path / "recorded.xdf")
    again = session_from_recording(path, "sim03")
    assert [(b.stimulus, b.sam_valence, b.sam_arousal, b.heldout) for b in again.blocks] == \
        [(b.stimulus, b.sam_valence, b.sam_arousal, b.heldout) for b in session.blocks]
    assert again.baseline == pytest.approx(session.baseline, abs=1e-6) and again.synthetic
    _, direct = calibrate_session(session, tmp_path / "a")
    assert main(["calibrate", "--subject", "sim03", "--recording", str(path), "--profiles", str(tmp_path / "b")]) == 0
    recorded = json.loads((tmp_path / "b" / "sim03" / "report.json").read_text())
    for key in ("before", "after"):
        assert recorded[key]["ccc"] == pytest.approx(direct[key]["ccc"], abs=0.02)
    assert recorded["against"] == "truth" and load_profile(tmp_path / "b", "sim03").subject == "sim03"


def test_a_recording_without_the_protocol_markers_is_refused_in_one_line(tmp_path, capsys):
    from affectstream.pipelines.synthetic.recording import write_simulated_recording

    path = write_simulated_recording(tmp_path / "plain.xdf", 6.0)
    capsys.readouterr()
    assert main(["calibrate", "--subject", "s1", "--recording", str(path), "--profiles", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no baseline markers" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_stimuli_come_from_a_folder_or_the_synthetic_set(tmp_path):
    import cv2

    from affectstream.calibration.live import load_stimuli, synthetic_stimuli

    for name in ("b_second", "a_first"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((20, 30, 3), 128, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [n for n, _ in load_stimuli(tmp_path)] == ["a_first", "b_second"]
    with pytest.raises(ValueError, match="no readable image"):
        load_stimuli(_empty(tmp_path))
    with pytest.raises(ValueError, match="no stimulus folder"):
        load_stimuli(tmp_path / "missing")
    names = [n for n, _ in synthetic_stimuli(4)]
    assert names == ["synthetic_neutral_01", "synthetic_positive_02", "synthetic_negative_03", "synthetic_neutral_04"]


def _empty(root):
    folder = root / "empty"
    folder.mkdir()
    return folder


def test_an_unlabelled_recorded_session_is_named_with_channels(tmp_path, capsys):
    """A headset that sends no labels (the OpenBCI GUI's) calibrates once its channels are named, as in a replay."""
    import dataclasses

    from affectstream.calibration.protocol import CalibrationConfig, simulate_session, write_recording
    from affectstream.calibration.recording import CalibrationRecordingError, session_from_recording
    from affectstream.pipelines.config import MontageConfig

    session = simulate_session("sim04", CalibrationConfig().fast())
    path = write_recording(dataclasses.replace(session, ch_names=("",) * len(session.ch_names)), tmp_path / "u.xdf")
    with pytest.raises(CalibrationRecordingError, match="no channel labels.*--channels.*--montage"):
        session_from_recording(path, "sim04")
    named = session_from_recording(path, "sim04", montage=MontageConfig(channels=session.ch_names))
    assert named.ch_names == session.ch_names and len(named.blocks) == len(session.blocks)
    capsys.readouterr()
    assert main(["calibrate", "--subject", "s1", "--channels", "Fp1,Fp2", "--headless"]) == 2
    assert "--recording" in capsys.readouterr().err
