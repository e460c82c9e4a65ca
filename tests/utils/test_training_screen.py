"""train.py of every model family on tiny corpora holding files whose headers are fine but whose samples are not
(NaN, Inf, truncated data): by default the run stops BEFORE the first step (exit 2, the count and the names);
with --skip_bad_files it trains on the rest."""
import csv
import json
import os

import pytest
import soundfile

from tests.cli_inputs import one_error_line, run_cli, spoil

pytestmark = pytest.mark.slow  # each family: one refused run (imports only) + one 1-step training run


def assert_stops_before_training(done, program, count, total, names, out):
    """Exit 2, one error line '<program>: error: COUNT of TOTAL training audio files cannot be used: ...' naming
    every bad file, no traceback, no checkpoint and no step logged."""
    error = one_error_line(done, 2)
    assert error.startswith(f"{program}: error: {count} of {total} training audio files cannot be used: "), error
    assert all(name in error for name in names) and "--skip_bad_files" in error, error
    assert not os.path.exists(os.path.join(out, "last.ckpt"))
    assert not os.path.exists(os.path.join(out, "train_log.jsonl"))


def trained_steps(done, out, count, total):
    """The --skip_bad_files run: exit 0, the left-out files logged, the steps of train_log.jsonl's last line."""
    assert done.returncode == 0, done.stderr[-3000:]
    printed = done.stdout + done.stderr
    assert f"--skip_bad_files: leaving out {count} of {total} training audio files" in printed, printed[-3000:]
    with open(os.path.join(out, "train_log.jsonl")) as handle:
        return [json.loads(line) for line in handle][-1]


