"""Initial weights as the PyTorch references draw them.

MindSpore 2.10's own defaults already are torch's for the layers this zoo uses: ``nn.Dense`` / ``nn.Conv1d``
weights kaiming-uniform with a = sqrt(5) (bound 1/sqrt(fan_in)) and biases U(+-1/sqrt(fan_in)), ``nn.LSTM``
everything U(+-1/sqrt(hidden)), BatchNorm / layer-norm gains 1 and biases 0, PReLU slope 0.25. So a layer
that follows a torch default passes no ``weight_init``; this module gives the explicit rules some references
use instead, with torch's fan computation (a Conv1d weight [out, in / groups, k] has fan_in = in / groups * k
and fan_out = out * k, which a Dense holding the same filters does not see from its own shape).
"""
import math

import utils.context  # noqa: F401  (must precede the mindspore import)
from mindspore.common.initializer import Normal


def xavier_normal(fan_in, fan_out, gain=1.0):
    """torch.nn.init.xavier_normal_: N(0, gain^2 * 2 / (fan_in + fan_out)), as a MindSpore initializer."""
    return Normal(sigma=gain * math.sqrt(2.0 / (fan_in + fan_out)))


def conv_filterbank_init(n_filters, kernel_size):
    """asteroid's free filterbank (FreeFB): xavier_normal_ on Conv1d filters [n_filters, 1, kernel_size],
    whatever the layout of the layer that holds them (our encoders: Dense [n_filters, kernel_size]; decoders
    Dense [kernel_size, n_filters])."""
    return xavier_normal(kernel_size, n_filters * kernel_size)
