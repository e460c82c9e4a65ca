"""Waveform augmentation: exact SNR, time-aligned reverb, speed perturbation, folder-driven Augmenter."""
import numpy as np
import pytest

from utils.audio import write_audio
from utils.augment import (Augmenter, add_noise_at_snr, fit_length, reverberate, signal_power,
                           speed_perturb)

SR = 16000


def _speechlike(rng, seconds=1.0):
    """Harmonics (140 Hz) + noise under a slowly varying envelope, speech-like in level changes."""
    t = np.arange(int(seconds * SR)) / SR
    envelope = np.abs(np.convolve(rng.normal(size=t.size), np.ones(800) / 800, mode="same")) * 20
    tone = sum(np.sin(2 * np.pi * 140 * k * t + rng.uniform(0, 6.28)) / k for k in range(1, 8))
    return (0.1 * envelope * (tone + 0.3 * rng.normal(size=t.size))).astype(np.float32)


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0])
def test_add_noise_hits_requested_snr(snr_db):
    rng = np.random.default_rng(0)
    clean = _speechlike(rng)
    noise = rng.normal(size=5000).astype(np.float32)  # shorter: gets tiled
    noisy = add_noise_at_snr(clean, noise, snr_db, rng)
    assert noisy.shape == clean.shape and noisy.dtype == np.float32
    measured = 10 * np.log10(signal_power(clean) / signal_power(noisy.astype(np.float64) - clean))
    assert abs(measured - snr_db) < 0.1


def test_fit_length_crops_and_tiles():
    signal = np.arange(10.0)
    np.testing.assert_array_equal(fit_length(signal, 25), np.concatenate([signal, signal, signal[:5]]))
    crop = fit_length(signal, 4, np.random.default_rng(0))
    assert crop.shape == (4,) and np.all(np.diff(crop) == 1)


def test_reverb_keeps_alignment_and_level():
    rng = np.random.default_rng(1)
    # Amplitude-modulated white noise: its autocorrelation is a spike, so the peak lag is unambiguous.
    clean = (rng.normal(size=SR) * np.repeat(rng.uniform(0, 0.3, SR // 800), 800)).astype(np.float32)
    delay = 240  # 15 ms of silence before the direct path, as in measured RIRs
    # Exponential tail with as much energy as the direct path (direct-to-reverberant ratio 0 dB).
    tail = rng.normal(size=4000) * np.exp(-np.arange(4000) / 800.0) * 0.05
    rir = np.concatenate([np.zeros(delay), [1.0], tail])
    wet = reverberate(clean, rir)
    assert wet.shape == clean.shape
    lags = np.arange(-400, 401)
    xcorr = [np.dot(clean[max(0, -lag):len(clean) - max(0, lag)], wet[max(0, lag):len(wet) - max(0, -lag)])
             for lag in lags]
    assert lags[int(np.argmax(xcorr))] == 0
    assert abs(10 * np.log10(signal_power(wet) / signal_power(clean))) < 0.01
    assert np.abs(wet - clean).max() > 0.01  # it did reverberate


def test_speed_perturb_changes_duration_and_pitch():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    for factor in (0.9, 1.1):
        fast = speed_perturb(tone, factor, SR)
        assert abs(fast.shape[0] - SR / factor) <= 1
        spectrum = np.abs(np.fft.rfft(fast * np.hanning(fast.shape[0])))
        peak_hz = np.argmax(spectrum) * SR / fast.shape[0]
        assert abs(peak_hz - 200 * factor) < 3
    assert speed_perturb(tone, 1.0, SR) is tone


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("aug")
    rng = np.random.default_rng(5)
    for kind, folder in (("noise", "noise/free-sound"), ("music", "music/fma"), ("speech", "speech/librivox")):
        for k in range(3):
            write_audio(str(root / "musan" / folder / f"{kind}-{k}.wav"), 0.2 * rng.uniform(-1, 1, 3 * SR), SR)
    rir = np.concatenate([np.zeros(100), [0.9], 0.2 * rng.normal(size=2000) * np.exp(-np.arange(2000) / 400)])
    write_audio(str(root / "RIRS_NOISES" / "simulated_rirs" / "smallroom" / "Room001" / "Room001-00001.wav"),
                rir, SR)
    return root


def test_augmenter_applies_each_kind_with_exact_length(corpora):
    augmenter = Augmenter(musan_dir=str(corpora / "musan"), rir_dir=str(corpora / "RIRS_NOISES"),
                          sample_rate=SR, probability=1.0)
    assert augmenter.kinds == ["noise", "music", "babble", "reverb"]
    clean = _speechlike(np.random.default_rng(2), 1.3)
    for kind in augmenter.kinds:
        out = augmenter.apply(clean, kind, np.random.default_rng(3))
        assert out.shape == clean.shape and out.dtype == np.float32 and np.isfinite(out).all()
        assert np.abs(out - clean).max() > 1e-3, kind
    for kind in ("noise", "music", "babble"):
        low, high = augmenter.snr_db[kind]
        noisy = augmenter.apply(clean, kind, np.random.default_rng(4))
        snr = 10 * np.log10(signal_power(clean) / signal_power(noisy - clean))
        assert low - 0.1 <= snr <= high + 0.1, (kind, snr)


def test_augmenter_probability_and_seeding(corpora):
    augmenter = Augmenter(musan_dir=str(corpora / "musan"), sample_rate=SR, probability=0.5)
    assert augmenter.kinds == ["noise", "music", "babble"]
    clean = _speechlike(np.random.default_rng(6), 0.5)
    changed = [not np.array_equal(augmenter(clean, np.random.default_rng(seed)), clean) for seed in range(200)]
    assert 0.4 < np.mean(changed) < 0.6
    np.testing.assert_array_equal(augmenter(clean, np.random.default_rng(7)), augmenter(clean, np.random.default_rng(7)))


def test_augmenter_reports_bad_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .wav files"):
        Augmenter(musan_dir=str(tmp_path))
    with pytest.raises(ValueError, match="unknown augmentation kind"):
        Augmenter(kinds=("noise", "laughter"))
