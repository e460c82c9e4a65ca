"""LibriMix / wsj0-mix readers and the separation dataset, on tiny fixtures written to tmp_path."""
import csv
import os
import shutil

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from utils.audio import read_audio, write_audio
from utils.separation.data import (SeparationDataset, collate, find_items, read_librimix_csv, read_wsj0_split)

RATE = 8000


def tone(length, freq, amplitude=0.3):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(length) / RATE)).astype(np.float32)


def make_librimix(root, split="train-100", lengths=(4000, 9000, 2500), n_src=2, absolute=True, kind="mix_clean"):
    """A Libri{n}Mix `wav8k/min` folder under root; returns that folder."""
    folder = os.path.join(root, f"Libri{n_src}Mix", "wav8k", "min")
    rows = []
    for index, length in enumerate(lengths):
        mixture_id = f"utt{index}"
        sources = [tone(length, 200 * (s + 1) + index) for s in range(n_src)]
        folders = [kind] + [f"s{s + 1}" for s in range(n_src)]
        relative = [os.path.join(split, sub, mixture_id + ".wav") for sub in folders]
        for path, wave in zip(relative, [sum(sources)] + sources):
            write_audio(os.path.join(folder, path), wave, RATE, subtype="FLOAT")
        rows.append([mixture_id] + [os.path.join(folder, p) if absolute else p for p in relative] + [length])
    os.makedirs(os.path.join(folder, "metadata"), exist_ok=True)
    with open(os.path.join(folder, "metadata", f"mixture_{split}_{kind}.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["mixture_ID", "mixture_path"] + [f"source_{s + 1}_path" for s in range(n_src)] + ["length"])
        writer.writerows(rows)
    return folder


def make_wsj0(root, split="tt", names_and_lengths=(("b_long", 6000), ("a_short", 2000), ("c_mid", 4000)), n_src=2):
    """wsj0-mix folders where name order differs from length order (the old length-sorting bug)."""
    for name, length in names_and_lengths:
        sources = [tone(length, 150 * (s + 1)) for s in range(n_src)]
        write_audio(os.path.join(root, split, "mix", name + ".wav"), sum(sources), RATE, subtype="FLOAT")
        for s, wave in enumerate(sources):
            write_audio(os.path.join(root, split, f"s{s + 1}", name + ".wav"), wave, RATE, subtype="FLOAT")
    return root


def test_librimix_csv_reads_items_and_survives_a_moved_dataset(tmp_path):
    folder = make_librimix(str(tmp_path / "old"))
    items = read_librimix_csv(os.path.join(folder, "metadata", "mixture_train-100_mix_clean.csv"))
    assert [(i.mixture_id, i.length, len(i.source_paths)) for i in items] == [("utt0", 4000, 2), ("utt1", 9000, 2),
                                                                               ("utt2", 2500, 2)]
    shutil.move(str(tmp_path / "old"), str(tmp_path / "new"))   # absolute paths in the csv are now stale
    moved = find_items(str(tmp_path / "new" / "Libri2Mix"), "train")
    assert all(os.path.isfile(p) for item in moved for p in (item.mixture_path,) + item.source_paths)
    new_folder = tmp_path / "new" / "Libri2Mix" / "wav8k" / "min"
    assert moved[1].source_paths[1] == str(new_folder / "train-100" / "s2" / "utt1.wav")


def test_librimix_relative_paths_three_sources_and_mix_both(tmp_path):
    folder = make_librimix(str(tmp_path), split="dev", n_src=3, absolute=False, kind="mix_both")
    items = find_items(folder, "valid", mixture_type="mix_both")    # the wav8k/min folder itself
    assert len(items) == 3 and all(len(i.source_paths) == 3 for i in items)
    assert all(os.path.isfile(p) for i in items for p in i.source_paths)
    with pytest.raises(FileNotFoundError, match="mixture_dev_mix_clean"):
        find_items(folder, "valid")


def test_librimix_csv_with_wrong_columns_names_the_file(tmp_path):
    bad = tmp_path / "metadata" / "mixture_test_mix_clean.csv"
    bad.parent.mkdir()
    bad.write_text("id,path\nx,y\n")
    with pytest.raises(ValueError, match="mixture_test_mix_clean.csv.*mixture_ID"):
        read_librimix_csv(str(bad))


def test_wsj0_sources_are_matched_by_file_name(tmp_path):
    make_wsj0(str(tmp_path))
    items = find_items(str(tmp_path), "test")
    assert [i.mixture_id for i in items] == ["a_short", "b_long", "c_mid"]
    for item in items:
        assert all(os.path.basename(p) == item.mixture_id + ".wav" for p in item.source_paths)
        mixture, sources, length = SeparationDataset([item]).get(0)
        np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-6)


def test_wsj0_missing_source_is_named(tmp_path):
    make_wsj0(str(tmp_path), split="cv", n_src=3)
    os.remove(tmp_path / "cv" / "s3" / "c_mid.wav")
    with pytest.raises(FileNotFoundError, match=r"s3/c_mid\.wav"):
        read_wsj0_split(str(tmp_path / "cv"))


def test_unknown_layout_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a LibriMix"):
        find_items(str(tmp_path), "train")


def test_training_crops_are_seeded_padded_and_sharded(tmp_path):
    items = find_items(make_librimix(str(tmp_path)), "train")
    data = SeparationDataset(items, segment_seconds=0.5, seed=3)
    mixture, sources, length = data[1]                        # 9000 samples -> a 4000-sample crop
    assert mixture.shape == (4000,) and sources.shape == (2, 4000) and length == 4000
    np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-6)
    np.testing.assert_array_equal(data[1][0], mixture)       # same epoch, same crop
    data.set_epoch(1)
    assert not np.array_equal(data[1][0], mixture)           # a new epoch draws a new crop
    short_mix, short_src, short_len = data[2]                 # 2500 samples: zero-padded, true length kept
    assert short_mix.shape == (4000,) and short_len == 2500 and not short_src[:, 2500:].any()
    shards = [SeparationDataset(items, num_shards=2, shard_id=k) for k in range(2)]
    ids = [[i.mixture_id for i in shard.items] for shard in shards]
    assert sorted(ids[0] + ids[1]) == ["utt0", "utt1", "utt2"] and not set(ids[0]) & set(ids[1])


