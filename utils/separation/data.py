"""Readers for LibriMix and wsj0-2mix/3mix, and a random-access dataset of (mixture, sources, length).

LibriMix: `<root>/metadata/mixture_{split}_{mix_clean|mix_both|mix_single}.csv` with columns
mixture_ID, mixture_path, source_1_path, source_2_path[, source_3_path], length (samples).
wsj0-2mix: `<root>/{tr,cv,tt}/{mix,s1,s2[,s3]}/*.wav`, sources matched to the mixture by file name.
`find_items(data_dir, split)` accepts either layout from its root and maps train/valid/test to the
corpus' own split names.
"""
import csv
import logging
import os
import re
from dataclasses import dataclass

import numpy as np

from utils.audio import read_audio
from utils.data import item_rng, pad_stack

logger = logging.getLogger(__name__)

LIBRIMIX_SPLITS = {"train": ("train-360", "train-100"), "valid": ("dev",), "test": ("test",)}
WSJ0_SPLITS = {"train": "tr", "valid": "cv", "test": "tt"}
SOURCE_COLUMN = re.compile(r"^source_(\d+)_path$")


@dataclass(frozen=True)
class SeparationItem:
    """One mixture: its id, wav paths and length in samples (None when the listing does not say)."""
    mixture_id: str
    mixture_path: str
    source_paths: tuple
    length: int = None


def _relocate(path, root, cache):
    """Find `path` under `root` when the dataset was moved: keep the longest tail of the path that exists
    below root, and remember the prefix swap so the rest of the csv costs one lookup each."""
    if os.path.exists(path):
        return path
    for old_prefix, new_prefix in cache:
        if path.startswith(old_prefix):
            return new_prefix + path[len(old_prefix):]
    parts = path.replace("\\", "/").split("/")
    for start in range(len(parts)):
        candidate = os.path.join(root, *parts[start:])
        if os.path.exists(candidate):
            old_prefix = "/".join(parts[:start])
            cache.append((old_prefix + "/" if old_prefix else "", os.path.join(root, "")))
            return candidate
    return os.path.join(root, path)


def read_librimix_csv(csv_path):
    """LibriMix metadata csv -> [SeparationItem]. Relative or stale paths are resolved against the csv
    folder's parent (the `wav8k/min` folder) so a moved dataset still reads."""
    if not os.path.isfile(csv_path):
        raise FileNotFoundError(f"{csv_path}: LibriMix metadata csv not found")
    root = os.path.dirname(os.path.dirname(os.path.abspath(csv_path)))
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        source_columns = sorted((c for c in columns if SOURCE_COLUMN.match(c)),
                                key=lambda c: int(SOURCE_COLUMN.match(c).group(1)))
        missing = [c for c in ("mixture_ID", "mixture_path") if c not in columns]
        if missing or not source_columns:
            raise ValueError(f"{csv_path}: not a LibriMix csv, missing column(s) "
                             f"{', '.join(missing or ['source_1_path'])}; found {', '.join(columns)}")
        cache = []
        items = []
        for row in reader:
            length = row.get("length")
            items.append(SeparationItem(
                row["mixture_ID"], _relocate(row["mixture_path"], root, cache),
                tuple(_relocate(row[c], root, cache) for c in source_columns),
                int(float(length)) if length not in (None, "") else None))
    return items


def read_wsj0_split(split_dir, n_src=None):
    """`<split_dir>/{mix,s1,s2[,s3]}` -> [SeparationItem], one per mixture wav (sorted by name); each
    source is the file of the SAME name in s1, s2, ... n_src defaults to the number of s<k> folders."""
    mix_dir = os.path.join(split_dir, "mix")
    if not os.path.isdir(mix_dir):
        raise FileNotFoundError(f"{mix_dir}: wsj0-mix folder not found (expected {split_dir}/mix, s1, s2...)")
    if n_src is None:
        n_src = sum(1 for k in range(1, 10) if os.path.isdir(os.path.join(split_dir, f"s{k}")))
    if n_src < 1:
        raise FileNotFoundError(f"{split_dir}: no source folders s1, s2, ... next to mix/")
    items = []
    for name in sorted(f for f in os.listdir(mix_dir) if f.lower().endswith((".wav", ".flac"))):
        sources = tuple(os.path.join(split_dir, f"s{k}", name) for k in range(1, n_src + 1))
        for source in sources:
            if not os.path.isfile(source):
                raise FileNotFoundError(f"{source}: source file missing for mixture {os.path.join(mix_dir, name)}")
        items.append(SeparationItem(os.path.splitext(name)[0], os.path.join(mix_dir, name), sources))
    return items


