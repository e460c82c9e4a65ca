"""The infer.py tools and a 310 preprocessor as a user runs them on folders holding bad files (built by
tests/cli_inputs.py): every good file gives a complete output, every bad one one line naming it (and a row of
failures.tsv), never a traceback or a half-written file; exit 1 when anything failed."""
import csv
import json
import os

import numpy as np
import pytest
import soundfile

from tests.cli_inputs import make_kinds, one_error_line, random_checkpoint, run_cli

GOOD = ["stereo_44k1.wav", "short_50ms.wav", "int32.wav"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli_batches")


def folder_of(work, name, bad):
    folder = work / name
    make_kinds(folder, GOOD + bad)
    return folder


def infer_folder(work, model, bad, *command):
    """A folder of the GOOD + ``bad`` kinds through ``MODEL/infer.py [COMMAND]`` with a small random-weight
    checkpoint, checked by ``assert_batch_result``; returns (folder, checkpoint, output folder)."""
    folder = folder_of(work, f"{model}_in", bad)
    checkpoint = random_checkpoint(model, str(work / f"{model}.ckpt"))
    out = work / f"{model}_out"
    done = run_cli(f"{model}/infer.py", *command, "--ckpt_path", checkpoint, "--input", folder, "--output_dir", out)
    assert_batch_result(done, out, bad)
    return folder, checkpoint, out


def preprocess_310(model, bad, noun, items, *argv):
    """``MODEL/preprocess_310.py ARGV --output_path ITEMS`` over the GOOD + ``bad`` kinds, checked by
    ``assert_batch_result``; returns references.json's items (the GOOD ones, numbered 000000, 000001, ...)."""
    done = run_cli(f"{model}/preprocess_310.py", *argv, "--output_path", items)
    assert_batch_result(done, items, bad, noun=noun)
    references = json.load(open(items / "references.json"))["items"]
    assert [r["item"] for r in references] == [f"{index:06d}" for index in range(len(GOOD))]
    return references


def assert_batch_result(done, out_dir, bad, noun="file"):
    """Exit 1, one 'skipped' line per bad file naming it, the summary, failures.tsv, no traceback / temp file."""
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    skipped = [line for line in done.stderr.splitlines() if ": skipped " in line]
    assert len(skipped) == len(bad) and all(any(name in line for line in skipped) for name in bad), skipped
    assert f"{len(GOOD)} done, {len(bad)} failed" in done.stderr
    with open(os.path.join(out_dir, "failures.tsv"), encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows[0] == [noun, "reason"] and sorted(os.path.basename(r[0]) for r in rows[1:]) == sorted(bad)
    assert not [name for name in os.listdir(out_dir) if ".partial" in name]


@pytest.mark.slow
@pytest.mark.parametrize("model, bad", [("tasnet", ["nan.wav", "text.mp3"]),
                                        ("dprnn", ["empty.wav", "zero_samples.wav"])])
def test_separation_folder_with_bad_files(model, bad, work):
    folder, checkpoint, out = infer_folder(work, model, bad)
    if model == "tasnet":  # one file given: its failure is the run's error, one line, exit 2, nothing written
        single = work / "single_out"
        done = run_cli(f"{model}/infer.py", "--ckpt_path", checkpoint, "--input", folder / bad[0],
                       "--output_dir", single)
        assert ": skipped " not in done.stderr
        error = one_error_line(done, 2)
        assert error.startswith(f"tasnet/infer.py: error: {folder / bad[0]}: audio holds non-finite values")
        assert os.listdir(single) == ["infer.log"]
    for name in GOOD:
        info = soundfile.info(str(folder / name))
        for k in (1, 2):
            wave, rate = soundfile.read(str(out / f"{name[:-4]}_s{k}.wav"), dtype="float32")
            assert rate == 8000 and np.isfinite(wave).all()
            assert len(wave) == int(np.ceil(info.frames * 8000 / info.samplerate))


@pytest.mark.slow
def test_ecapa_embed_and_verify_with_bad_files(work):
    bad = ["truncated_header.wav", "inf.wav"]
    folder, checkpoint, out = infer_folder(work, "ecapa_tdnn", bad, "embed")
    for name in GOOD:
        embedding = np.load(out / (name[:-4] + ".npy"))
        assert embedding.shape == (24,) and np.isfinite(embedding).all()
    assert sorted(os.listdir(out)) == sorted([n[:-4] + ".npy" for n in GOOD] + ["failures.tsv", "infer.log"])

    # no threshold anywhere: the score is printed anyway; a pair with a bad file is reported, the rest scored
    (folder / "pairs.txt").write_text("stereo_44k1.wav int32.wav\n1 short_50ms.wav int32.wav\n0 inf.wav int32.wav\n")
    scores = work / "verify_out"
    done = run_cli("ecapa_tdnn/infer.py", "verify", "--ckpt_path", checkpoint, "--pairs", folder / "pairs.txt",
                   "--output_dir", scores)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 2 and all(np.isfinite(line["score"]) and line["same_speaker"] is None for line in lines)
    first, second = (np.load(out / name) for name in ("stereo_44k1.npy", "int32.npy"))
    cosine = float(np.dot(first, second) / np.linalg.norm(first) / np.linalg.norm(second))
    assert lines[0]["score"] == pytest.approx(cosine, abs=1e-4)
    assert "inf.wav" in done.stderr and "2 done, 1 failed" in done.stderr
    assert [json.loads(line) for line in open(scores / "scores.jsonl")] == lines
    # two files, one unusable: one error line naming it, exit 2
    done = run_cli("ecapa_tdnn/infer.py", "verify", "--ckpt_path", checkpoint, folder / "int32.wav",
                   folder / "truncated_header.wav", "--threshold", "0.5")
    error = one_error_line(done, 2)
    assert not done.stdout.strip()
    assert error.startswith("ecapa_tdnn/infer.py: error: ") and "truncated_header.wav" in error

    # the 310 preprocessor on a trial list over the same folder: the bad files and the trials needing them left out
    (folder / "trials.txt").write_text("1 stereo_44k1.wav int32.wav\n0 short_50ms.wav inf.wav\n"
                                       "1 int32.wav short_50ms.wav\n0 truncated_header.wav stereo_44k1.wav\n")
    items = work / "ecapa310"
    references = preprocess_310("ecapa_tdnn", bad, "file", items, "--data_path", folder, "--trials",
                                folder / "trials.txt")
    assert sorted(r["path"] for r in references) == sorted(GOOD)
    assert (items / "trials.txt").read_text() == "1 stereo_44k1.wav int32.wav\n1 int32.wav short_50ms.wav\n"


@pytest.mark.slow
def test_jasper_transcribe_and_preprocess_310_with_bad_files(work):
    bad = ["nan.wav", "empty.wav"]
    folder, checkpoint, out = infer_folder(work, "jasper", bad)
    records = [json.loads(line) for line in open(out / "transcripts.jsonl")]
    assert sorted(os.path.basename(r["file"]) for r in records) == sorted(GOOD)
    assert len(open(out / "transcripts.txt").read().splitlines()) == len(GOOD)

    # the same files as a manifest through the 310 preprocessor: the good ones become items, in order
    manifest = work / "manifest.jsonl"
    with open(manifest, "w") as handle:
        for name in GOOD + bad:
            handle.write(json.dumps({"audio_filepath": str(folder / name), "duration": 1.0, "text": "a b"}) + "\n")
    items = work / "in310"
    references = preprocess_310("jasper", bad, "utterance", items, "--data_path", manifest)
    assert [os.path.basename(r["audio_filepath"]) for r in references] == GOOD
    kept = [json.loads(line)["audio_filepath"] for line in open(items / "manifest.jsonl")]
    assert [os.path.basename(path) for path in kept] == GOOD


def librimix_with_bad_mixtures(root, bad):
    """A LibriMix folder (wav8k/min, the same 5 mixtures listed for train-100, dev and test): the GOOD kinds'
    mixtures are fine, the ``bad`` kinds are the mixture files of the other rows."""
    folder = root / "wav8k" / "min"
    mixtures = make_kinds(folder / "mix", GOOD + bad)
    sources = make_kinds(folder / "s1", GOOD)
    rows = ["mixture_ID,mixture_path,source_1_path,source_2_path,length"]
    rows += [f"m{index},{mixture},{sources[0]},{sources[1]},8000" for index, mixture in enumerate(mixtures)]
    os.makedirs(folder / "metadata")
    for split in ("train-100", "dev", "test"):
        (folder / "metadata" / f"mixture_{split}_mix_clean.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.slow
def test_separation_preprocess_310_and_train_with_bad_mixtures(work):
    bad = ["truncated_header.wav", "zero_samples.wav"]
    data = librimix_with_bad_mixtures(work / "Libri2Mix", bad)
    references = preprocess_310("tasnet", bad, "mixture", work / "sep310", "--data_path", data)
    assert [os.path.basename(r["mixture_path"]) for r in references] == GOOD

    done = run_cli("tasnet/train.py", "--data_dir", data, "--output_dir", work / "sep_train", "--train.max_steps", "1")
    error = one_error_line(done, 2)
    assert error.startswith("tasnet/train.py: error: 2 of 7 training audio files cannot be used: ")
    assert all(name in error for name in bad) and not os.path.exists(work / "sep_train" / "last.ckpt")
