"""Tiny synthetic speech corpora laid out exactly like the real datasets.

The models' data readers, scripts and tests run on these in seconds, and then on the real
corpora unchanged. Everything is synthesised (eSpeak NG voices from ``utils.tts``, numpy noise,
music and room impulse responses) and is a pure function of the seed.

    python -m utils.tiny_corpora --out DIR [--seed S] [--only librimix voxceleb ...]

Layouts written under DIR (see ``build_corpora``):
    Libri2Mix/wav8k/min/{train-100,dev,test}/{mix_clean,s1,s2}/<utt1>_<utt2>.wav
    Libri2Mix/wav8k/min/metadata/mixture_{split}_mix_clean.csv
    LibriSpeech/{train-clean-100,dev-clean,test-clean}/<spk>/<chapter>/<spk>-<chapter>-NNNN.flac
    VoxCeleb1/{dev,test}/wav/idNNNNN/<video>/NNNNN.wav, VoxCeleb1/veri_test2.txt, dev_trials.txt
    musan/{noise/free-sound,music/fma,speech/librivox}/*.wav
    RIRS_NOISES/simulated_rirs/{small,medium,large}room/RoomNNN/RoomNNN-NNNNN.wav (+ rir_list)

All audio is 16-bit PCM. Libri2Mix sources are quantised before they are summed, so the
mixture read back equals s1 + s2 exactly (not just within quantisation noise).
"""
import argparse
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import time

import numpy as np
import soundfile
from scipy.fft import next_fast_len
from scipy.signal import butter, fftconvolve, sosfilt
from tqdm import tqdm

from utils.audio import resample
from utils.tts import Synthesizer, make_speaker

CORPORA = ("librimix", "librispeech", "voxceleb", "musan", "rirs")

# ----------------------------------------------------------------------------------------------
# Sentences: a few clause templates over ~600 common words, spoken with a period and transcribed
# in upper case without punctuation (LibriSpeech style).
_NOUNS = """time year way day man thing woman life child world school family student group
country problem hand place week company system question work number night point home water room
mother area money story month book eye job word business side head house friend father power hour
game line member car city name team minute idea body information parent face level office door
person art history party morning reason girl boy moment air teacher education foot age music
market plan college interest experience class field heart show leader light voice wife police
mind price report son town road arm building model season director player record paper ground
event matter center couple project table street picture piece land doctor wall patient worker
news movie baby computer film tree window garden river bridge island mountain forest village
kitchen bottle basket letter ticket letterbox horse dog cat bird fish chair bed box bag coat hat
shirt shoe glass cup plate spoon knife bread cheese apple orange lemon cake soup tea coffee milk
egg chicken farm field stone rock sand beach wave ship boat train plane bus bicycle key lock clock
lamp candle map flag song poem pencil pen desk shelf floor roof gate fence hill lake sky cloud
rain snow wind storm sun moon star summer winter autumn spring evening afternoon weekend holiday
birthday dinner lunch breakfast market shop bank library museum church hospital station hotel
restaurant camera radio phone guitar piano drum ball rope ladder hammer nail wheel engine""".split()
_ADJECTIVES = """good new old long great little big high small large young early late hard strong
free full special easy clear certain open red difficult short single wrong private foreign fine
common poor natural similar hot happy serious ready simple blue dark close cold final green nice
huge popular quiet warm bright heavy soft gentle brave calm careful clever empty famous friendly
funny gray kind lazy lucky narrow proud quick rich sharp slow smooth strange sweet tall thick thin
tiny wet wild wise yellow brown white black golden silver wooden broken clean dirty busy tired
hungry angry cheerful polite loud fresh ancient modern deep shallow""".split()
_VERBS_TRANSITIVE = """found took made saw gave told kept held brought wrote read bought sold built
carried painted opened closed cleaned watched visited helped moved pushed pulled washed cooked ate
drank caught threw dropped lifted covered filled followed reached touched passed turned used
needed wanted loved liked called asked answered noticed remembered forgot chose broke fixed fed
met taught learned studied changed checked counted designed described discovered dried enjoyed
explained finished folded guarded hid joined kicked marked mended named ordered packed picked
planted played printed raised rescued returned sent shared signed sorted spotted stopped tied
tested trusted wrapped""".split()
_VERBS_INTRANSITIVE = """waited smiled laughed arrived stayed slept walked ran jumped danced sang
shouted worked rested travelled swam listened paused cried agreed hurried wandered whispered
appeared vanished nodded climbed shivered frowned sighed""".split()
_VERBS_BASE = """find take make see give tell keep hold bring write buy sell build carry open close
clean watch visit help move push pull wash cook eat drink catch throw drop lift cover fill follow
reach touch pass use need want love like call ask answer notice remember forget choose break fix
meet teach learn change check""".split()
_NEGATIONS = "didn't couldn't wouldn't won't can't shouldn't".split()
_ADVERBS = """quickly slowly quietly loudly happily sadly carefully suddenly softly gently early
often never always sometimes usually rarely again soon today yesterday tomorrow nearly almost
really here there""".split()
_PREPOSITIONS = """in on under over near behind beside across through into from with without
after before during around above below between inside outside along toward""".split()
_NAMES = """john mary james anna peter susan david emma robert lucy thomas grace henry alice george
clara edward helen frank laura william rose arthur ellen charles kate oliver nora samuel ruth
walter julia""".split()
_PRONOUNS = "he she they we i you".split()
_DETERMINERS = "the a this that my his her our their every some one another each".split()
_NUMBERS = "one two three four five six seven eight nine ten eleven twelve".split()
_CONJUNCTIONS = "and but so because while when".split()
_TIME_PHRASES = ["in the morning", "last night", "next week", "after dinner", "before lunch",
                 "on monday", "on friday", "this evening", "every day"]

