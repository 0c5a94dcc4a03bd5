"""The bundled EEG student in the live pipeline: parity, planted saliency, fallback and integrity checks.

All EEG here is SYNTHETIC (the project's simulator); the student was trained on other simulated subjects.
"""

import collections
import json
import math
import shutil

import numpy as np
import pytest

import affectstream.models.deploy.manifest as manifest
from affectstream.models.deploy.runtime import make_session
from affectstream.models.deploy.manifest import ModelIntegrityError, load_manifest, verified_path
from affectstream.models.training.metrics import ccc
from affectstream.core.bandpower import BAND_NAMES
from affectstream.pipelines.config import PipelineConfig
from affectstream.pipelines.eeg.student import EEG_STUDENT, load_torch_student
from affectstream.pipelines.engine import AffectPipeline, EEGStreamSpec, StreamFormatError
from affectstream.core.montage import MONTAGE_32
from affectstream.pipelines.synthetic.sim_config import SimulatorConfig
from affectstream.pipelines.synthetic.simulator import simulate
from affectstream.pipelines.synthetic.subject import planted_pattern

pytestmark = pytest.mark.skipif(EEG_STUDENT not in load_manifest()["models"], reason="no bundled EEG student")

SPEC = EEGStreamSpec(sfreq=256.0, n_channels=32, labels=MONTAGE_32, synthetic=True)


@pytest.fixture(scope="module")
def held_out():
    """A subject the student never saw (training used sim01-sim12)."""
    return simulate(SimulatorConfig(seed=0, subject="sim13"), 240.0)


def test_bundled_onnx_matches_torch():
    torch = pytest.importorskip("torch")  # the light install runs the rest of this file without PyTorch
    from affectstream.models.nets.eeg_tcn import EEGTCNStreaming

    path, entry = verified_path(EEG_STUDENT)
    model = load_torch_student()
    x = torch.randn(8, 192, entry["input"]["frames"])
    expected = EEGTCNStreaming(model)(x).detach().numpy()
    got = make_session(path).run(None, {entry["input"]["name"]: x.numpy()})[0]
    assert np.abs(got - expected).max() <= 1e-4


def test_student_runs_live_and_tracks_held_out_truth(held_out):
    pipe = AffectPipeline(SPEC)
    assert pipe.estimator_name == "student"
    results = pipe.push_eeg(held_out.eeg, held_out.times)
    assert {r.to_json()["estimator_eeg"] for r in results} == {"student"}
    t = np.array([r.t for r in results]) - 1.0
    idx = np.round(t * held_out.srate).astype(int)
    keep = t > 20
    score = ccc(np.array([r.valence for r in results])[keep], held_out.valence[idx][keep])
    print(f"\nstudent valence CCC on held-out SYNTHETIC subject sim13: {score:.3f}")
    assert score >= 0.5


def test_saliency_ranks_the_planted_bands_and_electrodes_highest(held_out):
    pipe = AffectPipeline(SPEC, PipelineConfig(saliency_every_hops=4))
    pipe.saliency._recent = collections.deque(maxlen=10_000)  # average over the whole session
    pipe.saliency.kind = "mean_gradient"  # what the student learnt (its weights), not what drives it right now
    results = pipe.push_eeg(held_out.eeg, held_out.times)
    computed = [r.saliency for r in results if r.saliency is not None]
    assert len(computed) == math.ceil(len(results) / 4)
    s = computed[-1]
    assert s.shape == (6, 32) and math.isclose(s.max(), 1.0) and s.min() >= 0  # jointly normalised
    planted = np.abs(planted_pattern()["valence"]) > 0
    top = np.argsort(s.ravel())[::-1][:10]
    assert planted.ravel()[top].sum() >= 8, "the most salient inputs should be the planted valence inputs"
    band_rank = [BAND_NAMES[i] for i in np.argsort(s.mean(axis=1))[::-1]]
    assert set(band_rank[:2]) <= {"alpha", "beta2", "gamma"}
    assert band_rank[-1] in ("delta", "theta", "beta1")


@pytest.fixture
def corrupt_weights(tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    shutil.copytree(manifest.WEIGHTS_DIR, weights)
    onnx_file = weights / json.loads((weights / "manifest.json").read_text())["models"][EEG_STUDENT]["file"]
    data = bytearray(onnx_file.read_bytes())
    data[-10] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    monkeypatch.setattr(manifest, "MANIFEST", weights / "manifest.json")
    return weights


def test_hash_mismatch_is_refused_with_a_clear_message(corrupt_weights):
    with pytest.raises(ModelIntegrityError, match="does not match its manifest entry"):
        verified_path(EEG_STUDENT)
    with pytest.raises(StreamFormatError, match="EEG student cannot be used"):
        AffectPipeline(SPEC, PipelineConfig(eeg_estimator="student"))


def test_auto_falls_back_to_the_baseline(corrupt_weights, caplog):
    pipe = AffectPipeline(SPEC)
    assert pipe.estimator_name == "baseline"
    assert "using the baseline estimator" in caplog.text
