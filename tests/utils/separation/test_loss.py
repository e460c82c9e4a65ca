"""PIT negative SI-SNR: agreement with utils.metrics, permutation choice, padding invariance, graph mode."""
import itertools

import numpy as np
import pytest
import mindspore as ms
from mindspore import Tensor

from utils import metrics
from utils.context import init_context
from utils.separation.loss import PairwiseNegSISNR, neg_sisnr_pit_loss


@pytest.fixture(autouse=True)
def graph_mode():
    init_context("CPU", seed=0)


def noisy_estimates(targets, snr_db, rng):
    """Each estimate = its target + white noise at snr_db (a fresh realisation per source)."""
    power = (targets ** 2).mean(axis=-1, keepdims=True)
    noise = rng.normal(size=targets.shape) * np.sqrt(power / 10 ** (np.asarray(snr_db)[..., None] / 10))
    return (targets + noise).astype(np.float32)


def dynamic_loss(n_src):
    loss = neg_sisnr_pit_loss(n_src)
    loss.set_inputs(Tensor(shape=[None, n_src, None], dtype=ms.float32),
                    Tensor(shape=[None, n_src, None], dtype=ms.float32), Tensor(shape=[None], dtype=ms.int32))
    return loss


@pytest.mark.parametrize("n_src", [2, 3])
def test_loss_equals_minus_pit_si_snr_of_utils_metrics(n_src):
    rng = np.random.default_rng(n_src)
    targets = rng.normal(size=(3, n_src, 1500)).astype(np.float32)
    estimates = noisy_estimates(targets, rng.uniform(-5, 20, size=(3, n_src)), rng)
    estimates = estimates[:, rng.permutation(n_src)]
    expected = -np.mean([metrics.pit(metrics.si_snr, est, tgt)[0] for est, tgt in zip(estimates, targets)])
    lengths = Tensor(np.full(3, 1500, np.int32))
    got = float(dynamic_loss(n_src)(Tensor(estimates), Tensor(targets), lengths).asnumpy())
    assert got == pytest.approx(expected, abs=1e-3)


def test_si_snr_matches_the_injected_noise_level():
    """An estimate = target + orthogonal noise at 12 dB has SI-SNR 12 dB whatever its scale."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=4000)
    target -= target.mean()
    noise = rng.normal(size=4000)
    noise -= noise.mean()
    noise -= noise @ target / (target @ target) * target
    noise *= np.linalg.norm(target) / np.linalg.norm(noise) * 10 ** (-12 / 20)
    estimate = 0.3 * (target + noise)
    pairwise = PairwiseNegSISNR()(Tensor(estimate[None, None].astype(np.float32)),
                                  Tensor(target[None, None].astype(np.float32)), Tensor(np.array([4000], np.int32)))
    assert float(pairwise.asnumpy()[0, 0, 0]) == pytest.approx(-12.0, abs=1e-3)


@pytest.mark.parametrize("n_src", [2, 3])
def test_pit_finds_the_permutation(n_src):
    rng = np.random.default_rng(10 + n_src)
    targets = rng.normal(size=(1, n_src, 2000)).astype(np.float32)
    loss = neg_sisnr_pit_loss(n_src)
    lengths = Tensor(np.array([2000], np.int32))
    clean = noisy_estimates(targets, np.full((1, n_src), 15.0), rng)
    for perm in itertools.permutations(range(n_src)):
        shuffled = np.empty_like(clean)
        shuffled[:, list(perm)] = clean          # estimate perm[i] holds target i
        best = loss.best_permutations(Tensor(shuffled), Tensor(targets), lengths)[0]
        np.testing.assert_array_equal(np.asarray(perm)[best], np.arange(n_src))
        assert float(loss(Tensor(shuffled), Tensor(targets), lengths).asnumpy()) == pytest.approx(-15, abs=0.5)


def test_zero_padding_never_reaches_the_loss():
    rng = np.random.default_rng(4)
    lengths = np.array([900, 1200, 700], np.int32)
    targets = np.zeros((3, 2, 1200), np.float32)
    estimates = np.zeros((3, 2, 1200), np.float32)
    for row, length in enumerate(lengths):
        targets[row, :, :length] = rng.normal(size=(2, length)) + 0.5   # a DC offset: padding would bias the mean
        estimates[row, :, :length] = noisy_estimates(targets[row, :, :length], [3.0, 8.0], rng)
        estimates[row, :, length:] = rng.normal(size=(2, 1200 - length)) * 10   # garbage after the end
    loss = dynamic_loss(2)
    reference = float(loss(Tensor(estimates), Tensor(targets), Tensor(lengths)).asnumpy())
    expected = -np.mean([metrics.pit(metrics.si_snr, e[:, :n], t[:, :n])[0]
                         for e, t, n in zip(estimates, targets, lengths)])
    assert reference == pytest.approx(expected, abs=1e-3)
    extra = 500   # more padding in a larger batch tensor: the same value
    padded_est = np.concatenate([estimates, rng.normal(size=(3, 2, extra)).astype(np.float32)], axis=-1)
    padded_tgt = np.concatenate([targets, np.zeros((3, 2, extra), np.float32)], axis=-1)
    padded = float(loss(Tensor(padded_est), Tensor(padded_tgt), Tensor(lengths)).asnumpy())
    assert padded == pytest.approx(reference, abs=1e-4)
