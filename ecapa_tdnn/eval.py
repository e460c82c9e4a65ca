"""Evaluate ECAPA-TDNN speaker verification on a trial list: EER, minDCF, scores, DET curve.

    python ecapa_tdnn/eval.py --data_dir VoxCeleb1/test/wav --trials VoxCeleb1/veri_test2.txt \
        --ckpt_path OUT/best.ckpt --output_dir OUT/eval [--cohort_dir VoxCeleb1/dev/wav --score_norm asnorm --top_n 200]

Every file of the trial list is embedded once at full length (batched by similar duration, padding
masked); trials are scored by cosine similarity, optionally normalised against a cohort (s-norm or
adaptive s-norm). Writes OUT/metrics.json (eer, min_dcf, n_trials, their thresholds and the raw-cosine
thresholds ``infer.py verify`` uses), OUT/scores.txt (``label score path1 path2``) and OUT/det.png.
Works with a training checkpoint (.ckpt) or an exported .mindir.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_checkpoint_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)


def add_arguments(parser):
    parser.add_argument("--data_dir", required=True, help="folder the trial paths are relative to (VoxCeleb wav/)")
    parser.add_argument("--trials", required=True, help="trial list, one '1|0 path1 path2' per line")
    add_checkpoint_arguments(parser, "model: OUT/best.ckpt or an exported .mindir")
    parser.add_argument("--output_dir", required=True, help="metrics.json, scores.txt and det.png go here")
    parser.add_argument("--cohort_dir", default=None, help="VoxCeleb-layout folder of cohort speakers for "
                                                           "score normalisation (e.g. the training wav/)")
    parser.add_argument("--score_norm", default=None, choices=["none", "snorm", "asnorm"],
                        help="score normalisation (default: eval.score_norm)")
    parser.add_argument("--top_n", type=int, default=None, help="AS-norm cohort size per utterance "
                                                                "(default: eval.top_n)")
    parser.add_argument("--use_ema", action="store_true", help="use the EMA weights of a .ckpt")


def plot_det(scores, labels, path, title):
    """DET curve (miss vs false-alarm probability on normal-deviate axes) saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.stats import norm

    from utils.metrics import det_curve

    far, frr, _ = det_curve(scores, labels)
    clip = lambda rate: norm.ppf(min(max(rate, 1e-4), 1 - 1e-4))  # noqa: E731
    ticks = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.plot([clip(x) for x in far], [clip(y) for y in frr], lw=1.5)
    axes.plot([clip(ticks[0]), clip(ticks[-1])], [clip(ticks[0]), clip(ticks[-1])], "k:", lw=0.8)
    for set_ticks, set_labels in ((axes.set_xticks, axes.set_xticklabels), (axes.set_yticks, axes.set_yticklabels)):
        set_ticks([clip(t) for t in ticks])
        set_labels([f"{100 * t:g}" for t in ticks])
    axes.set_xlim(clip(ticks[0]), clip(ticks[-1]))
    axes.set_ylim(clip(ticks[0]), clip(ticks[-1]))
    axes.set_xlabel("false alarm probability (%)")
    axes.set_ylabel("miss probability (%)")
    axes.set_title(title)
    axes.grid(True, lw=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main():
    args, cfg, run = start(__file__, "Evaluate ECAPA-TDNN speaker verification", add_arguments)
    import json
    import logging

    import numpy as np

    from ecapa_tdnn.src.dataset import read_trials, scan_voxceleb
    from ecapa_tdnn.src.verification import (SCORE_NORMS, cohort_statistics, cosine_scores, extract_embeddings,
                                             load_embedder, normalize_scores, trial_indices, trial_metrics,
                                             write_scores)

    log = logging.getLogger("zoo.eval")
    score_norm = args.score_norm or cfg.eval.score_norm
    top_n = int(args.top_n if args.top_n is not None else cfg.eval.top_n)
    if score_norm not in SCORE_NORMS:
        raise SystemExit(f"ecapa_tdnn/eval.py: eval.score_norm must be one of {SCORE_NORMS}, got {score_norm!r}")
    if score_norm != "none" and not args.cohort_dir:
        raise SystemExit(f"ecapa_tdnn/eval.py: --score_norm {score_norm} needs --cohort_dir (a VoxCeleb-layout "
                         "folder of speakers not in the trials, e.g. the training wav/)")
    model = load_embedder(args.ckpt_path, args.use_ema)
    # the model's own front end: the checkpoint's (or the .mindir's JSON) config wins over config.yaml
    data_cfg = {**cfg.data, **model.config.get("data", {})}
    sample_rate, features = int(data_cfg["sample_rate"]), data_cfg["features"]
    trials = read_trials(args.trials, args.data_dir)
    paths, labels, first, second = trial_indices(trials)
    log.info("%d trials (%d target) over %d files; model %s", len(labels), int(labels.sum()), len(paths),
             args.ckpt_path)
    batch_size = int(cfg.eval.embed_batch_size)
    embeddings = extract_embeddings(model, args.data_dir, paths, sample_rate, features, batch_size, run.rank,
                                    run.group_size, desc="test embeddings")
    raw_scores = cosine_scores(embeddings, first, second)
    scores = raw_scores
    if score_norm != "none":
        cohort_paths = [path for path, _ in scan_voxceleb(args.cohort_dir)[0]]
        if cfg.eval.cohort_max_files and len(cohort_paths) > cfg.eval.cohort_max_files:
            keep = np.random.default_rng(int(cfg.seed)).choice(len(cohort_paths), int(cfg.eval.cohort_max_files),
                                                               replace=False)
            cohort_paths = [cohort_paths[i] for i in sorted(keep)]
        cohort = extract_embeddings(model, args.cohort_dir, cohort_paths, sample_rate, features, batch_size,
                                    run.rank, run.group_size, desc="cohort embeddings")
        mean, std = cohort_statistics(embeddings, cohort, top_n if score_norm == "asnorm" else 0)
        scores = normalize_scores(raw_scores, first, second, mean, std)
        log.info("%s against %d cohort files%s", score_norm, len(cohort_paths),
                 f" (top {top_n})" if score_norm == "asnorm" else "")
    p_target = float(cfg.eval.p_target)
    metrics = trial_metrics(scores, raw_scores, labels, p_target, n_files=len(paths), score_norm=score_norm,
                            top_n=top_n if score_norm == "asnorm" else None)
    metrics.update(model=os.path.abspath(args.ckpt_path), trials=os.path.abspath(args.trials))
    log.info("EER %.2f %%, minDCF(p=%g) %.4f over %d trials (score norm: %s)", metrics["eer_percent"], p_target,
             metrics["min_dcf"], len(labels), score_norm)
    if not run.is_main:
        return
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    write_scores(os.path.join(args.output_dir, "scores.txt"), scores, labels, paths, first, second)
    plot_det(scores, labels, os.path.join(args.output_dir, "det.png"),
             f"EER {metrics['eer_percent']:.2f} %, minDCF {metrics['min_dcf']:.3f}")
    log.info("wrote metrics.json, scores.txt and det.png to %s", args.output_dir)
    print(json.dumps({k: metrics[k] for k in ("eer", "min_dcf", "n_trials", "eer_threshold", "min_dcf_threshold")}))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
