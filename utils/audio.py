"""Audio file input/output and resampling (NumPy + soundfile, no MindSpore).

Waveforms are float32 in [-1, 1]; multi-channel arrays are channels-first, ``[C, T]``.
Every problem with a file raises ``AudioError`` whose message starts with the file's path, so a
bad file in a 100k-utterance manifest is found at once.
"""
import hashlib
import logging
import os
import time
from math import gcd

import numpy as np
import soundfile
from scipy.signal import resample_poly
from tqdm import tqdm

logger = logging.getLogger(__name__)
SCREEN_LOG = logging.getLogger("zoo.screen")  # the training-data screen: in the train.py console and train.log

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


# Integer PCM: every bit pattern is a valid, finite sample, so such a file is checked by its sizes alone.
PCM_INTEGER_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW")
SCREEN_BLOCK_FRAMES = 1 << 16  # frames decoded at a time by the training-data screen (256 kB a channel)
SCREEN_CACHE_VERSION = "zoo-audio-screen-v1"  # bump when the checks change: older caches are then ignored
SCREEN_PROGRESS_MIN_FILES = 20  # a progress bar when at least this many files must be decoded


def wav_missing_bytes(path):
    """Bytes a RIFF/WAVE file's data chunk announces beyond the end of the file (0 when complete).

    libsndfile silently shortens such a file to what is there, so a WAV cut mid-stream looks fine to
    ``soundfile``; its own header is the only witness. Not a RIFF/WAVE file, no data chunk, or the
    unknown-length placeholders streaming writers leave (0, 0xFFFFFFFF): 0.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return 0
            announced = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"data":
                if announced in (0, 0xFFFFFFFF):
                    return 0
                return max(0, announced - (size - handle.tell()))
            handle.seek(announced + (announced & 1), os.SEEK_CUR)  # chunks are padded to even sizes


def sample_problem(path):
    """Why a file's samples cannot be trained on, or None when they can; decodes the whole file block by block
    (``SCREEN_BLOCK_FRAMES`` at a time, so memory stays bounded for hour-long files).

    Reasons: unreadable / unsupported (as ``read_audio``), 0 samples, truncated (a WAV whose data chunk runs
    past the end of the file; any format that decodes fewer samples than its header announces or fails
    mid-stream) and non-finite samples (NaN or Inf, with the first sample index). Integer PCM WAV files are
    checked by their sizes only: every bit pattern is a finite sample and their truncation shows in the header,
    so decoding them would only cost the read (5x slower on the tiny VoxCeleb, README).
    """
    path = os.fspath(path)
    try:
        with soundfile.SoundFile(path) as handle:
            announced, subtype = int(handle.frames), handle.subtype
            if announced == 0:
                return "audio file is empty (0 samples)"
            missing = wav_missing_bytes(path)
            if missing:
                return (f"truncated: the WAV data chunk runs {missing} bytes past the end of the file (only "
                        f"{announced} samples are there)")
            if subtype in PCM_INTEGER_SUBTYPES and handle.format in ("WAV", "WAVEX"):
                return None
            decoded = 0
            while True:
                try:
                    block = handle.read(SCREEN_BLOCK_FRAMES, dtype="float32", always_2d=True)
                except (soundfile.SoundFileError, RuntimeError) as error:
                    return f"truncated or corrupt: decoding failed after {decoded} of {announced} samples ({error})"
                if not len(block):
                    break
                finite = np.isfinite(block)
                if not finite.all():
                    first = int(np.argmin(finite.all(axis=1)))
                    kind = "NaN" if np.isnan(block[first]).any() else "Inf"
                    return f"audio holds non-finite values ({kind} at sample {decoded + first})"
                decoded += len(block)
    except (soundfile.SoundFileError, OSError) as error:
        return str(_open_error(path, error))[len(path) + 2:]
    if decoded < announced:
        return f"truncated: the header announces {announced} samples, only {decoded} decode"
    return None


def screen_cache_file(paths):
    """Where the screen remembers its verdicts on ``paths``: one small TSV per corpus folder (the folder all
    of them share), ``$ZOO_CACHE/audio_screen/<16 hex digits of its sha1>.tsv`` (``$ZOO_CACHE``: see
    ``utils.pretrained.cache_root``, default ``~/.cache/ms_speech_zoo``), so every run on that corpus (any
    output folder, train or validation set) reuses it."""
    from utils.pretrained import cache_root
    folder = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in paths])
    digest = hashlib.sha1(folder.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return os.path.join(cache_root(), "audio_screen", f"{digest}.tsv")


def read_screen_cache(cache_file):
    """{absolute path: (size in bytes, mtime in ns, reason or "")} from ``cache_file``; {} when it is missing,
    unreadable or written by another version of the checks."""
    try:
        with open(cache_file, encoding="utf-8", errors="surrogateescape") as handle:
            if handle.readline().rstrip("\n") != f"# {SCREEN_CACHE_VERSION}":
                return {}
            entries = {}
            for line in handle:
                path, size, mtime, reason = line.rstrip("\n").split("\t", 3)
                entries[path] = (int(size), int(mtime), reason)
            return entries
    except (OSError, ValueError):
        return {}


def write_screen_cache(cache_file, entries):
    """Write ``entries`` (as ``read_screen_cache`` returns them) atomically: temporary file, then rename (ranks
    of a distributed run may write the same file at once). A cache that cannot be written is only logged."""
    temporary = f"{cache_file}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(cache_file), exist_ok=True)
        with open(temporary, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(f"# {SCREEN_CACHE_VERSION}\n")
            for path, (size, mtime, reason) in entries.items():
                handle.write(f"{path}\t{size}\t{mtime}\t{reason}\n")
        os.replace(temporary, cache_file)
    except OSError as error:
        SCREEN_LOG.warning("could not write the audio screen cache %s (%s): the next run screens again", cache_file,
                           error)


def unusable_files(paths, cache=True):
    """[(path, reason)] of the files among ``paths`` whose samples cannot be trained on (``sample_problem``),
    in the order given.

    cache: remember each verdict under (absolute path, size, mtime) in ``screen_cache_file(paths)`` and only
    decode files that are new or changed since; False decodes everything and writes nothing.
    One file at a time: 2 threads or 2 processes were no faster on the 2 shared cores measured (README).
    """
    paths = [os.fspath(path) for path in paths]
    if not paths:
        return []
    cache_file = screen_cache_file(paths) if cache else None
    cached = read_screen_cache(cache_file) if cache else {}
    verdicts, todo, stamps = {}, [], {}
    for path in paths:
        full = os.path.abspath(path)
        try:
            status = os.stat(full)
        except OSError:
            todo.append(path)  # missing: sample_problem says so; nothing to cache
            continue
        stamps[path] = (full, status.st_size, status.st_mtime_ns)
        entry = cached.get(full)
        if entry is not None and entry[:2] == (status.st_size, status.st_mtime_ns):
            verdicts[path] = entry[2] or None
        else:
            todo.append(path)
    started = time.time()
    bar = tqdm(total=len(todo), desc="screening audio", unit="file", leave=False,
               disable=len(todo) < SCREEN_PROGRESS_MIN_FILES)
    for path in todo:
        verdicts[path] = sample_problem(path)
        bar.update()
    bar.close()
    SCREEN_LOG.info("screened %d audio files (%d decoded in %.1f s, %d unchanged since the last screen%s)", len(paths),
                len(todo), time.time() - started, len(paths) - len(todo),
                f", cache {cache_file}" if cache_file else "")
    fresh = {stamps[path][0]: (*stamps[path][1:], " ".join((verdicts[path] or "").split()))
             for path in todo if path in stamps and not set("\t\n\r") & set(stamps[path][0])}
    if cache and fresh:
        cached.update(fresh)
        write_screen_cache(cache_file, cached)
    return [(path, verdicts[path]) for path in paths if verdicts[path]]


def screen_training_files(paths, skip_bad_files, what="training"):
    """Check every file of a training / validation set before training starts: each is decoded once
    (``sample_problem``; verdicts cached per file, see ``unusable_files``), so no bad sample is met mid-epoch.

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
    SCREEN_LOG.warning("--skip_bad_files: leaving out %d of %d %s audio files: %s", len(bad), len(paths), what, listing)
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