VOCABULARY = frozenset(
    _NOUNS + _ADJECTIVES + _VERBS_TRANSITIVE + _VERBS_INTRANSITIVE + _VERBS_BASE + _NEGATIONS
    + _ADVERBS + _PREPOSITIONS + _NAMES + _PRONOUNS + _DETERMINERS + _NUMBERS + _CONJUNCTIONS
    + ["at", "o'clock"] + " ".join(_TIME_PHRASES).split())


def _pick(rng, words):
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng):
    words = [_pick(rng, _DETERMINERS)]
    if rng.random() < 0.5:
        words.append(_pick(rng, _ADJECTIVES))
    return words + [_pick(rng, _NOUNS)]


def _subject(rng):
    draw = rng.random()
    if draw < 0.3:
        return [_pick(rng, _NAMES)]
    return [_pick(rng, _PRONOUNS)] if draw < 0.6 else _noun_phrase(rng)


def _clause(rng):
    kind = int(rng.integers(4))
    words = _subject(rng)
    if kind == 0:
        words += [_pick(rng, _VERBS_TRANSITIVE)] + _noun_phrase(rng)
    elif kind == 1:
        words.append(_pick(rng, _VERBS_INTRANSITIVE))
        if rng.random() < 0.5:
            words.append(_pick(rng, _ADVERBS))
    elif kind == 2:
        words += [_pick(rng, _NEGATIONS), _pick(rng, _VERBS_BASE)] + _noun_phrase(rng)
    else:
        words.append(_pick(rng, _VERBS_INTRANSITIVE))
    if rng.random() < 0.4:
        words += [_pick(rng, _PREPOSITIONS)] + _noun_phrase(rng)
    if rng.random() < 0.15:
        words += (["at", _pick(rng, _NUMBERS), "o'clock"] if rng.random() < 0.5
                  else _pick(rng, _TIME_PHRASES).split())
    return words


def make_sentence(rng, num_words):
    """A grammatical lower-case sentence of about ``num_words`` words (no punctuation).

    rng: numpy Generator. Clauses are joined by conjunctions; one that would overshoot the
    length by more than a word is redrawn, so the result is within [num_words - 1, num_words + 1]
    for num_words >= 3 (the shortest clause has two words).
    """
    words = []
    for _ in range(100):
        if len(words) >= num_words - 1:
            break
        clause = ([_pick(rng, _CONJUNCTIONS)] if words else []) + _clause(rng)
        if len(words) + len(clause) <= num_words + 1:
            words += clause
    return " ".join(words)


def transcript_of(sentence):
    """LibriSpeech transcript: upper case letters, apostrophes and single spaces."""
    return " ".join(sentence.upper().split())


# ----------------------------------------------------------------------------------------------
# Signal helpers shared by the corpora.

