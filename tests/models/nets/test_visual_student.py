"""Visual student (ResNet-18 family, docs/methods.md §1.3) and visual teacher (TCN over frames, §2.2)."""

import numpy as np
import pytest
import torch

from affectstream.models.nets.prototypes import PrototypeBank
from affectstream.models.nets.visual_student import FERPLUS_CLASSES, WIDTH_MULTIPLIERS, VisualStudent, count_parameters
from affectstream.models.methods.v2e_kd.teacher import TemporalTeacher


def test_class_order():
    assert FERPLUS_CLASSES == (
        "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
    )


@pytest.mark.parametrize(
    ("name", "low", "high"), [("small", 0.6e6, 0.8e6), ("medium", 2.5e6, 3.1e6), ("large", 10.5e6, 11.8e6)]
)
def test_width_multipliers_param_counts(name, low, high):
    assert low <= count_parameters(VisualStudent(3, WIDTH_MULTIPLIERS[name])) <= high


@pytest.mark.parametrize(("channels", "size", "pool"), [(1, 48, False), (3, 64, False), (3, 112, True)])
def test_student_outputs(channels, size, pool):
    torch.manual_seed(0)
    model = VisualStudent(channels, width_mult=0.25, stem_pool=pool, embedding_dim=32).eval()
    out = model(torch.randn(2, channels, size, size))
    assert out.logits.shape == (2, 8)
    assert out.embedding.shape == (2, 32)
    torch.testing.assert_close(out.embedding.norm(dim=1), torch.ones(2))
    assert out.va_regression.shape == (2, 2) and out.va_regression.abs().max() < 1
    # No bank attached: zero prototypes give a uniform readout, i.e. the grid centre.
    torch.testing.assert_close(out.va_prototype, torch.zeros(2, 2))


def test_student_stem_has_no_7x7():
    model = VisualStudent(1, 0.25)
    first = model.stem[0]
    assert first.kernel_size == (3, 3) and first.stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.stem)


def test_student_prototype_readout_uses_bank():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    bank = PrototypeBank.from_embeddings(rng.normal(size=(100, 16)), rng.uniform(-1, 1, (100, 2)))
    model = VisualStudent(1, 0.25, embedding_dim=16).eval()
    model.set_prototypes(bank)
    out = model(torch.randn(3, 1, 48, 48))
    torch.testing.assert_close(out.va_prototype, bank(out.embedding))
    assert "prototypes.prototypes" in model.state_dict()
    with pytest.raises(ValueError, match="dim"):
        model.set_prototypes(PrototypeBank(torch.eye(25, 8)))


def test_student_rejects_wrong_channels():
    with pytest.raises(ValueError):
        VisualStudent(2)
    with pytest.raises(ValueError, match="1"):
        VisualStudent(1, 0.25)(torch.randn(1, 3, 48, 48))


def test_teacher_shapes_and_causality():
    torch.manual_seed(0)
    teacher = TemporalTeacher(8).eval()
    x = torch.randn(2, 16, 8)
    out = teacher(x)
    assert out.valence.shape == (2, 16)
    assert out.features.shape == (2, 16, 128)
    assert teacher.receptive_field == 13
    y = x.clone()
    y[:, 10:] = torch.randn(2, 6, 8)
    torch.testing.assert_close(teacher(y).features[:, :10], out.features[:, :10], rtol=0, atol=0)
    with pytest.raises(ValueError):
        teacher(torch.randn(1, 4, 9))
