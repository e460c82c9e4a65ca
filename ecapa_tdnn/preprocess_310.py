"""Ascend 310 inference, step 1: the files of a VoxCeleb trial list -> protocol input folder (one file per item).

    python ecapa_tdnn/preprocess_310.py --data_path VoxCeleb1/test/wav --trials VoxCeleb1/veri_test2.txt \
        --output_path IN [--fixed_length FRAMES] [--max_items N] [--config_path ecapa_tdnn/config.yaml]

Each item is one audio file of the trial list: inputs ``features`` float32 [1, n_mels, T] (log-mel frames of
10 ms, the data.features of --config_path: use the config the model was trained with) and ``lengths`` int32
[1] (valid frames). --fixed_length pads / crops T to that many frames (the masked pooling ignores padding).
--max_items N keeps the trials, in list order, until N distinct files are needed. IN/trials.txt holds the
trials scored (give it to eval.py to compare); IN/references.json maps items to files.
A file that cannot be used is reported, left out (with the trials needing it) and listed in IN/failures.tsv;
the run then exits 1 (--strict: stop at the first).
Usually run by scripts/run_infer_310.sh; the scores come from ecapa_tdnn/postprocess.py.
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)

TRIALS_FILE = "trials.txt"
LOG = logging.getLogger("zoo.deploy310")


def add_arguments(parser):
    from utils.deploy310 import add_preprocess_arguments
    add_preprocess_arguments(parser, "feature frames (10 ms)")
    parser.add_argument("--trials", required=True, help="trial list, one '1|0 path1 path2' per line, paths "
                                                        "relative to --data_path (e.g. VoxCeleb1/veri_test2.txt)")


def first_trials(trials, max_files):
    """The longest prefix of ``trials`` [(label, path1, path2)] that needs at most ``max_files`` files."""
    kept, files = [], set()
    for trial in trials:
        needed = files | {trial[1], trial[2]}
        if len(needed) > max_files:
            break
        kept.append(trial)
        files = needed
    return kept


def main():
    args, cfg, _ = start(__file__, "Write the files of a trial list as Ascend 310 inputs for ECAPA-TDNN", add_arguments)
    from tqdm import tqdm

    from ecapa_tdnn.src.dataset import UtteranceSet, read_trials
    from ecapa_tdnn.src.verification import trial_indices
    from utils.deploy310 import (check_item_limit, finish_preprocess, preprocess_batch, start_output_folder,
                                 write_feature_item, write_references)

    check_item_limit(args.max_items, args.fixed_length)
    trials = read_trials(args.trials, args.data_path)
    if args.max_items:
        trials = first_trials(trials, args.max_items)
        if not trials:
            raise SystemExit(f"--max_items {args.max_items}: the first trial of {args.trials} needs 2 files")
    paths = trial_indices(trials)[0]
    dataset = UtteranceSet(args.data_path, paths, int(cfg.data.sample_rate), cfg.data.features)
    start_output_folder(args.output_path)
    batch = preprocess_batch(__file__, args, "file")
    entries, unusable = [], set()
    for index, path in enumerate(tqdm(paths, desc="preprocess", unit="file")):
        ok, loaded = batch.attempt(os.path.join(args.data_path, path), dataset.get, index)
        if not ok:
            unusable.add(path)
            continue
        name, frames, length = write_feature_item(args.output_path, len(entries), loaded[0], args.fixed_length,
                                                  ("features", "lengths"))
        entries.append({"item": name, "path": path, "frames": frames, "cropped": frames > length})
    scored = [trial for trial in trials if not unusable.intersection(trial[1:])]
    if len(scored) < len(trials):
        LOG.warning("%d of %d trials need an unusable file and are left out of %s", len(trials) - len(scored),
                    len(trials), TRIALS_FILE)
    with open(os.path.join(args.output_path, TRIALS_FILE), "w", encoding="utf-8") as handle:
        handle.writelines(f"{label} {first} {second}\n" for label, first, second in scored)
    write_references(args.output_path, {"task": "verification", "data_path": os.path.abspath(args.data_path),
                                        "trials": os.path.abspath(args.trials), "trials_file": TRIALS_FILE,
                                        "p_target": float(cfg.eval.p_target), "fixed_length": args.fixed_length,
                                        "items": entries})
    return finish_preprocess(batch, entries)

if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
