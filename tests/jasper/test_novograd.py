"""Novograd inside nn.TrainOneStepCell (graph mode) against the update rule evaluated by hand in numpy."""
import numpy as np
import pytest

from mindspore import Parameter, Tensor, nn, ops

from jasper.src.novograd import Novograd
from utils.context import init_context

X = np.array([[1.0, -2.0, 0.5], [0.3, 0.8, -1.5], [2.0, 0.1, 0.4], [-0.7, 1.2, 1.0]], np.float32)
Y = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
W0 = np.array([0.2, -0.1, 0.4], np.float32)


class LinearSquaredError(nn.Cell):
    """loss = sum((X w + b - Y)^2); gradients: dw = 2 X^T r, db = 2 sum(r)."""

    def __init__(self):
        super().__init__()
        self.w = Parameter(Tensor(W0), name="w")
        self.b = Parameter(Tensor(np.array([0.3], np.float32)), name="b")

    def construct(self, x, y):
        residual = ops.matmul(x, self.w) + self.b - y
        return ops.reduce_sum(residual * residual)


def numpy_novograd(steps, lr, beta1, beta2, eps, weight_decay, grad_averaging):
    params = {"w": W0.astype(np.float64), "b": np.array([0.3])}
    moments = {k: np.zeros_like(v) for k, v in params.items()}
    second = {k: 0.0 for k in params}
    for _ in range(steps):
        residual = X @ params["w"] + params["b"] - Y
        grads = {"w": 2 * X.T @ residual, "b": np.array([2 * residual.sum()])}
        for key in params:
            norm = float(np.sum(grads[key] ** 2))
            second[key] = norm if second[key] == 0 else beta2 * second[key] + (1 - beta2) * norm
            direction = grads[key] / (np.sqrt(second[key]) + eps) + weight_decay * params[key]
            if grad_averaging:
                direction *= 1 - beta1
            moments[key] = beta1 * moments[key] + direction
            params[key] = params[key] - lr * moments[key]
    return params


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


@pytest.mark.parametrize("beta2, weight_decay, grad_averaging", [(0.0, 1e-3, False), (0.5, 0.1, True)])
def test_two_steps_match_hand_computation(beta2, weight_decay, grad_averaging):
    net = LinearSquaredError()
    optimizer = Novograd(net.trainable_params(), learning_rate=0.1, beta1=0.95, beta2=beta2,
                         weight_decay=weight_decay, grad_averaging=grad_averaging)
    step = nn.TrainOneStepCell(net, optimizer)
    for steps in (1, 2):
        step(Tensor(X), Tensor(Y))
        expected = numpy_novograd(steps, 0.1, 0.95, beta2, 1e-8, weight_decay, grad_averaging)
        np.testing.assert_allclose(net.w.asnumpy(), expected["w"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(net.b.asnumpy(), expected["b"], rtol=1e-5, atol=1e-6)
    assert int(optimizer.global_step.asnumpy()[0]) == 2
    # sanity: the first step moves every tensor by exactly lr * (unit-norm gradient + decay) in norm terms
    first = numpy_novograd(1, 0.1, 0.95, beta2, 1e-8, 0.0, False)
    assert np.linalg.norm(first["w"] - W0) == pytest.approx(0.1, rel=1e-6)


def test_rejects_bad_betas():
    with pytest.raises(ValueError, match="beta1"):
        Novograd(LinearSquaredError().trainable_params(), beta1=1.0)
