"""utils/tiny_corpora.py: layouts, metadata, audio and determinism of the synthetic corpora.

One session-scoped build of every corpus (``tiny_corpora_build`` in tests/conftest.py, about 30 s
on 2 busy cores) feeds all the tests here and the models' end-to-end tests.
"""
import csv
import filecmp
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from tests.utils.test_tts import median_f0
from utils.tiny_corpora import (CORPORA, LIBRISPEECH_SPLITS, VOCABULARY, build_corpora,
                                coloured_noise, main, make_sentence)

BUILD_BUDGET_S = 60.0


@pytest.fixture(scope="session")
def corpora(tiny_corpora_build):
    return tiny_corpora_build


def _read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _files(root, suffix):
    return sorted(os.path.join(folder, name) for folder, _, names in os.walk(root)
                  for name in names if name.endswith(suffix))


@pytest.mark.slow
def test_build_fits_the_budget_and_writes_the_summary(corpora):
    root, summary, seconds = corpora
    assert seconds < BUILD_BUDGET_S, f"building the tiny corpora took {seconds:.1f} s"
    on_disk = json.load(open(os.path.join(root, "summary.json")))
    assert on_disk["seed"] == 0 and set(CORPORA) <= set(on_disk)
    assert on_disk["librimix"]["files"] == 300 and on_disk["voxceleb"]["trials"] == 400
    assert 0.1 < on_disk["librispeech"]["hours"] < 1.0


@pytest.mark.slow
def test_librimix_metadata_points_at_consistent_8k_mixtures(corpora):
    root = corpora[0]
    metadata = os.path.join(root, "Libri2Mix", "wav8k", "min", "metadata")
    for split, expected in (("train-100", 200), ("dev", 50), ("test", 50)):
        rows = _read_csv(os.path.join(metadata, f"mixture_{split}_mix_clean.csv"))
        assert list(rows[0]) == ["mixture_ID", "mixture_path", "source_1_path", "source_2_path",
                                 "length"]
        assert len(rows) == expected and len({row["mixture_ID"] for row in rows}) == expected
        for row in rows:
            waves = {}
            for column, folder in (("mixture_path", "mix_clean"), ("source_1_path", "s1"),
                                   ("source_2_path", "s2")):
                path = row[column]
                assert os.path.isabs(path) and path == os.path.join(
                    root, "Libri2Mix", "wav8k", "min", split, folder, row["mixture_ID"] + ".wav")
                waves[folder], rate = soundfile.read(path, dtype="int16")
                assert rate == 8000 and waves[folder].ndim == 1
                assert waves[folder].size == int(row["length"])
            # sources are quantised before summing: the mixture is s1 + s2 exactly
            total = waves["s1"].astype(np.int32) + waves["s2"].astype(np.int32)
            assert np.array_equal(waves["mix_clean"].astype(np.int32), total)
            assert 1.5 * 8000 <= int(row["length"]) <= 4.0 * 8000
            level_db = [10 * np.log10(np.mean(waves[s].astype(float) ** 2)) for s in ("s1", "s2")]
            assert abs(level_db[0] - level_db[1]) < 5.5  # sources within +-5 dB of each other
            assert np.abs(waves["mix_clean"]).max() < 32767 * 0.95  # peak-safe, no clipping
            utt1, utt2 = row["mixture_ID"].split("_")
            assert utt1.split("-")[0] != utt2.split("-")[0]  # two different speakers


def _librimix_speakers(root, split):
    rows = _read_csv(os.path.join(root, "Libri2Mix", "wav8k", "min", "metadata",
                                  f"mixture_{split}_mix_clean.csv"))
    return {utt.split("-")[0] for row in rows for utt in row["mixture_ID"].split("_")}


@pytest.mark.slow
def test_librimix_dev_and_test_speakers_are_unseen_in_training(corpora):
    root = corpora[0]
    train = _librimix_speakers(root, "train-100")
    assert len(train) >= 20
    for split in ("dev", "test"):
        held_out = _librimix_speakers(root, split)
        assert len(held_out) >= 3 and not held_out & train


