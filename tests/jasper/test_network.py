"""Jasper network: architecture size, dense-residual wiring, length masking."""
import time

import numpy as np
import pytest
import yaml

import mindspore as ms
from mindspore import Tensor

from jasper.src.network import JasperNet, count_parameters
from utils.context import init_context

TINY_BLOCKS = [
    dict(filters=24, kernel=5, stride=2, dropout=0.1),
    dict(filters=24, kernel=5, repeat=2, residual=True, residual_dense=True, dropout=0.1),
    dict(filters=32, kernel=7, repeat=2, residual=True, residual_dense=True, separable=True),
    dict(filters=32, kernel=3, repeat=2, residual=True),
    dict(filters=40, kernel=5, dilation=2),
    dict(filters=48, kernel=1),
]


def expected_parameter_count(blocks, in_features, num_classes):
    """Closed-form count: bias-free convs, 2 BN scalars per channel, dense projections from every earlier
    dense block input, a biased 1x1 classifier."""
    total, channels, dense_inputs = 0, in_features, []
    for block in blocks:
        repeat, filters, kernel = block.get("repeat", 1), block["filters"], block["kernel"]
        for i in range(repeat):
            source = channels if i == 0 else filters
            conv = source * kernel + source * filters if block.get("separable") else source * filters * kernel
            total += conv + 2 * filters
        if block.get("residual_dense"):
            dense_inputs.append(channels)
            sources = list(dense_inputs)
        else:
            dense_inputs = []
            sources = [channels] if block.get("residual") else []
        total += sum(s * filters + 2 * filters for s in sources)
        channels = filters
    return total + channels * num_classes + num_classes


@pytest.fixture(scope="module", autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


def test_tiny_parameter_count_and_config_round_trip():
    net = JasperNet(in_features=16, blocks=TINY_BLOCKS)
    assert count_parameters(net) == expected_parameter_count(TINY_BLOCKS, 16, 29)
    rebuilt = JasperNet(**net.get_config())
    assert count_parameters(rebuilt) == count_parameters(net)
    assert rebuilt.get_config() == net.get_config()
    assert [len(b.residuals) for b in net.encoder] == [0, 1, 2, 1, 0, 0]


def test_quartznet_config_is_quartznet_sized():
    cfg = yaml.safe_load(open("jasper/config_quartznet5x5.yaml"))
    net = JasperNet(**cfg["model"])
    count = count_parameters(net)
    assert count == expected_parameter_count(cfg["model"]["blocks"], 64, 29)
    assert 6.5e6 < count < 6.9e6  # QuartzNet 5x5 is published as 6.7 M


@pytest.mark.slow
def test_jasper_10x5dr_has_333m_parameters():
    cfg = yaml.safe_load(open("jasper/config_10x5dr.yaml"))
    start = time.perf_counter()
    net = JasperNet(**cfg["model"])
    seconds = time.perf_counter() - start
    count = count_parameters(net)
    print(f"Jasper 10x5DR: {count} parameters built in {seconds:.1f} s")
    assert abs(count - 333e6) / 333e6 < 0.005
    assert count == expected_parameter_count(cfg["model"]["blocks"], 64, 29)
    assert [len(b.residuals) for b in net.encoder] == [0] + list(range(1, 11)) + [0, 0]


# a stride-1 run, then a strided block: the frame masks shared within a run must be rebuilt after it
STRIDE_IN_THE_MIDDLE = [
    dict(filters=24, kernel=5),
    dict(filters=24, kernel=5, repeat=2, residual=True),
    dict(filters=32, kernel=5, stride=2),
    dict(filters=32, kernel=3, repeat=2, residual=True, separable=True),
    dict(filters=40, kernel=1),
]


@pytest.mark.parametrize("blocks", [TINY_BLOCKS, STRIDE_IN_THE_MIDDLE], ids=["tiny", "stride_in_the_middle"])
def test_valid_frames_do_not_see_padding(blocks):
    net = JasperNet(in_features=16, blocks=blocks)
    net.set_train(False)
    net.set_inputs(Tensor(shape=[None, 16, None], dtype=ms.float32), Tensor(shape=[None], dtype=ms.int32))
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((2, 16, 40)).astype(np.float32)
    lengths = np.array([40, 27], np.int32)
    log_probs, out_lengths = net(Tensor(feats), Tensor(lengths))
    assert log_probs.shape == (2, 20, 29)
    assert out_lengths.asnumpy().tolist() == [20, 14]
    np.testing.assert_allclose(np.exp(log_probs.asnumpy()).sum(-1), 1.0, atol=1e-5)

    # the same utterances padded with 24 frames of garbage, and the short one alone without padding
    garbage = rng.standard_normal((2, 16, 24)).astype(np.float32) * 5
    padded = np.concatenate([feats, garbage], axis=2)
    padded[1, :, 27:] = rng.standard_normal((16, 37)) * 5
    log_probs_padded, out_padded = net(Tensor(padded), Tensor(lengths))
    alone, _ = net(Tensor(feats[1:, :, :27]), Tensor(lengths[1:]))
    assert out_padded.asnumpy().tolist() == [20, 14]
    np.testing.assert_allclose(log_probs_padded.asnumpy()[0, :20], log_probs.asnumpy()[0], atol=1e-4)
    np.testing.assert_allclose(log_probs_padded.asnumpy()[1, :14], log_probs.asnumpy()[1, :14], atol=1e-4)
    np.testing.assert_allclose(alone.asnumpy()[0], log_probs.asnumpy()[1, :14], atol=1e-4)


def test_bad_block_names_the_problem():
    with pytest.raises(ValueError, match="block 1 has unknown keys"):
        JasperNet(blocks=[dict(filters=8, kernel=3), dict(filters=8, kernel=3, kernal=5)])
    with pytest.raises(ValueError, match="must be odd"):
        JasperNet(blocks=[dict(filters=8, kernel=4)])
