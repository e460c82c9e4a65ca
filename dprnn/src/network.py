"""DPRNN (Luo, Chen & Yoshioka, ICASSP 2020): conv encoder, dual-path RNN masker, linear decoder."""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn, ops

from utils.modules import OnnxSwitchable
from utils.separation.base import EncoderMaskerDecoder, non_default
from utils.separation.filterbanks import ConvEncoder, OverlapAddDecoder
from utils.separation.framing import crop_frames, frame_signal, overlap_add, pad_to_frames, zero_pad_around
from utils.separation.masks import get_mask_activation
from utils.separation.norms import CAUSAL_NORMS, get_norm
from utils.separation.rnn import FusedLSTM


CHUNK_MARGINS = ("half", "full")
# Options that reproduce asteroid's DPRNNTasNet, with the defaults that keep this zoo's DPRNN.
ASTEROID_OPTION_DEFAULTS = {"encoder_relu": True, "framing": "padded", "chunk_margin": "half"}


class DualPathBlock(nn.Cell):
    """chunks [B, n_chunks, K, C] -> same shape.

    Intra-chunk BiLSTM over the K frames of each chunk, then inter-chunk (Bi)LSTM over the chunks at
    each position; each path: LSTM -> Dense back to C -> norm -> residual.
    """

    def __init__(self, channels, hidden_size, norm, bidirectional, dropout):
        super().__init__()
        self.intra_rnn = FusedLSTM(channels, hidden_size, bidirectional=True)
        self.intra_linear = nn.Dense(2 * hidden_size, channels)
        self.intra_norm = get_norm(norm, channels)
        self.inter_rnn = FusedLSTM(channels, hidden_size, bidirectional=bidirectional)
        self.inter_linear = nn.Dense(hidden_size * (2 if bidirectional else 1), channels)
        self.inter_norm = get_norm(norm, channels)
        self.dropout = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()

    def construct(self, chunks):
        batch, n_chunks, size, channels = chunks.shape
        # Both LSTMs run time-major, their input one transpose of the chunks away (a batch-first LSTM adds two)
        along = chunks.transpose(2, 0, 1, 3).reshape(size, -1, channels)                 # [K, B * n_chunks, C]
        intra = self.dropout(self.intra_linear(self.intra_rnn(along)[0]))
        intra = intra.reshape(size, batch, n_chunks, channels).transpose(1, 2, 0, 3).reshape(batch, -1, channels)
        chunks = chunks + self.intra_norm(intra).reshape(batch, n_chunks, size, channels)
        across = chunks.transpose(1, 0, 2, 3).reshape(n_chunks, -1, channels)          # [n_chunks, B * K, C]
        inter = self.dropout(self.inter_linear(self.inter_rnn(across)[0]))
        inter = inter.reshape(n_chunks, batch, size, channels).transpose(1, 0, 2, 3).reshape(batch, -1, channels)
        return chunks + self.inter_norm(inter).reshape(batch, n_chunks, size, channels)


