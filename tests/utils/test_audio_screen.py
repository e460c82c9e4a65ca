"""The training-data screen (utils.audio.unusable_files / sample_problem): every file's samples are decoded once
before training, bad ones named with the right reason; verdicts are cached per (path, size, mtime)."""
import os

import numpy as np
import pytest
import soundfile

import utils.audio as audio
from tests.cli_inputs import spoil


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """Good files (int16 WAV, float WAV, FLAC; 1 s at 16 kHz) and their spoiled copies whose headers are fine."""
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    files = {}
    for name, subtype in (("int16.wav", "PCM_16"), ("float.wav", "FLOAT"), ("good.flac", "PCM_16")):
        files[name] = str(tmp_path / "data" / name)
        os.makedirs(os.path.dirname(files[name]), exist_ok=True)
        soundfile.write(files[name], wave, 16000, subtype=subtype)
    for how, source in (("nan", "float.wav"), ("inf", "int16.wav"), ("truncated", "int16.wav"),
                        ("truncated", "good.flac")):
        name = f"{how}_{source}"
        files[name] = str(spoil(files[source], tmp_path / "data" / ("sub" if how == "inf" else "") / name, how))
    files["empty.wav"] = str(tmp_path / "data" / "empty.wav")
    soundfile.write(files["empty.wav"], np.zeros(0, np.float32), 16000)
    return files


def test_sample_problem_names_each_kind_of_bad_samples(corpus):
    for name in ("int16.wav", "float.wav", "good.flac"):
        assert audio.sample_problem(corpus[name]) is None, name
    assert soundfile.info(corpus["nan_float.wav"]).frames == 16000  # the header is fine: only decoding tells
    assert audio.sample_problem(corpus["nan_float.wav"]) == "audio holds non-finite values (NaN at sample 100)"
    assert audio.sample_problem(corpus["inf_int16.wav"]) == "audio holds non-finite values (Inf at sample 100)"
    # a third of 44 + 32000 bytes: libsndfile itself reports the 5334 samples present, the data chunk 32000 bytes
    assert soundfile.info(corpus["truncated_int16.wav"]).frames == (32044 // 3 - 44) // 2
    assert audio.sample_problem(corpus["truncated_int16.wav"]) == (
        f"truncated: the WAV data chunk runs {32000 - (32044 // 3 - 44)} bytes past the end of the file "
        f"(only {(32044 // 3 - 44) // 2} samples are there)")
    assert audio.wav_missing_bytes(corpus["int16.wav"]) == 0 and audio.wav_missing_bytes(corpus["good.flac"]) == 0
    assert soundfile.info(corpus["truncated_good.flac"]).frames == 16000
    assert audio.sample_problem(corpus["truncated_good.flac"]).startswith("truncated or corrupt: decoding failed")
    assert audio.sample_problem(corpus["empty.wav"]) == "audio file is empty (0 samples)"
    assert audio.sample_problem(str(corpus["empty.wav"]) + ".gone") == "audio file not found"


def test_block_wise_decoding_finds_a_nan_in_a_later_block(corpus, monkeypatch, tmp_path):
    monkeypatch.setattr(audio, "SCREEN_BLOCK_FRAMES", 4096)
    wave = np.zeros(20000, np.float32)
    wave[13000] = np.nan
    soundfile.write(str(tmp_path / "late.wav"), wave, 16000, subtype="FLOAT")
    assert audio.sample_problem(str(tmp_path / "late.wav")) == "audio holds non-finite values (NaN at sample 13000)"


def test_screen_reports_and_the_cache_skips_unchanged_files(corpus, monkeypatch):
    decoded = []
    real = audio.sample_problem
    monkeypatch.setattr(audio, "sample_problem", lambda path: decoded.append(path) or real(path))
    paths = list(corpus.values())
    bad = dict(audio.unusable_files(paths))
    assert sorted(os.path.basename(p) for p in bad) == ["empty.wav", "inf_int16.wav", "nan_float.wav",
                                                        "truncated_good.flac", "truncated_int16.wav"]
    assert sorted(decoded) == sorted(paths)
    cache_file = audio.screen_cache_file(paths)
    assert cache_file.startswith(os.environ["ZOO_CACHE"]) and os.path.isfile(cache_file)

    decoded.clear()
    assert dict(audio.unusable_files(paths)) == bad and decoded == []  # nothing changed: nothing decoded

    # a fixed file (rewritten: new size and mtime) and a touched one are screened again, only they
    soundfile.write(corpus["nan_float.wav"], np.zeros(8000, np.float32), 16000, subtype="FLOAT")
    stat = os.stat(corpus["good.flac"])
    os.utime(corpus["good.flac"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again = dict(audio.unusable_files(paths))
    assert sorted(decoded) == sorted([corpus["nan_float.wav"], corpus["good.flac"]])
    assert corpus["nan_float.wav"] not in again and len(again) == len(bad) - 1

    decoded.clear()
    assert dict(audio.unusable_files(paths, cache=False)) == again and sorted(decoded) == sorted(paths)
    with open(cache_file, "w") as handle:  # another version of the checks: its verdicts are not trusted
        handle.write("# zoo-audio-screen-v0\n")
    decoded.clear()
    audio.unusable_files(paths)
    assert sorted(decoded) == sorted(paths)


def test_screen_training_files_lists_samples_problems(corpus):
    paths = [corpus[name] for name in ("int16.wav", "nan_float.wav", "truncated_int16.wav", "good.flac")]
    with pytest.raises(audio.AudioError, match=r"^2 of 4 training audio files cannot be used: .*nan_float.wav: audio "
                                               r"holds non-finite values \(NaN at sample 100\); .*truncated_int16.wav: "
                                               r"truncated: .*--skip_bad_files"):
        audio.screen_training_files(paths, skip_bad_files=False)
    assert audio.screen_training_files(paths, skip_bad_files=True) == set(paths[1:3])
