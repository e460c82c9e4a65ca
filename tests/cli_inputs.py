"""What the command-line tests feed the infer.py tools: the kinds of malformed or extreme audio files a new
user has (built here, nothing downloaded), and small random-weight checkpoints of every model."""
import os
import subprocess
import sys

import numpy as np
import soundfile

from tests.ascend310.test_models import random_checkpoint  # noqa: F401  (small random-weight models)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tone(seconds, rate, channels=1, amplitude=0.3, seed=0):
    t = np.arange(int(round(seconds * rate))) / rate
    rng = np.random.default_rng(seed)
    wave = amplitude * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    return np.stack([wave] * channels, axis=1).astype(np.float32) if channels > 1 else wave.astype(np.float32)


def _write_raw_float(path, wave, rate, subtype="FLOAT"):
    """A float WAV holding exactly ``wave`` (soundfile writes NaN / Inf / >1 values as they are)."""
    soundfile.write(path, wave, rate, subtype=subtype)


# (name, usable?) of every kind; usable ones must give finite output, the others one error line each.
KINDS = {
    "empty.wav": False,               # 0 bytes
    "truncated_header.wav": False,    # first 20 bytes of a WAV
    "truncated_data.wav": True,       # header promises more samples than the file holds
    "zero_samples.wav": False,        # valid header, no samples
    "short_50ms.wav": True,           # 0.05 s
    "nan.wav": False,                 # float WAV with NaN samples
    "inf.wav": False,                 # float WAV with +Inf samples
    "beyond_unit.wav": True,          # float WAV with values up to +-4
    "stereo_44k1.wav": True,          # 2 channels, 44.1 kHz
    "rate_96k.wav": True,             # 96 kHz
    "unsigned_8bit.wav": True,        # PCM_U8
    "int32.wav": True,                # PCM_32
    "text.mp3": False,                # a text file with an audio extension
    "folder.wav": None,               # a directory named like a file (searched as a folder, holds nothing)
    "long_10min.flac": True,          # 10 minutes (chunked)
    "silence.wav": True,              # digital silence
    "square_full_scale.wav": True,    # +-1 square wave
    "flac_16k.flac": True,            # ordinary FLAC
    "ogg_vorbis.ogg": True,           # compressed
    "mono_8k.wav": True,              # the separation models' own rate
}


def make_kind(folder, name, long_seconds=600.0):
    """Write the file (or folder) of kind ``name`` into ``folder``; returns its path."""
    path = os.path.join(str(folder), name)
    if name == "empty.wav":
        open(path, "wb").close()
    elif name == "truncated_header.wav":
        soundfile.write(path + ".full.wav", _tone(1.0, 16000), 16000)
        with open(path + ".full.wav", "rb") as handle:
            head = handle.read(20)
        os.remove(path + ".full.wav")
        with open(path, "wb") as handle:
            handle.write(head)
    elif name == "truncated_data.wav":
        soundfile.write(path, _tone(2.0, 16000), 16000, subtype="PCM_16")
        with open(path, "r+b") as handle:
            handle.truncate(44 + 16000)  # header + 0.5 s of the 2 s it announces
    elif name == "zero_samples.wav":
        soundfile.write(path, np.zeros(0, np.float32), 16000)
    elif name == "short_50ms.wav":
        soundfile.write(path, _tone(0.05, 16000), 16000)
    elif name in ("nan.wav", "inf.wav"):
        wave = _tone(1.0, 16000)
        wave[100:200] = np.nan if name == "nan.wav" else np.inf
        _write_raw_float(path, wave, 16000)
    elif name == "beyond_unit.wav":
        _write_raw_float(path, 4.0 * _tone(1.0, 16000) / 0.35, 16000)
    elif name == "stereo_44k1.wav":
        soundfile.write(path, _tone(1.5, 44100, channels=2), 44100)
    elif name == "rate_96k.wav":
        soundfile.write(path, _tone(1.0, 96000), 96000, subtype="PCM_24")
    elif name == "unsigned_8bit.wav":
        soundfile.write(path, _tone(1.0, 16000), 16000, subtype="PCM_U8")
    elif name == "int32.wav":
        soundfile.write(path, _tone(1.0, 16000), 16000, subtype="PCM_32")
    elif name == "text.mp3":
        with open(path, "w") as handle:
            handle.write("this is not audio\n" * 20)
    elif name == "folder.wav":
        os.makedirs(path, exist_ok=True)
    elif name == "long_10min.flac":
        soundfile.write(path, _tone(long_seconds, 16000), 16000)
    elif name == "silence.wav":
        soundfile.write(path, np.zeros(16000, np.float32), 16000)
    elif name == "square_full_scale.wav":
        t = np.arange(16000)
        soundfile.write(path, np.where((t // 40) % 2 == 0, 1.0, -1.0).astype(np.float32), 16000, subtype="FLOAT")
    elif name == "flac_16k.flac":
        soundfile.write(path, _tone(1.0, 16000), 16000)
    elif name == "ogg_vorbis.ogg":
        soundfile.write(path, _tone(1.0, 16000), 16000, format="OGG", subtype="VORBIS")
    elif name == "mono_8k.wav":
        soundfile.write(path, _tone(1.0, 8000), 8000)
    else:
        raise KeyError(name)
    return path


def spoil(source, target, how):
    """A copy of the good audio file ``source`` at ``target`` whose header stays fine but whose samples are not:
    how = "nan" / "inf" (a float WAV, ``target`` ending .wav, holding NaN / +Inf at samples 100..199) or
    "truncated" (the file cut to a third of its bytes: a WAV's header then announces 3x the samples there are,
    a FLAC stops decoding mid-stream). Returns ``target``."""
    os.makedirs(os.path.dirname(str(target)), exist_ok=True)
    if how in ("nan", "inf"):
        wave, rate = soundfile.read(str(source), dtype="float32")
        wave[100:200] = np.nan if how == "nan" else np.inf
        _write_raw_float(str(target), wave, rate)
    elif how == "truncated":
        with open(str(source), "rb") as handle:
            data = handle.read()
        with open(str(target), "wb") as handle:
            handle.write(data[:len(data) // 3])
    else:
        raise KeyError(how)
    return target


def make_kinds(folder, names, long_seconds=600.0):
    os.makedirs(str(folder), exist_ok=True)
    return [make_kind(folder, name, long_seconds) for name in names]


def one_error_line(done, code):
    """The one ``PROG: error: ...`` line of a run that must fail with exit ``code`` and print no traceback."""
    assert done.returncode == code and "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def run_cli(*argv, timeout=600):
    """Run ``python <argv>`` from the repository root; returns the CompletedProcess (text)."""
    return subprocess.run([sys.executable, *map(str, argv)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