def find_items(data_dir, split, sample_rate=8000, mode="min", mixture_type="mix_clean", n_src=None):
    """--data_dir + split -> [SeparationItem] for either corpus layout.

    data_dir: a LibriMix root (holding `wav8k/min/...`), a LibriMix `wav8k/min` folder (holding
    `metadata/`), or a wsj0-mix root (holding tr/cv/tt, directly or under `wav8k/min`).
    split: "train" | "valid" | "test" (mapped to train-360 or train-100 / dev / test, and tr / cv / tt),
    or a corpus split name itself ("train-100", "cv", ...).
    sample_rate, mode: pick `wav{sample_rate // 1000}k/{mode}` below a root. mixture_type: LibriMix csv
    kind (mix_clean, mix_both, mix_single).
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"{data_dir}: data directory not found")
    nested = os.path.join(data_dir, f"wav{sample_rate // 1000}k", mode)
    for folder in (data_dir, nested):
        metadata = os.path.join(folder, "metadata")
        if os.path.isdir(metadata):
            names = LIBRIMIX_SPLITS.get(split, (split,))
            for name in names:
                csv_path = os.path.join(metadata, f"mixture_{name}_{mixture_type}.csv")
                if os.path.isfile(csv_path):
                    return read_librimix_csv(csv_path)
            tried = " or ".join(f"mixture_{name}_{mixture_type}.csv" for name in names)
            raise FileNotFoundError(f"{metadata}: no {tried} for split {split!r}")
        wsj_split = os.path.join(folder, WSJ0_SPLITS.get(split, split))
        if os.path.isdir(os.path.join(wsj_split, "mix")):
            return read_wsj0_split(wsj_split, n_src)
    raise FileNotFoundError(f"{data_dir}: neither a LibriMix folder (metadata/ or wav{sample_rate // 1000}k/{mode}/"
                            f"metadata/) nor a wsj0-mix folder with {WSJ0_SPLITS.get(split, split)}/mix")


class SeparationDataset:
    """Random-access (mixture, sources, length) for GeneratorDataset or utils.data.BatchLoader.

    Item: (mixture float32 [T], sources float32 [S, T], length int32 scalar = true samples before padding).
    segment_seconds: training mode (not None) returns a random crop of that many seconds, zero-padded
    when the utterance is shorter; None returns whole utterances (evaluation).
    seed / set_epoch(epoch): crops are drawn from (seed, epoch, index), reproducible on any worker.
    num_shards / shard_id: keep items shard_id, shard_id + num_shards, ... (disjoint, together all).
    dynamic_mixing: probability (training only) that an item is a NEW mixture: its own first source plus
    source k of a random other item for every k > 1, each at a random offset and a random gain within
    +-remix_gain_db, summed. A small corpus then yields different mixtures every epoch.
    Unreadable files are counted in `bad_files` {path: error}, logged once each, and replaced by the next
    item so training goes on; `report()` summarises them.
    """

    def __init__(self, items, sample_rate=8000, segment_seconds=None, seed=0, num_shards=1, shard_id=0,
                 dynamic_mixing=0.0, remix_gain_db=2.5):
        if not 0 <= shard_id < num_shards:
            raise ValueError(f"shard_id must be in [0, {num_shards}), got {shard_id}")
        self.items = list(items)[shard_id::num_shards]
        if not self.items:
            raise ValueError(f"no mixtures in shard {shard_id} of {num_shards}")
        self.sample_rate = sample_rate
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.seed, self.epoch = seed, 0
        if not 0.0 <= dynamic_mixing <= 1.0:
            raise ValueError(f"dynamic_mixing is a probability in [0, 1], got {dynamic_mixing}")
        self.dynamic_mixing, self.remix_gain_db = float(dynamic_mixing), float(remix_gain_db)
        self.bad_files = {}

    def __len__(self):
        return len(self.items)

    def set_epoch(self, epoch):
        """New crops every epoch (GeneratorDataset path; BatchLoader passes its own rng)."""
        self.epoch = int(epoch)

    def __getitem__(self, index):
        return self.get(index, item_rng(self.seed, self.epoch, index) if self.segment else None)

    def get(self, index, rng=None):
        """Item `index` (see class doc); rng draws the crop (a fixed start 0 when None)."""
        remix = self.segment is not None and rng is not None and self.dynamic_mixing > 0 \
            and rng.random() < self.dynamic_mixing
        for attempt in range(len(self.items)):
            item = self.items[(index + attempt) % len(self.items)]
            try:
                mixture, sources = self._remix(item, rng) if remix else self._load(item)
            except (OSError, ValueError) as error:
                if item.mixture_path not in self.bad_files:
                    logger.warning("skipping mixture %s: %s", item.mixture_path, error)
                self.bad_files[item.mixture_path] = str(error)
                continue
            return self._crop(mixture, sources, rng)
        raise RuntimeError(f"every one of the {len(self.items)} mixtures failed to load; first: "
                           f"{next(iter(self.bad_files.items()))}")

    def load_exact(self, index):
        """Whole item ``index`` (mixture [T], sources [S, T]) read from disk; raises on an unreadable file
        instead of substituting another item (for tools that must account for every item)."""
        return self._load(self.items[index])

    def _load(self, item):
        mixture = read_audio(item.mixture_path, self.sample_rate)[0]
        sources = [read_audio(path, self.sample_rate)[0] for path in item.source_paths]
        length = min([mixture.size] + [s.size for s in sources])
        return mixture[:length], np.stack([s[:length] for s in sources])

    def _remix(self, item, rng):
        """Dynamic mixing (see class doc): (new mixture [T], sources [S, T]), T = the shortest source used."""
        partners = [item] + [self.items[int(rng.integers(len(self.items)))] for _ in item.source_paths[1:]]
        waves = [read_audio(partner.source_paths[k], self.sample_rate)[0] for k, partner in enumerate(partners)]
        length = min(wave.size for wave in waves)
        sources = []
        for wave in waves:
            start = int(rng.integers(0, wave.size - length + 1))
            gain = 10.0 ** (rng.uniform(-self.remix_gain_db, self.remix_gain_db) / 20.0)
            sources.append(wave[start:start + length] * gain)
        sources = np.stack(sources).astype(np.float32)
        return sources.sum(axis=0), sources

    def _crop(self, mixture, sources, rng):
        length = mixture.size
        if self.segment is None:
            return mixture, sources, np.int32(length)
        if length >= self.segment:
            start = int(rng.integers(0, length - self.segment + 1)) if rng is not None else 0
            return (mixture[start:start + self.segment], sources[:, start:start + self.segment],
                    np.int32(self.segment))
        pad = self.segment - length
        return (np.pad(mixture, (0, pad)), np.pad(sources, ((0, 0), (0, pad))), np.int32(length))

    def report(self):
        """One line on unreadable files (empty string when there were none)."""
        if not self.bad_files:
            return ""
        return (f"{len(self.bad_files)} unreadable mixture(s) skipped, e.g. "
                + "; ".join(f"{path}: {error}" for path, error in list(self.bad_files.items())[:3]))


def collate(items, multiple=1):
    """[(mixture [T_i], sources [S, T_i], length)] -> (mixtures [B, T], sources [B, S, T], lengths [B] int32),
    zero-padded to the longest (rounded up to `multiple`); lengths keep the true lengths."""
    mixtures, _ = pad_stack([item[0] for item in items], multiple=multiple)
    sources, _ = pad_stack([item[1] for item in items], multiple=multiple)
    lengths = np.array([int(item[2]) for item in items], dtype=np.int32)
    return mixtures, sources, lengths
