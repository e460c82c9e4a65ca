"""LibriSpeech manifests, the Jasper dataset, augmentation and collate."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import yaml

from jasper.preprocess import build_manifests
from jasper.src.dataset import AsrDataset, SpecAugment, collate, read_manifest, speed_perturb
from jasper.src.text import BLANK, encode

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tone(seconds, freq=300.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def librispeech(tmp_path):
    """Two subsets; dev-clean has a corrupt flac and a transcript line without a file."""
    layout = {"train-clean-5": {("19", "198"): {"0001": (0.5, "HELLO WORLD"), "0002": (1.25, "IT'S A TEST")}},
              "dev-clean": {("84", "121"): {"0001": (0.75, "GOOD MORNING")}}}
    for subset, chapters in layout.items():
        for (speaker, chapter), utterances in chapters.items():
            folder = tmp_path / "LibriSpeech" / subset / speaker / chapter
            folder.mkdir(parents=True)
            lines = []
            for utt, (seconds, text) in utterances.items():
                name = f"{speaker}-{chapter}-{utt}"
                soundfile.write(folder / f"{name}.flac", tone(seconds), 16000)
                lines.append(f"{name} {text}")
            if subset == "dev-clean":
                (folder / f"{speaker}-{chapter}-0002.flac").write_bytes(b"not a flac")
                lines += [f"{speaker}-{chapter}-0002 BROKEN FILE", f"{speaker}-{chapter}-0003 MISSING FILE"]
            (folder / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "LibriSpeech"


def test_preprocess_writes_one_manifest_per_subset(librispeech, tmp_path):
    out = tmp_path / "manifests"
    summary = build_manifests(str(librispeech), str(out))
    assert summary == {"dev-clean": (1, 2), "train-clean-5": (2, 0)}
    lines = [json.loads(line) for line in open(out / "train-clean-5.jsonl")]
    assert [line["text"] for line in lines] == ["hello world", "it's a test"]
    assert [line["duration"] for line in lines] == [0.5, 1.25]
    assert all(os.path.isabs(line["audio_filepath"]) and line["audio_filepath"].endswith(".flac") for line in lines)


def test_preprocess_command_line(librispeech, tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "jasper", "preprocess.py"), "--data_dir",
                             str(librispeech), "--output_dir", str(tmp_path / "m")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dev-clean: 1 utterances" in result.stdout and "2 skipped" in result.stdout
    assert "not a flac" not in result.stdout
    help_text = subprocess.run([sys.executable, os.path.join(ROOT, "jasper", "preprocess.py"), "--help"],
                               capture_output=True, text=True, timeout=60).stdout
    assert "--data_dir" in help_text and "--output_dir" in help_text


def test_manifest_duration_filter_and_errors(librispeech, tmp_path):
    build_manifests(str(librispeech), str(tmp_path))
    entries, dropped = read_manifest(str(tmp_path / "train-clean-5.jsonl"), max_duration=1.0)
    assert (len(entries), dropped) == (1, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio_filepath": "a.flac", "text": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1: missing key"):
        read_manifest(str(bad))


def test_dataset_and_collate(librispeech, tmp_path):
    build_manifests(str(librispeech), str(tmp_path))
    data = yaml.safe_load(open(os.path.join(ROOT, "jasper", "config.yaml")))["data"]
    data["max_duration"] = 1.0
    train = AsrDataset(str(tmp_path / "train-clean-5.jsonl"), data, train=True)
    assert (len(train), train.dropped) == (1, 1)
    evaluation = AsrDataset(str(tmp_path / "train-clean-5.jsonl"), data, train=False)
    assert len(evaluation) == 2 and evaluation.lengths.tolist() == [51, 126]
    items = [evaluation.get(i) for i in range(2)]
    assert items[0][0].shape == (64, 51) and items[1][1].tolist() == encode("it's a test")
    feats, feat_lengths, labels, label_lengths = collate(items, bucket_frames=64)
    assert feats.shape == (2, 64, 128) and feat_lengths.tolist() == [51, 126]
    assert np.all(feats[0, :, 51:] == 0)
    assert labels.shape == (2, 11) and label_lengths.tolist() == [11, 11]
    np.testing.assert_array_equal(labels[0], encode("hello world"))
    short = collate([items[0], (items[1][0], np.array([3], np.int32))])[2]
    assert short[1].tolist() == [3] + [BLANK] * 10  # label padding is the blank, cut by label_lengths
    augmented = train.get(0, np.random.default_rng(0))[0]
    assert augmented.shape[0] == 64 and np.mean(augmented == 0) > 0


def test_spec_augment_masks_stay_within_limits():
    feats = np.ones((64, 300), np.float32)
    masker = SpecAugment(freq_masks=2, max_freq=20, time_masks=2, max_time=75)
    for seed in range(20):
        out = masker(feats, np.random.default_rng(seed))
        masked_bins = np.all(out == 0, axis=1).sum()
        masked_frames = np.all(out == 0, axis=0).sum()
        assert masked_bins <= 40 and masked_frames <= 150
        assert np.all(feats == 1)  # input untouched
    assert any(np.all(masker(feats, np.random.default_rng(s)) == 0, axis=1).sum() > 0 for s in range(5))


def test_speed_perturbation_changes_duration_not_content():
    wave = tone(1.0, freq=400.0)
    faster = speed_perturb(wave, 1.1)
    assert abs(len(faster) - 16000 / 1.1) < 2
    spectrum = np.abs(np.fft.rfft(faster[2000:12000]))
    assert abs(np.argmax(spectrum) * 16000 / 10000 - 440.0) <= 2.0  # pitch scales with speed
