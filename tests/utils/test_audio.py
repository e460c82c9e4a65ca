"""utils/audio.py: reading, writing, resampling and the errors raised for bad files."""
import logging
import re

import numpy as np
import pytest
import soundfile

from utils.audio import AudioError, audio_info, read_audio, resample, write_audio


def tone(frequency, sample_rate, seconds=1.0, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * frequency * np.arange(int(sample_rate * seconds)) / sample_rate)
            ).astype(np.float32)


def peak_frequency_and_amplitude(wave, sample_rate):
    """Frequency (Hz) of the strongest FFT bin of the central half, and its amplitude from the RMS."""
    middle = wave[len(wave) // 4: 3 * len(wave) // 4]
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(len(middle))))
    frequency = np.argmax(spectrum) * sample_rate / len(middle)
    return frequency, np.sqrt(2 * np.mean(middle.astype(np.float64) ** 2))


def test_resample_44k1_to_16k_keeps_tone_frequency_and_amplitude():
    wave = tone(1000, 44100)
    resampled = resample(wave, 44100, 16000)
    assert resampled.dtype == np.float32 and resampled.shape == (16000,)
    frequency, amplitude = peak_frequency_and_amplitude(resampled, 16000)
    assert abs(frequency - 1000) <= 2  # bin width is 2 Hz
    assert amplitude == pytest.approx(0.5, rel=0.005)
    # a 10 kHz tone lies above the new 8 kHz Nyquist: band-limiting removes it instead of aliasing
    assert np.sqrt(np.mean(resample(tone(10000, 44100), 44100, 16000)[1000:-1000] ** 2)) < 1e-3


def test_resample_works_on_any_leading_axes():
    rng = np.random.default_rng(0)
    batch = rng.standard_normal((2, 3, 4410)).astype(np.float32)
    resampled = resample(batch, 44100, 8000)
    assert resampled.shape == (2, 3, 800)
    np.testing.assert_allclose(resampled[1, 2], resample(batch[1, 2], 44100, 8000), atol=1e-6)
    np.testing.assert_array_equal(resample(batch, 16000, 16000), batch)
    with pytest.raises(ValueError, match="target_sr"):
        resample(batch, 16000, 0)


def test_write_read_round_trip_and_info(tmp_path):
    wave = tone(440, 8000, seconds=0.5, amplitude=0.8)
    pcm_path = tmp_path / "nested" / "dir" / "tone.wav"  # parents are created
    write_audio(pcm_path, wave, 8000)
    restored, sample_rate = read_audio(pcm_path)
    assert sample_rate == 8000 and restored.dtype == np.float32
    assert np.abs(restored - wave).max() <= 1 / 32768  # 16-bit quantisation
    assert audio_info(pcm_path) == (4000, 8000, 1)

    float_path = tmp_path / "tone_float.wav"
    write_audio(float_path, 1.5 * wave, 8000, subtype="FLOAT")  # float files keep values beyond 1
    np.testing.assert_array_equal(read_audio(float_path)[0], 1.5 * wave)

    flac_path = tmp_path / "tone.flac"
    write_audio(flac_path, wave, 8000)
    assert np.abs(read_audio(flac_path, sample_rate=16000)[0][:4000:2] - wave[:2000]).max() < 0.005
    assert read_audio(flac_path, sample_rate=16000)[1] == 16000

    ogg_path = tmp_path / "tone.ogg"  # lossy Vorbis: the tone survives, the samples do not
    soundfile.write(ogg_path, wave, 8000, format="OGG", subtype="VORBIS")
    frequency, amplitude = peak_frequency_and_amplitude(read_audio(ogg_path)[0], 8000)
    assert abs(frequency - 440) <= 4 and amplitude == pytest.approx(0.8, rel=0.05)


def test_stereo_is_averaged_to_mono_or_kept_channels_first(tmp_path):
    left, right = tone(300, 16000, 0.25, 0.6), np.full(4000, 0.2, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    write_audio(path, np.stack([left, right]), 16000, subtype="FLOAT")
    assert audio_info(path) == (4000, 16000, 2)
    mono, _ = read_audio(path)
    np.testing.assert_allclose(mono, (left + right) / 2, atol=1e-7)
    channels, _ = read_audio(path, mono=False)
    assert channels.shape == (2, 4000)
    np.testing.assert_array_equal(channels[1], right)
    resampled, sample_rate = read_audio(path, sample_rate=8000, mono=False)
    assert resampled.shape == (2, 2000) and sample_rate == 8000


def test_pcm_writing_clips_loudly(tmp_path, caplog):
    path = tmp_path / "loud.wav"
    with caplog.at_level(logging.WARNING, logger="utils.audio"):
        write_audio(path, np.array([0.5, 1.7, -2.0, 0.1], dtype=np.float32), 8000)
    assert "clipping" in caplog.text and str(path) in caplog.text
    restored = read_audio(path)[0]
    assert restored[1] == pytest.approx(1.0, abs=1e-4) and restored[2] == pytest.approx(-1.0, abs=1e-4)
    with pytest.raises(ValueError, match="subtype"):
        write_audio(path, restored, 8000, subtype="MP3")
    with pytest.raises(AudioError, match="non-finite"):
        write_audio(path, np.array([0.1, np.nan]), 8000)


def test_bad_files_raise_audio_error_naming_the_file(tmp_path):
    missing = tmp_path / "missing.wav"
    for reader in (read_audio, audio_info):
        with pytest.raises(AudioError, match=f"{re.escape(str(missing))}.*not found"):
            reader(missing)

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match=f"{re.escape(str(empty))}.*empty"):
        read_audio(empty)

    non_finite = tmp_path / "nan.wav"
    soundfile.write(non_finite, np.array([0.1, np.nan, np.inf], dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=f"{re.escape(str(non_finite))}.*non-finite"):
        read_audio(non_finite)

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    for reader in (read_audio, audio_info):
        with pytest.raises(AudioError, match=f"{re.escape(str(garbage))}.*unreadable"):
            reader(garbage)
    assert issubclass(AudioError, ValueError)
