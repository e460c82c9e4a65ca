"""Log-mel filterbank front end (numpy, runs in the input pipeline).

One configurable extractor covers the two recipes of the zoo:

* ``FeatureConfig.jasper()`` (the defaults) follows NVIDIA's Jasper/NeMo ``FilterbankFeatures``: 16 kHz,
  dither 1e-5 in training, pre-emphasis 0.97, STFT n_fft 512 / window 320 (20 ms) / hop 160 (10 ms) with a
  symmetric Hann window centred inside the FFT frame, ``center=True`` with zero padding (NeMo passes
  ``pad_mode="constant"``), power spectrum, 64 librosa mel filters (Slaney scale and area norm),
  ``log(x + 2**-24)``, per-feature mean / unbiased-std normalisation over the valid frames (std + 1e-5),
  padded frames zeroed, frame count padded to a multiple of 16.
* ``FeatureConfig.ecapa()`` follows SpeechBrain's ``Fbank`` + sentence mean normalisation used by ECAPA-TDNN:
  80 mels, n_fft 400, 25 ms periodic Hamming window, 10 ms hop, no pre-emphasis or dither, HTK mel scale
  with unnormalised triangles, ``10*log10(max(x, 1e-10))`` clipped at 80 dB below the utterance maximum, then
  the mean over time is subtracted. The preset keeps librosa's HTK triangles (``mel_filters="librosa"``) so
  existing checkpoints see unchanged features; ``mel_filters="speechbrain"`` builds SpeechBrain's own
  ``Filterbank`` triangles instead (symmetric: both slopes as wide as the left one, f_max = sr // 2), which
  with the rest of the preset reproduces SpeechBrain's ``Fbank`` exactly (needed for its pretrained weights).

Frames: with ``center=True`` a wave of T samples gives ``1 + T // hop`` frames, all of them valid
(``frame_count="ceil"``: ``ceil(T / hop)``, as NVIDIA DeepLearningExamples' Jasper).
"""
from dataclasses import asdict, dataclass, fields
from typing import Optional

import librosa
import numpy as np

WINDOWS = ("hann", "hamming", "none")
LOG_MODES = ("natural", "db", "none")
NORMALIZE_MODES = ("per_feature", "mean", "none")
FRAME_COUNTS = ("stft", "ceil")
MEL_FILTERS = ("librosa", "speechbrain")


