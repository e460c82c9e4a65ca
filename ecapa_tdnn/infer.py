"""Speaker embeddings and same-speaker decisions on your own audio files.

    python ecapa_tdnn/infer.py embed --ckpt_path OUT/best.ckpt --input FILE_OR_DIR --output_dir EMB
    python ecapa_tdnn/infer.py verify --ckpt_path OUT/best.ckpt A.wav B.wav [--threshold T | --metrics M.json]

``embed`` writes one ``.npy`` (float32 [192]) per audio file, keeping the input folder's relative layout.
``verify`` prints one JSON line ``{"score", "threshold", "same_speaker"}``: the cosine score of the two
files and the decision at the threshold (``--threshold``, else the raw-cosine EER threshold of
``--metrics`` or of the ``metrics.json`` eval.py wrote beside the checkpoint). Any sample rate and channel
count is accepted (resampled, channels averaged). The model can be a .ckpt or an exported .mindir.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_checkpoint_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)

FLAGS_WITHOUT_VALUE = ("--use_ema", "--help", "-h")
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".au", ".opus")


def add_arguments(parser):
    parser.add_argument("command", choices=["embed", "verify"], help="embed: .npy per file; verify: two files")
    parser.add_argument("files", nargs="*", help="verify: the two audio files to compare")
    add_checkpoint_arguments(parser, "model: a training .ckpt or an exported .mindir")
    parser.add_argument("--input", default=None, help="embed: an audio file or a folder (searched recursively)")
    parser.add_argument("--output_dir", default=None, help="embed: where the .npy files go")
    parser.add_argument("--threshold", type=float, default=None, help="verify: cosine score threshold")
    parser.add_argument("--metrics", default=None, help="verify: eval.py's metrics.json holding the threshold "
                                                        "(default: metrics.json beside the checkpoint)")
    parser.add_argument("--use_ema", action="store_true", help="use the EMA weights of a .ckpt")


def positionals_first(argv):
    """Move the command and file names before the flags, so ``verify --ckpt_path M A.wav B.wav`` parses
    (the shared parser passes unknown ``--key value`` pairs on as config overrides)."""
    positionals, flags, index = [], [], 0
    while index < len(argv):
        token = argv[index]
        if not token.startswith("-") or token == "-":
            positionals.append(token)
            index += 1
        elif token in FLAGS_WITHOUT_VALUE or "=" in token:
            flags.append(token)
            index += 1
        else:
            flags += argv[index:index + 2]
            index += 2
    return positionals + flags


def audio_files(path):
    """(folder, [paths relative to it]) for an audio file or a folder of them (recursive, sorted)."""
    if os.path.isfile(path):
        return os.path.dirname(os.path.abspath(path)), [os.path.basename(path)]
    if not os.path.isdir(path):
        raise SystemExit(f"ecapa_tdnn/infer.py: --input {path} is neither a file nor a folder")
    found = sorted(os.path.relpath(os.path.join(root, name), path)
                   for root, _, names in os.walk(path) for name in names
                   if name.lower().endswith(AUDIO_EXTENSIONS))
    if not found:
        raise SystemExit(f"ecapa_tdnn/infer.py: no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {path}")
    return path, found


def decision_threshold(args):
    """The verify threshold: --threshold, else the publisher's default of a --pretrained model, else the cosine
    EER threshold from eval.py's metrics.json."""
    import json

    if args.threshold is not None:
        return args.threshold, "--threshold"
    if args.metrics is None:  # a --pretrained model: its publisher's threshold, kept in the cache record
        from utils.pretrained import cached_record
        record = cached_record(args.ckpt_path)
        if record.get("decision_threshold") is not None:
            return float(record["decision_threshold"]), f"{record['name']}'s published default"
    metrics_path = args.metrics or os.path.join(os.path.dirname(os.path.abspath(args.ckpt_path)), "metrics.json")
    if not os.path.isfile(metrics_path):
        raise SystemExit(f"ecapa_tdnn/infer.py: no decision threshold: {metrics_path} does not exist. Pass "
                         "--threshold T, or --metrics EVAL_OUT/metrics.json written by ecapa_tdnn/eval.py (or run "
                         "eval.py with --output_dir set to the checkpoint's folder)")
    with open(metrics_path, encoding="utf-8") as handle:
        metrics = json.load(handle)
    if "cosine_eer_threshold" not in metrics:
        raise SystemExit(f"ecapa_tdnn/infer.py: {metrics_path} has no cosine_eer_threshold (not written by "
                         "ecapa_tdnn/eval.py?)")
    return float(metrics["cosine_eer_threshold"]), metrics_path


def main():
    args, cfg, run = start(__file__, "ECAPA-TDNN speaker embeddings and verification", add_arguments,
                           argv=positionals_first(sys.argv[1:]))
    import json
    import logging

    import numpy as np

    from ecapa_tdnn.src.verification import cosine_scores, extract_embeddings, load_embedder

    log = logging.getLogger("zoo.infer")
    if args.command == "verify":
        if len(args.files) != 2:
            raise SystemExit(f"ecapa_tdnn/infer.py verify needs exactly two audio files, got {len(args.files)}")
        threshold, source = decision_threshold(args)
    elif not args.input or not args.output_dir:
        raise SystemExit("ecapa_tdnn/infer.py embed needs --input FILE_OR_DIR and --output_dir DIR")
    model = load_embedder(args.ckpt_path, args.use_ema)
    data_cfg = {**cfg.data, **model.config.get("data", {})}
    sample_rate, features = int(data_cfg["sample_rate"]), data_cfg["features"]
    batch_size = int(cfg.eval.embed_batch_size)

    if args.command == "verify":
        embeddings = extract_embeddings(model, "", args.files, sample_rate, features, batch_size=2, desc="verify")
        score = float(cosine_scores(embeddings, [0], [1])[0])
        log.info("threshold %.4f from %s", threshold, source)
        print(json.dumps({"score": round(score, 6), "threshold": round(threshold, 6),
                          "same_speaker": bool(score >= threshold), "files": args.files}))
        return
    root, paths = audio_files(args.input)
    log.info("embedding %d file(s) from %s", len(paths), args.input)
    embeddings = extract_embeddings(model, root, paths, sample_rate, features, batch_size, desc="embed")
    if not run.is_main:
        return
    for path, embedding in zip(paths, embeddings):
        target = os.path.join(args.output_dir, os.path.splitext(path)[0] + ".npy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        np.save(target, embedding)
        print(f"{os.path.join(root, path)} -> {target}")
    log.info("wrote %d embedding(s) of size %d to %s", len(paths), embeddings.shape[1], args.output_dir)


if __name__ == "__main__":
    main()