def test_separation_train_screens_samples(tiny_corpus, tmp_path):
    tiny = os.path.join(tiny_corpus("librimix"), "Libri2Mix", "wav8k", "min", "metadata")
    rows = {split: list(csv.DictReader(open(os.path.join(tiny, f"mixture_{split}_mix_clean.csv"))))
            for split in ("train-100", "dev")}
    train, dev = rows["train-100"][:6], rows["dev"][:3]
    spoiled = tmp_path / "spoiled"
    train[4]["mixture_path"] = str(spoil(train[4]["mixture_path"], spoiled / "nan_mix.wav", "nan"))
    train[5]["source_1_path"] = str(spoil(train[5]["source_1_path"], spoiled / "truncated_s1.wav", "truncated"))
    dev[2]["source_2_path"] = str(spoil(dev[2]["source_2_path"], spoiled / "inf_s2.wav", "inf"))
    data = tmp_path / "Libri2Mix"
    os.makedirs(data / "metadata")
    for split, kept in (("train-100", train), ("dev", dev)):
        with open(data / "metadata" / f"mixture_{split}_mix_clean.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
            writer.writeheader()
            writer.writerows(kept)
    out = tmp_path / "run"
    fast = ["--train.batch_size", "2", "--data.segment_seconds", "1.0", "--model.n_filters", "32",
            "--model.hidden_size", "16", "--model.n_layers", "1", "--train.max_steps", "1"]
    done = run_cli("tasnet/train.py", "--data_dir", data, "--output_dir", out, *fast)
    assert_stops_before_training(done, "tasnet/train.py", 3, 27, ["nan_mix.wav", "truncated_s1.wav", "inf_s2.wav"],
                                 out)
    assert "non-finite values (NaN at sample 100)" in done.stderr and "truncated: the WAV data chunk" in done.stderr
    done = run_cli("tasnet/train.py", "--data_dir", data, "--output_dir", out, "--skip_bad_files", *fast)
    record = trained_steps(done, out, 3, 27)
    assert "screened 27 audio files (0 decoded" in done.stderr  # the first run's verdicts, from the cache
    assert record["global_step"] == 1 and record["n_valid"] == 2  # 4 training and 2 validation mixtures left


def test_ecapa_train_screens_samples(tiny_corpus, tmp_path):
    tiny = os.path.join(tiny_corpus("voxceleb"), "VoxCeleb1", "dev", "wav")
    data = tmp_path / "wav"
    files = 0
    for speaker in sorted(os.listdir(tiny))[:4]:
        for video in sorted(os.listdir(os.path.join(tiny, speaker))):
            os.makedirs(data / speaker / video)
            for name in os.listdir(os.path.join(tiny, speaker, video)):
                os.symlink(os.path.join(tiny, speaker, video, name), data / speaker / video / name)
                files += 1
    first, second = (data / speaker / sorted(os.listdir(data / speaker))[0] for speaker in sorted(os.listdir(data))[:2])
    good = sorted(os.listdir(first))[0]
    spoil(first / good, first / "99998.wav", "nan")
    spoil(first / good, second / "99999.wav", "truncated")
    out = tmp_path / "run"
    fast = ["--max_steps", 1, "--train.batch_size", 4, "--crop_seconds", "[1.0,1.0]", "--channels",
            "[32,32,32,32,96]", "--attention_channels", "16", "--se_channels", "16", "--embedding_dim", "24"]
    done = run_cli("ecapa_tdnn/train.py", "--data_dir", data, "--output_dir", out, *fast)
    assert_stops_before_training(done, "ecapa_tdnn/train.py", 2, files + 2, ["99998.wav", "99999.wav"], out)
    done = run_cli("ecapa_tdnn/train.py", "--data_dir", data, "--output_dir", out, "--skip_bad_files", *fast)
    assert trained_steps(done, out, 2, files + 2)["global_step"] == 1
    assert f"{files} training files of 4 speakers" in done.stdout + done.stderr

    # validation trials are screened too (after the training files, still before the first step)
    valid = tmp_path / "valid"
    os.makedirs(valid)
    os.symlink(first / good, valid / "good.wav")
    os.symlink(second / sorted(os.listdir(second))[0], valid / "other.wav")
    spoil(first / good, valid / "inf.wav", "inf")
    (tmp_path / "trials.txt").write_text("1 good.wav good.wav\n0 good.wav other.wav\n0 other.wav inf.wav\n")
    out = tmp_path / "run_valid"
    os.remove(first / "99998.wav")
    os.remove(second / "99999.wav")  # clean training files: the validation screen is what stops this run
    done = run_cli("ecapa_tdnn/train.py", "--data_dir", data, "--output_dir", out, "--valid_trials",
                   tmp_path / "trials.txt", "--valid_data_dir", valid, *fast)
    error = one_error_line(done, 2)
    assert error.startswith("ecapa_tdnn/train.py: error: 1 of 3 validation audio files cannot be used: ") and \
        "inf.wav: audio holds non-finite values (Inf at sample 100)" in error, error
    assert not os.path.exists(out / "train_log.jsonl")


def test_jasper_train_screens_samples(tiny_corpus, tmp_path):
    librispeech = os.path.join(tiny_corpus("librispeech"), "LibriSpeech")

    def entries(subset, count):
        found = []
        for folder, _, names in sorted(os.walk(os.path.join(librispeech, subset))):
            for name in sorted(names):
                if name.endswith(".trans.txt"):
                    for line in open(os.path.join(folder, name)):
                        key, _, text = line.strip().partition(" ")
                        path = os.path.join(folder, key + ".flac")
                        found.append({"audio_filepath": path, "duration": soundfile.info(path).duration,
                                      "text": text.lower()})
        return found[:count]

    train, valid = entries("train-clean-100", 10), entries("dev-clean", 4)
    train[8]["audio_filepath"] = str(spoil(train[8]["audio_filepath"], tmp_path / "nan.wav", "nan"))
    train[9]["audio_filepath"] = str(spoil(train[9]["audio_filepath"], tmp_path / "truncated.flac", "truncated"))
    valid[3]["audio_filepath"] = str(spoil(valid[3]["audio_filepath"], tmp_path / "inf.wav", "inf"))
    for name, kept in (("train.jsonl", train), ("valid.jsonl", valid)):
        with open(tmp_path / name, "w") as handle:
            handle.writelines(json.dumps(entry) + "\n" for entry in kept)
    out = tmp_path / "run"
    argv = ["jasper/train.py", "--train_manifest", tmp_path / "train.jsonl", "--valid_manifest",
            tmp_path / "valid.jsonl", "--output_dir", out, "--train.batch_size", "4", "--train.valid_batch_size", "4",
            "--train.max_steps", "1"]
    done = run_cli(*argv)
    assert_stops_before_training(done, "jasper/train.py", 3, 14, ["nan.wav", "truncated.flac", "inf.wav"], out)
    assert "truncated or corrupt: decoding failed" in done.stderr
    done = run_cli(*argv, "--skip_bad_files")
    record = trained_steps(done, out, 3, 14)
    assert record["global_step"] == 1 and "training on 8 utterances" in done.stdout + done.stderr