class DPRNNMasker(nn.Cell, OnnxSwitchable):
    """features [B, F, N] -> masks [B, S, F, N].

    norm + 1x1 bottleneck N -> C, chunks of K frames with hop K/2, dual-path blocks, PReLU + 1x1 to
    S*C, overlap-add of the chunks, tanh * sigmoid gate, 1x1 C -> N (no bias), mask activation.
    chunk_margin "half": K/2 zero frames before the first chunk, and chunks up to the last frame;
    "full": K zero frames on each side and floor division of the rest (asteroid's unfold/fold).
    """

    def __init__(self, n_src, n_filters, bn_chan, hid_size, chunk_size, n_repeats, norm, mask_act,
                 bidirectional, dropout, chunk_margin="half"):
        super().__init__()
        if chunk_margin not in CHUNK_MARGINS:
            raise ValueError(f"unknown chunk_margin {chunk_margin!r}; choose one of {', '.join(CHUNK_MARGINS)}")
        self.n_src, self.bn_chan = n_src, bn_chan
        self.chunk_size, self.chunk_hop = chunk_size, chunk_size // 2
        self.full_margin = chunk_margin == "full"
        self.bottleneck_norm = get_norm(norm, n_filters)
        self.bottleneck = nn.Dense(n_filters, bn_chan)
        self.blocks = nn.SequentialCell([DualPathBlock(bn_chan, hid_size, norm, bidirectional, dropout)
                                         for _ in range(n_repeats)])
        self.prelu = nn.PReLU()
        self.first_out = nn.Dense(bn_chan, n_src * bn_chan)
        self.net_out = nn.Dense(bn_chan, bn_chan)
        self.net_gate = nn.Dense(bn_chan, bn_chan)
        self.mask_net = nn.Dense(bn_chan, n_filters, has_bias=False)
        self.activation = get_mask_activation(mask_act)
        self.exact_padding = True

    def onnx_compatible(self):
        """Pad the chunking input at constant widths and crop (see framing.pad_to_frames' exact_width)."""
        self.exact_padding = False

    def construct(self, features):
        batch, n_frames, _ = features.shape
        hidden = self.bottleneck(self.bottleneck_norm(features))                 # [B, F, C]
        by_channel = hidden.transpose(0, 2, 1).reshape(-1, n_frames)             # [B*C, F]
        if self.full_margin:
            padded_length = (n_frames // self.chunk_hop) * self.chunk_hop + 2 * self.chunk_size
            padded = zero_pad_around(by_channel, self.chunk_size, padded_length, self.chunk_size, self.exact_padding)
        else:
            padded = pad_to_frames(by_channel, self.chunk_size, self.chunk_hop, exact_width=self.exact_padding)
        chunks = frame_signal(padded, self.chunk_size, self.chunk_hop)          # [B*C, n_chunks, K]
        n_chunks = chunks.shape[1]
        chunks = chunks.reshape(batch, self.bn_chan, n_chunks, self.chunk_size).transpose(0, 2, 3, 1)
        chunks = self.first_out(self.prelu(self.blocks(chunks)))                 # [B, n_chunks, K, S*C]
        chunks = chunks.reshape(batch, n_chunks, self.chunk_size, -1).transpose(0, 3, 1, 2)
        merged = overlap_add(chunks, self.chunk_hop)
        if self.full_margin:
            merged = merged[..., self.chunk_size:self.chunk_size + n_frames]
        else:
            merged = crop_frames(merged, n_frames, self.chunk_size, self.chunk_hop)
        merged = merged.reshape(batch, self.n_src, self.bn_chan, n_frames).transpose(0, 1, 3, 2)
        gated = ops.tanh(self.net_out(merged)) * ops.sigmoid(self.net_gate(merged))   # [B, S, F, C]
        return self.activation(self.mask_net(gated))


class DPRNN(EncoderMaskerDecoder):
    """DPRNN separator: mixture [B, T] -> sources [B, n_src, T].

    n_filters: encoder filters N. kernel_size: L samples per frame; stride: hop (kernel_size must be a
    multiple of it). bn_chan: bottleneck channels. hid_size: LSTM units per direction. chunk_size: K
    frames per chunk (even; chunks overlap by K/2). n_repeats: dual-path blocks. norm: "gLN" | "cLN" |
    "chanLN". mask_act: "sigmoid" | "relu" | "softmax". bidirectional: inter-chunk BiLSTM (non-causal).
    Options that reproduce asteroid's DPRNNTasNet (defaults keep this zoo's model): encoder_relu: ReLU
    after the encoder (asteroid: encoder_activation "relu"). framing: "padded" | "valid" (see
    EncoderMaskerDecoder). chunk_margin: "half" | "full" (see DPRNNMasker).
    Initial weights follow asteroid's DPRNNTasNet: xavier-normal filterbanks (see filterbanks.py), torch
    defaults elsewhere (MindSpore's equal them): LSTM U(+-1/sqrt(hidden)), Dense (asteroid's Linear and 1x1
    Conv1d) kaiming-uniform a = sqrt(5) with U(+-1/sqrt(fan_in)) biases, gLN gains 1 / biases 0, PReLU 0.25.
    """

    def __init__(self, n_src=2, n_filters=64, kernel_size=16, stride=8, bn_chan=128, hid_size=128,
                 chunk_size=100, n_repeats=6, norm="gLN", mask_act="sigmoid", bidirectional=True, dropout=0.0,
                 encoder_relu=True, framing="padded", chunk_margin="half"):
        if chunk_size < 2 or chunk_size % 2:
            raise ValueError(f"DPRNN chunk_size must be even and >= 2 (50 % overlap), got {chunk_size}")
        if not bidirectional and norm not in CAUSAL_NORMS:
            raise ValueError(f"a causal DPRNN (bidirectional=False) needs a causal norm {CAUSAL_NORMS}, got {norm!r}")
        super().__init__(ConvEncoder(n_filters, kernel_size, stride, relu=encoder_relu),
                         DPRNNMasker(n_src, n_filters, bn_chan, hid_size, chunk_size, n_repeats, norm, mask_act,
                                     bidirectional, dropout, chunk_margin),
                         OverlapAddDecoder(n_filters, kernel_size, stride), kernel_size, stride, framing)
        self._store_config(n_src=n_src, n_filters=n_filters, kernel_size=kernel_size, stride=stride,
                           bn_chan=bn_chan, hid_size=hid_size, chunk_size=chunk_size, n_repeats=n_repeats,
                           norm=norm, mask_act=mask_act, bidirectional=bidirectional, dropout=dropout,
                           **non_default(dict(encoder_relu=encoder_relu, framing=framing, chunk_margin=chunk_margin),
                                         ASTEROID_OPTION_DEFAULTS))
