"""Many-speaker English speech synthesis with the pip-installed eSpeak NG (``espeakng-loader``).

eSpeak NG is a formant synthesiser: it is fast (hundreds of times real time), deterministic once
its noise generator is seeded, and its "voice variant" files change pitch, formants, breathiness
and spectral tilt. ``make_speaker(seed)`` draws such a variant from a seed, so a corpus can have
any number of reproducible, audibly different speakers without downloading anything.

The library is process-global (one data folder, one voice at a time), so every call goes through
one lock and the library is initialised once per process. The bundled data folder is read-only
(site-packages), so the English parts of it are copied once to a cache folder where the voice
variant files are written.
"""
import ctypes
import hashlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from utils.audio import resample

ESPEAK_SAMPLE_RATE = 22050
# English accents shipped with eSpeak NG; a speaker keeps one, as a person keeps theirs.
# en-gb-scotland is left out: its samples depend on what the process synthesised before.
ENGLISH_ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-029", "en-us-nyc")
# The only parts of espeak-ng-data that English synthesis reads (about 2 MB of 19 MB).
_DATA_FILES = ("phontab", "phonindex", "phondata", "intonations", "en_dict")
_DATA_FOLDERS = ("lang", "voices")
_VARIANT_FOLDER = os.path.join("voices", "!v")
_VARIANT_PREFIX = "zoo"

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4


class TTSError(RuntimeError):
    """eSpeak NG could not be loaded or refused a request."""


@dataclass(frozen=True)
class Speaker:
    """One synthetic voice: an eSpeak NG accent plus a voice-variant file drawn from ``seed``.

    pitch_hz: (base, top) of the pitch contour in Hz.
    formants: 9 rows (formant 0..8) of (frequency %, strength %, width %) of eSpeak's defaults.
    tone: spectral tilt as (frequency Hz, amplitude 0-255) pairs, applied to voiced sounds.
    breath: noise strength per formant 1..8 (0 = none); consonants: fricative noise strength %.
    rate_wpm: speaking rate in words per minute.
    Flutter (pitch wobble) and roughness (creak) are always off: eSpeak keeps their phase across
    utterances and never resets it, so either makes the samples depend on the synthesis history.
    """
    seed: int
    gender: str
    accent: str
    pitch_hz: tuple
    formants: tuple
    tone: tuple
    breath: tuple
    consonants: int
    rate_wpm: int

    def voice_file_text(self):
        """The eSpeak NG voice-variant file (``voices/!v/NAME``) for this speaker."""
        lines = ["language variant", f"name zoo{self.seed}", f"gender {self.gender}",
                 f"pitch {self.pitch_hz[0]} {self.pitch_hz[1]}"]
        lines += [f"formant {index} {freq} {strength} {width}"
                  for index, (freq, strength, width) in enumerate(self.formants)]
        lines.append("tone " + " ".join(f"{freq} {amp}" for freq, amp in self.tone))
        if any(self.breath):
            lines.append("breath " + " ".join(str(value) for value in self.breath))
        lines += ["flutter 0", "roughness 0",
                  f"consonants {self.consonants} {self.consonants}"]
        return "\n".join(lines) + "\n"



def make_speaker(seed, gender=None):
    """A deterministic random voice from an integer seed (same seed -> same voice).

    gender: "male" / "female", or None to draw it from the seed.
    """
    rng = np.random.default_rng([int(seed), 0x5EED])
    gender = gender or ("female" if rng.random() < 0.5 else "male")
    if gender not in ("male", "female"):
        raise ValueError(f"make_speaker: gender must be 'male' or 'female', got {gender!r}")
    female = gender == "female"
    base = int(rng.uniform(160, 240) if female else rng.uniform(75, 135))
    top = base + int(rng.uniform(40, 110) if female else rng.uniform(25, 70))
    # Vocal tracts differ mostly by length, which scales all formant frequencies together.
    tract_scale = rng.uniform(104, 118) if female else rng.uniform(88, 104)
    formants = [(int(rng.uniform(90, 110)), int(rng.uniform(80, 120)), int(rng.uniform(80, 130)))]
    for _ in range(1, 9):
        formants.append((int(tract_scale + rng.uniform(-4, 4)), int(rng.uniform(70, 120)),
                         int(rng.uniform(70, 160))))
    tone = tuple((freq, int(rng.uniform(60, 255))) for freq in (500, 1200, 2200, 3500))
    breathy = rng.random() < 0.35
    breath = tuple(int(rng.uniform(0, 6)) if breathy else 0 for _ in range(8))
    return Speaker(seed=int(seed), gender=gender, accent=str(rng.choice(ENGLISH_ACCENTS)),
                   pitch_hz=(base, top), formants=tuple(formants), tone=tone, breath=breath,
                   consonants=int(rng.uniform(80, 125)), rate_wpm=int(rng.uniform(145, 195)))


def default_cache_dir():
    """Per-user folder holding the copied eSpeak NG data and the voice variants."""
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"speech_zoo_espeak_{user}")


def _prepare_data_dir(cache_dir):
    """Copy the English parts of the bundled espeak-ng-data into cache_dir (once; atomic, so two
    processes preparing it at the same time both end with a complete copy)."""
    import espeakng_loader
    data_dir = os.path.join(os.path.abspath(cache_dir), "espeak-ng-data")
    if os.path.isfile(os.path.join(data_dir, "phontab")):
        return data_dir
    source = espeakng_loader.get_data_path()
    os.makedirs(cache_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="espeak-ng-data.", dir=cache_dir)
    for name in _DATA_FILES:
        shutil.copy2(os.path.join(source, name), staging)
    for name in _DATA_FOLDERS:
        # eSpeak lists every voice file on the first voice change (and warns past 350 of them):
        # the bundled variants are not needed, only ours go into voices/!v.
        shutil.copytree(os.path.join(source, name), os.path.join(staging, name),
                        ignore=lambda folder, names: names if folder.endswith("!v") else [])
    try:
        os.rename(staging, data_dir)
    except OSError:  # another process won the race: its copy is as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return data_dir