def test_eval_mode_returns_whole_utterances_and_collate_pads(tmp_path):
    data = SeparationDataset(find_items(make_librimix(str(tmp_path)), "train"))
    batch = [data[k] for k in range(3)]
    assert [b[0].size for b in batch] == [4000, 9000, 2500]
    mixtures, sources, lengths = collate(batch)
    assert mixtures.shape == (3, 9000) and sources.shape == (3, 2, 9000)
    np.testing.assert_array_equal(lengths, [4000, 9000, 2500])
    assert not mixtures[2, 2500:].any() and not sources[0, :, 4000:].any()


def test_bad_files_are_skipped_counted_and_reported(tmp_path):
    items = find_items(make_librimix(str(tmp_path)), "train")
    with open(items[0].mixture_path, "wb") as handle:
        handle.write(b"not a wav")
    data = SeparationDataset(items)
    mixture, _, _ = data[0]
    assert mixture.size == 9000                              # fell through to the next mixture
    assert list(data.bad_files) == [items[0].mixture_path]
    assert "1 unreadable mixture" in data.report() and "utt0.wav" in data.report()


def test_generator_dataset_yields_the_items(tmp_path):
    import mindspore.dataset as ds
    data = SeparationDataset(find_items(make_librimix(str(tmp_path)), "train"), segment_seconds=0.25, seed=1)
    pipeline = ds.GeneratorDataset(data, column_names=["mixture", "sources", "length"], shuffle=False)
    rows = list(pipeline.create_tuple_iterator(output_numpy=True))
    assert len(rows) == 3
    for index, (mixture, sources, length) in enumerate(rows):
        expected = data[index]
        np.testing.assert_array_equal(mixture, expected[0])
        np.testing.assert_array_equal(sources, expected[1])
        assert int(length) == int(expected[2]) == 2000


def test_dynamic_mixing_builds_new_mixtures_from_the_item_and_random_partners(tmp_path):
    folder = make_librimix(str(tmp_path), lengths=(4000, 9000, 2500, 6000))
    items = find_items(folder, "train")
    sources_on_disk = {(p, k): read_audio(p, RATE)[0] for item in items for k, p in enumerate(item.source_paths)}
    dataset = SeparationDataset(items, RATE, segment_seconds=0.25, seed=0, dynamic_mixing=1.0, remix_gain_db=3.0)
    partners_seen = set()
    for index in range(len(items)):
        mixture, sources, length = dataset.get(index, np.random.default_rng(index))
        assert mixture.shape == (2000,) and sources.shape == (2, 2000) and length == 2000
        np.testing.assert_allclose(mixture, sources.sum(0), atol=1e-6)
        # every remixed source is a scaled excerpt (gain within +-3 dB) of the same slot of some item
        for k, source in enumerate(sources):
            matches = []
            for item in items:
                windows = sliding_window_view(sources_on_disk[(item.source_paths[k], k)], 2000)
                gains = windows @ source / (windows ** 2).sum(-1)
                errors = np.abs(source - gains[:, None] * windows).max(-1)
                errors[gains <= 0] = np.inf  # a tone half a period later matches with a negative gain
                if errors.min() < 1e-5:
                    matches.append((item.mixture_id, gains[errors.argmin()]))
            assert matches, f"item {index} source {k} is not an excerpt of any s{k + 1} file"
            assert all(10 ** (-3 / 20) - 1e-4 <= gain <= 10 ** (3 / 20) + 1e-4 for _, gain in matches)
            if k == 0:
                assert items[index].mixture_id in [name for name, _ in matches]
            else:
                partners_seen.update(name for name, _ in matches)
    assert len(partners_seen) > 1  # partners are drawn at random, not fixed
    # reproducible from the rng, and off for evaluation datasets
    again = dataset.get(1, np.random.default_rng(1))[0]
    np.testing.assert_array_equal(again, dataset.get(1, np.random.default_rng(1))[0])
    plain = SeparationDataset(items, RATE, segment_seconds=None, dynamic_mixing=1.0).get(1)
    np.testing.assert_allclose(plain[0], read_audio(items[1].mixture_path, RATE)[0], atol=1e-6)
    with pytest.raises(ValueError, match="probability"):
        SeparationDataset(items, RATE, dynamic_mixing=1.5)
