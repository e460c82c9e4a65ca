"""Learned analysis (encoder) and synthesis (decoder) filterbanks on framed signals.

Encoders take a padded signal [B, T_pad] (see framing.pad_to_frames) and return features [B, F, N]
(channel-last). A strided Conv1d(1, N, L, stride=hop) is exactly a Dense(L -> N) on the frames, which
is how it is written here: same maths, and it needs no Conv op for export. The decoder maps each frame
back to L samples with a Dense(N -> L) and overlap-adds them (ONNX-safe, no Conv1dTranspose).

Initialisation (asteroid's free filterbanks): every filter matrix is drawn with xavier_normal_ as torch
draws Conv1d filters [N, 1, L] (std sqrt(2 / (L + N L))), biases U(+-1/sqrt(L)) (torch Conv1d default); the
gated encoder's two branches start equal (asteroid's LSTMTasNet copies one into the other).
"""
import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms
from mindspore import nn, ops

from utils.init import conv_filterbank_init
from utils.modules import broadcast_like
from utils.separation.framing import frame_ratio, frame_signal, overlap_add


class ConvEncoder(nn.Cell):
    """Conv1d encoder (N filters of L samples, stride hop, no bias), optional ReLU.

    padded: [B, T_pad] -> features [B, F, N]
    """

    def __init__(self, n_filters, frame_length, hop, relu=True):
        super().__init__()
        frame_ratio(frame_length, hop)
        self.frame_length, self.hop = frame_length, hop
        self.basis = nn.Dense(frame_length, n_filters, has_bias=False,
                              weight_init=conv_filterbank_init(n_filters, frame_length))
        self.relu = relu

    def construct(self, padded):
        features = self.basis(frame_signal(padded, self.frame_length, self.hop))
        return ops.relu(features) if self.relu else features


class GatedEncoder(nn.Cell):
    """TasNet encoder: each frame is divided by its L2 norm, then ReLU(U x) * sigmoid(V x).

    padded: [B, T_pad] -> (features [B, F, N], frame_norms [B, F, 1]); the norms rescale the decoded
    frames so the output keeps the mixture's loudness. frame_norm=False, bias=False give asteroid's
    LSTMTasNet encoder (raw frames, two bias-free Conv1d; the frame gain is then None).
    """
    # frame energies of silent (padded) frames are below float16's range: float32 under mixed precision
    # (utils/amp.py); the encoder is a small share of TasNet's compute
    amp_fp32 = True

    def __init__(self, n_filters, frame_length, hop, eps=1e-8, frame_norm=True, bias=True):
        super().__init__()
        frame_ratio(frame_length, hop)
        self.frame_length, self.hop, self.eps, self.frame_norm = frame_length, hop, eps, frame_norm
        self.conv_u = nn.Dense(frame_length, n_filters, has_bias=bias,
                               weight_init=conv_filterbank_init(n_filters, frame_length))
        self.conv_v = nn.Dense(frame_length, n_filters, has_bias=bias,
                               weight_init=conv_filterbank_init(n_filters, frame_length))
        # asteroid's LSTMTasNet makes its gate branch a deep copy of the ReLU branch, so both start equal
        # (they part from the first update on: different nonlinearities).
        self.conv_v.weight.set_data(ms.Tensor(self.conv_u.weight.asnumpy()))
        if bias:
            self.conv_v.bias.set_data(ms.Tensor(self.conv_u.bias.asnumpy()))

    def construct(self, padded):
        frames = frame_signal(padded, self.frame_length, self.hop)
        norms = None
        if self.frame_norm:
            norms = ops.sqrt((frames ** 2).sum(-1, keepdims=True) + self.eps)
            frames = frames / broadcast_like(norms, frames)
        return ops.relu(self.conv_u(frames)) * ops.sigmoid(self.conv_v(frames)), norms


class OverlapAddDecoder(nn.Cell):
    """Linear decoder: features [B, S, F, N] (-> optional per-frame gain [B, 1, F, 1] or [B, F, 1])
    -> signals [B, S, (F + ratio - 1) * hop]."""

    def __init__(self, n_filters, frame_length, hop):
        super().__init__()
        frame_ratio(frame_length, hop)
        self.hop = hop
        self.basis = nn.Dense(n_filters, frame_length, has_bias=False,
                              weight_init=conv_filterbank_init(n_filters, frame_length))

    def construct(self, features, frame_gain=None):
        frames = self.basis(features)
        if frame_gain is not None:
            frames = frames * broadcast_like(frame_gain.reshape(frame_gain.shape[0], 1, -1, 1), frames)
        return overlap_add(frames, self.hop)