class _Engine:
    """The process-wide eSpeak NG instance (the C library keeps one global state)."""
    lock = threading.Lock()
    lib = None
    data_dir = None
    callback = None
    chunks = []
    variant_text = None  # content of this process's variant file, to skip identical rewrites

    @classmethod
    def start(cls, data_dir):
        if cls.lib is not None:
            return cls.data_dir
        import espeakng_loader
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as error:
            raise TTSError(f"cannot load libespeak-ng from espeakng-loader: {error}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, data_dir.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate != ESPEAK_SAMPLE_RATE:
            raise TTSError(f"espeak_Initialize({data_dir}) failed (returned {rate})")
        chunk_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                      ctypes.c_void_p)
        # Kept on the class: ctypes frees a callback whose Python object is garbage collected.
        cls.callback = chunk_type(cls._collect)
        lib.espeak_SetSynthCallback(cls.callback)
        cls.lib, cls.data_dir = lib, data_dir
        return data_dir

    @classmethod
    def _collect(cls, samples, count, _events):
        if count > 0 and samples:
            cls.chunks.append(ctypes.string_at(samples, count * 2))
        return 0


_LIBC = ctypes.CDLL(None)


class Synthesizer:
    """Text -> waveform for ``Speaker`` voices.

    cache_dir: where the eSpeak NG data copy and voice variants live (default: a per-user temp
    folder). The first Synthesizer of a process fixes the data folder for the whole process;
    later ones with another cache_dir share it (the C library cannot be re-pointed).
    """

    def __init__(self, cache_dir=None):
        with _Engine.lock:
            requested = _prepare_data_dir(cache_dir or default_cache_dir())
            self.data_dir = _Engine.start(requested)
            _remove_dead_variants(os.path.join(self.data_dir, _VARIANT_FOLDER))

    def _write_variant(self, speaker):
        """Write ``speaker`` into this process's variant file (eSpeak re-reads it on every voice
        change). One file per process, not per speaker, keeps eSpeak's voice list short and lets
        processes sharing the cache never overwrite each other's voice."""
        name = f"{_VARIANT_PREFIX}{os.getpid()}"
        text = speaker.voice_file_text()
        if _Engine.variant_text != (name, text):
            with open(os.path.join(self.data_dir, _VARIANT_FOLDER, name), "w") as handle:
                handle.write(text)
            _Engine.variant_text = (name, text)
        return name

    def synthesize(self, text, speaker, sample_rate=16000, trim_silence_s=0.1):
        """Speak ``text`` with ``speaker``.

        sample_rate: output rate in Hz (eSpeak renders at 22050 Hz, then resampled).
        trim_silence_s: leading/trailing silence kept, in seconds (eSpeak pads generously).
        Returns float32 [T] in [-1, 1]. Same (text, speaker) -> same samples.
        """
        if not text or not text.strip():
            raise ValueError("Synthesizer.synthesize: text is empty")
        lib = _Engine.lib
        with _Engine.lock:
            variant = self._write_variant(speaker)
            if lib.espeak_SetVoiceByName(f"{speaker.accent}+{variant}".encode()) != 0:
                raise TTSError(f"espeak_SetVoiceByName({speaker.accent}+{variant}) failed "
                               f"(variant file in {self.data_dir})")
            lib.espeak_SetParameter(_PARAM_RATE, speaker.rate_wpm, 0)
            lib.espeak_SetParameter(_PARAM_VOLUME, 100, 0)
            lib.espeak_SetParameter(_PARAM_PITCH, 50, 0)
            lib.espeak_SetParameter(_PARAM_RANGE, 50, 0)
            # Breath and consonant noise come from eSpeak's own generator and libc
            # rand(): seed both per utterance so the samples do not depend on what this process
            # synthesised before (a pool worker's history is arbitrary).
            digest = hashlib.sha1(f"{speaker.seed}|{text}".encode()).digest()
            noise_seed = int.from_bytes(digest[:4], "little")
            lib.espeak_ng_SetRandSeed(ctypes.c_long(noise_seed))
            _LIBC.srand(ctypes.c_uint(noise_seed))
            _Engine.chunks.clear()
            encoded = text.encode("utf-8")
            status = lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8,
                                      None, None)
            pcm = b"".join(_Engine.chunks)
            _Engine.chunks.clear()
        if status != 0 or not pcm:
            raise TTSError(f"espeak_Synth failed (status {status}) for text {text[:60]!r}")
        wave = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        wave = _trim(wave, int(trim_silence_s * ESPEAK_SAMPLE_RATE))
        return resample(wave, ESPEAK_SAMPLE_RATE, sample_rate).astype(np.float32)


def _remove_dead_variants(folder):
    """Delete variant files of processes that are gone (pool workers exit without clean-up)."""
    for name in os.listdir(folder):
        pid = name[len(_VARIANT_PREFIX):]
        ours_alive = name.startswith(_VARIANT_PREFIX) and pid.isdigit() and _process_alive(int(pid))
        if not ours_alive:
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def _trim(wave, margin):
    """Cut silence beyond ``margin`` samples at both ends (silence: below 1% of the peak)."""
    loud = np.flatnonzero(np.abs(wave) > 0.01 * np.abs(wave).max())
    if loud.size == 0:
        return wave
    return wave[max(0, loud[0] - margin):loud[-1] + 1 + margin]
