"""Chunked separation: chunk layout, speaker order across chunks, cross-fade, and a real network."""
import numpy as np
import pytest

from utils.context import init_context
from utils.metrics import si_snr
from utils.separation.separate import align_sources, chunk_starts, separate, separate_in_chunks, separate_long
from utils.separation.synthetic import make_mixtures


class ShufflingOracle:
    """A perfect separator with the PIT ambiguity: each call returns the true sources of the chunk it is
    given in a random order with random gains (sign flips too), as a PIT-trained model may.
    It locates the chunk in the full mixture by the order of the calls (chunk_starts' order)."""

    def __init__(self, sources, chunk, overlap, seed=0):
        self.sources, self.rng = sources, np.random.default_rng(seed)
        self.starts = iter(chunk_starts(sources.shape[1], chunk, overlap))
        self.permutations = []

    def __call__(self, batch):
        start, length = next(self.starts), batch.shape[1]
        perm = self.rng.permutation(len(self.sources))
        self.permutations.append(tuple(perm))
        gains = self.rng.uniform(0.3, 3.0, len(self.sources)) * self.rng.choice([-1, 1], len(self.sources))
        return (self.sources[perm, start:start + length] * gains[:, None])[None].astype(np.float32)


def test_chunk_starts_cover_the_signal_with_the_requested_overlap():
    starts = chunk_starts(10_000, 3000, 500)
    assert starts == [0, 2500, 5000, 7500]
    assert starts[-1] + 3000 >= 10_000 > starts[-2] + 3000
    assert chunk_starts(2000, 3000, 500) == [0]
    with pytest.raises(ValueError, match="at most half"):
        chunk_starts(10_000, 3000, 2000)


def test_align_sources_finds_the_permutation_and_gain():
    rng = np.random.default_rng(1)
    previous = rng.standard_normal((3, 400))
    current = previous[[2, 0, 1]] * np.array([[0.5], [-2.0], [4.0]])
    perm, gains = align_sources(previous, current)
    assert list(perm) == [1, 2, 0]
    np.testing.assert_allclose(current[perm] * gains[:, None], previous, atol=1e-9)


@pytest.mark.parametrize("n_src", [2, 3])
def test_chunked_oracle_keeps_speaker_order_and_reconstructs_every_sample(n_src):
    _, sources = make_mixtures(1, n_src, seconds=6.0, sample_rate=8000, seed=3)
    sources = sources[0]
    chunk, overlap = 8000, 2000
    oracle = ShufflingOracle(sources, chunk, overlap)
    pieces = list(separate_in_chunks(oracle, sources.sum(0), chunk, overlap))
    estimates = np.concatenate(pieces, axis=1)
    assert estimates.shape == sources.shape
    assert len(set(oracle.permutations)) > 1  # the oracle really changed the order between chunks
    # one global order (the first chunk's) and one global gain per source, everywhere in the file
    first = np.array(oracle.permutations[0])
    reordered = np.empty_like(estimates)
    reordered[first] = estimates
    ratio = reordered / np.where(np.abs(sources) > 1e-3, sources, np.nan)
    spread = np.nanmax(ratio, axis=1) - np.nanmin(ratio, axis=1)
    assert np.all(spread < 1e-3), spread
    assert np.all(si_snr(reordered, sources) > 60)


def test_chunked_network_output_is_close_to_whole_file_output():
    """A real (causal, so chunk boundaries matter only through the reset state) TasNet: chunks of 2 s
    with 0.5 s overlap vs one pass; every chunk is aligned to the whole-file order."""
    from tasnet.src.network import TasNet
    from utils.separation.separate import mixture_spec
    init_context("CPU", seed=0)
    network = TasNet(n_filters=32, hidden_size=16, n_layers=1, bidirectional=False, norm="chanLN")
    network.set_train(False)
    network.set_inputs(mixture_spec())
    mixture = make_mixtures(1, 2, seconds=7.0, sample_rate=8000, seed=4)[0][0]
    whole = separate(network, mixture)
    chunked = separate_long(network, mixture, chunk=16000, overlap=4000)
    assert chunked.shape == whole.shape == (2, mixture.size)
    perm, _ = align_sources(whole, chunked)
    assert np.all(si_snr(chunked[perm], whole) > 20), si_snr(chunked[perm], whole)
