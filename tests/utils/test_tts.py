"""utils/tts.py: eSpeak NG voices are deterministic, distinct and sized as requested."""
from dataclasses import replace

import numpy as np
import pytest

from utils.tts import ENGLISH_ACCENTS, Synthesizer, make_speaker

TEXT = "the quiet farmer carried a heavy basket across the old wooden bridge"


def median_f0(wave, sample_rate, low_hz=60.0, high_hz=400.0):
    """Median fundamental frequency (Hz) over the loud, clearly periodic 40 ms frames of wave."""
    frame, hop = int(0.04 * sample_rate), int(0.02 * sample_rate)
    frames = np.lib.stride_tricks.sliding_window_view(wave, frame)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = (frames ** 2).sum(axis=1)
    frames = frames[energy > 0.1 * energy.max()]
    spectrum = np.fft.rfft(frames, 2 * frame, axis=1)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :frame]
    autocorrelation /= autocorrelation[:, :1] + 1e-12
    lags = np.arange(int(sample_rate / high_hz), int(sample_rate / low_hz))
    best = lags[np.argmax(autocorrelation[:, lags], axis=1)]
    periodic = autocorrelation[np.arange(len(best)), best] > 0.5
    return float(np.median(sample_rate / best[periodic]))


@pytest.fixture(scope="module")
def synthesizer():
    return Synthesizer()


def test_same_text_and_speaker_give_identical_samples_whatever_came_before(synthesizer):
    breathy = next(s for s in map(make_speaker, range(100)) if any(s.breath))  # noisy voice
    first = synthesizer.synthesize(TEXT, breathy)
    synthesizer.synthesize("something else entirely", make_speaker(7))
    again = synthesizer.synthesize(TEXT, breathy)
    assert first.dtype == np.float32 and np.array_equal(first, again)
    assert not np.array_equal(first[:8000], synthesizer.synthesize(TEXT, make_speaker(7))[:8000])


def test_every_accent_is_history_independent(synthesizer):
    speakers = [replace(make_speaker(seed), accent=accent)
                for seed, accent in enumerate(ENGLISH_ACCENTS * 2)]
    reference = [synthesizer.synthesize(TEXT, speaker) for speaker in speakers]
    for index in np.random.default_rng(0).permutation(len(speakers)):
        assert np.array_equal(synthesizer.synthesize(TEXT, speakers[index]), reference[index]), \
            speakers[index].accent


def test_make_speaker_is_a_pure_function_of_the_seed():
    assert make_speaker(5) == make_speaker(5)
    assert make_speaker(5).voice_file_text() != make_speaker(6).voice_file_text()
    assert make_speaker(3, gender="female").gender == "female"
    with pytest.raises(ValueError, match="gender"):
        make_speaker(3, gender="robot")


def test_pitch_follows_the_speaker(synthesizer):
    low = make_speaker(1, gender="male")
    high = make_speaker(2, gender="female")
    f0_low = median_f0(synthesizer.synthesize(TEXT, low), 16000)
    f0_high = median_f0(synthesizer.synthesize(TEXT, high), 16000)
    # eSpeak's contour sits around the variant's base pitch: measured within a factor of 1.6.
    assert low.pitch_hz[0] / 1.6 < f0_low < low.pitch_hz[1] * 1.6, (f0_low, low.pitch_hz)
    assert high.pitch_hz[0] / 1.6 < f0_high < high.pitch_hz[1] * 1.6, (f0_high, high.pitch_hz)
    assert f0_high > 1.3 * f0_low


def test_sample_rate_and_speaking_rate(synthesizer):
    speaker = make_speaker(11)
    wide = synthesizer.synthesize(TEXT, speaker, sample_rate=16000)
    narrow = synthesizer.synthesize(TEXT, speaker, sample_rate=8000)
    assert abs(wide.size - 2 * narrow.size) <= 2
    words_per_second = len(TEXT.split()) / (wide.size / 16000)
    assert 1.5 < words_per_second < 5.0, words_per_second
    assert 0.05 < np.abs(wide).max() <= 1.0


def test_empty_text_is_refused(synthesizer):
    with pytest.raises(ValueError, match="empty"):
        synthesizer.synthesize("   ", make_speaker(0))
