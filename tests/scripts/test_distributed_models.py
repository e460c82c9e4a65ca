"""Every model's train.py through scripts/run_distribute_train_msrun.sh with 2 CPU workers equals one
process training on the same global batches.

Each test trains a tiny model for one epoch (2 steps of a global batch of 4) twice on the tiny corpus:
once with msrun (2 x 2 items per step) and once alone (4 items per step), with ZOO_DEBUG_DUMP_DIR so
every rank dumps its final parameters (BatchNorm moving statistics included) and its epoch shard.
Both ranks must end bit-identical, equal the single run within 1e-5 relative (see RELATIVE_TOLERANCE for
the float32 floor), log the single run's training loss, have trained on disjoint shards covering the
training set, and only rank 0 may have written checkpoints and logs.
"""
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER = os.path.join(ROOT, "scripts", "run_distribute_train_msrun.sh")
GLOBAL_BATCH, N_TRAIN = 4, 6  # 2 steps per epoch; the last global batch is completed with repeated items
# Per tensor: |distributed - single| <= RELATIVE_TOLERANCE * max|single| + ABSOLUTE_FLOOR. The floor is for
# biases and BN betas that start at 0 and move ~1e-4 in 2 steps: Adam divides their small gradients by
# their own magnitude, which turns float32 summation-order noise into ~1e-8 differences (measured here up
# to 2.7e-8; permuting the items inside one batch of a single process, mathematically a no-op, gives 9e-9).
RELATIVE_TOLERANCE, ABSOLUTE_FLOOR = 1e-5, 1e-7
# Parameters whose gradient is exactly 0 in exact arithmetic, so Adam moves them by +-lr along float noise:
# ECAPA's attention conv bias adds a per-channel constant to scores that a softmax over time then removes.
PURE_NOISE_GRADIENT = {"ecapa_tdnn": ("param/asp.conv.bias",)}

pytestmark = pytest.mark.slow


def subprocess_env(**extra):
    return dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), **extra)