def coloured_noise(rng, colour, num_samples):
    """Unit-RMS noise [num_samples] with a 1/f^a power spectrum: white a=0, pink a=1, brown a=2."""
    exponent = {"white": 0.0, "pink": 1.0, "brown": 2.0}[colour]
    size = next_fast_len(num_samples, real=True)  # an FFT of a prime length is 100x slower
    spectrum = np.fft.rfft(rng.standard_normal(size))
    frequency = np.arange(spectrum.size, dtype=np.float64)
    frequency[0] = 1.0
    wave = np.fft.irfft(spectrum / frequency ** (exponent / 2), size)[:num_samples]
    wave -= wave.mean()
    return (wave / (np.sqrt(np.mean(wave ** 2)) + 1e-12)).astype(np.float32)


def synthetic_rir(rng, rt60_s, sample_rate):
    """Room impulse response [T]: a direct-path spike, a few early reflections, then noise decaying
    by 60 dB over ``rt60_s`` seconds (T = 1.2 rt60 + the pre-delay). Peak is 1."""
    pre_delay = int(rng.uniform(0.001, 0.004) * sample_rate)
    length = pre_delay + int(1.2 * rt60_s * sample_rate)
    time_s = np.arange(length - pre_delay) / sample_rate
    tail = rng.standard_normal(time_s.size) * np.exp(-math.log(1000.0) * time_s / rt60_s)
    rir = np.zeros(length)
    rir[pre_delay:] = 0.1 * tail  # direct-to-reverberant ratio -4 dB (small) to -10 dB (large room)
    for _ in range(6):
        position = pre_delay + int(rng.uniform(0.002, 0.03) * sample_rate)
        if position < length:
            rir[position] += rng.uniform(-0.6, 0.6) * math.exp(-6.9 * (position - pre_delay)
                                                               / sample_rate / rt60_s)
    rir[pre_delay] = 1.0
    return (rir / np.abs(rir).max()).astype(np.float32)


def _to_int16(wave):
    return np.clip(np.round(np.asarray(wave, dtype=np.float64) * 32768.0), -32768, 32767).astype(
        np.int16)


def _write_pcm16(path, samples, sample_rate):
    """Write int16 samples (or a float wave, quantised) as 16-bit wav/flac; creates folders.

    Encoded in memory first: libsndfile fsyncs every file it closes, which costs ~5 ms per
    file, longer than encoding it."""
    samples = samples if samples.dtype == np.int16 else _to_int16(samples)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    encoded = io.BytesIO()
    soundfile.write(encoded, samples, sample_rate, subtype="PCM_16",
                    format=os.path.splitext(path)[1][1:].upper())
    with open(path, "wb") as handle:
        handle.write(encoded.getvalue())
    return samples


def _peak_normalise(wave, peak):
    return (wave * (peak / (np.abs(wave).max() + 1e-12))).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Jobs run in the worker pool: each is a pure function of its arguments (its own seeds), so
# the files do not depend on which worker ran it or in what order.

_SYNTHESIZER = None


def _init_worker(cache_dir):
    global _SYNTHESIZER
    _SYNTHESIZER = Synthesizer(cache_dir)


def _run_job(job):
    function, arguments = job
    return globals()[function](**arguments)


def _speak_sentence(rng, speaker, num_words, sample_rate):
    text = make_sentence(rng, max(2, num_words))
    return text, _SYNTHESIZER.synthesize(text, speaker, sample_rate)


def _librispeech_utterance(speaker, job_seed, flac_path, min_s=1.5, max_s=4.0):
    """Synthesise one 16 kHz utterance of min_s..max_s seconds; write it when flac_path is set.
    Returns (transcript, seconds, its 8 kHz version float32 [T/2] for Libri2Mix). The 8 kHz
    version is made from the 16-bit samples, as LibriMix makes it from the flac files."""
    rng = np.random.default_rng(job_seed)
    target_s = rng.uniform(min_s + 0.15, max_s - 0.3)
    words_per_s = speaker.rate_wpm / 60.0
    for _ in range(12):
        text, wave = _speak_sentence(rng, speaker, round(target_s * words_per_s), 16000)
        duration = wave.size / 16000
        if min_s <= duration <= max_s:
            break
        words_per_s *= (target_s / duration) ** 0.7  # damped, so the retries do not oscillate
    else:
        raise RuntimeError(f"{flac_path}: no sentence of {min_s}-{max_s} s after 12 tries")
    samples = _write_pcm16(flac_path, wave, 16000) if flac_path else _to_int16(wave)
    return (transcript_of(text), samples.size / 16000,
            resample(samples.astype(np.float32) / 32768.0, 16000, 8000))


