"""Adam and AdamW with exactly torch.optim's update rule, and the weight-decay parameter rules.

Why not MindSpore's own: ``nn.Adam`` adds eps to sqrt(v) before the bias correction
(lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps), i.e. torch's rule with eps / sqrt(1 - b2^t): 32x
larger at step 1 with b2 = 0.999) and by default skips weight decay on parameters named gamma/beta;
``nn.AdamWeightDecay`` has no bias correction at all (its first steps are ~3x larger than torch AdamW's).
The references this zoo reproduces (asteroid, SpeechBrain) train with torch.optim.Adam, so this is the rule:

    g = grad + weight_decay * w                    (Adam, L2; AdamW instead: w = w * (1 - lr * weight_decay))
    m = b1 * m + (1 - b1) * g ;  v = b2 * v + (1 - b2) * g ** 2
    w = w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

Which parameters are decayed is the ``train.weight_decay_params`` rule (``WEIGHT_DECAY_RULES``):
"all" (torch.optim's, the default: every trainable parameter, norm gains and biases included) or
"matrices" (only parameters with 2 or more dimensions: no norm gains/biases, biases, PReLU slopes).
"""
import utils.context  # noqa: F401  (must precede the mindspore import)
import mindspore as ms
from mindspore import Parameter, Tensor, nn, ops

WEIGHT_DECAY_RULES = ("all", "matrices")

_adam_update = ops.MultitypeFuncGraph("torch_adam_update")


def decay_flags(params, rule="all"):
    """One bool per parameter: does ``rule`` (see ``WEIGHT_DECAY_RULES``) decay it?"""
    if rule not in WEIGHT_DECAY_RULES:
        raise ValueError(f"train.weight_decay_params must be one of {', '.join(WEIGHT_DECAY_RULES)}, got {rule!r}")
    return tuple(rule == "all" or len(p.shape) >= 2 for p in params)


@_adam_update.register("Number", "Number", "Number", "Number", "Bool", "Tensor", "Tensor", "Tensor", "Bool",
                       "Tensor", "Tensor", "Tensor", "Tensor")
def _update_one(beta1, beta2, eps, weight_decay, decoupled, lr, correction1, correction2, decay, weight, m, v, grad):
    """One torch Adam/AdamW step of one tensor; correction1/2 = 1 - b1^t, 1 - b2^t (see the module docstring)."""
    grad = ops.cast(grad, weight.dtype)
    kept = weight
    if decay and weight_decay > 0:
        if decoupled:
            kept = weight * (1.0 - lr * weight_decay)
        else:
            grad = grad + weight_decay * weight
    new_m = beta1 * m + (1.0 - beta1) * grad
    new_v = beta2 * v + (1.0 - beta2) * grad * grad
    denom = ops.sqrt(new_v) / ops.sqrt(correction2) + eps
    ops.assign(m, new_m)
    ops.assign(v, new_v)
    ops.assign(weight, kept - (lr / correction1) * new_m / denom)
    return True


_fused_adam_update = ops.MultitypeFuncGraph("torch_adam_fused_update")


@_fused_adam_update.register("Function", "Number", "Number", "Number", "Bool", "Tensor", "Tensor", "Tensor",
                             "Tensor", "Bool", "Tensor", "Tensor", "Tensor", "Tensor")
def _fused_update_one(adam, beta1, beta2, weight_decay, decoupled, lr, beta1_power, beta2_power, scaled_eps, decay,
                      weight, m, v, grad):
    """The same step through MindSpore's one-kernel Adam, whose rule is torch's with eps * sqrt(1 - b2^t)
    (``scaled_eps``): lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps * sqrt(1 - b2^t))
    = lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    grad = ops.cast(grad, weight.dtype)
    if decay and weight_decay > 0:
        if decoupled:
            weight = ops.depend(weight, ops.assign(weight, weight * (1.0 - lr * weight_decay)))
        else:
            grad = grad + weight_decay * weight
    return ops.depend(True, adam(weight, m, v, beta1_power, beta2_power, lr, beta1, beta2, scaled_eps, grad))


class TorchAdam(nn.Optimizer):
    """torch.optim.Adam (decoupled=False) or torch.optim.AdamW (decoupled=True), amsgrad off.

    params: list of Parameters. learning_rate: float or Tensor (the trainer sets it every step).
    beta1, beta2, eps, weight_decay: as torch's. weight_decay_params: which parameters are decayed
    ("all" | "matrices", see ``decay_flags``).
    """

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 decoupled=False, weight_decay_params="all"):
        params = list(params)
        if params and isinstance(params[0], dict):
            raise ValueError("utils/optimizers.py: TorchAdam takes a plain list of parameters, not groups")
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"utils/optimizers.py: {name} must be in [0, 1), got {value}")
        if eps < 0 or weight_decay < 0:
            raise ValueError("utils/optimizers.py: eps and weight_decay must be >= 0")
        super().__init__(learning_rate, params, weight_decay=0.0)  # decay is applied in the update, as torch does
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.adam_decay, self.decoupled = float(weight_decay), bool(decoupled)
        self.adam_decay_flags = decay_flags(self._parameters, weight_decay_params)
        # nn.Adam's state names and meanings (b1^t, b2^t): its checkpoints resume with this optimizer
        self.moment1 = self._parameters.clone(prefix="moment1", init="zeros")
        self.moment2 = self._parameters.clone(prefix="moment2", init="zeros")
        self.beta1_power = Parameter(Tensor(1.0, ms.float32), name="beta1_power", requires_grad=False)
        self.beta2_power = Parameter(Tensor(1.0, ms.float32), name="beta2_power", requires_grad=False)
        self.update_map = ops.HyperMap()
        # CPU: one Adam kernel per tensor instead of ~10 elementwise kernels (train steps up to 15 % faster,
        # bench/peers.py); other devices keep the elementwise rule, which compiles everywhere.
        self.fused = ms.get_context("device_target") == "CPU"
        self.adam_kernel = ops.Adam()

    def construct(self, gradients):
        gradients = self.scale_grad(gradients)
        lr = self.get_lr()
        self.assignadd(self.global_step, self.global_step_increase_tensor)
        beta1_power = self.beta1_power * self.beta1
        beta2_power = self.beta2_power * self.beta2
        ops.assign(self.beta1_power, beta1_power)
        ops.assign(self.beta2_power, beta2_power)
        if self.fused:
            scaled_eps = self.eps * ops.sqrt(1.0 - beta2_power)
            return self.update_map(
                ops.partial(_fused_adam_update, self.adam_kernel, self.beta1, self.beta2, self.adam_decay,
                            self.decoupled, lr, beta1_power, beta2_power, scaled_eps),
                self.adam_decay_flags, self._parameters, self.moment1, self.moment2, gradients)
        return self.update_map(
            ops.partial(_adam_update, self.beta1, self.beta2, self.eps, self.adam_decay, self.decoupled, lr,
                        1.0 - beta1_power, 1.0 - beta2_power),
            self.adam_decay_flags, self._parameters, self.moment1, self.moment2, gradients)
