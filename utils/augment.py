"""Online waveform augmentation: additive noise / music / babble, reverberation, speed perturbation.

Folder layouts (the public corpora, or ``utils.tiny_corpora``):
    MUSAN: ``<musan_dir>/{noise,music,speech}/**/*.wav``; babble = the sum of 3-7 speech files.
    RIRS_NOISES: ``<rir_dir>/simulated_rirs/**/*.wav`` (``rir_dir`` may also point at
    ``simulated_rirs`` itself).

Every random choice comes from the numpy Generator passed in, so an item's augmentation is a pure
function of its seed. Waves are float32 [T] at one sample rate; only a random segment of a long
noise file is read from disk.
"""
import glob
import math
import os

import numpy as np
import soundfile
from scipy.signal import fftconvolve

from utils.audio import AudioError, read_audio, resample

NOISE_KINDS = ("noise", "music", "babble")
AUGMENTATION_KINDS = NOISE_KINDS + ("reverb",)
_POWER_FLOOR = 1e-10


def signal_power(wave):
    """Mean square of a wave [T] (floored so silence does not divide by zero)."""
    return max(float(np.mean(np.square(wave, dtype=np.float64))), _POWER_FLOOR)


def fit_length(signal, length, rng=None):
    """Crop (at a random offset when ``rng`` is given) or tile ``signal`` [N] to exactly ``length`` samples."""
    if signal.shape[0] >= length:
        start = int(rng.integers(0, signal.shape[0] - length + 1)) if rng is not None else 0
        return signal[start:start + length]
    return np.tile(signal, math.ceil(length / signal.shape[0]))[:length]


def add_noise_at_snr(clean, noise, snr_db, rng=None):
    """clean + scaled noise so that 10*log10(P_clean / P_noise) == snr_db over the whole wave.

    clean: [T]; noise: [N] (cropped at a random offset with ``rng`` or tiled to T). Returns float32 [T].
    """
    noise = fit_length(np.asarray(noise, dtype=np.float64), clean.shape[0], rng)
    gain = math.sqrt(signal_power(clean) / (signal_power(noise) * 10.0 ** (snr_db / 10.0)))
    return (clean + gain * noise).astype(np.float32)


def direct_path_index(rir):
    """Sample index of the direct sound of an impulse response [K] (its largest magnitude)."""
    return int(np.argmax(np.abs(rir)))


def reverberate(clean, rir):
    """Convolve ``clean`` [T] with ``rir`` [K], keeping time alignment and level.

    The output is shifted by the RIR's direct-path delay (so the speech is not delayed) and scaled to
    the RMS of ``clean``. Returns float32 [T].
    """
    rir = np.asarray(rir, dtype=np.float64)
    start = direct_path_index(rir)
    wet = fftconvolve(np.asarray(clean, dtype=np.float64), rir / np.sqrt(np.sum(rir ** 2) + _POWER_FLOOR))
    wet = wet[start:start + clean.shape[0]]
    return (wet * math.sqrt(signal_power(clean) / signal_power(wet))).astype(np.float32)


def speed_perturb(wave, factor, sample_rate):
    """Play ``wave`` [T] ``factor`` times faster (pitch moves too, as sox ``speed``): [round(T / factor)].

    Implemented as resampling from sample_rate * factor to sample_rate.
    """
    if factor == 1.0:
        return wave
    return resample(wave, int(round(sample_rate * factor)), sample_rate)


def _wav_files(folder, description):
    files = sorted(glob.glob(os.path.join(folder, "**", "*.wav"), recursive=True))
    if not files:
        raise FileNotFoundError(f"utils/augment.py: no .wav files under {folder} ({description})")
    return files


