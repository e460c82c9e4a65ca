"""Mask activations by name. Masks are [B, S, F, N]; softmax makes the S masks of each bin sum to 1."""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import nn, ops


class SourceSoftmax(nn.Cell):
    """Softmax over the source axis (axis 1)."""
    amp_fp32 = True  # float32 under mixed precision (utils/amp.py)

    def construct(self, x):
        return ops.softmax(x, axis=1)


MASK_ACTIVATIONS = {"softmax": SourceSoftmax, "sigmoid": nn.Sigmoid, "relu": nn.ReLU}


def get_mask_activation(name):
    """Build a mask activation by registry name ("softmax", "sigmoid", "relu")."""
    if name not in MASK_ACTIVATIONS:
        raise ValueError(f"unknown mask activation {name!r}; choose one of {', '.join(MASK_ACTIVATIONS)}")
    return MASK_ACTIVATIONS[name]()
