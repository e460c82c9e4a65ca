"""ECAPA-TDNN network: sizes, length awareness (padding invariance, masked statistics), export."""
import os

import mindspore as ms
import numpy as np
import pytest

from ecapa_tdnn.src.network import ECAPATDNN, count_parameters, dynamic_inputs
from utils.config import load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = dict(input_dim=20, channels=[32, 32, 32, 32, 96], attention_channels=16, se_channels=16, embedding_dim=24)


@pytest.fixture(scope="module")
def small_net():
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    net = dynamic_inputs(ECAPATDNN(**SMALL))
    net.set_train(False)
    _randomise_batchnorm(net)
    return net


def _randomise_batchnorm(net):
    """Non-trivial running statistics so BatchNorm cannot hide differences behind mean 0 / var 1."""
    rng = np.random.default_rng(1)
    for param in net.get_parameters():
        if param.name.endswith("moving_mean"):
            param.set_data(ms.Tensor(rng.normal(0, 0.1, param.shape).astype(np.float32)))
        elif param.name.endswith("moving_variance"):
            param.set_data(ms.Tensor(rng.uniform(0.5, 2.0, param.shape).astype(np.float32)))


def _embed(net, feats, lengths):
    out = net(ms.Tensor(feats), ms.Tensor(np.asarray(lengths, np.int32))).asnumpy()
    return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.mark.parametrize("config_name, paper_millions", [("config_c512.yaml", 6.2), ("config_c1024.yaml", 14.7)])
def test_parameter_count_matches_paper(config_name, paper_millions):
    cfg = load_config(os.path.join(ROOT, "ecapa_tdnn", config_name))
    count = count_parameters(ECAPATDNN(**cfg.model))
    assert abs(count / 1e6 - paper_millions) < 0.05, f"{config_name}: {count} parameters"


def test_get_config_rebuilds_same_architecture():
    net = ECAPATDNN(**SMALL)
    rebuilt = ECAPATDNN(**net.get_config())
    assert rebuilt.get_config() == net.get_config()
    assert [p.shape for p in rebuilt.get_parameters()] == [p.shape for p in net.get_parameters()]


def test_bad_res2net_split_is_rejected():
    with pytest.raises(ValueError, match="divisible by res2net_scale"):
        ECAPATDNN(**{**SMALL, "channels": [30, 30, 30, 30, 90]})


def test_padding_invariance(small_net):
    rng = np.random.default_rng(2)
    short = rng.normal(size=(1, 20, 57)).astype(np.float32)
    longer = rng.normal(size=(1, 20, 90)).astype(np.float32)
    alone = _embed(small_net, short, [57])
    batch = np.zeros((2, 20, 90), np.float32)
    batch[0, :, :57] = short[0]
    batch[1] = longer[0]
    padded = _embed(small_net, batch, [57, 90])
    assert np.abs(padded[0] - alone[0]).max() < 1e-5
    # The same padded input read as 90 valid frames must differ: the lengths really are used.
    assert np.abs(_embed(small_net, batch, [90, 90])[0] - alone[0]).max() > 1e-2


def test_padded_frame_values_do_not_matter(small_net):
    """Global context, SE squeeze and pooling only use valid frames."""
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(2, 20, 80)).astype(np.float32)
    lengths = [50, 80]
    reference = _embed(small_net, feats, lengths)
    feats[0, :, 50:] = 100.0 * rng.normal(size=(20, 30))
    assert np.abs(_embed(small_net, feats, lengths) - reference).max() < 1e-5


def test_export_mindir_with_dynamic_length(small_net, tmp_path):
    path = str(tmp_path / "ecapa")
    ms.export(small_net, ms.Tensor(shape=[None, 20, None], dtype=ms.float32),
              ms.Tensor(shape=[None], dtype=ms.int32), file_name=path, file_format="MINDIR")
    graph = ms.nn.GraphCell(ms.load(path + ".mindir"))
    rng = np.random.default_rng(4)
    for frames in (40, 73):
        feats = rng.normal(size=(3, 20, frames)).astype(np.float32)
        lengths = np.array([frames, frames - 5, frames - 11], np.int32)
        expected = small_net(ms.Tensor(feats), ms.Tensor(lengths)).asnumpy()
        exported = graph(ms.Tensor(feats), ms.Tensor(lengths)).asnumpy()
        assert exported.shape == (3, 24)
        np.testing.assert_allclose(exported, expected, rtol=1e-4, atol=1e-4)


def test_channel_change_uses_shortcut_convolution():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = ECAPATDNN(**{**SMALL, "channels": [32, 48, 48, 48, 96]})
    net.set_train(False)
    assert net.blocks[1].shortcut is not None and net.blocks[2].shortcut is None
    feats = np.random.default_rng(5).normal(size=(2, 20, 30)).astype(np.float32)
    out = net(ms.Tensor(feats), ms.Tensor(np.array([30, 21], np.int32))).asnumpy()
    assert out.shape == (2, 24) and np.isfinite(out).all()
