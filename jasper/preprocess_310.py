"""Ascend 310 inference, step 1: a LibriSpeech subset (or a manifest) -> protocol input folder (one utterance per item).

    python jasper/preprocess_310.py --data_path LibriSpeech/test-clean --output_path IN \
        [--fixed_length FRAMES] [--max_items N] [--config_path jasper/config.yaml]

--data_path: a LibriSpeech subset folder (<speaker>/<chapter>/*.trans.txt + .flac, read like jasper/preprocess.py)
or a JSON-lines manifest. Each item: ``features`` float32 [1, n_mels, T] (log-mel frames of 10 ms, the
data.features of --config_path: use the config the model was trained with) and ``feature_lengths`` int32 [1].
--fixed_length pads / crops T to that many frames (the network masks past feature_lengths). IN/manifest.jsonl
lists the utterances in item order (give it to eval.py to compare); IN/references.json maps items to them.
An utterance whose audio cannot be used is reported, left out (of the items and of IN/manifest.jsonl) and
listed in IN/failures.tsv; the run then exits 1 (--strict: stop at the first).
Usually run by scripts/run_infer_310.sh; the transcripts and WER come from jasper/postprocess.py.
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)

MANIFEST_FILE = "manifest.jsonl"


def add_arguments(parser):
    from utils.deploy310 import add_preprocess_arguments
    add_preprocess_arguments(parser, "feature frames (10 ms)")


def utterances(data_path):
    """Manifest entries of a LibriSpeech subset folder or a .jsonl manifest (absolute audio paths)."""
    from jasper.preprocess import subset_entries
    from jasper.src.dataset import read_manifest
    if os.path.isfile(data_path):
        return read_manifest(data_path)[0]
    if not os.path.isdir(data_path):
        raise SystemExit(f"jasper/preprocess_310.py: --data_path {data_path} is neither a manifest nor a folder")
    entries, problems = subset_entries(data_path)
    for path, reason in problems[:10]:
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    if not entries:
        raise SystemExit(f"jasper/preprocess_310.py: no utterance under {data_path} (expected a LibriSpeech subset "
                         "folder <speaker>/<chapter>/*.trans.txt, e.g. LibriSpeech/test-clean, or a .jsonl manifest)")
    return entries


def main():
    args, cfg, _ = start(__file__, "Write LibriSpeech utterances as Ascend 310 inputs for Jasper", add_arguments)
    import json

    from tqdm import tqdm

    from jasper.src.dataset import AsrDataset
    from utils.batch import atomic_outputs
    from utils.deploy310 import (check_item_limit, finish_preprocess, preprocess_batch, start_output_folder,
                                 write_feature_item, write_references)

    check_item_limit(args.max_items, args.fixed_length)
    entries = utterances(args.data_path)[:args.max_items]
    start_output_folder(args.output_path)
    manifest = os.path.join(args.output_path, MANIFEST_FILE)
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in entries)
    dataset = AsrDataset(manifest, cfg.data, train=False)
    batch = preprocess_batch(__file__, args, "utterance")
    items, kept = [], []
    for index, entry in enumerate(tqdm(dataset.entries, desc="preprocess", unit="utt")):
        ok, loaded = batch.attempt(entry["audio_filepath"], dataset.get, index)
        if not ok:
            continue
        name, frames, length = write_feature_item(args.output_path, len(items), loaded[0], args.fixed_length,
                                                  ("features", "feature_lengths"))
        items.append({"item": name, "audio_filepath": entry["audio_filepath"], "text": entry["text"],
                      "duration": float(entry["duration"]), "frames": frames, "cropped": frames > length})
        kept.append(entry)
    with atomic_outputs([manifest]) as (temporary,):  # only the utterances that became items, in item order
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(entry) + "\n" for entry in kept)
    write_references(args.output_path, {"task": "asr", "data_path": os.path.abspath(args.data_path),
                                        "manifest_file": MANIFEST_FILE, "fixed_length": args.fixed_length,
                                        "items": items})
    return finish_preprocess(batch, items)

if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
