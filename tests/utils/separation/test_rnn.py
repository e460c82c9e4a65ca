"""FusedLSTM computes exactly what nn.LSTM computes, forward and backward, with the same parameters."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from utils.context import init_context
from utils.separation.rnn import FusedLSTM


class _SquaredOutput(nn.Cell):
    def __init__(self, lstm):
        super().__init__()
        self.lstm = lstm

    def construct(self, x):
        out = self.lstm(x)[0]
        return (out * out).sum() + out[:, :, :3].sum()


def _one_sgd_step(lstm, x):
    """(output, loss, per-parameter gradient) of one SGD step with learning rate 1 in graph mode."""
    output = lstm(x)[0].asnumpy()
    step = nn.TrainOneStepCell(_SquaredOutput(lstm), nn.SGD(lstm.trainable_params(), learning_rate=1.0))
    step.set_train()
    before = [p.asnumpy().copy() for p in lstm.trainable_params()]
    loss = float(step(x).asnumpy())
    return output, loss, [b - p.asnumpy() for b, p in zip(before, lstm.trainable_params())]


@pytest.mark.parametrize("num_layers,bidirectional", [(1, True), (2, True), (2, False)])
def test_fused_lstm_equals_nn_lstm(num_layers, bidirectional):
    init_context("CPU", seed=0)
    reference = nn.LSTM(12, 8, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
    fused = FusedLSTM(12, 8, num_layers=num_layers, batch_first=True, bidirectional=bidirectional)
    assert [p.name for p in fused.trainable_params()] == [p.name for p in reference.trainable_params()]
    for source, target in zip(reference.trainable_params(), fused.trainable_params()):
        target.set_data(source.data.copy())
    x = ms.Tensor(np.random.default_rng(0).standard_normal((5, 17, 12)).astype(np.float32))
    expected, fused_result = _one_sgd_step(reference, x), _one_sgd_step(fused, x)
    np.testing.assert_allclose(fused_result[0], expected[0], rtol=0, atol=1e-6)
    assert fused_result[1] == pytest.approx(expected[1], rel=1e-6)
    for name, want, got in zip([p.name for p in reference.trainable_params()], expected[2], fused_result[2]):
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max(), name


def test_fused_lstm_needs_bias():
    with pytest.raises(ValueError, match="has_bias"):
        FusedLSTM(4, 4, has_bias=False)
