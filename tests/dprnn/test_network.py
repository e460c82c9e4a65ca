"""DPRNN: configs, paper parameter counts, shapes, bounded look-ahead, export and a graph-mode overfit."""
import glob
import os

import numpy as np
import pytest
from mindspore import Tensor

from utils.modules import count_parameters

from dprnn.src.network import DPRNN
from tests.utils.separation.common import assert_mindir_round_trip, dynamic_wave_input, overfit_improvement_db
from utils.config import load_yaml
from utils.context import init_context

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "dprnn")


@pytest.fixture(autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


def model_config(name):
    return load_yaml(os.path.join(CONFIG_DIR, name)).model.to_dict()


def expected_parameter_count(n_src, n_filters, kernel_size, bn_chan, hid_size, n_repeats, bidirectional, **_):
    def lstm(directions):
        return directions * (4 * hid_size * (bn_chan + hid_size) + 8 * hid_size)

    def path(directions):   # LSTM + Dense back to bn_chan + norm gain/bias
        return lstm(directions) + directions * hid_size * bn_chan + bn_chan + 2 * bn_chan

    block = path(2) + path(2 if bidirectional else 1)
    return (kernel_size * n_filters + 2 * n_filters + n_filters * bn_chan + bn_chan + n_repeats * block
            + 1 + bn_chan * n_src * bn_chan + n_src * bn_chan + 2 * (bn_chan * bn_chan + bn_chan)
            + bn_chan * n_filters + n_filters * kernel_size)


def test_every_config_builds_with_the_expected_parameter_count():
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CONFIG_DIR, "config*.yaml")))
    assert names == ["config.yaml", "config_asteroid.yaml", "config_paper.yaml"]
    for name in names:
        config = model_config(name)
        model = DPRNN(**config)
        assert model.get_config() == config
        assert count_parameters(model) == expected_parameter_count(**config), name


def test_paper_sizes_match_the_published_counts():
    """DPRNN paper / asteroid: 3.65 M parameters with B = 128, 2.61 M with N = B = 64 (H = 128)."""
    paper = model_config("config_paper.yaml")
    assert count_parameters(DPRNN(**paper)) == pytest.approx(3.65e6, rel=0.003)
    assert count_parameters(DPRNN(**dict(paper, bn_chan=64))) == pytest.approx(2.61e6, rel=0.003)


def test_default_config_separates_any_batch_and_length():
    model = DPRNN(**model_config("config.yaml"))
    model.set_train(False)
    model.set_inputs(dynamic_wave_input())
    for batch, length in [(2, 8000), (3, 4321), (1, 50)]:
        estimates = model(Tensor(np.random.default_rng(length).normal(size=(batch, length)).astype(np.float32)))
        assert estimates.shape == (batch, 2, length)
        assert np.isfinite(estimates.asnumpy()).all()


def test_three_sources_with_relu_masks():
    model = DPRNN(n_src=3, n_filters=16, kernel_size=8, stride=4, bn_chan=16, hid_size=8, chunk_size=10,
                  n_repeats=2, mask_act="relu")
    model.set_train(False)
    assert model(Tensor(np.ones((2, 777), np.float32))).shape == (2, 3, 777)


def test_causal_model_looks_ahead_at_most_one_chunk():
    kernel, stride, chunk = 8, 4, 10
    model = DPRNN(n_filters=16, kernel_size=kernel, stride=stride, bn_chan=16, hid_size=8, chunk_size=chunk,
                  n_repeats=2, bidirectional=False, norm="cLN")
    model.set_train(False)
    rng = np.random.default_rng(1)
    mixture = rng.normal(size=(1, 2000)).astype(np.float32)
    changed = mixture.copy()
    changed[:, 1200:] = rng.normal(size=(1, 800))
    before, after = model(Tensor(mixture)).asnumpy(), model(Tensor(changed)).asnumpy()
    horizon = 1200 - (chunk + 1) * stride - kernel    # intra-chunk BiLSTM sees the rest of its chunk
    np.testing.assert_allclose(after[..., :horizon], before[..., :horizon], atol=1e-6)
    assert np.abs(after[..., 1200:] - before[..., 1200:]).max() > 1e-4
    with pytest.raises(ValueError, match="causal norm"):
        DPRNN(bidirectional=False, norm="gLN")


def test_odd_chunk_size_is_a_clear_error():
    with pytest.raises(ValueError, match="chunk_size must be even"):
        DPRNN(chunk_size=25)


def test_mindir_export_matches_the_cell_at_two_lengths(tmp_path):
    model = DPRNN(n_filters=16, kernel_size=8, stride=4, bn_chan=16, hid_size=8, chunk_size=20, n_repeats=1)
    assert_mindir_round_trip(model, tmp_path / "dprnn")


@pytest.mark.slow
def test_overfits_two_mixtures_in_graph_mode():
    model = DPRNN(n_filters=128, kernel_size=32, stride=16, bn_chan=32, hid_size=32, chunk_size=20, n_repeats=1)
    improvement, seconds_per_step = overfit_improvement_db(model, n_src=2, steps=80, lr=1e-2, seconds=0.5)
    print(f"DPRNN overfit: +{improvement:.1f} dB SI-SNR in 80 steps, {seconds_per_step * 1000:.0f} ms/step")
    assert improvement >= 10.0
