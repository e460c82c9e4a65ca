"""Audio file input/output and resampling (NumPy + soundfile, no MindSpore).

Waveforms are float32 in [-1, 1]; multi-channel arrays are channels-first, ``[C, T]``.
Every problem with a file raises ``AudioError`` whose message starts with the file's path, so a
bad file in a 100k-utterance manifest is found at once.
"""
import logging
import os
from math import gcd

import numpy as np
import soundfile
from scipy.signal import resample_poly

logger = logging.getLogger(__name__)

WRITE_SUBTYPES = ("PCM_16", "PCM_24", "FLOAT")
# What a folder given to an infer.py is searched for (anything else in it is ignored).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aiff", ".aif", ".au")
# An --input file with one of these extensions is a list of audio paths, one per line.
LIST_EXTENSIONS = (".txt", ".lst", ".list", ".scp")


class AudioError(ValueError):
    """A file that cannot be used as audio: missing, unreadable, empty or non-finite."""


def list_audio(path):
    """The audio files an ``--input`` names, as [(file, name)]; ``name`` (no extension) places its outputs.

    * an audio file -> [(file, its base name)];
    * a list file (``LIST_EXTENSIONS``: one path per line, relative to the list's folder; blank lines and
      ``#`` comments skipped) -> its entries, named by their path relative to that folder (missing files
      are kept: the batch reports them one by one);
    * a folder -> every ``AUDIO_EXTENSIONS`` file below it, sorted, named by the path relative to it.
    Raises FileNotFoundError when ``path`` does not exist or a folder / list holds no audio.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and path.lower().endswith(LIST_EXTENSIONS):
        root = os.path.dirname(os.path.abspath(path))
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
        found = [(os.path.join(root, line), os.path.splitext(os.path.relpath(os.path.join(root, line), root))[0])
                 for line in lines if line and not line.startswith("#")]
        if not found:
            raise FileNotFoundError(f"--input {path}: the list names no audio file")
        return found
    if os.path.isfile(path):
        return [(path, os.path.splitext(os.path.basename(path))[0])]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"--input {path}: no such file or folder")
    found = []
    for folder, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            if name.lower().endswith(AUDIO_EXTENSIONS):
                full = os.path.join(folder, name)
                found.append((full, os.path.splitext(os.path.relpath(full, path))[0]))
    if not found:
        raise FileNotFoundError(f"--input {path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) in this folder")
    return found


def is_single_file(path):
    """Whether an ``--input`` names one audio file (not a folder or a list): its failure is then the run's
    error (exit 2) rather than one skipped item of a batch."""
    path = os.fspath(path)
    return os.path.isfile(path) and not path.lower().endswith(LIST_EXTENSIONS)


def _open_error(path, error):
    if not os.path.exists(path):
        return AudioError(f"{path}: audio file not found")
    if os.path.isdir(path):
        return AudioError(f"{path}: is a directory, expected an audio file")
    return AudioError(f"{path}: unreadable or unsupported audio format ({error})")


def audio_info(path):
    """Header of an audio file, without decoding the samples.

    Returns (num_samples per channel, sample_rate in Hz, channels).
    """
    path = os.fspath(path)
    try:
        info = soundfile.info(path)
    except (soundfile.SoundFileError, OSError) as error:
        raise _open_error(path, error) from None
    return int(info.frames), int(info.samplerate), int(info.channels)


def unusable_files(paths):
    """[(path, reason)] of the files among ``paths`` that cannot be opened as audio or hold no sample.

    Reads headers only (about a millisecond a file), so a training set is screened before the first step."""
    bad = []
    for path in paths:
        try:
            frames = audio_info(path)[0]
        except AudioError as error:
            bad.append((path, str(error)[len(os.fspath(path)) + 2:]))
            continue
        if frames == 0:
            bad.append((path, "audio file is empty (0 samples)"))
    return bad


def screen_training_files(paths, skip_bad_files, what="training"):
    """Check every file of a training / validation set before training starts.

    Returns the set of unusable paths (empty when all are fine). With unusable files and not
    ``skip_bad_files`` raises AudioError with their count and the first few names (nothing has
    trained yet); with ``skip_bad_files`` logs the same and the caller leaves them out.
    """
    paths = list(dict.fromkeys(paths))
    bad = unusable_files(paths)
    if not bad:
        return set()
    listing = "; ".join(f"{path}: {reason}" for path, reason in bad[:5]) + (" ..." if len(bad) > 5 else "")
    if not skip_bad_files:
        raise AudioError(f"{len(bad)} of {len(paths)} {what} audio files cannot be used: {listing}. Fix or remove "
                         "them, or pass --skip_bad_files to train without them")
    logger.warning("--skip_bad_files: leaving out %d of %d %s audio files: %s", len(bad), len(paths), what, listing)
    return {path for path, _ in bad}


def resample(wave, orig_sr, target_sr):
    """Band-limited resampling along the last axis (polyphase filter, ratio reduced by the gcd).

    wave: [..., T] float array; orig_sr, target_sr: positive integer rates in Hz.
    Returns [..., T * target_sr / orig_sr] (rounded up) with wave's float dtype.
    """
    for name, rate in (("orig_sr", orig_sr), ("target_sr", target_sr)):
        if int(rate) != rate or rate <= 0:
            raise ValueError(f"resample: {name} must be a positive integer rate in Hz, got {rate!r}")
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    wave = np.asarray(wave)
    dtype = wave.dtype if np.issubdtype(wave.dtype, np.floating) else np.float32
    if orig_sr == target_sr:
        return wave.astype(dtype, copy=False)
    divisor = gcd(orig_sr, target_sr)
    return resample_poly(wave, target_sr // divisor, orig_sr // divisor, axis=-1).astype(dtype, copy=False)


def read_audio(path, sample_rate=None, mono=True):
    """Read any format libsndfile decodes (wav, flac, ogg, ...).

    sample_rate: resample to this rate in Hz when given (None keeps the file's rate).
    mono: average the channels into one.
    Returns (wave, sample_rate): wave is float32 [T] when mono, else [C, T].
    Raises AudioError naming the file when it is missing, unreadable, empty or holds NaN/Inf.
    """
    path = os.fspath(path)
    try:
        wave, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, OSError) as error:
        raise _open_error(path, error) from None
    if wave.shape[0] == 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: audio holds non-finite values (NaN or Inf)")
    wave = wave.mean(axis=1) if mono else np.ascontiguousarray(wave.T)
    if sample_rate is not None and sample_rate != file_rate:
        wave = resample(wave, file_rate, sample_rate)
        file_rate = sample_rate
    return wave, int(file_rate)


def write_audio(path, wave, sample_rate, subtype="PCM_16"):
    """Write a waveform, creating the parent directories.

    wave: [T] or channels-first [C, T] float array in [-1, 1].
    subtype: "PCM_16" / "PCM_24" (integer samples: values beyond +-1 are clipped, with a logged
    warning) or "FLOAT" (32-bit float, values kept as they are).
    """
    path = os.fspath(path)
    if subtype not in WRITE_SUBTYPES:
        raise ValueError(f"{path}: subtype must be one of {', '.join(WRITE_SUBTYPES)}, got {subtype!r}")
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim not in (1, 2) or wave.size == 0:
        raise AudioError(f"{path}: expected a non-empty [T] or [C, T] waveform, got shape {wave.shape}")
    if not np.isfinite(wave).all():
        raise AudioError(f"{path}: refusing to write non-finite values (NaN or Inf)")
    peak = float(np.abs(wave).max())
    if subtype.startswith("PCM") and peak > 1.0:
        logger.warning("%s: peak %.3f exceeds 1.0, clipping to [-1, 1] for %s", path, peak, subtype)
        wave = np.clip(wave, -1.0, 1.0)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    soundfile.write(path, wave.T if wave.ndim == 2 else wave, int(sample_rate), subtype=subtype)
