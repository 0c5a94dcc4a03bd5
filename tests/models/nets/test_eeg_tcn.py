"""EEG student TCN: shapes, receptive field, causality, streaming form (docs/methods.md §2.2)."""

import pytest
import torch

from affectstream.models.nets.eeg_tcn import EEGTCN, EEGTCNStreaming


@pytest.fixture
def model() -> EEGTCN:
    torch.manual_seed(0)
    return EEGTCN().eval()


def test_shapes_and_defaults(model):
    out = model(torch.randn(2, 192, 40))
    assert out.valence.shape == (2, 40)
    assert out.arousal.shape == (2, 40)
    assert out.features.shape == (2, 40, 128)
    assert model.receptive_field == 13
    assert [b.conv1.dilation[0] for b in model.tcn.blocks] == [1, 2]
    assert hasattr(model.tcn.blocks[0].conv1, "parametrizations")  # weight norm
    assert model.tcn.blocks[0].downsample is not None and model.tcn.blocks[1].downsample is None


def test_rejects_wrong_feature_count(model):
    with pytest.raises(ValueError, match="192"):
        model(torch.randn(1, 191, 20))
    with pytest.raises(ValueError, match="13"):
        model.forward_last(torch.randn(1, 192, 12))


def test_causal(model):
    x = torch.randn(1, 192, 30)
    y = x.clone()
    y[..., 17:] = torch.randn(1, 192, 13)  # change only the future of step 16
    a, b = model(x), model(y)
    torch.testing.assert_close(a.valence[:, :17], b.valence[:, :17], rtol=0, atol=0)
    torch.testing.assert_close(a.features[:, :17], b.features[:, :17], rtol=0, atol=0)
    assert not torch.allclose(a.valence[:, 17:], b.valence[:, 17:])


def test_receptive_field_is_exact(model):
    x = torch.randn(1, 192, 30, requires_grad=True)
    model(x).valence[0, 25].backward()
    touched = (x.grad[0].abs().sum(0) > 0).nonzero().flatten().tolist()
    assert touched == list(range(25 - model.receptive_field + 1, 26))


def test_streaming_equals_full_sequence_last_step(model):
    stream = EEGTCNStreaming(model).eval()
    seq = torch.randn(3, 192, 40)
    full = model(seq)
    rf = stream.receptive_field
    for t in (rf - 1, 20, 39):
        last = stream(seq[..., t - rf + 1 : t + 1])
        assert last.shape == (3, 2)
        torch.testing.assert_close(last[:, 0], full.valence[:, t], rtol=0, atol=1e-5)
        torch.testing.assert_close(last[:, 1], full.arousal[:, t], rtol=0, atol=1e-5)
    assert stream.example_input().shape == (1, 192, 13)


def test_custom_depth_receptive_field():
    assert EEGTCN(channels=(64, 64, 64), kernel_size=5).receptive_field == 1 + 2 * 4 * (1 + 2 + 4)