def read_segment(path, num_samples, sample_rate, rng):
    """A random ``num_samples``-long segment of an audio file at ``sample_rate`` (tiled when shorter).

    Reads only the needed part of the file. Returns float32 [num_samples].
    """
    try:
        info = soundfile.info(path)
    except (soundfile.SoundFileError, OSError) as error:
        raise AudioError(f"{path}: unreadable audio file ({error})") from None
    needed = math.ceil(num_samples * info.samplerate / sample_rate)
    start = int(rng.integers(0, info.frames - needed + 1)) if info.frames > needed else 0
    try:
        segment = soundfile.read(path, start=start, stop=start + needed, dtype="float32", always_2d=True)[0]
    except (soundfile.SoundFileError, OSError) as error:
        raise AudioError(f"{path}: unreadable audio file ({error})") from None
    if segment.shape[0] == 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    segment = resample(segment.mean(axis=1), info.samplerate, sample_rate)
    return fit_length(segment, num_samples)


class Augmenter:
    """Randomly corrupts training waves.

    musan_dir: MUSAN root (None disables noise/music/babble); rir_dir: RIRS_NOISES root (None
    disables reverb).
    probability: chance that a wave is augmented at all; the kind is then drawn uniformly from
        ``kinds`` that have data.
    snr_db: {kind: (low, high)} SNR range in dB for noise, music and babble.
    babble_speakers: (low, high) inclusive number of speech files summed into babble.
    ``augmenter(wave [T] float32, rng) -> [T] float32``.
    """

    def __init__(self, musan_dir=None, rir_dir=None, sample_rate=16000, probability=0.6, kinds=AUGMENTATION_KINDS,
                 snr_db=None, babble_speakers=(3, 7)):
        unknown = sorted(set(kinds) - set(AUGMENTATION_KINDS))
        if unknown:
            raise ValueError(f"utils/augment.py: unknown augmentation kind(s) {unknown}; "
                             f"choose from {AUGMENTATION_KINDS}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"utils/augment.py: probability must be in [0, 1], got {probability}")
        self.sample_rate, self.probability = int(sample_rate), float(probability)
        self.snr_db = {"noise": (0.0, 15.0), "music": (5.0, 15.0), "babble": (13.0, 20.0)}
        self.snr_db.update({kind: tuple(bounds) for kind, bounds in (snr_db or {}).items()})
        self.babble_speakers = tuple(babble_speakers)
        self.files = {}
        if musan_dir is not None:
            folders = {"noise": "noise", "music": "music", "babble": "speech"}
            for kind in NOISE_KINDS:
                if kind in kinds:
                    self.files[kind] = _wav_files(os.path.join(musan_dir, folders[kind]), f"MUSAN {kind}")
        if rir_dir is not None and "reverb" in kinds:
            simulated = os.path.join(rir_dir, "simulated_rirs")
            self.files["reverb"] = _wav_files(simulated if os.path.isdir(simulated) else rir_dir,
                                              "RIRS_NOISES simulated_rirs")
        self.kinds = [kind for kind in kinds if kind in self.files]

    def _pick(self, kind, rng):
        return self.files[kind][int(rng.integers(len(self.files[kind])))]

    def _babble(self, length, rng):
        count = int(rng.integers(self.babble_speakers[0], self.babble_speakers[1] + 1))
        talkers = rng.choice(len(self.files["babble"]), size=count, replace=count > len(self.files["babble"]))
        return sum(read_segment(self.files["babble"][k], length, self.sample_rate, rng) for k in talkers)

    def apply(self, wave, kind, rng):
        """Apply one named augmentation kind to wave [T]; returns [T] float32."""
        if kind == "reverb":
            rir, _ = read_audio(self._pick("reverb", rng), self.sample_rate)
            return reverberate(wave, rir)
        noise = (self._babble(wave.shape[0], rng) if kind == "babble"
                 else read_segment(self._pick(kind, rng), wave.shape[0], self.sample_rate, rng))
        return add_noise_at_snr(wave, noise, rng.uniform(*self.snr_db[kind]))

    def __call__(self, wave, rng):
        if not self.kinds or rng.random() >= self.probability:
            return wave
        return self.apply(wave, self.kinds[int(rng.integers(len(self.kinds)))], rng)
