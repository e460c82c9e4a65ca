"""End-to-end checks shared by tests/tasnet and tests/dprnn: the entry points run exactly as a user types them
(train a few steps -> resume -> eval -> export -> infer) on the tiny Libri2Mix."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def run(*argv):
    done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{argv[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def train_log(out):
    with open(os.path.join(out, "train_log.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def split_size(data_dir, split="test"):
    with open(os.path.join(data_dir, "wav8k", "min", "metadata", f"mixture_{split}_mix_clean.csv")) as handle:
        return sum(1 for _ in csv.DictReader(handle))


def train_and_resume(model, data_dir, work, small_model):
    """2 steps, then --resume to 4 steps. Returns the output folder of the first run."""
    out = os.path.join(work, "run")
    fast = ["--train.batch_size", "2", "--data.segment_seconds", "1.0", *small_model]
    log = run(f"{model}/train.py", "--data_dir", data_dir, "--output_dir", out, "--train.max_steps", "2", *fast)
    first = train_log(out)[-1]
    assert first["global_step"] == 2 and np.isfinite(first["si_snri"]) and first["n_valid"] == 50, first
    assert "validation mixtures" in log and first["best"] == first["si_snri"]
    for name in ("best.ckpt", "last.ckpt", "config.yaml", "train.log"):
        assert os.path.isfile(os.path.join(out, name)), name
    resumed = os.path.join(work, "resumed")
    log = run(f"{model}/train.py", "--data_dir", data_dir, "--output_dir", resumed, "--resume",
              os.path.join(out, "last.ckpt"), "--train.max_steps", "4", *fast)
    assert "resumed from" in log and "step 2 (global step 2)" in log
    records = train_log(resumed)
    assert [r["global_step"] for r in records] == [4] and records[0]["steps"] == 2
    return out


def evaluate_checkpoint(model, data_dir, out, work):
    """eval.py over the whole test split: counts, CSV consistency and the saved wavs' SI-SNR."""
    from utils.metrics import si_snr
    evaluation = os.path.join(work, "eval")
    printed = run(f"{model}/eval.py", "--data_dir", data_dir, "--ckpt_path", os.path.join(out, "best.ckpt"),
                  "--output_dir", evaluation, "--save_wavs")
    metrics = json.load(open(os.path.join(evaluation, "metrics.json")))
    expected = split_size(data_dir)
    assert metrics["n_utterances"] == expected == 50 and '"n_utterances": 50' in printed
    with open(os.path.join(evaluation, "per_utterance.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == expected == len({row["mixture_id"] for row in rows})
    for key in ("si_snri", "sdri", "si_snr", "sdr", "pesq", "stoi", "mixture_pesq", "mixture_stoi"):
        assert abs(np.nanmean([float(row[key]) for row in rows]) - metrics[key]) < 1e-3, key
    assert 1.0 <= metrics["pesq"] <= 4.55 and 0.0 <= metrics["stoi"] <= 1.0 and metrics["pesq_mode"].startswith("nb")
    # the wavs hold the matched estimates: their SI-SNR against the references is the CSV's
    row = rows[0]
    mixture_dir = os.path.join(data_dir, "wav8k", "min", "test")
    name = row["mixture_id"] + ".wav"
    references = [soundfile.read(os.path.join(mixture_dir, f"s{k}", name))[0] for k in (1, 2)]
    estimates = [soundfile.read(os.path.join(evaluation, "wavs", f"{row['mixture_id']}_s{k}.wav"))[0] for k in (1, 2)]
    assert len(os.listdir(os.path.join(evaluation, "wavs"))) == 2 * expected
    assert abs(np.mean([si_snr(e, r) for e, r in zip(estimates, references)]) - float(row["si_snr"])) < 0.05
    # PESQ (narrow band at 8 kHz) and STOI of the saved wavs, computed by the packages themselves
    pesq, stoi = pytest.importorskip("pesq").pesq, pytest.importorskip("pystoi").stoi
    assert abs(np.mean([pesq(8000, r, e, "nb") for e, r in zip(estimates, references)]) - float(row["pesq"])) < 0.05
    assert abs(np.mean([stoi(r, e, 8000) for e, r in zip(estimates, references)]) - float(row["stoi"])) < 0.01
    return metrics


def export_and_compare(model, network_class, out, work):
    """export.py MINDIR: the graph's output equals the checkpoint's at two batch shapes."""
    from utils.inference import load_model
    from utils.separation.separate import mixture_spec, network_builder
    name = os.path.join(work, model)
    printed = run(f"{model}/export.py", "--ckpt_path", os.path.join(out, "best.ckpt"), "--file_format", "MINDIR",
                  "--file_name", name)
    assert name + ".mindir" in printed
    description = json.load(open(name + ".json"))
    assert description["inputs"][0]["shape"] == [-1, -1] and description["outputs"][0]["shape"] == [-1, 2, -1]
    checkpoint = load_model(os.path.join(out, "best.ckpt"), network_builder(network_class),
                            input_specs=[mixture_spec()])
    exported = load_model(name + ".mindir", network_builder(network_class))
    assert exported.config["model"] == checkpoint.config["model"]
    rng = np.random.default_rng(0)
    for shape in ((1, 8000), (2, 12345)):
        mixture = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        expected = checkpoint(mixture)
        assert expected.shape == (shape[0], 2, shape[1])
        np.testing.assert_allclose(exported(mixture), expected, rtol=1e-4, atol=1e-5)
    return name + ".mindir"


def infer_long_stereo_file(model, data_dir, mindir, work):
    """infer.py on a folder holding a 10 s stereo 16 kHz file, in 4 s chunks with 1 s overlap: 8 kHz wavs
    close to the exported model's whole-file output."""
    from scipy.signal import resample_poly
    from utils.audio import read_audio
    from utils.inference import load_model
    from utils.metrics import si_snr
    from utils.separation.separate import separate
    mixture_dir = os.path.join(data_dir, "wav8k", "min", "test", "mix_clean")
    parts = [soundfile.read(os.path.join(mixture_dir, name))[0] for name in sorted(os.listdir(mixture_dir))[:5]]
    long = np.concatenate(parts)[:80000]
    inputs = os.path.join(work, "inputs", "talk")
    os.makedirs(inputs)
    input_path = os.path.join(inputs, "long.wav")
    soundfile.write(input_path, resample_poly(np.stack([long, 0.8 * long], axis=1), 2, 1, axis=0), 16000)
    target = os.path.join(work, "separated")
    printed = run(f"{model}/infer.py", "--ckpt_path", mindir, "--input", os.path.dirname(inputs),
                  "--output_dir", target, "--chunk_seconds", "4", "--overlap_seconds", "1")
    paths = [os.path.join(target, "talk", f"long_s{k}.wav") for k in (1, 2)]
    assert ", ".join(paths) in printed and "in 4 s chunks (1 s overlap)" in printed
    waves = [soundfile.read(path) for path in paths]
    assert all(rate == 8000 and len(wave) == 80000 for wave, rate in waves)
    chunked = np.stack([wave for wave, _ in waves])
    whole = separate(load_model(mindir, None), read_audio(input_path, 8000)[0])
    # source k of the chunked run is close to source k of the one-pass run (a shuffling oracle in
    # test_separate.py checks the order-keeping itself, which a barely trained model cannot show)
    similarity = np.array([[si_snr(c, w) for w in whole] for c in chunked])
    assert np.all(np.diag(similarity) > 10), similarity
    return similarity