@pytest.mark.slow
def test_librimix_sources_are_the_librispeech_utterances(corpora):
    root = corpora[0]
    row = _read_csv(os.path.join(root, "Libri2Mix", "wav8k", "min", "metadata",
                                 "mixture_test_mix_clean.csv"))[0]
    utt1 = row["mixture_ID"].split("_")[0]
    speaker, chapter, _ = utt1.split("-")
    original, rate = soundfile.read(os.path.join(root, "LibriSpeech", "test-clean", speaker,
                                                 chapter, utt1 + ".flac"))
    source, _ = soundfile.read(row["source_1_path"])
    narrowband = original[::2][:source.size]  # crude 8 kHz view: enough to compare shapes
    correlation = np.corrcoef(narrowband, source)[0, 1]
    assert rate == 16000 and correlation > 0.8, correlation


@pytest.mark.slow
def test_librispeech_layout_counts_and_transcripts(corpora):
    root = os.path.join(corpora[0], "LibriSpeech")
    speakers = {}
    for split, (num_speakers, per_speaker) in LIBRISPEECH_SPLITS.items():
        flacs = _files(os.path.join(root, split), ".flac")
        assert len(flacs) == num_speakers * per_speaker
        speakers[split] = {os.path.basename(path).split("-")[0] for path in flacs}
        assert len(speakers[split]) == num_speakers
        transcripts = _files(os.path.join(root, split), ".trans.txt")
        listed = set()
        for transcript in transcripts:
            speaker, chapter = transcript.split(os.sep)[-3:-1]
            assert os.path.basename(transcript) == f"{speaker}-{chapter}.trans.txt"
            for line in open(transcript).read().splitlines():
                utt_id, text = line.split(" ", 1)
                assert re.fullmatch(rf"{speaker}-{chapter}-\d{{4}}", utt_id)
                assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", text), text
                assert all(word.lower() in VOCABULARY for word in text.split())
                listed.add(os.path.join(os.path.dirname(transcript), utt_id + ".flac"))
        assert listed == set(flacs)  # every flac transcribed, every transcript line has a flac
        for path in flacs[::7]:
            info = soundfile.info(path)
            assert info.samplerate == 16000 and info.channels == 1
            assert 1.5 <= info.frames / 16000 <= 4.0
    assert len(speakers["train-clean-100"]) >= 20
    assert len(_files(os.path.join(root, "train-clean-100"), ".flac")) >= 300
    assert not speakers["train-clean-100"] & (speakers["dev-clean"] | speakers["test-clean"])
    assert not speakers["dev-clean"] & speakers["test-clean"]


