"""Framing / overlap-add / filterbanks: exact inversion, dynamic lengths, correct gradients in graph mode."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn, ops, Tensor

from utils.context import init_context
from utils.separation.base import EncoderMaskerDecoder
from utils.separation.filterbanks import ConvEncoder, OverlapAddDecoder
from utils.separation.framing import crop_frames, frame_signal, overlap_add, pad_to_frames


@pytest.fixture(autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


class FrameRoundTrip(nn.Cell):
    def __init__(self, frame_length, hop, exact_width):
        super().__init__()
        self.frame_length, self.hop, self.exact_width = frame_length, hop, exact_width

    def construct(self, signal):
        padded = pad_to_frames(signal, self.frame_length, self.hop, exact_width=self.exact_width)
        frames = frame_signal(padded, self.frame_length, self.hop)
        return crop_frames(overlap_add(frames, self.hop), signal.shape[-1], self.frame_length, self.hop), frames


@pytest.mark.parametrize("exact_width", [False, True])
@pytest.mark.parametrize("frame_length, hop", [(40, 20), (2, 1), (16, 8), (12, 4), (5, 5)])
def test_overlap_add_inverts_framing_at_any_length(frame_length, hop, exact_width):
    cell = FrameRoundTrip(frame_length, hop, exact_width)
    cell.set_inputs(Tensor(shape=[None, None], dtype=ms.float32))
    rng = np.random.default_rng(1)
    for batch, length in [(2, 333), (3, 1000), (1, 7)]:
        signal = rng.normal(size=(batch, length)).astype(np.float32)
        restored, frames = cell(Tensor(signal))
        # every sample lies in exactly frame_length / hop frames
        np.testing.assert_allclose(restored.asnumpy(), signal * (frame_length // hop), atol=1e-5)
        assert frames.shape == (batch, -(-length // hop) + frame_length // hop - 1, frame_length)
        head = min(hop, length)  # the first frame fully inside the signal starts at sample 0
        np.testing.assert_array_equal(frames.asnumpy()[:, frame_length // hop - 1, :head], signal[:, :head])


def test_non_multiple_frame_length_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of hop"):
        ConvEncoder(8, 10, 4)


class IdentityBank(EncoderMaskerDecoder):
    """Encoder = identity basis, masker = all-ones masks for 1 source, decoder = identity / ratio."""

    def __init__(self, frame_length, hop):
        ratio = frame_length // hop
        encoder = ConvEncoder(frame_length, frame_length, hop, relu=False)
        decoder = OverlapAddDecoder(frame_length, frame_length, hop)
        encoder.basis.weight.set_data(Tensor(np.eye(frame_length, dtype=np.float32)))
        decoder.basis.weight.set_data(Tensor(np.eye(frame_length, dtype=np.float32) / ratio))
        super().__init__(encoder, OnesMask(), decoder, frame_length, hop)


class OnesMask(nn.Cell):
    def construct(self, features):
        return ops.ones_like(features).expand_dims(1)


def test_encoder_decoder_with_identity_bases_reconstruct_the_signal():
    model = IdentityBank(16, 8)
    model.set_inputs(Tensor(shape=[None, None], dtype=ms.float32))
    signal = np.random.default_rng(2).normal(size=(2, 1234)).astype(np.float32)
    estimate = model(Tensor(signal)).asnumpy()
    assert estimate.shape == (2, 1, 1234)
    np.testing.assert_allclose(estimate[:, 0], signal, atol=1e-5)


class WeightedRoundTrip(nn.Cell):
    """sum(weights * OLA(frames ** 2)): gradient wrt signal is 2 * ratio * signal * weights."""

    def __init__(self, exact_width):
        super().__init__()
        self.exact_width = exact_width

    def construct(self, signal, weights):
        frames = frame_signal(pad_to_frames(signal, 8, 4, exact_width=self.exact_width), 8, 4)
        return (crop_frames(overlap_add(frames * frames, 4), signal.shape[-1], 8, 4) * weights).sum()


@pytest.mark.parametrize("exact_width", [False, True])
@pytest.mark.parametrize("dynamic", [False, True])
def test_gradients_stay_correct_across_graph_calls(dynamic, exact_width):
    """Regression: ops.pad's gradient is stale after the first static-shape graph call in MindSpore 2.10."""
    grad = ms.jit(ms.grad(WeightedRoundTrip(exact_width), grad_position=0))
    rng = np.random.default_rng(3)
    for length in ([40, 40, 40] if not dynamic else [40, 57, 40]):
        signal = rng.normal(size=(2, length)).astype(np.float32)
        weights = rng.normal(size=(2, length)).astype(np.float32)
        np.testing.assert_allclose(grad(Tensor(signal), Tensor(weights)).asnumpy(), 4 * signal * weights, atol=1e-4)
