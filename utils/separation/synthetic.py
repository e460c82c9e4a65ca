"""Synthetic "voices" for smoke tests and demos: harmonic tones with vibrato and a syllable-like envelope.

No dataset needed; each source has its own pitch range, so a separator can learn to split them quickly.
"""
import numpy as np


def harmonic_voice(rng, n_samples, sample_rate, f0_range=(90.0, 320.0), n_harmonics=4):
    """One float32 [n_samples] source in about [-1, 1]."""
    t = np.arange(n_samples) / sample_rate
    f0 = rng.uniform(*f0_range) * (1.0 + 0.01 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.3)))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voice = sum(np.sin(h * phase + rng.uniform(0, 6.3)) / h for h in range(1, n_harmonics + 1)
                if h * f0.max() < sample_rate / 2)
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6.3))
    voice = voice * envelope
    return (voice / (np.abs(voice).max() + 1e-8)).astype(np.float32)


def make_mixtures(n_mixtures, n_src=2, seconds=1.0, sample_rate=8000, seed=0):
    """-> (mixtures float32 [B, T], sources float32 [B, S, T]) with mixture = sum of sources.

    Source s of every mixture draws its pitch from its own band, so sources stay distinguishable.
    """
    rng = np.random.default_rng(seed)
    n_samples = int(round(seconds * sample_rate))
    bands = np.geomspace(100.0, 1600.0, n_src + 1)
    sources = np.stack([np.stack([harmonic_voice(rng, n_samples, sample_rate, (bands[s], bands[s + 1]))
                                  for s in range(n_src)]) for _ in range(n_mixtures)])
    sources *= 0.5 / n_src
    return sources.sum(axis=1), sources
