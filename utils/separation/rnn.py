"""The LSTM of the separation maskers: ``nn.LSTM``'s parameters and results, one fused kernel per layer.

MindSpore 2.10's ``nn.LSTM`` on CPU/GPU runs every direction of every layer as its own one-layer LSTM kernel,
reversing the sequence before and after the backward direction (two ReverseV2 per layer, forward and
backward pass). The LSTM primitive itself runs both directions in one oneDNN call
(``bidirectional_concat``); this Cell feeds it the same parameters. Measured on the 2-core CPU for a
[82, 50, 64] BiLSTM train step (DPRNN's intra-chunk shape): x0.76-0.88 of ``nn.LSTM``'s time with one layer,
x0.64 with two; outputs identical, gradients within 3e-7 relative (tests/utils/separation/test_rnn.py).

One kernel per layer, not one for the whole stack: oneDNN's multi-layer LSTM needs every layer's input
width equal to the layer output width (2H), which the first layer's input rarely is.
"""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn, ops

from utils.modules import OnnxSwitchable


class FusedLSTM(nn.LSTM, OnnxSwitchable):
    """``nn.LSTM`` (same constructor, parameter names ``weight_ih_l{k}[_reverse]`` ..., initialisation and
    checkpoints) whose forward runs each layer, both directions at once, as one LSTM kernel.

    construct(x [B, T, input_size] with batch_first, else [T, B, input_size]) -> (output [B, T, D*H] (or
    [T, B, D*H]), (h_n, c_n) each [num_layers*D, B, H]); the initial state is zero (no ``hx``/``seq_length``:
    padded frames are masked by the callers' losses and norms).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.has_bias:
            raise ValueError("FusedLSTM needs has_bias=True (the separation maskers' LSTMs have biases)")
        self.fused = True

    def onnx_compatible(self):
        """Run as nn.LSTM from now on: MindSpore 2.10's ONNX exporter has no bidirectional LSTM kernel
        ("Bidirectional mode for P.LSTM is not implemented"); utils/export.py calls this before ONNX export."""
        self.fused = False

    def construct(self, x):
        if not self.fused:
            return super().construct(x)
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        directions = 2 if self.bidirectional else 1
        zeros = ops.zeros((directions, x.shape[1], self.hidden_size), x.dtype)
        final_h, final_c = [], []
        for layer in range(self.num_layers):
            indices = [layer * directions + d for d in range(directions)]
            # The kernel's flat weight: every direction's W_ih [4H, I], then every W_hh [4H, H], then the
            # summed biases [4H] (the CPU kernel takes one bias per gate), as nn.LSTM's CPU path builds it.
            weights = ops.concat([self.w_ih_list[i].reshape(-1) for i in indices]
                                 + [self.w_hh_list[i].reshape(-1) for i in indices]
                                 + [self.b_ih_list[i] + self.b_hh_list[i] for i in indices]).reshape(-1, 1, 1)
            if layer > 0 and self.dropout > 0:
                x = self.dropout_op(x)
            kernel = ops.LSTM(self.w_ih_list[indices[0]].shape[1], self.hidden_size, 1, True, self.bidirectional, 0.0)
            x, h_n, c_n, _, _ = kernel(x, zeros, zeros, weights.astype(x.dtype))
            final_h.append(h_n)
            final_c.append(c_n)
        if self.batch_first:
            x = x.transpose(1, 0, 2)
        return x, (ops.concat(final_h), ops.concat(final_c))
