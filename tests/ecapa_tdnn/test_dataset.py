"""VoxCeleb readers: speaker scan, trial parsing errors, training crops, padding, evaluation items."""
import os

import numpy as np
import pytest

from ecapa_tdnn.src.dataset import (UtteranceSet, VoxCelebTrainSet, build_augmenter, collate, read_trials,
                                    scan_voxceleb)
from utils.audio import audio_info, write_audio

SR = 16000
HOP = 160


@pytest.fixture(scope="module")
def voxceleb(tmp_path_factory):
    """3 speakers x 2 videos x 2 utterances of 1.0-1.9 s, written out of speaker order."""
    root = tmp_path_factory.mktemp("vox") / "wav"
    rng = np.random.default_rng(0)
    for speaker in ("id10309", "id10001", "id10270"):
        for video in ("aBcD1234567", "zz_-9876543"):
            for utt in (1, 2):
                seconds = rng.uniform(1.0, 1.9)
                write_audio(str(root / speaker / video / f"{utt:05d}.wav"), 0.1 * rng.normal(size=int(seconds * SR)), SR)
    return str(root)


def test_scan_gives_sorted_speakers_and_relative_paths(voxceleb):
    items, speakers = scan_voxceleb(voxceleb)
    assert speakers == ["id10001", "id10270", "id10309"]
    assert len(items) == 12
    assert items[0] == ("id10001/aBcD1234567/00001.wav", 0)
    assert all(speakers[label] == path.split("/")[0] for path, label in items)


def test_scan_explains_wrong_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="wav/ folder"):
        scan_voxceleb(str(tmp_path))


def _write_trials(folder, lines):
    path = os.path.join(folder, "trials.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_read_trials(voxceleb, tmp_path):
    path = _write_trials(str(tmp_path), ["1 id10001/aBcD1234567/00001.wav id10001/zz_-9876543/00002.wav", "",
                                         "0 id10001/aBcD1234567/00001.wav id10270/aBcD1234567/00001.wav"])
    assert read_trials(path, voxceleb) == [
        (1, "id10001/aBcD1234567/00001.wav", "id10001/zz_-9876543/00002.wav"),
        (0, "id10001/aBcD1234567/00001.wav", "id10270/aBcD1234567/00001.wav")]


@pytest.mark.parametrize("lines, message", [
    (["1 a.wav b.wav", "1 a.wav"], r"trials.txt:2: expected 'LABEL PATH1 PATH2' \(3 fields\), got 2"),
    (["1 a.wav b.wav", "1 a.wav b.wav", "yes a.wav b.wav"], r"trials.txt:3: label must be 1"),
    ([""], "trial list is empty"),
])
def test_read_trials_errors_name_the_line(tmp_path, lines, message):
    with pytest.raises(ValueError, match=message):
        read_trials(_write_trials(str(tmp_path), lines))


def test_read_trials_reports_missing_files(voxceleb, tmp_path):
    path = _write_trials(str(tmp_path), ["1 id10001/aBcD1234567/00001.wav id10001/aBcD1234567/00009.wav"])
    with pytest.raises(FileNotFoundError, match=r"trials.txt:1: id10001/aBcD1234567/00009.wav"):
        read_trials(path, voxceleb)
    with pytest.raises(FileNotFoundError, match="trial list not found"):
        read_trials(str(tmp_path / "nope.txt"))


def test_training_crops_are_random_lengths_and_reproducible(voxceleb):
    dataset = VoxCelebTrainSet(voxceleb, SR, crop_seconds=(0.5, 0.8))
    assert len(dataset) == 12 and dataset.num_classes == 3
    frames = []
    for seed in range(20):
        feats, label = dataset.get(seed % 12, np.random.default_rng(seed))
        assert feats.shape[0] == 80 and feats.dtype == np.float32 and np.isfinite(feats).all()
        assert 1 + int(0.5 * SR) // HOP <= feats.shape[1] <= 1 + int(0.8 * SR) // HOP
        assert label == dataset.items[seed % 12][1]
        frames.append(feats.shape[1])
    assert len(set(frames)) > 5
    first = dataset.get(3, np.random.default_rng(99))[0]
    np.testing.assert_array_equal(first, dataset.get(3, np.random.default_rng(99))[0])


def test_crop_longer_than_file_is_tiled(voxceleb):
    dataset = VoxCelebTrainSet(voxceleb, SR, crop_seconds=(3.0, 3.0))
    feats, _ = dataset.get(0, np.random.default_rng(0))
    assert feats.shape[1] == 1 + 3 * SR // HOP


def test_speed_perturbed_copies_become_new_speakers(voxceleb):
    dataset = VoxCelebTrainSet(voxceleb, SR, crop_seconds=(0.5, 0.5), speed_factors=[0.9, 1.0, 1.1],
                               speed_as_new_speaker=True)
    assert dataset.num_classes == 9
    labels = {int(dataset.get(4, np.random.default_rng(seed))[1]) for seed in range(30)}
    base = dataset.items[4][1]
    assert labels == {base, base + 3, base + 6}


def test_collate_pads_and_reports_lengths(voxceleb):
    dataset = VoxCelebTrainSet(voxceleb, SR, crop_seconds=(0.5, 0.9))
    items = [dataset.get(i, np.random.default_rng(i)) for i in range(4)]
    feats, lengths, labels = collate(items)
    assert feats.shape == (4, 80, max(item[0].shape[1] for item in items))
    for row, (item_feats, item_label), length, label in zip(feats, items, lengths, labels):
        assert length == item_feats.shape[1] and label == item_label
        np.testing.assert_array_equal(row[:, :length], item_feats)
        assert not row[:, length:].any()


def test_evaluation_items_are_whole_utterances(voxceleb):
    items, _ = scan_voxceleb(voxceleb)
    paths = [path for path, _ in items[:3]]
    dataset = UtteranceSet(voxceleb, paths, SR)
    for index, path in enumerate(paths):
        feats, returned = dataset.get(index)
        samples = audio_info(os.path.join(voxceleb, path))[0]
        assert returned == index and feats.shape == (80, 1 + samples // HOP)


def test_augmentation_off_without_data():
    assert build_augmenter({"probability": 0.6, "musan_dir": None, "rir_dir": None}, SR) is None
    assert build_augmenter({"probability": 0.0, "musan_dir": "/x"}, SR) is None
