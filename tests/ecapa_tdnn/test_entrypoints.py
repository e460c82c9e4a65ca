"""End to end as a user types it: train (a few steps, augmentation, EER validation) -> eval (AS-norm)
-> export MINDIR -> embed with the MINDIR (equal to the checkpoint's embeddings) -> verify."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_MODEL = ["--channels", "[32,32,32,32,96]", "--attention_channels", "16", "--se_channels", "16",
              "--embedding_dim", "24"]


def run(script, *args, cwd=None, expect_ok=True):
    started = time.time()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "ecapa_tdnn", script), *map(str, args)],
                            cwd=cwd, capture_output=True, text=True, timeout=600)
    print(f"{script} {args[0] if args else ''}: {time.time() - started:.1f} s")
    if expect_ok:
        assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _first_lines(source, target, count):
    with open(source) as handle:
        lines = [next(handle) for _ in range(count)]
    with open(target, "w") as handle:
        handle.writelines(lines)
    return lines


@pytest.mark.slow
def test_train_eval_export_verify(tiny_corpus, tmp_path):
    corpus = tiny_corpus("voxceleb")
    musan, rirs = os.path.join(tiny_corpus("musan"), "musan"), os.path.join(tiny_corpus("rirs"), "RIRS_NOISES")
    vox = os.path.join(corpus, "VoxCeleb1")
    dev_trials = _first_lines(os.path.join(vox, "dev_trials.txt"), tmp_path / "dev_trials.txt", 12)
    test_trials = _first_lines(os.path.join(vox, "veri_test2.txt"), tmp_path / "test_trials.txt", 30)
    out = tmp_path / "run"

    run("train.py", "--data_dir", os.path.join(vox, "dev", "wav"), "--output_dir", out,
        "--valid_trials", tmp_path / "dev_trials.txt", "--musan_dir", musan, "--rir_dir", rirs,
        "--max_steps", 3, "--train.batch_size", 4, "--crop_seconds", "[1.0,1.5]", "--margin_warmup_epochs", 1,
        *TINY_MODEL, cwd=tmp_path)
    log = [json.loads(line) for line in open(out / "train_log.jsonl")]
    assert log[-1]["global_step"] == 3 and 0.0 <= log[-1]["eer"] <= 1.0
    assert os.path.isfile(out / "best.ckpt") and "augmentation: noise, music, babble, reverb" in \
        open(out / "train.log").read()

    # cohort: three dev speakers (their own folder, as a user would lay it out)
    cohort = tmp_path / "cohort"
    for speaker in sorted(os.listdir(os.path.join(vox, "dev", "wav")))[:3]:
        shutil.copytree(os.path.join(vox, "dev", "wav", speaker), cohort / speaker)
    run("eval.py", "--data_dir", os.path.join(vox, "test", "wav"), "--trials", tmp_path / "test_trials.txt",
        "--ckpt_path", out / "best.ckpt", "--output_dir", out / "eval", "--cohort_dir", cohort,
        "--score_norm", "asnorm", "--top_n", 5)
    metrics = json.load(open(out / "eval" / "metrics.json"))
    assert metrics["n_trials"] == 30 and metrics["score_norm"] == "asnorm" and 0.0 <= metrics["eer"] <= 1.0
    assert {"min_dcf", "eer_threshold", "min_dcf_threshold", "cosine_eer_threshold"} <= set(metrics)
    score_lines = open(out / "eval" / "scores.txt").read().split("\n")[:-1]
    assert [line.split()[0] + " " + " ".join(line.split()[2:]) for line in score_lines] == \
        [line.strip() for line in test_trials]
    assert os.path.getsize(out / "eval" / "det.png") > 5000

    model = run("export.py", "--ckpt_path", out / "best.ckpt", "--file_format", "MINDIR",
                "--file_name", out / "ecapa").stdout.strip().splitlines()[-1]
    description = json.load(open(out / "ecapa.json"))
    assert [i["shape"] for i in description["inputs"]] == [[-1, 80, -1], [-1]]
    assert description["outputs"][0]["shape"] == [-1, 24]

    # a user's folder: a 44.1 kHz stereo copy and two test files
    import soundfile
    from utils.audio import resample
    mine = tmp_path / "mine"
    source = [line.split()[1] for line in test_trials[:2]]
    for index, path in enumerate(source):
        os.makedirs(mine / "sub", exist_ok=True)
        shutil.copy(os.path.join(vox, "test", "wav", path), mine / "sub" / f"{index}.wav")
    wave, _ = soundfile.read(os.path.join(vox, "test", "wav", source[0]), dtype="float32")
    loud = resample(wave, 16000, 44100)
    soundfile.write(mine / "stereo44k.wav", np.stack([loud, loud], axis=1), 44100)
    run("infer.py", "embed", "--ckpt_path", model, "--input", mine, "--output_dir", tmp_path / "emb")
    from_mindir = {name: np.load(tmp_path / "emb" / name) for name in ["sub/0.npy", "sub/1.npy", "stereo44k.npy"]}
    assert all(v.shape == (24,) for v in from_mindir.values())

    from ecapa_tdnn.src.verification import extract_embeddings, load_embedder
    checkpoint = load_embedder(str(out / "best.ckpt"))
    reference = extract_embeddings(checkpoint, str(mine), ["sub/0.wav", "sub/1.wav", "stereo44k.wav"], 16000,
                                   checkpoint.config["data"]["features"])
    for row, name in enumerate(["sub/0.npy", "sub/1.npy", "stereo44k.npy"]):
        np.testing.assert_allclose(from_mindir[name], reference[row], rtol=1e-4, atol=1e-4)
    # resampled stereo copy of the same recording: nearly the same embedding
    cos = float(np.dot(from_mindir["sub/0.npy"], from_mindir["stereo44k.npy"]) /
                np.linalg.norm(from_mindir["sub/0.npy"]) / np.linalg.norm(from_mindir["stereo44k.npy"]))
    assert cos > 0.95

    score_only = run("infer.py", "verify", "--ckpt_path", model, mine / "sub" / "0.wav", mine / "stereo44k.wav")
    line = json.loads(score_only.stdout.strip().splitlines()[-1])
    assert line["score"] == pytest.approx(cos, abs=1e-4) and line["same_speaker"] is None
    assert "printing the score only" in score_only.stderr
    verdict = run("infer.py", "verify", "--ckpt_path", model, mine / "sub" / "0.wav", mine / "stereo44k.wav",
                  "--metrics", out / "eval" / "metrics.json")
    line = json.loads(verdict.stdout.strip().splitlines()[-1])
    assert line["threshold"] == pytest.approx(metrics["cosine_eer_threshold"], abs=1e-6)
    assert line["score"] == pytest.approx(cos, abs=1e-4)
    assert line["same_speaker"] == (line["score"] >= line["threshold"])


@pytest.mark.parametrize("script, flag", [("train.py", "--valid_trials"), ("eval.py", "--score_norm"),
                                          ("export.py", "--fixed_length"), ("infer.py", "--metrics")])
def test_help_lists_flags_and_config_keys(script, flag):
    result = run(script, "--help")
    assert flag in result.stdout and "--train.lr" in result.stdout
