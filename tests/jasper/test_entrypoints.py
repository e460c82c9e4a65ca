"""End to end as a user types it: preprocess -> train (a few steps) -> eval -> export -> eval/infer the MINDIR."""
import csv
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAST = ["--train.batch_size", "4", "--train.valid_batch_size", "8", "--train.max_steps", "3"]


pytestmark = pytest.mark.slow  # trains, exports and transcribes through subprocesses (~3 min in all)


def unigram_arpa(texts, path):
    """A word unigram LM in ARPA format from ``texts`` (log10 relative frequencies)."""
    words = [w for text in texts for w in text.split()] + ["</s>"] * len(texts)
    vocabulary = sorted(set(words))
    lines = ["\\data\\", f"ngram 1={len(vocabulary)}", "", "\\1-grams:"]
    lines += [f"{math.log10(words.count(w) / len(words)):.5f} {w}" for w in vocabulary] + ["", "\\end\\"]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*argv):
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def first_lines(source, target, count):
    with open(source, encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()][:count]
    with open(target, "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    """Manifests + a 3-step training run on the tiny LibriSpeech (dev-clean subset for validation)."""
    work = tmp_path_factory.mktemp("jasper_e2e")
    manifests = work / "manifests"
    printed = run("jasper/preprocess.py", "--data_dir", os.path.join(tiny_corpus("librispeech"), "LibriSpeech"),
                  "--output_dir", str(manifests))
    assert "train-clean-100: 325 utterances" in printed
    valid = first_lines(manifests / "dev-clean.jsonl", work / "valid.jsonl", 10)
    out = work / "run"
    log = run("jasper/train.py", "--train_manifest", str(manifests / "train-clean-100.jsonl"), "--valid_manifest",
              str(work / "valid.jsonl"), "--output_dir", str(out), "--data.max_duration", "3.0", *FAST)
    return dict(work=work, manifests=manifests, out=out, log=log, valid=valid)


def test_train_filters_long_training_utterances_and_keeps_best_by_wer(trained):
    durations = [json.loads(line)["duration"] for line in open(trained["manifests"] / "train-clean-100.jsonl")]
    longer = sum(d > 3.0 for d in durations)
    assert 0 < longer < len(durations)
    assert f"training on {len(durations) - longer} utterances" in trained["log"]
    assert f"{longer} dropped as longer than data.max_duration = 3.0 s" in trained["log"]
    record = json.loads(open(trained["out"] / "train_log.jsonl").read().splitlines()[-1])
    assert record["global_step"] == 3 and math.isfinite(record["cer"]) and record["best"] == record["wer"]
    for name in ("best.ckpt", "last.ckpt", "config.yaml", "train.log"):
        assert (trained["out"] / name).is_file(), name


def test_eval_export_and_mindir_agree(trained):
    out, work = trained["out"], trained["work"]
    # eval keeps every utterance, even those longer than the training filter
    assert any(entry["duration"] > 3.0 for entry in trained["valid"])
    run("jasper/eval.py", "--manifest", str(work / "valid.jsonl"), "--ckpt_path", str(out / "best.ckpt"),
        "--output_dir", str(work / "eval_ckpt"))
    metrics = json.load(open(work / "eval_ckpt" / "metrics.json"))
    assert metrics["n_utterances"] == 10 and metrics["decoder"] == "greedy"
    assert metrics["cer"] > 0.0 and metrics["wer"] > 0.0  # 3 steps: far from perfect
    rows = list(csv.DictReader(open(work / "eval_ckpt" / "per_utterance.csv")))
    assert [row["reference"] for row in rows] == [entry["text"] for entry in trained["valid"]]
    # the validation metric of best.ckpt was computed on the same utterances with the same greedy decoder
    record = json.loads(open(out / "train_log.jsonl").read().splitlines()[-1])
    assert metrics["wer"] == pytest.approx(record["best"]) and metrics["cer"] == pytest.approx(record["cer"])

    run("jasper/export.py", "--ckpt_path", str(out / "best.ckpt"), "--file_format", "MINDIR",
        "--file_name", str(work / "jasper"))
    description = json.load(open(work / "jasper.json"))
    assert description["inputs"][0]["shape"] == [-1, 64, -1] and description["outputs"][0]["shape"] == [-1, -1, 29]
    run("jasper/eval.py", "--manifest", str(work / "valid.jsonl"), "--ckpt_path", str(work / "jasper.mindir"),
        "--output_dir", str(work / "eval_mindir"), "--decoder", "beam", "--beam_width", "4",
        "--lm_path", str(unigram_arpa([e["text"] for e in trained["valid"]], work / "lm.arpa")), "--alpha", "0.3")
    beam = json.load(open(work / "eval_mindir" / "metrics.json"))
    assert beam["n_utterances"] == 10 and beam["decoder"] == "beam" and beam["beam_width"] == 4
    assert beam["lm_path"].endswith("lm.arpa") and beam["alpha"] == 0.3
    assert "language model" in open(work / "eval_mindir" / "eval.log").read()

    from jasper.src.asr import load_acoustic_model
    from_ckpt = load_acoustic_model(str(out / "best.ckpt"))
    from_mindir = load_acoustic_model(str(work / "jasper.mindir"))
    rng = np.random.default_rng(0)
    for frames in (137, 416):  # two lengths through the same dynamic-shape graphs
        feats = rng.standard_normal((2, 64, frames)).astype(np.float32)
        lengths = np.array([frames, frames - 40], np.int32)
        expected, mindir = from_ckpt(feats, lengths), from_mindir(feats, lengths)
        np.testing.assert_array_equal(expected[1], mindir[1])
        np.testing.assert_allclose(expected[0], mindir[0], atol=1e-4)
        assert expected[0].shape == (2, (frames + 1) // 2, 29)


def test_infer_stereo_44k_long_file_in_chunks(trained):
    work = trained["work"]
    from utils.audio import read_audio, resample
    waves = [read_audio(entry["audio_filepath"], 16000)[0] for entry in trained["valid"][:3]]
    speech = resample(np.concatenate(waves), 16000, 44100)
    folder = work / "my_audio"
    folder.mkdir()
    soundfile.write(folder / "long.wav", np.stack([speech, 0.5 * speech], axis=1), 44100)
    soundfile.write(folder / "short.flac", resample(waves[0], 16000, 22050), 22050)
    printed = run("jasper/infer.py", "--ckpt_path", str(work / "run" / "best.ckpt"), "--input", str(folder),
                  "--output_dir", str(work / "infer"), "--infer.chunk_seconds", "3.0", "--infer.chunk_context", "0.5")
    records = [json.loads(line) for line in open(work / "infer" / "transcripts.jsonl")]
    assert [os.path.basename(r["file"]) for r in records] == ["long.wav", "short.flac"]
    total = sum(len(w) for w in waves) / 16000
    assert records[0]["duration"] == pytest.approx(total, abs=0.01)
    assert records[0]["chunks"] == math.ceil((total - 2.5) / 2) + 1  # window k ends at 2 k + 2.5 s
    assert records[1]["chunks"] == 1
    assert all(json.dumps(r) in printed for r in records)
    assert len(open(work / "infer" / "transcripts.txt").read().splitlines()) == 2


@pytest.mark.parametrize("entry", ["train", "eval", "export", "infer"])
def test_help(entry):
    printed = run(f"jasper/{entry}.py", "--help")
    assert "usage:" in printed and "--config_path" in printed