def train_both(model, work, args):
    """Run MODEL/train.py alone (batch GLOBAL_BATCH) and through msrun (2 x GLOBAL_BATCH / 2).

    Returns (single dump, [rank 0 dump, rank 1 dump], seconds of the single run, seconds of the msrun run).
    """
    common = [*args, "--train.num_workers", "0", "--seed", "0"]
    started = time.time()
    done = subprocess.run([sys.executable, os.path.join(ROOT, model, "train.py"), *common,
                           "--output_dir", str(work / "single"), "--train.batch_size", str(GLOBAL_BATCH)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=subprocess_env(ZOO_DEBUG_DUMP_DIR=str(work / "dump_single")))
    assert done.returncode == 0, f"single run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    single_seconds = time.time() - started
    started = time.time()
    done = subprocess.run(["bash", LAUNCHER, model, "2", "CPU", "--timeout", "120", *common,
                           "--output_dir", str(work / "dist"), "--train.batch_size", str(GLOBAL_BATCH // 2)],
                          cwd=ROOT, capture_output=True, text=True, timeout=400,
                          env=subprocess_env(ZOO_DEBUG_DUMP_DIR=str(work / "dump_dist"), ZOO_RUNS=str(work / "runs")))
    assert done.returncode == 0, f"msrun run failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    dist_seconds = time.time() - started
    single = dict(np.load(work / "dump_single" / "rank_0.npz"))
    ranks = [dict(np.load(work / "dump_dist" / f"rank_{rank}.npz")) for rank in (0, 1)]
    return single, ranks, single_seconds, dist_seconds


def relative_difference(value, reference):
    """max |value - reference| / (max |reference| + ABSOLUTE_FLOOR / RELATIVE_TOLERANCE) of one tensor."""
    scale = float(np.abs(reference).max()) + ABSOLUTE_FLOOR / RELATIVE_TOLERANCE
    return float(np.abs(value - reference).max()) / scale


def check_equivalence(model, work, single, ranks, seconds):
    """Asserts of the module docstring; returns the largest relative difference to the single run."""
    rank0, rank1 = ranks
    assert int(single["group_size"]) == 1 and [int(r["group_size"]) for r in ranks] == [2, 2]
    assert int(single["global_step"]) == int(rank0["global_step"]) == int(rank1["global_step"]) == 2
    logs = [[json.loads(line) for line in open(work / run / "train_log.jsonl")] for run in ("single", "dist")]
    assert len(logs[0]) == len(logs[1]) == 1  # one epoch, logged by rank 0 only
    assert abs(logs[1][-1]["train_loss"] - logs[0][-1]["train_loss"]) < 1e-4 * abs(logs[0][-1]["train_loss"])
    params = sorted(key for key in single if key.startswith("param/"))
    assert params and params == sorted(key for key in rank0 if key.startswith("param/"))
    worst, worst_name = 0.0, None
    for key in params:
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=f"{model}: the ranks differ in {key}")
        if key in PURE_NOISE_GRADIENT.get(model, ()):
            continue
        difference = relative_difference(rank0[key], single[key])
        if difference > worst:
            worst, worst_name = difference, key
    print(f"\n{model}: {len(params)} tensors, max relative difference {worst:.2e} ({worst_name}); "
          f"single run {seconds[0]:.1f} s, msrun run {seconds[1]:.1f} s")
    assert worst < RELATIVE_TOLERANCE, f"{model}: {worst_name} differs from the single run by {worst:.2e}"
    shard0, shard1 = (set(r["epoch0"].tolist()) for r in ranks)
    assert not shard0 & shard1 and shard0 | shard1 == set(range(N_TRAIN)) and len(shard0) == len(shard1)
    assert sorted(single["epoch0"].tolist()) == list(range(N_TRAIN))
    # only rank 0 wrote: one output folder, checkpoints nowhere else
    checkpoints = sorted(os.path.relpath(path, work) for path in glob.glob(str(work / "**" / "*.ckpt"), recursive=True))
    assert checkpoints == ["dist/best.ckpt", "dist/last.ckpt", "single/best.ckpt", "single/last.ckpt"], checkpoints
    assert sorted(os.listdir(work / "dist")) == sorted(os.listdir(work / "single"))
    (run_dir,) = os.listdir(work / "runs")
    assert sorted(os.listdir(work / "runs" / run_dir)) == ["logs", "msrun.log"]
    return worst


def first_rows(source, target, count):
    with open(source, encoding="utf-8") as handle:
        header, *rows = handle.readlines()
    with open(target, "w", encoding="utf-8") as handle:
        handle.writelines([header] + rows[:count])


# ---- separation --------------------------------------------------------------------------------
def librimix_subset(root, work):
    """A LibriMix metadata folder with N_TRAIN training and 2 validation mixtures (absolute wav paths)."""
    source = os.path.join(root, "Libri2Mix", "wav8k", "min", "metadata")
    target = work / "librimix" / "metadata"
    target.mkdir(parents=True)
    first_rows(os.path.join(source, "mixture_train-100_mix_clean.csv"), target / "mixture_train-100_mix_clean.csv",
              N_TRAIN)
    first_rows(os.path.join(source, "mixture_dev_mix_clean.csv"), target / "mixture_dev_mix_clean.csv", 2)
    return str(work / "librimix")


SEPARATION_MODELS = {
    "tasnet": ["--model.n_filters", "16", "--model.hidden_size", "8", "--model.n_layers", "1"],
    "dprnn": ["--model.n_filters", "16", "--model.bn_chan", "8", "--model.hid_size", "8",
              "--model.n_repeats", "1", "--model.chunk_size", "20"],
}


@pytest.mark.parametrize("model", sorted(SEPARATION_MODELS))
def test_separation_model_two_workers_equal_one(model, tiny_corpus, tmp_path):
    data_dir = librimix_subset(tiny_corpus("librimix"), tmp_path)
    args = ["--data_dir", data_dir, "--data.segment_seconds", "0.5", "--train.epochs", "1", "--train.max_steps", "2",
            "--model.dropout", "0", *SEPARATION_MODELS[model]]
    single, ranks, *seconds = train_both(model, tmp_path, args)
    check_equivalence(model, tmp_path, single, ranks, seconds)


# ---- speaker verification -----------------------------------------------------------------------
def voxceleb_subset(root, work):
    """A VoxCeleb wav/ folder of N_TRAIN files (3 speakers x 2) linked from the tiny corpus."""
    source = os.path.join(root, "VoxCeleb1", "dev", "wav")
    target = work / "voxceleb"
    for speaker in sorted(os.listdir(source))[:3]:
        for path in sorted(glob.glob(os.path.join(source, speaker, "*", "*.wav")))[:N_TRAIN // 3]:
            link = target / os.path.relpath(path, source)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, link)
    return str(target)


ECAPA_MODEL = ["--model.input_dim", "40", "--data.features.n_mels", "40", "--model.channels", "[16, 16, 16, 16, 48]",
               "--model.res2net_scale", "2", "--model.attention_channels", "8", "--model.se_channels", "8",
               "--model.embedding_dim", "16"]


def test_ecapa_tdnn_two_workers_equal_one(tiny_corpus, tmp_path):
    # crops of different lengths: the ranks pad to different lengths, which the trainer evens out, and
    # the BatchNorm statistics include padded frames exactly as in one process
    args = ["--data_dir", voxceleb_subset(tiny_corpus("voxceleb"), tmp_path), "--data.crop_seconds", "[0.5, 1.0]",
            "--train.epochs", "1", "--train.max_steps", "2", *ECAPA_MODEL]
    single, ranks, *seconds = train_both("ecapa_tdnn", tmp_path, args)
    check_equivalence("ecapa_tdnn", tmp_path, single, ranks, seconds)
    assert any("moving_variance" in key for key in single)


# ---- speech recognition -------------------------------------------------------------------------
def librispeech_manifest(root, split, path, count):
    """A JSON-lines manifest of the ``count`` shortest utterances of a tiny LibriSpeech split."""
    entries = []
    for transcript in glob.glob(os.path.join(root, "LibriSpeech", split, "*", "*", "*.trans.txt")):
        for line in open(transcript, encoding="utf-8"):
            name, text = line.strip().split(" ", 1)
            audio = os.path.join(os.path.dirname(transcript), name + ".flac")
            entries.append({"audio_filepath": audio, "duration": soundfile.info(audio).duration, "text": text})
    entries = sorted(entries, key=lambda entry: (entry["duration"], entry["audio_filepath"]))[:count]
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in entries)
    return str(path)


JASPER_BLOCKS = ("[{filters: 16, kernel: 11, stride: 2, dropout: 0.0},"
                 " {filters: 16, kernel: 11, repeat: 2, residual: true, dropout: 0.0},"
                 " {filters: 24, kernel: 9, dilation: 2, dropout: 0.0}, {filters: 32, kernel: 1, dropout: 0.0}]")


def test_jasper_two_workers_equal_one(tiny_corpus, tmp_path):
    # speed perturbation, dither and SpecAugment stay on: their randomness belongs to the item, not the rank
    root = tiny_corpus("librispeech")
    train = librispeech_manifest(root, "train-clean-100", tmp_path / "train.jsonl", N_TRAIN)
    valid = librispeech_manifest(root, "dev-clean", tmp_path / "valid.jsonl", 2)
    data_and_model = ["--train_manifest", train, "--valid_manifest", valid,
                      "--model.blocks", JASPER_BLOCKS, "--train.valid_batch_size", "2"]
    args = [*data_and_model, "--train.epochs", "1", "--train.max_steps", "2"]
    single, ranks, *seconds = train_both("jasper", tmp_path, args)
    check_equivalence("jasper", tmp_path, single, ranks, seconds)
    assert any("moving_variance" in key for key in single)
    # the distributed checkpoint (SyncBatchNorm layers) resumes in one process (plain BatchNorm)
    resumed = tmp_path / "resumed"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "jasper", "train.py"), *data_and_model,
                           "--train.epochs", "2", "--train.max_steps", "4", "--train.batch_size", str(GLOBAL_BATCH),
                           "--resume", str(tmp_path / "dist" / "last.ckpt"), "--output_dir", str(resumed)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr + done.stdout and "global step 2" in done.stderr + done.stdout
    (record,) = [json.loads(line) for line in open(resumed / "train_log.jsonl")]
    assert (record["epoch"], record["steps"], record["global_step"]) == (2, 2, 4) and np.isfinite(record["train_loss"])