def _channel(rng, sample_rate):
    """A recording channel (one per VoxCeleb 'video'): a filter, a noise floor, maybe a room."""
    kind = _pick(rng, ["lowpass", "highpass", "bandpass", "flat"])
    nyquist = sample_rate / 2
    if kind == "lowpass":
        sos = butter(4, rng.uniform(2800, 6500) / nyquist, "lowpass", output="sos")
    elif kind == "highpass":
        sos = butter(2, rng.uniform(120, 500) / nyquist, "highpass", output="sos")
    elif kind == "bandpass":
        sos = butter(2, [rng.uniform(200, 400) / nyquist, rng.uniform(3200, 5000) / nyquist],
                     "bandpass", output="sos")
    else:
        sos = None
    rir = synthetic_rir(rng, rng.uniform(0.15, 0.5), sample_rate) if rng.random() < 0.6 else None
    return {"sos": sos, "rir": rir, "noise": _pick(rng, ["white", "pink", "brown"]),
            "snr_db": rng.uniform(15, 35), "peak": rng.uniform(0.3, 0.9)}


def _voxceleb_utterance(speaker, channel_seed, job_seed, wav_path, min_s=2.0, max_s=6.0):
    """One 16 kHz VoxCeleb-style utterance through its video's channel. Returns seconds."""
    channel = _channel(np.random.default_rng(channel_seed), 16000)
    rng = np.random.default_rng(job_seed)
    target = int(rng.uniform(min_s, max_s) * 16000)
    words_per_s = speaker.rate_wpm / 60.0
    text, wave = _speak_sentence(rng, speaker, math.ceil(target / 16000 * words_per_s) + 3, 16000)
    while wave.size < target:  # speech came out slower than the rate promised: say more
        more = _SYNTHESIZER.synthesize(make_sentence(rng, 6), speaker, 16000)
        wave = np.concatenate([wave, more])
    wave = wave[:target]
    if channel["rir"] is not None:
        wave = fftconvolve(wave, channel["rir"])[:target]
    if channel["sos"] is not None:
        wave = sosfilt(channel["sos"], wave)
    speech_rms = np.sqrt(np.mean(wave ** 2))
    wave = wave + coloured_noise(rng, channel["noise"], target) * speech_rms * 10 ** (
        -channel["snr_db"] / 20)
    _write_pcm16(wav_path, _peak_normalise(wave, channel["peak"]), 16000)
    return target / 16000


def _musan_noise(colour, job_seed, wav_path):
    rng = np.random.default_rng(job_seed)
    wave = coloured_noise(rng, colour, int(rng.uniform(3.0, 6.0) * 16000))
    _write_pcm16(wav_path, _peak_normalise(wave, rng.uniform(0.3, 0.8)), 16000)
    return wave.size / 16000


def _musan_music(job_seed, wav_path, sample_rate=16000):
    """Chords of harmonic notes with attack/decay envelopes: tonal, music-like interference."""
    rng = np.random.default_rng(job_seed)
    total = int(rng.uniform(3.0, 6.0) * sample_rate)
    wave = np.zeros(total)
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) + int(rng.integers(48, 60))  # a major key (MIDI)
    beat = int(rng.uniform(0.25, 0.6) * sample_rate)
    for start in range(0, total, beat):
        length = min(beat * int(rng.integers(1, 4)), total - start)
        time_s = np.arange(length) / sample_rate
        envelope = np.minimum(time_s / 0.01, 1.0) * np.exp(-time_s * rng.uniform(2, 8))
        for note in rng.choice(scale, size=int(rng.integers(1, 4)), replace=False):
            frequency = 440.0 * 2 ** ((note + 12 * int(rng.integers(0, 2)) - 69) / 12)
            for harmonic in range(1, 5):
                if harmonic * frequency < sample_rate / 2:
                    wave[start:start + length] += (envelope * np.sin(
                        2 * np.pi * harmonic * frequency * time_s) / harmonic ** 1.5)
    _write_pcm16(wav_path, _peak_normalise(wave, rng.uniform(0.3, 0.8)), sample_rate)
    return total / sample_rate


def _musan_babble(speakers, job_seed, wav_path):
    """Several synthetic talkers at once (babble), each starting at a random offset."""
    rng = np.random.default_rng(job_seed)
    total = int(rng.uniform(3.0, 6.0) * 16000)
    wave = np.zeros(total)
    for speaker in speakers:
        offset = int(rng.integers(0, 16000))
        _, speech = _speak_sentence(rng, speaker, math.ceil(total / 16000 * 3.5), 16000)
        speech = speech[:total - offset]
        gain = 10 ** (rng.uniform(-4, 4) / 20) / (np.sqrt(np.mean(speech ** 2)) + 1e-9)
        wave[offset:offset + speech.size] += gain * speech
    _write_pcm16(wav_path, _peak_normalise(wave, rng.uniform(0.3, 0.8)), 16000)
    return total / 16000


