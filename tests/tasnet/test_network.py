"""TasNet: configs, shapes, parameter counts, causality, export and a graph-mode overfit."""
import glob
import os

import numpy as np
import pytest
from mindspore import Tensor

from utils.modules import count_parameters

from tasnet.src.network import TasNet
from tests.utils.separation.common import assert_mindir_round_trip, dynamic_wave_input, overfit_improvement_db
from utils.config import load_yaml
from utils.context import init_context
from utils.separation.framing import crop_frames, pad_to_frames

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tasnet")


@pytest.fixture(autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


def model_config(name):
    return load_yaml(os.path.join(CONFIG_DIR, name)).model.to_dict()


def expected_parameter_count(n_src, n_filters, frame_length, hidden_size, n_layers, bidirectional, **_):
    directions = 2 if bidirectional else 1
    lstm = sum(directions * (4 * hidden_size * ((n_filters if layer == 0 else directions * hidden_size)
                                                + hidden_size) + 8 * hidden_size) for layer in range(n_layers))
    return (2 * (frame_length * n_filters + n_filters) + 2 * n_filters + lstm
            + directions * hidden_size * n_src * n_filters + n_src * n_filters + n_filters * frame_length)


def test_every_config_builds_with_the_expected_parameter_count():
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CONFIG_DIR, "config*.yaml")))
    assert names == ["config.yaml", "config_causal.yaml", "config_paper.yaml"]
    for name in names:
        config = model_config(name)
        model = TasNet(**config)
        assert model.get_config() == config
        assert count_parameters(model) == expected_parameter_count(**config), name
        if name == "config_paper.yaml":
            assert count_parameters(model) == pytest.approx(23.1e6, rel=0.01)


@pytest.mark.parametrize("name", ["config.yaml", "config_causal.yaml"])
def test_configs_separate_any_batch_and_length(name):
    model = TasNet(**model_config(name))
    model.set_train(False)
    model.set_inputs(dynamic_wave_input())
    for batch, length in [(2, 8000), (3, 4321)]:
        estimates = model(Tensor(np.random.default_rng(length).normal(size=(batch, length)).astype(np.float32)))
        assert estimates.shape == (batch, 2, length)
        assert np.isfinite(estimates.asnumpy()).all()


def test_bidirectional_three_source_model_with_odd_layers():
    model = TasNet(n_src=3, n_filters=32, frame_length=16, hidden_size=24, n_layers=3, bidirectional=True,
                   norm="gLN", mask_act="sigmoid")
    assert count_parameters(model) == expected_parameter_count(**model.get_config())
    model.set_train(False)
    assert model(Tensor(np.ones((2, 999), np.float32))).shape == (2, 3, 999)


def test_softmax_masks_make_estimates_sum_to_the_mixture_encoding():
    model = TasNet(n_filters=32, frame_length=16, hidden_size=16, n_layers=2)
    model.set_train(False)
    mixture = np.random.default_rng(0).normal(size=(2, 1000)).astype(np.float32)
    estimates = model(Tensor(mixture)).asnumpy()
    padded = pad_to_frames(Tensor(mixture), model.frame_length, model.hop)
    features, norms = model.encoder(padded)
    unmasked = crop_frames(model.decoder(features.expand_dims(1), norms), 1000, model.frame_length, model.hop)
    # the decoder is linear and softmax masks sum to 1 over sources
    np.testing.assert_allclose(estimates.sum(axis=1), unmasked.asnumpy()[:, 0], rtol=1e-4, atol=1e-5)
    assert np.abs(estimates[:, 0] - estimates[:, 1]).max() > 1e-3


def test_causal_model_ignores_the_future():
    model = TasNet(n_filters=32, frame_length=16, hidden_size=16, n_layers=2, bidirectional=False, norm="cLN")
    model.set_train(False)
    rng = np.random.default_rng(1)
    mixture = rng.normal(size=(1, 2000)).astype(np.float32)
    changed = mixture.copy()
    changed[:, 1000:] = rng.normal(size=(1, 1000))
    before, after = model(Tensor(mixture)).asnumpy(), model(Tensor(changed)).asnumpy()
    # a frame reaches at most frame_length - 1 samples ahead
    np.testing.assert_allclose(after[..., :1000 - 15], before[..., :1000 - 15], atol=1e-6)
    assert np.abs(after[..., 1000:] - before[..., 1000:]).max() > 1e-3


def test_causal_model_refuses_a_global_norm():
    with pytest.raises(ValueError, match="causal norm"):
        TasNet(bidirectional=False, norm="gLN")


def test_mindir_export_matches_the_cell_at_two_lengths(tmp_path):
    model = TasNet(n_filters=32, frame_length=16, hidden_size=16, n_layers=2)
    assert_mindir_round_trip(model, tmp_path / "tasnet")


@pytest.mark.slow
def test_overfits_two_mixtures_in_graph_mode():
    model = TasNet(n_filters=128, frame_length=32, hidden_size=64, n_layers=2)
    improvement, seconds_per_step = overfit_improvement_db(model, n_src=2, steps=60, lr=1e-2, seconds=0.5)
    print(f"TasNet overfit: +{improvement:.1f} dB SI-SNR in 60 steps, {seconds_per_step * 1000:.0f} ms/step")
    assert improvement >= 10.0
