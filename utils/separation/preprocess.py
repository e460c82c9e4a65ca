"""`<model>/preprocess.py`: list a LibriMix / wsj0-2mix folder as JSON, one file per split (optional: train.py,
eval.py and infer.py read the official layouts directly; the lists are for inspection and other tools).

    python tasnet/preprocess.py --data_dir Libri2Mix --output_dir LISTS

Writes LISTS/{train,valid,test}.json: [{"mixture_id", "mixture_path", "source_paths", "length", "seconds"}].
"""
import json
import logging
import os
from dataclasses import asdict

from tqdm import tqdm

from utils.cli import start

LOG = logging.getLogger("zoo.preprocess")


def add_preprocess_arguments(parser):
    parser.add_argument("--data_dir", required=True, help="LibriMix root or wsj0-2mix root")
    parser.add_argument("--output_dir", required=True, help="the JSON lists go here")
    parser.add_argument("--splits", nargs="+", default=["train", "valid", "test"], help="splits to list")


def preprocess_main(entry_file, description):
    args, cfg, _ = start(entry_file, description, add_preprocess_arguments)
    from utils.audio import audio_info
    from utils.separation.train import find_split

    sample_rate = int(cfg.data.sample_rate)
    os.makedirs(args.output_dir, exist_ok=True)
    for split in args.splits:
        listed = []
        for item in tqdm(find_split(args.data_dir, split, cfg.data), desc=split, unit="mix"):
            entry = asdict(item)
            if entry["length"] is None:  # wsj0-mix has no metadata: measure (in the model's sample rate)
                frames, file_rate, _ = audio_info(item.mixture_path)
                entry["length"] = int(round(frames * sample_rate / file_rate))
            entry["source_paths"] = list(entry["source_paths"])
            entry["seconds"] = entry["length"] / sample_rate
            listed.append(entry)
        path = os.path.join(args.output_dir, f"{split}.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(listed, handle, indent=1)
        LOG.info("%s: %d mixtures, %.2f h -> %s", split, len(listed), sum(e["seconds"] for e in listed) / 3600, path)