def _room_rir(rt60_s, job_seed, wav_path):
    wave = synthetic_rir(np.random.default_rng(job_seed), rt60_s, 16000)
    _write_pcm16(wav_path, wave * 0.9, 16000)
    return wave.size / 16000


# ----------------------------------------------------------------------------------------------
# Corpus plans (run in the parent: cheap bookkeeping only).

LIBRISPEECH_SPLITS = {"train-clean-100": (25, 13), "dev-clean": (5, 8), "test-clean": (5, 8)}
LIBRIMIX_SPLITS = {"train-100": ("train-clean-100", 200), "dev": ("dev-clean", 50),
                   "test": ("test-clean", 50)}
VOXCELEB_SPLITS = {"dev": (10001, 40, (2, 3)), "test": (10270, 12, (3, 3))}
VIDEOS_PER_SPEAKER = 3
TRIALS_PER_LIST = 400
ROOM_RT60_S = {"smallroom": (0.15, 0.35), "mediumroom": (0.35, 0.7), "largeroom": (0.7, 1.2)}
_VIDEO_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Speaker seeds: seed * _SPEAKER_STRIDE + a per-corpus offset, so no two corpora share a voice.
_SPEAKER_STRIDE = 100_000
_SPEAKER_OFFSETS = {"librispeech": 0, "voxceleb": 10_000, "musan": 20_000}


def _speaker(seed, corpus, index):
    return make_speaker(seed * _SPEAKER_STRIDE + _SPEAKER_OFFSETS[corpus] + index,
                        gender="female" if index % 2 else "male")


def _job_seed(seed, *identity):
    """Seed words for one job: the corpus seed and a digest of the job's identity (a stable hash;
    Python's hash() of a str changes between processes)."""
    digest = hashlib.sha1("/".join(map(str, identity)).encode()).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def _plan_librispeech(out_dir, seed, write_files):
    """Jobs and bookkeeping for LibriSpeech: per split, speakers with 1-2 chapters each."""
    rng = np.random.default_rng([seed, 1])
    num_speakers = sum(count for count, _ in LIBRISPEECH_SPLITS.values())
    speaker_ids = rng.choice(np.arange(19, 9000), size=num_speakers, replace=False)
    chapter_ids = rng.choice(np.arange(10000, 300000), size=2 * num_speakers, replace=False)
    utterances, jobs, speaker_index = [], [], 0
    for split, (count, per_speaker) in LIBRISPEECH_SPLITS.items():
        for _ in range(count):
            speaker = _speaker(seed, "librispeech", speaker_index)
            spk = int(speaker_ids[speaker_index])
            num_chapters = 2 if per_speaker > 8 else 1
            chapters = chapter_ids[2 * speaker_index: 2 * speaker_index + num_chapters]
            for number in range(per_speaker):
                chapter = int(chapters[number % len(chapters)])
                utt_id = f"{spk}-{chapter}-{number // len(chapters):04d}"
                folder = os.path.join(out_dir, "LibriSpeech", split, str(spk), str(chapter))
                utterances.append({"split": split, "speaker": spk, "chapter": chapter,
                                   "utt_id": utt_id, "folder": folder})
                jobs.append(("_librispeech_utterance", {
                    "speaker": speaker, "job_seed": _job_seed(seed, 1, utt_id),
                    "flac_path": os.path.join(folder, utt_id + ".flac") if write_files else None}))
            speaker_index += 1
    return utterances, jobs


def _write_transcripts(utterances):
    by_chapter = {}
    for utt in utterances:
        by_chapter.setdefault(utt["folder"], []).append(f"{utt['utt_id']} {utt['transcript']}")
    for folder, lines in by_chapter.items():
        speaker, chapter = folder.split(os.sep)[-2:]
        with open(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "w") as handle:
            handle.write("\n".join(sorted(lines)) + "\n")


