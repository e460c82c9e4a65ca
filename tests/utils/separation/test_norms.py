"""Norms: the statistics each one uses, causality, and trainable gain/bias."""
import numpy as np
import pytest
from mindspore import nn, Tensor

from utils.context import init_context
from utils.separation.norms import (ChannelLayerNorm, CumulativeLayerNorm, GlobalLayerNorm, NORMS, get_norm)


@pytest.fixture(autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


def features(shape=(2, 30, 8), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * rng.uniform(0.5, 3, size=(shape[0], 1, 1)) + 2).astype(np.float32)


def test_global_layer_norm_whitens_each_example():
    out = GlobalLayerNorm(8)(Tensor(features())).asnumpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-4)


def test_channel_layer_norm_whitens_each_frame():
    out = ChannelLayerNorm(8)(Tensor(features())).asnumpy()
    np.testing.assert_allclose(out.mean(axis=2), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=2), 1, atol=1e-3)


@pytest.mark.parametrize("name, axes", [("gLN", (1, 2)), ("chanLN", (2,))])
def test_inference_kernel_and_training_path_compute_the_same_norm(name, axes):
    """Inference runs one LayerNorm kernel, training the explicit chain: both equal float64 numpy."""
    x = features(shape=(2, 300, 16))
    norm = get_norm(name, 16)
    rng = np.random.default_rng(3)
    norm.gamma.set_data(Tensor(rng.uniform(0.5, 2, 16).astype(np.float32)))
    norm.beta.set_data(Tensor(rng.normal(size=16).astype(np.float32)))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    expected = (x64 - mean) / np.sqrt(((x64 - mean) ** 2).mean(axis=axes, keepdims=True) + 1e-8)
    expected = expected * norm.gamma.asnumpy() + norm.beta.asnumpy()
    for training in (True, False):
        norm.set_train(training)
        np.testing.assert_allclose(norm(Tensor(x)).asnumpy(), expected, rtol=0, atol=2e-6, err_msg=f"train={training}")


def test_cumulative_layer_norm_uses_only_the_past():
    x = features()
    out = CumulativeLayerNorm(8)(Tensor(x)).asnumpy()
    past = x[:, :11]
    expected_frame_10 = (x[:, 10] - past.mean(axis=(1, 2))[:, None]) / past.std(axis=(1, 2))[:, None]
    np.testing.assert_allclose(out[:, 10], expected_frame_10, atol=1e-4)
    changed_future = x.copy()
    changed_future[:, 20:] *= -5
    out_changed = CumulativeLayerNorm(8)(Tensor(changed_future)).asnumpy()
    np.testing.assert_allclose(out_changed[:, :20], out[:, :20], atol=1e-6)
    assert np.abs(out_changed[:, 20:] - out[:, 20:]).max() > 0.1


class NormRegression(nn.Cell):
    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def construct(self, x, target):
        return ((self.norm(x) - target) ** 2).mean()


@pytest.mark.parametrize("name", sorted(NORMS))
def test_gain_and_bias_are_trained(name):
    norm = get_norm(name, 8)
    names = sorted(p.name for p in norm.trainable_params())
    assert names == ["beta", "gamma"]
    step = nn.TrainOneStepCell(NormRegression(norm), nn.Adam(norm.trainable_params(), 0.1))
    before = {p.name: p.asnumpy().copy() for p in norm.trainable_params()}
    target = features(seed=1) * 3
    step(Tensor(features()), Tensor(target))
    for param in norm.trainable_params():
        assert np.abs(param.asnumpy() - before[param.name]).min() > 1e-3, param.name


def test_unknown_norm_names_the_choices():
    with pytest.raises(ValueError, match="gLN"):
        get_norm("batchnorm", 8)
