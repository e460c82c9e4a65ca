"""Checks shared by the TasNet and DPRNN tests: graph-mode overfitting and MINDIR export."""
import time

import numpy as np
import mindspore as ms
from mindspore import nn, Tensor

from utils.context import init_context
from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
from utils.separation.synthetic import make_mixtures


def dynamic_wave_input():
    return Tensor(shape=[None, None], dtype=ms.float32)


def overfit_improvement_db(network, n_src, steps, lr, seconds=1.0, seed=0):
    """Train `network` on 2 synthetic 8 kHz mixtures in GRAPH_MODE with Adam.

    Returns (SI-SNR after - SI-SNR of the untouched mixture, in dB, mean seconds per step).
    """
    init_context("CPU", seed=seed)
    mixtures, sources = make_mixtures(2, n_src, seconds, 8000, seed=seed + 1)
    lengths = Tensor(np.full(len(mixtures), mixtures.shape[1], np.int32))
    loss = neg_sisnr_pit_loss(n_src)
    step = nn.TrainOneStepCell(SeparationLossCell(network, loss), nn.Adam(network.trainable_params(), lr))
    step.set_inputs(dynamic_wave_input(), Tensor(shape=[None, n_src, None], dtype=ms.float32),
                    Tensor(shape=[None], dtype=ms.int32))
    mixture_as_estimates = Tensor(np.repeat(mixtures[:, None], n_src, axis=1))
    baseline = -float(loss(mixture_as_estimates, Tensor(sources), lengths).asnumpy())
    step(Tensor(mixtures), Tensor(sources), lengths)  # compile outside the timing
    start = time.perf_counter()
    for _ in range(steps - 1):
        step(Tensor(mixtures), Tensor(sources), lengths)
    seconds_per_step = (time.perf_counter() - start) / (steps - 1)
    network.set_train(False)
    final = -float(loss(network(Tensor(mixtures)), Tensor(sources), lengths).asnumpy())
    return final - baseline, seconds_per_step


def assert_mindir_round_trip(network, path, lengths=(1601, 2400), batch=2):
    """Export with a dynamic [batch, time] input; the loaded graph must equal the Cell at two lengths."""
    network.set_train(False)
    network.set_inputs(dynamic_wave_input())
    ms.export(network, dynamic_wave_input(), file_name=str(path), file_format="MINDIR")
    graph = nn.GraphCell(ms.load(str(path) + ".mindir"))
    rng = np.random.default_rng(0)
    for length in lengths:
        mixture = Tensor(rng.normal(scale=0.1, size=(batch, length)).astype(np.float32))
        expected = network(mixture).asnumpy()
        exported = graph(mixture).asnumpy()
        assert exported.shape == expected.shape == (batch, network.get_config()["n_src"], length)
        np.testing.assert_allclose(exported, expected, rtol=1e-4, atol=1e-5)