@pytest.mark.slow
def test_librispeech_speakers_sound_different(corpora):
    """Leave-one-out nearest neighbour on a crude voice print (median F0 + mean log spectrum)
    identifies the speaker of most training utterances: chance is 1 in 25."""
    root = os.path.join(corpora[0], "LibriSpeech", "train-clean-100")
    prints, labels, f0s = [], [], {}
    for path in _files(root, ".flac"):
        wave, rate = soundfile.read(path, dtype="float32")
        frames = np.lib.stride_tricks.sliding_window_view(wave, 512)[::256] * np.hanning(512)
        log_spectrum = np.log(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0) + 1e-8)
        bands = log_spectrum[1:].reshape(32, 8).mean(axis=1)
        f0 = median_f0(wave, rate)
        speaker = os.path.basename(path).split("-")[0]
        prints.append(np.concatenate([bands - bands.mean(), [4 * np.log(f0)]]))
        labels.append(speaker)
        f0s.setdefault(speaker, []).append(f0)
    prints = np.array(prints)
    distances = ((prints[:, None] - prints[None]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    accuracy = np.mean([labels[j] == label for j, label in zip(distances.argmin(axis=1), labels)])
    assert accuracy > 0.7, accuracy
    within = np.mean([np.std(np.log(values)) for values in f0s.values()])
    between = np.std([np.mean(np.log(values)) for values in f0s.values()])
    assert between > 3 * within, (between, within)


@pytest.mark.slow
def test_voxceleb_layout_and_speakers(corpora):
    root = os.path.join(corpora[0], "VoxCeleb1")
    speakers = {}
    for split, minimum in (("dev", 40), ("test", 10)):
        wav_root = os.path.join(root, split, "wav")
        speakers[split] = sorted(os.listdir(wav_root))
        assert len(speakers[split]) >= minimum
        for speaker in speakers[split]:
            assert re.fullmatch(r"id\d{5}", speaker)
            videos = os.listdir(os.path.join(wav_root, speaker))
            assert len(videos) >= 3
            for video in videos:
                assert re.fullmatch(r"[A-Za-z0-9_-]{11}", video)
                names = sorted(os.listdir(os.path.join(wav_root, speaker, video)))
                assert 2 <= len(names) <= 3
                assert names == [f"{k + 1:05d}.wav" for k in range(len(names))]
        for path in _files(wav_root, ".wav")[::5]:
            info = soundfile.info(path)
            assert info.samplerate == 16000 and 2.0 <= info.frames / 16000 <= 6.0
    assert not set(speakers["dev"]) & set(speakers["test"])


@pytest.mark.slow
def test_voxceleb_videos_are_different_channels(corpora):
    """Two videos of one speaker differ in spectral balance more than two clips of one video."""
    wav_root = os.path.join(corpora[0], "VoxCeleb1", "test", "wav")

    def high_band_share(path):
        wave, _ = soundfile.read(path)
        power = np.abs(np.fft.rfft(wave)) ** 2
        return 10 * np.log10(power[power.size // 2:].sum() / power.sum())

    within, across = [], []
    for speaker in sorted(os.listdir(wav_root)):
        videos = sorted(os.listdir(os.path.join(wav_root, speaker)))
        shares = [[high_band_share(os.path.join(wav_root, speaker, video, name))
                   for name in sorted(os.listdir(os.path.join(wav_root, speaker, video)))]
                  for video in videos]
        within += [np.ptp(video) for video in shares]
        across.append(np.ptp([np.mean(video) for video in shares]))
    assert np.median(across) > 2 * np.median(within), (np.median(across), np.median(within))


@pytest.mark.slow
@pytest.mark.parametrize("name, split", [("veri_test2.txt", "test"), ("dev_trials.txt", "dev")])
def test_trial_lists_are_balanced_and_valid(corpora, name, split):
    root = os.path.join(corpora[0], "VoxCeleb1")
    lines = open(os.path.join(root, name)).read().splitlines()
    assert len(lines) >= 400
    split_speakers = set(os.listdir(os.path.join(root, split, "wav")))
    pairs = set()
    for line in lines:
        label, first, second = line.split(" ")
        assert label in ("0", "1") and first != second
        assert (first.split("/")[0] == second.split("/")[0]) == (label == "1")
        assert {first.split("/")[0], second.split("/")[0]} <= split_speakers
        for path in (first, second):
            assert os.path.isfile(os.path.join(root, split, "wav", path)), path
        pairs.add(frozenset((first, second)))
    assert len(pairs) == len(lines)
    targets = sum(line.startswith("1 ") for line in lines)
    assert targets == len(lines) - targets


@pytest.mark.slow
def test_musan_noises_music_and_babble(corpora):
    root = os.path.join(corpora[0], "musan")
    counts = {kind: len(_files(os.path.join(root, kind), ".wav"))
              for kind in ("noise", "music", "speech")}
    assert counts == {"noise": 6, "music": 6, "speech": 4}
    centroids = {}
    for path in _files(root, ".wav"):
        wave, rate = soundfile.read(path)
        assert rate == 16000 and 3.0 <= wave.size / rate <= 6.0 and np.abs(wave).max() > 0.1
        power = np.abs(np.fft.rfft(wave)) ** 2
        centroids[os.path.basename(path)] = (power * np.arange(power.size)).sum() / power.sum() \
            / power.size * rate / 2
    # noise files cycle white, pink, brown: each darker than the one before
    noise = [centroids[f"noise-free-sound-{k:04d}.wav"] for k in range(3)]
    assert noise[0] > 2 * noise[1] > 0 and noise[1] > noise[2], noise


@pytest.mark.slow
def test_rirs_decay_with_room_size_and_rir_lists_resolve(corpora):
    root = corpora[0]
    rt60 = {}
    for size in ("smallroom", "mediumroom", "largeroom"):
        folder = os.path.join(root, "RIRS_NOISES", "simulated_rirs", size)
        lines = open(os.path.join(folder, "rir_list")).read().splitlines()
        assert len(lines) == len(_files(folder, ".wav")) >= 4
        estimates = []
        for line in lines:
            match = re.fullmatch(r"--rir-id (\S+) --room-id (\S+) (\S+)", line)
            path = os.path.join(root, match.group(3))
            assert match.group(1).startswith(match.group(2)) and os.path.isfile(path)
            rir, rate = soundfile.read(path)
            assert rate == 16000 and np.argmax(np.abs(rir)) < 0.01 * rate  # direct path first
            # Schroeder backward integration: time for the energy to fall from -5 to -25 dB, x3
            decay = 10 * np.log10(np.cumsum(rir[::-1] ** 2)[::-1] / np.sum(rir ** 2) + 1e-12)
            estimates.append(3 * (np.argmax(decay < -25) - np.argmax(decay < -5)) / rate)
        rt60[size] = np.median(estimates)
    assert 0.1 < rt60["smallroom"] < rt60["mediumroom"] < rt60["largeroom"] < 1.5, rt60


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path, corpora):
    """musan + rirs exercise the synthesiser (babble), the noise and the RIR generators."""
    first, second, other = tmp_path / "a", tmp_path / "b", corpora[0]  # other: seed 0
    build_corpora(first, seed=3, only=["musan", "rirs"], workers=2, progress=False)
    build_corpora(second, seed=3, only="musan,rirs", workers=1, progress=False)
    files = [os.path.relpath(path, first) for path in _files(first, "") if
             not path.endswith("summary.json")]
    assert len(files) == 16 + 18 + 3
    assert files == [os.path.relpath(path, second) for path in _files(second, "")
                     if not path.endswith("summary.json")]
    _, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    assert mismatch == [] and errors == []
    babble = os.path.join("musan", "speech", "librivox", "speech-librivox-0000.wav")
    assert not filecmp.cmp(first / babble, os.path.join(other, babble), shallow=False)


def test_sentences_cover_a_real_vocabulary():
    assert len(VOCABULARY) >= 500
    rng = np.random.default_rng(0)
    sentences = [make_sentence(rng, n) for n in range(3, 20) for _ in range(30)]
    for n, sentence in zip(np.repeat(range(3, 20), 30), sentences):
        words = sentence.split()
        assert n - 1 <= len(words) <= n + 1 and set(words) <= VOCABULARY
    assert len({word for sentence in sentences for word in sentence.split()}) > 300
    again = np.random.default_rng(0)
    assert [make_sentence(again, n) for n in range(3, 20) for _ in range(30)] == sentences


def test_coloured_noise_has_the_requested_slope():
    rng = np.random.default_rng(0)
    for colour, slope in (("white", 0.0), ("pink", -1.0), ("brown", -2.0)):
        noise = coloured_noise(rng, colour, 2 ** 16 + 7)
        assert noise.size == 2 ** 16 + 7 and abs(np.sqrt(np.mean(noise ** 2)) - 1) < 0.05
        power = np.abs(np.fft.rfft(noise)) ** 2
        bins = np.arange(1, power.size)
        fitted = np.polyfit(np.log(bins), np.log(power[1:] + 1e-20), 1)[0]
        assert abs(fitted - slope) < 0.15, (colour, fitted)


def test_command_line_help_and_bad_corpus_name(tmp_path, capsys):
    result = subprocess.run([sys.executable, "-m", "utils.tiny_corpora", "--help"],
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--only" in result.stdout and "librimix" in result.stdout
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--only", "timit"])
    assert "timit" in capsys.readouterr().err
    assert not os.listdir(tmp_path)  # refused before writing anything
