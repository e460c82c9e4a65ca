"""NVIDIA DeepLearningExamples' Novograd (the Jasper recipe's optimizer) in torch, written from its definition.

torch has no Novograd; the Jasper training-parity test (tests/jasper/test_train_parity.py) and
bench/train_parity.py run the reference side with this one (the zoo's own is jasper/src/novograd.py).
"""
import torch


class TorchNovograd(torch.optim.Optimizer):
    """Per tensor: v = ||g||^2 on the first step, else b2 v + (1 - b2) ||g||^2 (v is a scalar per tensor);
    d = g / (sqrt(v) + eps) + wd w; d *= 1 - b1 with grad averaging; m = b1 m + d; w -= lr m."""

    def __init__(self, params, lr, betas, eps=1e-8, weight_decay=0.0, grad_averaging=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      grad_averaging=grad_averaging))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                state = self.state[param]
                if not state:
                    state["m"] = torch.zeros_like(param)
                    state["v"] = torch.zeros((), dtype=param.dtype)
                norm = (param.grad ** 2).sum()
                state["v"] = norm if state["v"] == 0 else beta2 * state["v"] + (1 - beta2) * norm
                direction = param.grad / (state["v"].sqrt() + group["eps"]) + group["weight_decay"] * param
                if group["grad_averaging"]:
                    direction = direction * (1 - beta1)
                state["m"].mul_(beta1).add_(direction)
                param.sub_(group["lr"] * state["m"])