@dataclass
class FeatureConfig:
    """Every option of the log-mel front end (defaults: NVIDIA Jasper).

    sample_rate: expected input rate, Hz (the extractor does not resample).
    n_fft: FFT size, samples. win_length: analysis window, samples (<= n_fft, centred in the FFT frame).
    hop_length: frame shift, samples.
    window: "hann", "hamming" or "none"; window_periodic: False = symmetric (torch ``periodic=False``).
    center: pad n_fft // 2 samples on both sides so frame i is centred on sample i * hop.
    pad_mode: numpy pad mode for ``center`` ("constant" = zeros, or "reflect").
    preemphasis: y[t] = x[t] - a * x[t-1] (y[0] = x[0]); 0 disables.
    dither: std of Gaussian noise added to the wave in training only (waves in [-1, 1]); 0 disables.
    power: exponent of the STFT magnitude (2 = power spectrum).
    n_mels, f_min, f_max (Hz, None = Nyquist), mel_norm ("slaney" or None), htk: librosa.filters.mel options.
    mel_filters: "librosa" (librosa.filters.mel with the options above) or "speechbrain" (SpeechBrain
        ``Filterbank``: HTK mel points, symmetric triangles; mel_norm and htk are then ignored).
    log: "natural" = ln(x + log_guard); "db" = 10 log10(max(x, db_amin)) clipped at top_db below the
        utterance maximum (top_db None = no clip); "none" keeps linear energies.
    normalize: "per_feature" = (x - mean) / (unbiased std + norm_eps) per mel bin over the valid frames;
        "mean" = subtract the per-bin mean only; "none".
    pad_to: ``batch`` pads the frame axis to a multiple of this (0 or 1 = no rounding).
    frame_count: "stft" keeps every STFT frame; "ceil" keeps ceil(T / hop) frames as NVIDIA
        DeepLearningExamples' FilterbankFeatures counts them (one frame fewer when T is a multiple of hop);
        normalisation statistics use the kept frames only.
    """
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 320
    hop_length: int = 160
    window: str = "hann"
    window_periodic: bool = False
    center: bool = True
    pad_mode: str = "constant"
    preemphasis: float = 0.97
    dither: float = 1e-5
    power: float = 2.0
    n_mels: int = 64
    f_min: float = 0.0
    f_max: Optional[float] = None
    mel_norm: Optional[str] = "slaney"
    htk: bool = False
    mel_filters: str = "librosa"
    log: str = "natural"
    log_guard: float = 2.0 ** -24
    db_amin: float = 1e-10
    top_db: Optional[float] = 80.0
    normalize: str = "per_feature"
    norm_eps: float = 1e-5
    pad_to: int = 16
    frame_count: str = "stft"

    def __post_init__(self):
        problems = []
        if self.window not in WINDOWS:
            problems.append(f"window must be one of {WINDOWS}, got {self.window!r}")
        if self.log not in LOG_MODES:
            problems.append(f"log must be one of {LOG_MODES}, got {self.log!r}")
        if self.mel_filters not in MEL_FILTERS:
            problems.append(f"mel_filters must be one of {MEL_FILTERS}, got {self.mel_filters!r}")
        if self.normalize not in NORMALIZE_MODES:
            problems.append(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        if self.frame_count not in FRAME_COUNTS:
            problems.append(f"frame_count must be one of {FRAME_COUNTS}, got {self.frame_count!r}")
        if not 0 < self.win_length <= self.n_fft:
            problems.append(f"win_length must be in (0, n_fft={self.n_fft}], got {self.win_length}")
        if self.hop_length <= 0 or self.n_mels <= 0 or self.sample_rate <= 0:
            problems.append("hop_length, n_mels and sample_rate must be positive")
        if problems:
            raise ValueError("utils/features.py FeatureConfig: " + "; ".join(problems))

    @classmethod
    def jasper(cls, **overrides):
        """NVIDIA Jasper / QuartzNet front end (the defaults), 64 mels."""
        return cls(**overrides)

    @classmethod
    def ecapa(cls, **overrides):
        """SpeechBrain Fbank + sentence mean normalisation as used by ECAPA-TDNN, 80 mels."""
        settings = dict(n_fft=400, win_length=400, hop_length=160, window="hamming", window_periodic=True,
                        preemphasis=0.0, dither=0.0, n_mels=80, mel_norm=None, htk=True, log="db",
                        top_db=80.0, normalize="mean", pad_to=1)
        settings.update(overrides)
        return cls(**settings)

    @classmethod
    def from_dict(cls, options):
        """Build from a config section, naming unknown keys in the error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"utils/features.py FeatureConfig: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**options)

    def to_dict(self):
        return asdict(self)


def analysis_window(config):
    """The window of ``config``, zero-padded to n_fft and centred like torch.stft does. [n_fft] float64."""
    if config.window == "none":
        core = np.ones(config.win_length)
    else:
        # periodic windows are the first N points of a symmetric window of N + 1 points
        points = config.win_length + (1 if config.window_periodic else 0)
        phase = 2.0 * np.pi * np.arange(points) / max(points - 1, 1)
        core = (0.5 - 0.5 * np.cos(phase)) if config.window == "hann" else (0.54 - 0.46 * np.cos(phase))
        core = core[:config.win_length]
    left = (config.n_fft - config.win_length) // 2
    return np.pad(core, (left, config.n_fft - config.win_length - left))


def speechbrain_mel_filters(config):
    """SpeechBrain ``Filterbank`` triangles (``filter_shape="triangular"``, frozen) for ``config``.

    Centres are n_mels points equally spaced on the HTK mel scale between f_min and f_max (f_max None =
    sample_rate // 2, integer Hz as SpeechBrain's Fbank); filter i rises from centre_i - band_i and falls to
    centre_i + band_i, band_i being the distance to the previous mel point (so unlike librosa both slopes
    have the same width). The FFT bins sit at linspace(0, sample_rate // 2, n_fft // 2 + 1) Hz.
    Returns [n_mels, n_fft // 2 + 1] float64 (peak 1, no area normalisation).
    """
    f_max = config.sample_rate // 2 if config.f_max is None else config.f_max
    mel_low, mel_high = 2595.0 * np.log10(1.0 + np.array([config.f_min, f_max], np.float64) / 700.0)
    hz = 700.0 * (10.0 ** (np.linspace(mel_low, mel_high, config.n_mels + 2) / 2595.0) - 1.0)
    centres, bands = hz[1:-1, None], (hz[1:] - hz[:-1])[:-1, None]
    bin_hz = np.linspace(0.0, config.sample_rate // 2, config.n_fft // 2 + 1)[None, :]
    slope = (bin_hz - centres) / bands
    return np.maximum(0.0, np.minimum(1.0 + slope, 1.0 - slope))


def mel_filter_matrix(config):
    """The mel filters of ``config`` (see ``FeatureConfig.mel_filters``). [n_mels, n_fft // 2 + 1] float64."""
    if config.mel_filters == "speechbrain":
        return speechbrain_mel_filters(config)
    return librosa.filters.mel(sr=config.sample_rate, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.f_min,
                               fmax=config.f_max, htk=config.htk, norm=config.mel_norm).astype(np.float64)


class LogMelExtractor:
    """Wave -> normalised log-mel features, following a ``FeatureConfig``.

    ``extractor(wave)`` gives [n_mels, frames] float32 for one wave [T] (float, nominally in [-1, 1]).
    ``extractor.batch(waves, train)`` gives padded features [B, n_mels, F_max] and frame counts [B].
    """

    def __init__(self, config=None):
        self.config = config if config is not None else FeatureConfig()
        cfg = self.config
        self.window = analysis_window(cfg)
        self.mel_basis = mel_filter_matrix(cfg)

    def num_frames(self, num_samples):
        """Number of (valid) frames for a wave of ``num_samples`` samples."""
        cfg = self.config
        if cfg.center:
            stft_frames = 1 + int(num_samples) // cfg.hop_length
        else:
            stft_frames = max(0, 1 + (int(num_samples) - cfg.n_fft) // cfg.hop_length)
        if cfg.frame_count == "ceil":
            return min(stft_frames, -(-int(num_samples) // cfg.hop_length))
        return stft_frames

    def padded_frames(self, num_frames):
        """``num_frames`` rounded up to a multiple of ``pad_to``."""
        align = max(1, self.config.pad_to)
        return -(-int(num_frames) // align) * align

    def _power_spectrogram(self, wave):
        """[T] float64 -> [n_fft // 2 + 1, frames] |STFT|**power."""
        cfg = self.config
        if cfg.center:
            half = cfg.n_fft // 2
            if cfg.pad_mode == "reflect" and wave.shape[0] <= half:
                raise ValueError(f"utils/features.py: reflect padding needs more than {half} samples, "
                                 f"got {wave.shape[0]}")
            wave = np.pad(wave, (half, half), mode=cfg.pad_mode)
        if wave.shape[0] < cfg.n_fft:
            raise ValueError(f"utils/features.py: wave of {wave.shape[0]} samples is shorter than n_fft={cfg.n_fft}")
        frames = np.lib.stride_tricks.sliding_window_view(wave, cfg.n_fft)[::cfg.hop_length]
        spectrum = np.fft.rfft(frames * self.window, axis=-1)
        magnitude = np.abs(spectrum)
        return (magnitude ** cfg.power).T

    def _log(self, energies):
        cfg = self.config
        if cfg.log == "natural":
            return np.log(energies + cfg.log_guard)
        if cfg.log == "db":
            decibels = 10.0 * np.log10(np.maximum(energies, cfg.db_amin))
            if cfg.top_db is not None:
                decibels = np.maximum(decibels, decibels.max() - cfg.top_db)
            return decibels
        return energies

    def _normalize(self, feats):
        cfg = self.config
        if cfg.normalize == "none":
            return feats
        mean = feats.mean(axis=1, keepdims=True)
        if cfg.normalize == "mean":
            return feats - mean
        frames = feats.shape[1]
        # unbiased std as torch.std; a single frame has no spread, NeMo then uses 0 (+ eps)
        std = np.sqrt(((feats - mean) ** 2).sum(axis=1, keepdims=True) / (frames - 1)) if frames > 1 \
            else np.zeros_like(mean)
        return (feats - mean) / (std + cfg.norm_eps)

    def __call__(self, wave, train=False, rng=None):
        """Features of one wave.

        wave: [T] float (mono samples at ``config.sample_rate``).
        train: adds dither (the only random step of the front end).
        rng: numpy Generator for the dither (a fresh one when None).
        Returns [n_mels, num_frames(T)] float32.
        """
        cfg = self.config
        wave = np.asarray(wave, dtype=np.float64)
        if wave.ndim != 1:
            raise ValueError(f"utils/features.py: expected a mono wave [T], got shape {wave.shape}")
        if train and cfg.dither > 0:
            rng = rng if rng is not None else np.random.default_rng()
            wave = wave + cfg.dither * rng.standard_normal(wave.shape[0])
        if cfg.preemphasis:
            wave = np.concatenate([wave[:1], wave[1:] - cfg.preemphasis * wave[:-1]])
        energies = (self.mel_basis @ self._power_spectrogram(wave))[:, :self.num_frames(wave.shape[0])]
        return self._normalize(self._log(energies)).astype(np.float32)

    def batch(self, waves, train=False, rng=None):
        """Features of several waves, zero-padded to a common length.

        waves: list of [T_i] float waves.
        Returns (feats [B, n_mels, F_max] float32 with frames >= lengths[i] zeroed, F_max a multiple of
        ``pad_to``; lengths [B] int32 valid frames). Each wave is normalised over its own valid frames only.
        """
        if len(waves) == 0:
            raise ValueError("utils/features.py: batch() needs at least one wave")
        per_wave = [self(wave, train=train, rng=rng) for wave in waves]
        lengths = np.array([f.shape[1] for f in per_wave], dtype=np.int32)
        feats = np.zeros((len(per_wave), self.config.n_mels, self.padded_frames(lengths.max())), np.float32)
        for index, item in enumerate(per_wave):
            feats[index, :, :item.shape[1]] = item
        return feats, lengths
