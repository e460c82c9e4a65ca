"""ASR data for Jasper: JSON-lines manifests, augmentation, and the collate that builds padded batches.

A manifest line is ``{"audio_filepath": ..., "duration": seconds, "text": ...}``; relative paths are taken
from the manifest's folder. ``AsrDataset`` follows the ``utils.data.BatchLoader`` protocol
(``__len__``, ``get(index, rng)``, ``lengths`` for bucketing) and ``collate`` pads the items.
"""
import json
import os

import numpy as np

from jasper.src.text import BLANK, encode
from utils.audio import read_audio, resample
from utils.features import FeatureConfig, LogMelExtractor

MANIFEST_KEYS = ("audio_filepath", "duration", "text")


def read_manifest(path, max_duration=None, min_duration=0.0):
    """Entries of a JSON-lines manifest, optionally dropping utterances outside [min, max] duration.

    Returns (entries: list of dicts with an absolute audio_filepath, dropped: how many were filtered).
    Raises ValueError naming the file and line for malformed lines.
    """
    entries, dropped = [], 0
    folder = os.path.dirname(os.path.abspath(path))
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            missing = [key for key in MANIFEST_KEYS if key not in entry]
            if missing:
                raise ValueError(f"{path}:{number}: missing key(s) {missing}; a line needs {list(MANIFEST_KEYS)}")
            duration = float(entry["duration"])
            if duration < min_duration or (max_duration is not None and duration > max_duration):
                dropped += 1
                continue
            entry["audio_filepath"] = os.path.join(folder, entry["audio_filepath"])
            entries.append(entry)
    return entries, dropped


def speed_perturb(wave, rate):
    """Play ``wave`` ``rate`` times faster (pitch moves too), by band-limited resampling. [T] -> [~T / rate]."""
    if rate == 1.0:
        return wave
    percent = int(round(rate * 100))  # speeds are drawn on a 1 % grid to keep the polyphase filters short
    return resample(wave, percent, 100)


class SpecAugment:
    """Frequency and time masks set to zero (the normalised features' mean) on [n_mels, F] features.

    freq_masks masks of width uniform in [0, max_freq] bins; time_masks masks of width uniform in
    [0, max_time] frames placed inside the first ``length`` (valid) frames.
    """

    def __init__(self, freq_masks=2, max_freq=20, time_masks=2, max_time=75):
        self.freq_masks, self.max_freq = int(freq_masks), int(max_freq)
        self.time_masks, self.max_time = int(time_masks), int(max_time)

    def __call__(self, feats, rng, length=None):
        feats = feats.copy()
        bins, frames = feats.shape[0], feats.shape[1] if length is None else int(length)
        for _ in range(self.freq_masks):
            width = int(rng.integers(0, self.max_freq + 1))
            start = int(rng.integers(0, max(1, bins - width)))
            feats[start:start + width, :] = 0.0
        for _ in range(self.time_masks):
            width = int(rng.integers(0, min(self.max_time, frames) + 1))
            start = int(rng.integers(0, max(1, frames - width)))
            feats[:, start:start + width] = 0.0
        return feats


class AsrDataset:
    """Manifest utterances -> (log-mel features [n_mels, F] float32, label ids [L] int32).

    manifest: JSON-lines path. data: the ``data:`` config section (sample_rate, max_duration,
    speed_perturb_prob/min/max, spec_augment{...}, features{FeatureConfig fields}).
    train: enables the max-duration filter, speed perturbation, dither and SpecAugment.
    ``get(index, rng)``: rng drives every random choice (None in evaluation).
    """

    def __init__(self, manifest, data, train):
        self.train = bool(train)
        self.sample_rate = int(data.get("sample_rate", 16000))
        self.extractor = LogMelExtractor(FeatureConfig.from_dict(dict(data.get("features", {}))))
        if self.extractor.config.sample_rate != self.sample_rate:
            raise ValueError(f"{manifest}: data.sample_rate {self.sample_rate} differs from "
                             f"data.features.sample_rate {self.extractor.config.sample_rate}")
        max_duration = data.get("max_duration") if self.train else None
        self.entries, self.dropped = read_manifest(manifest, max_duration=max_duration)
        if not self.entries:
            raise ValueError(f"{manifest}: no utterance left (dropped {self.dropped} longer than {max_duration} s)")
        self.speed_prob = float(data.get("speed_perturb_prob", 0.0)) if self.train else 0.0
        self.speed_range = (float(data.get("speed_min", 0.85)), float(data.get("speed_max", 1.15)))
        masks = data.get("spec_augment")
        self.spec_augment = SpecAugment(**masks) if (masks and self.train) else None
        self.targets = [np.array(encode(entry["text"]), dtype=np.int32) for entry in self.entries]

    def __len__(self):
        return len(self.entries)

    def drop(self, audio_paths):
        """Leave out the utterances whose audio_filepath is in ``audio_paths`` (e.g. unreadable files)."""
        keep = [i for i, entry in enumerate(self.entries) if entry["audio_filepath"] not in audio_paths]
        self.entries, self.targets = [self.entries[i] for i in keep], [self.targets[i] for i in keep]

    @property
    def lengths(self):
        """Feature frames of each utterance (from the manifest durations), for length bucketing."""
        return np.array([self.extractor.num_frames(e["duration"] * self.sample_rate) for e in self.entries])

    def get(self, index, rng=None):
        entry = self.entries[index]
        wave, _ = read_audio(entry["audio_filepath"], sample_rate=self.sample_rate)
        if rng is not None and self.speed_prob > 0 and rng.random() < self.speed_prob:
            wave = speed_perturb(wave, float(rng.uniform(*self.speed_range)))
        feats = self.extractor(wave, train=self.train and rng is not None, rng=rng)
        if self.spec_augment is not None and rng is not None:
            feats = self.spec_augment(feats, rng)
        return feats, self.targets[index]


def bucket_length(frames, bucket_frames):
    """Round a padded length up to a multiple of ``bucket_frames`` so batches take few distinct shapes."""
    bucket_frames = max(1, int(bucket_frames))
    return -(-int(frames) // bucket_frames) * bucket_frames


def collate(items, bucket_frames=16):
    """Pad a list of (feats [n_mels, F_i], labels [L_i]) items.

    Returns feats [B, n_mels, F] float32 (F = longest F_i rounded up to a multiple of ``bucket_frames``,
    padding zero), feat_lengths [B] int32, labels [B, L_max] int32 (padded with the blank id, never read by
    the CTC loss past label_lengths), label_lengths [B] int32.
    """
    frames = np.array([f.shape[1] for f, _ in items], dtype=np.int32)
    label_lengths = np.array([len(t) for _, t in items], dtype=np.int32)
    feats = np.zeros((len(items), items[0][0].shape[0], bucket_length(frames.max(), bucket_frames)), np.float32)
    labels = np.full((len(items), max(1, int(label_lengths.max()))), BLANK, dtype=np.int32)
    for row, (item_feats, item_labels) in enumerate(items):
        feats[row, :, :item_feats.shape[1]] = item_feats
        labels[row, :len(item_labels)] = item_labels
    return feats, frames, labels, label_lengths
