"""SyncBatchNorm in one process equals nn.BatchNorm1d (forward, gradients, moving statistics, eval);
the conversion keeps every parameter. Its 2-worker equality is tested with the real models in
tests/scripts/test_distributed_models.py."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from utils.context import init_context
from utils.sync_batch_norm import SyncBatchNorm, convert_to_sync_batch_norm


class Scaled(nn.Cell):
    """norm(x) * weights summed: a loss whose gradient reaches every input element differently."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def construct(self, x, weights):
        return (self.norm(x) * weights).sum()


def pair(channels, seed=0):
    """(nn.BatchNorm1d, SyncBatchNorm) holding the same random gamma / beta / moving statistics."""
    rng = np.random.default_rng(seed)
    plain, synced = nn.BatchNorm1d(channels, eps=1e-3, momentum=0.8), SyncBatchNorm(channels, eps=1e-3, momentum=0.8)
    values = {name: rng.normal(size=channels).astype(np.float32) for name in ("gamma", "beta", "moving_mean")}
    values["moving_variance"] = rng.uniform(0.5, 2.0, channels).astype(np.float32)
    for name, value in values.items():  # separate Tensors: a shared one would be updated in place by both
        getattr(plain, name).set_data(ms.Tensor(value.copy()))
        getattr(synced, name).set_data(ms.Tensor(value.copy()))
    return plain, synced


def state(cell):
    return {name: getattr(cell, name).asnumpy().copy() for name in ("gamma", "beta", "moving_mean", "moving_variance")}


@pytest.mark.parametrize("shape", [(4, 6, 9), (5, 6)])
def test_forward_backward_and_moving_statistics_equal_batch_norm(shape):
    init_context("CPU", seed=0)
    rng = np.random.default_rng(1)
    plain, synced = pair(shape[1])
    results = []
    for norm in (plain, synced):
        net = Scaled(norm)
        net.set_train(True)
        grad = ops.GradOperation(get_all=True, get_by_list=True)(net, ms.ParameterTuple(net.trainable_params()))
        # dynamic batch (and length): the shapes of the train steps, compiled once
        dynamic = [None] * len(shape)
        dynamic[1] = shape[1]
        net.set_inputs(ms.Tensor(shape=dynamic, dtype=ms.float32), ms.Tensor(shape=dynamic, dtype=ms.float32))
        outputs = []
        for step in range(2):  # two batch shapes through one graph; moving statistics updated twice
            step_shape = (shape[0] + step,) + shape[1:]
            x = (rng.normal(size=step_shape) * 3 + 2).astype(np.float32)
            weights = rng.normal(size=step_shape).astype(np.float32)
            value = net(ms.Tensor(x), ms.Tensor(weights)).asnumpy()
            (dx, _), (dgamma, dbeta) = grad(ms.Tensor(x), ms.Tensor(weights))
            outputs.append((value, dx.asnumpy(), dgamma.asnumpy(), dbeta.asnumpy()))
        results.append((outputs, state(norm)))
        rng = np.random.default_rng(1)  # the same batches for the second cell
    (plain_out, plain_state), (sync_out, sync_state) = results
    for plain_step, sync_step in zip(plain_out, sync_out):
        for name, a, b in zip(("loss", "dx", "dgamma", "dbeta"), plain_step, sync_step):
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-5, err_msg=name)
    assert np.abs(plain_out[0][1]).max() > 1e-3  # the gradient is not trivially zero
    for name in plain_state:
        np.testing.assert_allclose(sync_state[name], plain_state[name], rtol=1e-6, atol=1e-6, err_msg=name)
    # the moving statistics really moved (forward run 4 times: 2 calls + 2 gradient evaluations)
    assert np.abs(plain_state["moving_mean"] - pair(shape[1])[0].moving_mean.asnumpy()).max() > 0.1


def test_train_step_updates_like_batch_norm_and_eval_uses_moving_statistics():
    init_context("CPU", seed=0)
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(6, 4, 5)) * 2 - 1).astype(np.float32)
    weights = rng.normal(size=x.shape).astype(np.float32)
    plain, synced = pair(4, seed=3)
    finals, evals = [], []
    for norm in (plain, synced):
        step = nn.TrainOneStepCell(Scaled(norm), nn.SGD(norm.trainable_params(), learning_rate=0.1))
        step.set_train(True)
        for _ in range(3):
            step(ms.Tensor(x), ms.Tensor(weights))
        finals.append(state(norm))
        norm.set_train(False)
        evals.append(norm(ms.Tensor(x)).asnumpy())
    for name in finals[0]:
        np.testing.assert_allclose(finals[1][name], finals[0][name], rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(evals[1], evals[0], rtol=1e-5, atol=1e-5)
    # eval really used the moving statistics, not the batch's
    assert np.abs(evals[0].mean(axis=(0, 2)) - finals[0]["beta"]).max() > 1e-2


class Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.blocks = nn.CellList([nn.SequentialCell([nn.Conv1d(3, 5, 1), nn.BatchNorm1d(5)]),
                                   nn.SequentialCell([nn.Conv1d(5, 5, 1), nn.BatchNorm1d(5, momentum=0.7)])])
        self.head = nn.BatchNorm1d(5, eps=1e-3)

    def construct(self, x):
        return self.head(self.blocks[1](self.blocks[0](x)).mean(axis=2))


def test_convert_keeps_parameters_names_and_settings():
    init_context("CPU", seed=0)
    net = Tiny()
    before = [(name, param.name, id(param)) for name, param in net.parameters_and_names()]
    assert convert_to_sync_batch_norm(net, group_size=1) == (net, 0)
    assert not any(isinstance(cell, SyncBatchNorm) for _, cell in net.cells_and_names())
    net.set_train(False)
    x = ms.Tensor(np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32))
    expected = net(x).asnumpy()
    converted, count = convert_to_sync_batch_norm(net, group_size=2)
    assert converted is net and count == 3
    after = [(name, param.name, id(param)) for name, param in net.parameters_and_names()]
    assert after == before  # same Parameter objects under the same full names: checkpoints interchange
    norms = [cell for _, cell in net.cells_and_names() if isinstance(cell, SyncBatchNorm)]
    assert len(norms) == 3 and all(norm.group_size == 2 and not norm.training for norm in norms)
    assert sorted((round(n.eps, 6), round(1.0 - n.momentum, 6)) for n in norms) == [(1e-5, 0.7), (1e-5, 0.9),
                                                                                     (1e-3, 0.9)]
    np.testing.assert_allclose(net(x).asnumpy(), expected, rtol=1e-6)  # eval needs no communication