def _pair_mixtures(rng, utterances, count):
    """``count`` distinct (i, j) pairs of utterances of different speakers, spreading usage."""
    usage = np.zeros(len(utterances))
    pairs = set()
    while len(pairs) < count:
        first = int(np.argmin(usage + rng.random(len(utterances))))
        others = [j for j, utt in enumerate(utterances)
                  if utt["speaker"] != utterances[first]["speaker"] and (first, j) not in pairs
                  and (j, first) not in pairs]
        second = others[int(np.argmin(usage[others] + rng.random(len(others))))]
        pairs.add((first, second))
        usage[[first, second]] += 1
    return sorted(pairs)


def _build_librimix(out_dir, seed, utterances, progress=True):
    """Mix pairs of LibriSpeech utterances at 8 kHz in 'min' mode. Returns (mixtures, seconds)."""
    root = os.path.join(out_dir, "Libri2Mix", "wav8k", "min")
    os.makedirs(os.path.join(root, "metadata"), exist_ok=True)
    rng = np.random.default_rng([seed, 2])
    total_samples, count = 0, 0
    for split, (source_split, num_mixtures) in LIBRIMIX_SPLITS.items():
        pool = [utt for utt in utterances if utt["split"] == source_split]
        rows = []
        pairs = _pair_mixtures(rng, pool, num_mixtures)
        for first, second in tqdm(pairs, desc=f"librimix {split}", disable=not progress):
            sources = [pool[k]["wave_8k"] for k in (first, second)]
            length = min(source.size for source in sources)
            level_db = rng.uniform(-30, -22)
            gains_db = (level_db, level_db + rng.uniform(-5, 5))
            sources = [source[:length] * 10 ** (gain / 20) / (np.sqrt(np.mean(source ** 2)) + 1e-9)
                       for source, gain in zip(sources, gains_db)]
            peak = np.abs(sources[0] + sources[1]).max()
            if peak > 0.9:  # peak-safe: scale both so neither the mixture nor a source clips
                sources = [source * 0.9 / peak for source in sources]
            quantised = [_to_int16(source).astype(np.int32) for source in sources]
            mixture = (quantised[0] + quantised[1]).astype(np.int16)
            mixture_id = f"{pool[first]['utt_id']}_{pool[second]['utt_id']}"
            paths = [os.path.join(root, split, folder, mixture_id + ".wav")
                     for folder in ("mix_clean", "s1", "s2")]
            for path, samples in zip(paths, (mixture, *quantised)):
                _write_pcm16(path, samples.astype(np.int16), 8000)
            rows.append([mixture_id, *paths, length])
            total_samples += length
            count += 1
        with open(os.path.join(root, "metadata", f"mixture_{split}_mix_clean.csv"), "w",
                  newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path",
                             "length"])
            writer.writerows(rows)
    return count, total_samples / 8000


def _video_id(rng):
    return "".join(_VIDEO_ID_ALPHABET[k] for k in rng.integers(len(_VIDEO_ID_ALPHABET), size=11))


def _plan_voxceleb(out_dir, seed):
    rng = np.random.default_rng([seed, 3])
    files, jobs, speaker_index = {}, [], 0
    for split, (first_id, count, (min_utts, max_utts)) in VOXCELEB_SPLITS.items():
        files[split] = []
        for number in range(count):
            speaker = _speaker(seed, "voxceleb", speaker_index)
            voxceleb_id = f"id{first_id + number:05d}"
            for video_index in range(VIDEOS_PER_SPEAKER):
                video = _video_id(rng)
                for utt in range(int(rng.integers(min_utts, max_utts + 1))):
                    relative = f"{voxceleb_id}/{video}/{utt + 1:05d}.wav"
                    files[split].append(relative)
                    jobs.append(("_voxceleb_utterance", {
                        "speaker": speaker,
                        "channel_seed": _job_seed(seed, 3, speaker_index, video_index),
                        "job_seed": _job_seed(seed, 4, relative),
                        "wav_path": os.path.join(out_dir, "VoxCeleb1", split, "wav", relative)}))
            speaker_index += 1
    return files, jobs


