"""VoxCeleb readers for ECAPA-TDNN: speaker scan, verification trials, training crops, evaluation.

``data_dir`` is the folder holding ``idNNNNN/<video>/NNNNN.wav`` (VoxCeleb's ``wav/``). Speakers are
sorted by id, so the label map is the same on every machine. Datasets follow ``utils.data.BatchLoader``:
``len(dataset)`` and ``dataset.get(index, rng)`` return one item; ``collate(items)`` pads a batch.
"""
import glob
import math
import os

import numpy as np
import soundfile

from utils.audio import AudioError, read_audio
from utils.augment import AUGMENTATION_KINDS, NOISE_KINDS, Augmenter, fit_length, speed_perturb
from utils.data import pad_stack
from utils.features import FeatureConfig, LogMelExtractor

TRIAL_LABELS = {"1": 1, "0": 0}


def scan_voxceleb(data_dir):
    """All utterances of a VoxCeleb-layout folder.

    Returns (items, speakers): items is a list of (path relative to data_dir, speaker index) sorted by
    path; speakers is the sorted list of speaker ids (index -> "idNNNNN").
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"ecapa_tdnn/src/dataset.py: --data_dir {data_dir} is not a folder")
    paths = sorted(os.path.relpath(path, data_dir).replace(os.sep, "/")
                   for path in glob.glob(os.path.join(data_dir, "id*", "*", "*.wav")))
    if not paths:
        raise FileNotFoundError(f"ecapa_tdnn/src/dataset.py: no idNNNNN/<video>/NNNNN.wav files under {data_dir}; "
                                "--data_dir must name VoxCeleb's wav/ folder")
    speakers = sorted({path.split("/")[0] for path in paths})
    index_of = {speaker: index for index, speaker in enumerate(speakers)}
    return [(path, index_of[path.split("/")[0]]) for path in paths], speakers


def read_trials(trial_path, data_dir=None):
    """Parse a ``veri_test2.txt``-style list: one ``1|0 rel/path1 rel/path2`` per line.

    data_dir: when given, every referenced file must exist under it.
    Returns a list of (label int 1 = same speaker, path1, path2). Errors name the file and line.
    """
    if not os.path.isfile(trial_path):
        raise FileNotFoundError(f"{trial_path}: trial list not found")
    trials, missing = [], []
    with open(trial_path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 3:
                raise ValueError(f"{trial_path}:{line_number}: expected 'LABEL PATH1 PATH2' (3 fields), "
                                 f"got {len(fields)}: {line.strip()!r}")
            if fields[0] not in TRIAL_LABELS:
                raise ValueError(f"{trial_path}:{line_number}: label must be 1 (same speaker) or 0, "
                                 f"got {fields[0]!r}")
            if data_dir is not None:
                missing += [f"{trial_path}:{line_number}: {path}" for path in fields[1:]
                            if not os.path.isfile(os.path.join(data_dir, path))]
            trials.append((TRIAL_LABELS[fields[0]], fields[1], fields[2]))
    if missing:
        raise FileNotFoundError(f"{len(missing)} trial file(s) missing under {data_dir}, first: "
                                + "; ".join(missing[:3]))
    if not trials:
        raise ValueError(f"{trial_path}: trial list is empty")
    return trials


def feature_extractor(features, sample_rate):
    """LogMelExtractor from the ``data.features`` config section (SpeechBrain ECAPA preset + overrides)."""
    return LogMelExtractor(FeatureConfig.ecapa(sample_rate=sample_rate, **dict(features or {})))


def read_crop(path, num_samples, rng):
    """A random ``num_samples`` crop of a wav file (tiled when the file is shorter). float32 [num_samples].

    Only the crop is read from disk; the sample rate is whatever the file has.
    """
    try:
        total = soundfile.info(path).frames
    except (soundfile.SoundFileError, OSError) as error:
        raise AudioError(f"{path}: unreadable audio file ({error})") from None
    start = int(rng.integers(0, total - num_samples + 1)) if total > num_samples else 0
    wave = soundfile.read(path, start=start, stop=start + num_samples, dtype="float32", always_2d=True)[0]
    if wave.shape[0] == 0:
        raise AudioError(f"{path}: audio file is empty (0 samples)")
    return fit_length(wave.mean(axis=1), num_samples)


class VoxCelebTrainSet:
    """Random crops of training utterances, optionally speed-perturbed and augmented.

    data_dir: VoxCeleb wav/ folder. sample_rate: Hz (files must have it).
    crop_seconds: (shortest, longest) crop; each item draws its length uniformly in between.
    features: overrides of ``FeatureConfig.ecapa()``. augmenter: ``utils.augment.Augmenter`` or None.
    speed_factors: speeds to draw from uniformly (e.g. [0.9, 1.0, 1.1]); speed_as_new_speaker: a
        sped-up copy of speaker s gets label s + k * n_speakers for the k-th factor (WeSpeaker style),
        so ``num_classes`` grows len(speed_factors) times.
    get(index, rng) -> (features [n_mels, frames] float32, label int32).
    """

    def __init__(self, data_dir, sample_rate=16000, crop_seconds=(2.0, 3.0), features=None, augmenter=None,
                 speed_factors=(1.0,), speed_as_new_speaker=False):
        self.data_dir = data_dir
        self.items, self.speakers = scan_voxceleb(data_dir)
        self.sample_rate = int(sample_rate)
        self.crop_samples = (int(crop_seconds[0] * sample_rate), int(crop_seconds[1] * sample_rate))
        if not 0 < self.crop_samples[0] <= self.crop_samples[1]:
            raise ValueError(f"ecapa_tdnn/src/dataset.py: crop_seconds must be 0 < low <= high, got {crop_seconds}")
        self.extractor = feature_extractor(features, sample_rate)
        self.augmenter = augmenter
        self.speed_factors = [float(f) for f in speed_factors]
        self.speed_as_new_speaker = bool(speed_as_new_speaker)

    @property
    def num_classes(self):
        return len(self.speakers) * (len(self.speed_factors) if self.speed_as_new_speaker else 1)

    def __len__(self):
        return len(self.items)

    def get(self, index, rng):
        rng = rng if rng is not None else np.random.default_rng(index)
        path, label = self.items[index]
        num_samples = int(rng.integers(self.crop_samples[0], self.crop_samples[1] + 1))
        speed_index = int(rng.integers(len(self.speed_factors)))
        factor = self.speed_factors[speed_index]
        wave = read_crop(os.path.join(self.data_dir, path), int(math.ceil(num_samples * factor)), rng)
        wave = fit_length(speed_perturb(wave, factor, self.sample_rate), num_samples)
        if self.augmenter is not None:
            wave = self.augmenter(wave, rng)
        if self.speed_as_new_speaker:
            label += speed_index * len(self.speakers)
        return self.extractor(wave, train=True, rng=rng), np.int32(label)


class UtteranceSet:
    """Whole utterances for embedding extraction (evaluation / enrolment).

    paths: file paths relative to data_dir (e.g. every file of a trial list).
    get(index, rng=None) -> (features [n_mels, frames] float32, index int32).
    """

    def __init__(self, data_dir, paths, sample_rate=16000, features=None):
        self.data_dir, self.paths, self.sample_rate = data_dir, list(paths), int(sample_rate)
        self.extractor = feature_extractor(features, sample_rate)

    def __len__(self):
        return len(self.paths)

    def get(self, index, rng=None):
        wave, _ = read_audio(os.path.join(self.data_dir, self.paths[index]), self.sample_rate)
        return self.extractor(wave), np.int32(index)


def collate(items):
    """Pad a list of (features [F, T_i], label) into (features [B, F, T_max] float32, lengths [B] int32,
    labels [B] int32); padded frames are 0."""
    feats, lengths = pad_stack([feats for feats, _ in items])
    return feats, lengths, np.array([label for _, label in items], dtype=np.int32)


def build_augmenter(augment, sample_rate):
    """``utils.augment.Augmenter`` from the ``data.augment`` config section; None when it is off or has no data."""
    augment = dict(augment or {})
    if augment.get("probability", 0.0) <= 0 or not (augment.get("musan_dir") or augment.get("rir_dir")):
        return None
    snr_db = {kind: augment[f"{kind}_snr_db"] for kind in NOISE_KINDS if f"{kind}_snr_db" in augment}
    return Augmenter(musan_dir=augment.get("musan_dir"), rir_dir=augment.get("rir_dir"), sample_rate=sample_rate,
                     probability=augment["probability"], kinds=augment.get("kinds", AUGMENTATION_KINDS),
                     snr_db=snr_db, babble_speakers=augment.get("babble_speakers", (3, 7)))
