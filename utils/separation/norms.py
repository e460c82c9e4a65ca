"""Normalisations over channel-last features [B, T, C] (the layout the LSTMs use), and a registry.

Names follow the Conv-TasNet paper: "gLN" global layer norm (statistics over time and channels),
"cLN" cumulative layer norm (statistics over channels and frames up to t, causal), and "chanLN"
per-frame layer norm over channels (also causal). Note that asteroid calls the per-frame one "cLN" and
the cumulative one "cgLN". gamma/beta are Parameters, so the optimiser trains them.
"""
import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms
from mindspore import nn, ops, Parameter
from mindspore.common.initializer import initializer


class _AffineNorm(nn.Cell):
    """Shared learnable gain/bias [C]; subclasses define the statistics."""
    amp_fp32 = True  # statistics in float32 under mixed precision (utils/amp.py)

    def __init__(self, channels, eps=1e-8):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = Parameter(initializer("ones", [channels], ms.float32), name="gamma")
        self.beta = Parameter(initializer("zeros", [channels], ms.float32), name="beta")

    def _affine(self, normed):
        return normed * self.gamma + self.beta


class GlobalLayerNorm(_AffineNorm):
    """gLN: x [B, T, C] normalised by the mean/variance of each whole example."""

    def construct(self, x):
        axes = tuple(range(1, x.ndim))
        mean = x.mean(axis=axes, keep_dims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keep_dims=True)
        return self._affine((x - mean) / ops.sqrt(var + self.eps))


class CumulativeLayerNorm(_AffineNorm):
    """cLN: x [B, T, C] normalised at frame t by the statistics of frames 0..t (causal)."""

    def construct(self, x):
        count = ops.cumsum(ops.ones_like(x[:, :, 0]), 1).expand_dims(-1) * self.channels
        cum_sum = ops.cumsum(x.sum(-1, keepdims=True), 1)
        cum_pow = ops.cumsum((x ** 2).sum(-1, keepdims=True), 1)
        mean = cum_sum / count
        var = ops.relu(cum_pow / count - mean ** 2)
        return self._affine((x - mean) / ops.sqrt(var + self.eps))


class ChannelLayerNorm(_AffineNorm):
    """chanLN: x [B, T, C] normalised over the C channels of each frame separately."""

    def construct(self, x):
        mean = x.mean(axis=-1, keep_dims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keep_dims=True)
        return self._affine((x - mean) / ops.sqrt(var + self.eps))


NORMS = {"gLN": GlobalLayerNorm, "cLN": CumulativeLayerNorm, "chanLN": ChannelLayerNorm}
CAUSAL_NORMS = ("cLN", "chanLN")


def get_norm(name, channels):
    """Build a norm by registry name ("gLN", "cLN", "chanLN") for `channels` features."""
    if name not in NORMS:
        raise ValueError(f"unknown norm {name!r}; choose one of {', '.join(NORMS)}")
    return NORMS[name](channels)