def make_trials(rng, files, num_trials):
    """Balanced verification trials over ``files`` ("idNNNNN/<video>/NNNNN.wav" paths).

    Targets pair two files of one speaker from different videos when enough exist (as
    veri_test2 mostly does); non-targets pair files of two speakers. No pair repeats and no file
    is paired with itself. Returns lines "1|0 path1 path2" in random order.
    """
    speaker_of = [path.split("/")[0] for path in files]
    video_of = [path.split("/")[1] for path in files]
    same_speaker = [(i, j) for i in range(len(files)) for j in range(i + 1, len(files))
                    if speaker_of[i] == speaker_of[j]]
    cross_video = [pair for pair in same_speaker if video_of[pair[0]] != video_of[pair[1]]]
    candidates = cross_video if len(cross_video) >= num_trials // 2 else same_speaker
    if len(candidates) < num_trials // 2:
        raise ValueError(f"make_trials: only {len(candidates)} target pairs for "
                         f"{num_trials // 2} target trials; add utterances or speakers")
    targets = [candidates[k] for k in rng.choice(len(candidates), num_trials // 2, replace=False)]
    non_targets = set()
    while len(non_targets) < num_trials - len(targets):
        i, j = sorted(rng.choice(len(files), 2, replace=False).tolist())
        if speaker_of[i] != speaker_of[j]:
            non_targets.add((i, j))
    lines = [f"1 {files[i]} {files[j]}" for i, j in targets]
    lines += [f"0 {files[i]} {files[j]}" for i, j in sorted(non_targets)]
    return [lines[k] for k in rng.permutation(len(lines))]


def _plan_musan(out_dir, seed):
    root = os.path.join(out_dir, "musan")
    jobs = []
    for number, colour in enumerate(["white", "pink", "brown"] * 2):
        jobs.append(("_musan_noise", {
            "colour": colour, "job_seed": _job_seed(seed, 5, number),
            "wav_path": os.path.join(root, "noise", "free-sound",
                                     f"noise-free-sound-{number:04d}.wav")}))
    for number in range(6):
        jobs.append(("_musan_music", {
            "job_seed": _job_seed(seed, 6, number),
            "wav_path": os.path.join(root, "music", "fma", f"music-fma-{number:04d}.wav")}))
    rng = np.random.default_rng([seed, 7])
    for number in range(4):
        talkers = [_speaker(seed, "musan", 8 * number + k) for k in range(int(rng.integers(3, 7)))]
        jobs.append(("_musan_babble", {
            "speakers": talkers, "job_seed": _job_seed(seed, 7, number),
            "wav_path": os.path.join(root, "speech", "librivox",
                                     f"speech-librivox-{number:04d}.wav")}))
    return jobs


def _plan_rirs(out_dir, seed, rooms_per_size=2, rirs_per_room=3):
    rng = np.random.default_rng([seed, 8])
    jobs, lists = [], {}
    for size, (low, high) in ROOM_RT60_S.items():
        lists[size] = []
        for room in range(1, rooms_per_size + 1):
            rt60_s = rng.uniform(low, high)  # one reverberation time per room, as in a real room
            for number in range(1, rirs_per_room + 1):
                relative = (f"RIRS_NOISES/simulated_rirs/{size}/Room{room:03d}/"
                            f"Room{room:03d}-{number:05d}.wav")
                lists[size].append(f"--rir-id {size}-Room{room:03d}-{number:05d} "
                                   f"--room-id {size}-Room{room:03d} {relative}")
                jobs.append(("_room_rir", {"rt60_s": rt60_s,
                                           "job_seed": _job_seed(seed, 8, relative),
                                           "wav_path": os.path.join(out_dir, relative)}))
    return jobs, lists


# ----------------------------------------------------------------------------------------------

def _parse_only(only):
    if only is None:
        return list(CORPORA)
    names = [name.strip().lower() for item in ([only] if isinstance(only, str) else only)
             for name in str(item).split(",") if name.strip()]
    unknown = sorted(set(names) - set(CORPORA))
    if unknown or not names:
        raise ValueError(f"tiny_corpora: unknown corpus {unknown or only!r}; choose from "
                         f"{', '.join(CORPORA)}")
    return [name for name in CORPORA if name in names]


def build_corpora(out_dir, seed=0, only=None, workers=2, cache_dir=None, progress=True):
    """Build the tiny corpora under ``out_dir`` and return the summary (also in summary.json).

    seed: same seed -> byte-identical audio and lists (CSV paths are absolute, so they also
    depend on out_dir, as the real LibriMix metadata does).
    only: names (or a comma-separated string) from CORPORA; None builds all.
    workers: processes synthesising in parallel (1 runs everything in this process).
    cache_dir: eSpeak NG data and voice cache (default: utils.tts.default_cache_dir()).
    Returns {"seed", "out_dir", "total_seconds", corpus: {"files", "hours", "build_seconds", ...}}.
    """
    selected = _parse_only(only)
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    summary = {"seed": int(seed), "out_dir": out_dir}
    if workers > 1:
        # spawn, not fork: the caller may hold threads (MindSpore, BLAS) that fork would break.
        pool = multiprocessing.get_context("spawn").Pool(workers, _init_worker, (cache_dir,))
        run = pool.imap
    else:
        _init_worker(cache_dir)
        pool, run = None, map

    def run_jobs(name, jobs):
        return list(tqdm(run(_run_job, jobs), total=len(jobs), desc=name, disable=not progress))

    try:
        if "librispeech" in selected or "librimix" in selected:
            clock = time.time()
            utterances, jobs = _plan_librispeech(out_dir, seed, "librispeech" in selected)
            for utt, result in zip(utterances, run_jobs("librispeech", jobs)):
                utt.update(zip(("transcript", "seconds", "wave_8k"), result))
            if "librispeech" in selected:
                _write_transcripts(utterances)
                summary["librispeech"] = {
                    "files": len(utterances),
                    "speakers": {split: len({u["speaker"] for u in utterances
                                             if u["split"] == split})
                                 for split in LIBRISPEECH_SPLITS},
                    "hours": sum(u["seconds"] for u in utterances) / 3600,
                    "build_seconds": time.time() - clock}
            if "librimix" in selected:
                clock = time.time()
                count, seconds = _build_librimix(out_dir, seed, utterances, progress)
                summary["librimix"] = {"files": count, "hours": seconds / 3600,
                                       "build_seconds": time.time() - clock}
        if "voxceleb" in selected:
            clock = time.time()
            files, jobs = _plan_voxceleb(out_dir, seed)
            seconds = sum(run_jobs("voxceleb", jobs))
            rng = np.random.default_rng([seed, 9])
            for name, split in (("veri_test2.txt", "test"), ("dev_trials.txt", "dev")):
                with open(os.path.join(out_dir, "VoxCeleb1", name), "w") as handle:
                    handle.write("\n".join(make_trials(rng, files[split], TRIALS_PER_LIST)) + "\n")
            summary["voxceleb"] = {"files": sum(map(len, files.values())), "hours": seconds / 3600,
                                   "speakers": {split: len({p.split("/")[0] for p in paths})
                                                for split, paths in files.items()},
                                   "trials": TRIALS_PER_LIST, "build_seconds": time.time() - clock}
        if "musan" in selected:
            clock = time.time()
            jobs = _plan_musan(out_dir, seed)
            seconds = sum(run_jobs("musan", jobs))
            summary["musan"] = {"files": len(jobs), "hours": seconds / 3600,
                                "build_seconds": time.time() - clock}
        if "rirs" in selected:
            clock = time.time()
            jobs, lists = _plan_rirs(out_dir, seed)
            seconds = sum(run_jobs("rirs", jobs))
            for size, lines in lists.items():
                with open(os.path.join(out_dir, "RIRS_NOISES", "simulated_rirs", size, "rir_list"),
                          "w") as handle:
                    handle.write("\n".join(lines) + "\n")
            summary["rirs"] = {"files": len(jobs), "hours": seconds / 3600,
                               "build_seconds": time.time() - clock}
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    summary["total_seconds"] = time.time() - started
    with open(os.path.join(out_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def format_summary(summary):
    lines = [f"{'corpus':<12} {'files':>6} {'hours':>7} {'seconds':>8}"]
    for name in CORPORA:
        if name in summary:
            entry = summary[name]
            lines.append(f"{name:<12} {entry['files']:>6} {entry['hours']:>7.3f} "
                         f"{entry['build_seconds']:>8.1f}")
    lines.append(f"total {summary['total_seconds']:.1f} s -> {summary['out_dir']}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m utils.tiny_corpora",
        description="Build tiny synthetic LibriMix / LibriSpeech / VoxCeleb1 / MUSAN / RIRS_NOISES "
                    "corpora in the official folder layouts (deterministic from --seed).")
    parser.add_argument("--out", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="same seed -> identical files")
    parser.add_argument("--only", nargs="+", default=None, metavar="CORPUS",
                        help=f"build only these (space or comma separated): {', '.join(CORPORA)}")
    parser.add_argument("--workers", type=int, default=2, help="synthesis processes")
    parser.add_argument("--cache_dir", default=None, help="eSpeak NG data and voice cache folder")
    from utils.cli import add_debug_argument
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    try:
        only = _parse_only(args.only)
    except ValueError as error:
        parser.error(str(error))
    summary = build_corpora(args.out, seed=args.seed, only=only, workers=args.workers,
                            cache_dir=args.cache_dir)
    print(format_summary(summary))
    return summary


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
