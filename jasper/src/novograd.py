"""NovoGrad (Ginsburg et al. 2019) as a MindSpore optimizer, with NVIDIA's Jasper update rule.

Per parameter tensor w with gradient g, at every step:
    n = sum(g ** 2)                                  (one scalar per layer)
    v = n on the first step (v == 0), else beta2 * v + (1 - beta2) * n
    d = g / (sqrt(v) + eps) + weight_decay * w      (decoupled-style decay on the normalised gradient)
    d = d * (1 - beta1)    if grad_averaging
    m = beta1 * m + d
    w = w - lr * m
NVIDIA's defaults: betas (0.95, 0), so v is simply the current squared gradient norm; Jasper uses weight
decay 1e-3 on every parameter.
"""
import utils.context  # noqa: F401  (must precede the mindspore import)
import mindspore as ms
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

from utils.modules import squared_norm

_novograd_update = ops.MultitypeFuncGraph("novograd_update")


@_novograd_update.register("Number", "Number", "Number", "Number", "Bool", "Tensor", "Tensor", "Tensor", "Tensor",
                           "Tensor")
def _update_one(beta1, beta2, eps, weight_decay, grad_averaging, lr, weight, moment, second, grad):
    """One NovoGrad step on one parameter tensor (see the module docstring)."""
    grad = ops.cast(grad, ms.float32)
    norm = squared_norm(grad)  # a dot product: ReduceSum over whole tensors was 4 % of a Jasper step
    new_second = ops.select(second == 0.0, norm, beta2 * second + (1.0 - beta2) * norm)
    # a product by the reciprocal: MindSpore's CPU Div by a scalar tensor takes ~3x the time of a Mul
    direction = grad * (1.0 / (ops.sqrt(new_second) + eps)) + weight_decay * weight
    if grad_averaging:
        direction = direction * (1.0 - beta1)
    new_moment = beta1 * moment + direction
    ops.assign(second, new_second)
    ops.assign(moment, new_moment)
    ops.assign(weight, weight - lr * new_moment)
    return True


class Novograd(nn.Optimizer):
    """NovoGrad optimizer.

    params: list of Parameters (parameter groups are not supported).
    learning_rate: float, Tensor or LearningRateSchedule (per step).
    beta1: first-moment decay. beta2: decay of the per-layer squared gradient norm (0 = current norm only).
    eps: added to sqrt(v). weight_decay: coefficient of w added to the normalised gradient.
    grad_averaging: scale the normalised gradient by (1 - beta1) before the momentum.
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.95, beta2=0.0, eps=1e-8, weight_decay=0.0,
                 grad_averaging=False):
        params = list(params)
        if params and isinstance(params[0], dict):
            raise ValueError("jasper/src/novograd.py: Novograd takes a plain list of parameters, not groups")
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"jasper/src/novograd.py: {name} must be in [0, 1), got {value}")
        if eps < 0 or weight_decay < 0:
            raise ValueError("jasper/src/novograd.py: eps and weight_decay must be >= 0")
        # decay is applied inside the update (NVIDIA's rule), not by the base class on the raw gradient
        super().__init__(learning_rate, params, weight_decay=0.0)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.novograd_decay = float(weight_decay)
        self.grad_averaging = bool(grad_averaging)
        self.moments = self._parameters.clone(prefix="novograd_m", init="zeros")
        self.second_moments = ParameterTuple(
            Parameter(Tensor(0.0, ms.float32), name=f"novograd_v.{p.name}") for p in self._parameters)
        self.update_map = ops.HyperMap()

    def construct(self, gradients):
        gradients = self.scale_grad(gradients)
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        return self.update_map(
            ops.partial(_novograd_update, self.beta1, self.beta2, self.eps, self.novograd_decay,
                        self.grad_averaging, lr),
            self._parameters, self.moments, self.second_moments, gradients)
