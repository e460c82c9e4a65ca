"""TasNet (Luo & Mesgarani, ICASSP 2018): gated encoder, LSTM masker, linear decoder with overlap-add."""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn

from utils.separation.base import EncoderMaskerDecoder, non_default
from utils.separation.filterbanks import GatedEncoder, OverlapAddDecoder
from utils.separation.masks import get_mask_activation
from utils.separation.norms import CAUSAL_NORMS, get_norm
from utils.separation.rnn import FusedLSTM

# Options that reproduce asteroid's LSTMTasNet, with the defaults that keep this zoo's TasNet.
ASTEROID_OPTION_DEFAULTS = {"stride": None, "frame_norm": True, "encoder_bias": True, "lstm_skip": True,
                            "framing": "padded"}


class TasNetMasker(nn.Cell):
    """features [B, F, N] -> masks [B, S, F, N].

    norm -> LSTM stack in blocks of two layers with an identity skip around every block after the first
    (4 layers: output of layer 2 added to output of layer 4) -> Dense to S*N -> mask activation.
    lstm_skip=False: one plain stack of n_layers (asteroid's LSTMMasker).
    """

    def __init__(self, n_src, n_filters, hidden_size, n_layers, bidirectional, norm, mask_act, dropout,
                 lstm_skip=True):
        super().__init__()
        self.n_src, self.n_filters = n_src, n_filters
        self.norm = get_norm(norm, n_filters)
        lstm_out = hidden_size * (2 if bidirectional else 1)
        sizes = [min(2, n_layers) if lstm_skip else n_layers]
        remaining = n_layers - sizes[0]
        sizes += [2] * (remaining // 2) + [1] * (remaining % 2)
        self.lstms = nn.CellList([
            FusedLSTM(n_filters if i == 0 else lstm_out, hidden_size, num_layers=layers,
                      bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
            for i, layers in enumerate(sizes)])
        self.to_masks = nn.Dense(lstm_out, n_src * n_filters)
        self.activation = get_mask_activation(mask_act)

    def construct(self, features):
        # The LSTMs run time-major ([F, B, N]): one transpose in, one out, however many LSTM blocks
        hidden = self.lstms[0](self.norm(features).transpose(1, 0, 2))[0]
        for lstm in self.lstms[1:]:
            hidden = hidden + lstm(hidden)[0]
        masks = self.to_masks(hidden)                                  # [F, B, S*N]
        masks = masks.reshape(masks.shape[0], masks.shape[1], self.n_src, self.n_filters)
        return self.activation(masks.transpose(1, 2, 0, 3))


class TasNet(EncoderMaskerDecoder):
    """TasNet separator: mixture [B, T] (8 kHz in the paper) -> sources [B, n_src, T].

    n_src: sources to separate. n_filters: N basis signals. frame_length: L samples per frame (hop L/2).
    hidden_size: LSTM units per direction. n_layers: LSTM layers. bidirectional: BLSTM (non-causal)
    or LSTM (causal, then use a causal norm). norm: "gLN" | "cLN" | "chanLN". mask_act: "softmax" |
    "sigmoid" | "relu". dropout: between stacked LSTM layers.
    Options that reproduce asteroid's LSTMTasNet (defaults keep the paper's model): stride: hop in
    samples (None: frame_length / 2; frame_length must be a multiple of it). frame_norm: divide each
    frame by its L2 norm (and restore it after decoding). encoder_bias: bias in the two encoder
    projections. lstm_skip: identity skips between LSTM pairs. framing: "padded" | "valid" (see
    EncoderMaskerDecoder).
    Initial weights follow asteroid's LSTMTasNet: xavier-normal filterbanks, the encoder's gate branch V a
    copy of its ReLU branch U (see filterbanks.py), torch
    defaults elsewhere (MindSpore's equal them): LSTM U(+-1/sqrt(hidden)), Dense and encoder biases
    kaiming-uniform a = sqrt(5) / U(+-1/sqrt(fan_in)), norm gains 1 and biases 0.
    """

    def __init__(self, n_src=2, n_filters=500, frame_length=40, hidden_size=500, n_layers=4,
                 bidirectional=True, norm="chanLN", mask_act="softmax", dropout=0.0, stride=None,
                 frame_norm=True, encoder_bias=True, lstm_skip=True, framing="padded"):
        if stride is None and frame_length % 2:
            raise ValueError(f"TasNet frame_length must be even (50 % overlap), got {frame_length}")
        if n_layers < 1:
            raise ValueError(f"TasNet n_layers must be >= 1, got {n_layers}")
        if not bidirectional and norm not in CAUSAL_NORMS:
            raise ValueError(f"a causal TasNet (bidirectional=False) needs a causal norm {CAUSAL_NORMS}, got {norm!r}")
        hop = frame_length // 2 if stride is None else stride
        super().__init__(GatedEncoder(n_filters, frame_length, hop, frame_norm=frame_norm, bias=encoder_bias),
                         TasNetMasker(n_src, n_filters, hidden_size, n_layers, bidirectional, norm, mask_act, dropout,
                                      lstm_skip),
                         OverlapAddDecoder(n_filters, frame_length, hop), frame_length, hop, framing)
        self._store_config(n_src=n_src, n_filters=n_filters, frame_length=frame_length, hidden_size=hidden_size,
                           n_layers=n_layers, bidirectional=bidirectional, norm=norm, mask_act=mask_act,
                           dropout=dropout, **non_default(dict(stride=stride, frame_norm=frame_norm,
                                                               encoder_bias=encoder_bias, lstm_skip=lstm_skip,
                                                               framing=framing), ASTEROID_OPTION_DEFAULTS))

    def encode(self, padded):
        return self.encoder(padded)
