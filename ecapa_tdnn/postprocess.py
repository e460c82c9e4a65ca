"""Ascend 310 inference, step 3: the runner's embeddings -> EER / minDCF exactly as eval.py computes them.

    python ecapa_tdnn/postprocess.py --result_path RUN/result --data_path VoxCeleb1/test/wav --output_dir RUN \
        [--input_path IN]

Reads IN/references.json and IN/trials.txt written by preprocess_310.py, scores every trial by cosine
similarity of the two files' embeddings (no score normalisation) and writes RUN/metrics.json (eval.py's keys),
RUN/scores.txt (``label score path1 path2``) and RUN/per_utterance.csv (one line per file).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)


def main():
    from utils.deploy310 import add_postprocess_arguments
    args, _, _ = start(__file__, "Score ECAPA-TDNN Ascend 310 results (EER, minDCF)", add_postprocess_arguments)
    import numpy as np
    from tqdm import tqdm

    from ecapa_tdnn.src.dataset import read_trials
    from ecapa_tdnn.src.verification import cosine_scores, trial_indices, trial_metrics, write_scores
    from utils.deploy310 import (check_coverage, input_folder, read_latencies, read_references,
                                 write_report)
    from utils.infer310 import iter_outputs

    folder = input_folder(args)
    references = read_references(folder)
    entries = references["items"]
    position = {entry["item"]: index for index, entry in enumerate(entries)}
    trials_path = os.path.join(folder, references["trials_file"])
    paths, labels, first, second = trial_indices(read_trials(trials_path))
    if paths != [entry["path"] for entry in entries]:
        raise SystemExit(f"{trials_path} names other files than {folder}/references.json: rerun preprocess_310.py")
    embeddings, seen = None, []
    for name, outputs in tqdm(iter_outputs(args.result_path), total=len(entries), desc="postprocess", unit="file"):
        if name not in position:
            raise SystemExit(f"{args.result_path}: result item {name!r} is not in {folder}")
        embedding = np.asarray(outputs[0], dtype=np.float32).reshape(-1)
        if embeddings is None:
            embeddings = np.zeros((len(entries), embedding.size), np.float32)
        embeddings[position[name]] = embedding
        seen.append(name)
    check_coverage(references, seen, args.result_path)
    scores = cosine_scores(embeddings, first, second)
    metrics = trial_metrics(scores, scores, labels, references["p_target"], n_files=len(paths), score_norm="none",
                            top_n=None)
    metrics.update(model=None, trials=references["trials"], result_path=os.path.abspath(args.result_path),
                   fixed_length=references["fixed_length"], n_cropped=sum(1 for e in entries if e["cropped"]))
    os.makedirs(args.output_dir, exist_ok=True)
    write_scores(os.path.join(args.output_dir, "scores.txt"), scores, labels, paths, first, second)
    latencies = read_latencies(args.result_path)
    rows = [(e["item"], e["path"], e["frames"], int(e["cropped"]), f"{latencies.get(e['item'], float('nan')):.3f}")
            for e in entries]
    write_report(args.output_dir, metrics, "per_utterance.csv", ("item", "path", "frames", "cropped", "latency_ms"),
                 rows, ("eer", "min_dcf", "n_trials", "eer_threshold", "min_dcf_threshold"))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
