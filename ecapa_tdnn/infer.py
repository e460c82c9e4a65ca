"""Speaker embeddings and same-speaker scores on your own audio files.

    python ecapa_tdnn/infer.py embed --ckpt_path OUT/best.ckpt --input FILE_DIR_OR_LIST --output_dir EMB
    python ecapa_tdnn/infer.py verify --ckpt_path OUT/best.ckpt A.wav B.wav [--threshold T | --metrics M.json]
    python ecapa_tdnn/infer.py verify --ckpt_path OUT/best.ckpt --pairs trials.txt [--input ROOT] [--output_dir O]

``embed`` writes one ``.npy`` (float32 [D]) per audio file, keeping the input folder's relative layout.
``verify`` prints one JSON line per pair ``{"score", "threshold", "threshold_source", "same_speaker",
"files"}``: the cosine score always, the decision when a threshold is known (``--threshold``, else the
raw-cosine EER threshold of ``--metrics`` or of the ``metrics.json`` eval.py wrote beside the checkpoint;
``null`` otherwise). ``--pairs`` scores every ``PATH1 PATH2`` (or ``LABEL PATH1 PATH2``, the VoxCeleb
format) line of a list, embedding each file once; paths are relative to ``--input`` (default: the list's
folder) and with ``--output_dir`` the lines also go to ``scores.jsonl``.
Any sample rate and channel count is accepted (resampled, channels averaged). The model can be a .ckpt or
an exported .mindir. A file that cannot be used is reported (one line, and in ``failures.tsv`` of
``--output_dir``), the rest is processed, and the run ends with ``N done, M failed`` and exit code 1 if any
failed (``--strict``: stop at the first); a single file given (to ``embed --input`` or as the two files of
``verify``) that cannot be used is the run's error: one line, exit 2.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_checkpoint_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)

FLAGS_WITHOUT_VALUE = ("--use_ema", "--help", "-h", "--debug", "--strict")


def add_arguments(parser):
    from utils.batch import add_batch_arguments
    parser.add_argument("command", choices=["embed", "verify"], help="embed: .npy per file; verify: score pairs")
    parser.add_argument("files", nargs="*", help="verify: the two audio files to compare")
    add_checkpoint_arguments(parser, "model: a training .ckpt or an exported .mindir")
    parser.add_argument("--input", default=None, help="embed: an audio file, a folder (searched recursively) or a "
                        ".txt list of paths; verify --pairs: the folder the pair paths are relative to")
    parser.add_argument("--output_dir", default=None, help="embed: where the .npy files go; verify --pairs: "
                        "scores.jsonl (and failures.tsv) go here")
    parser.add_argument("--pairs", default=None, help="verify: a list of 'PATH1 PATH2' or 'LABEL PATH1 PATH2' lines "
                        "to score in one run (each file embedded once)")
    parser.add_argument("--threshold", type=float, default=None, help="verify: cosine score threshold")
    parser.add_argument("--metrics", default=None, help="verify: eval.py's metrics.json holding the threshold "
                                                        "(default: metrics.json beside the checkpoint)")
    parser.add_argument("--use_ema", action="store_true", help="use the EMA weights of a .ckpt")
    add_batch_arguments(parser)


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


def decision_threshold(args):
    """The verify threshold and where it came from: --threshold, else the publisher's default of a --pretrained
    model, else the cosine EER threshold of eval.py's metrics.json (--metrics, or beside the checkpoint).
    (None, reason) when none is known."""
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
        if args.metrics:
            raise FileNotFoundError(f"--metrics {metrics_path}: no such file")
        return None, (f"no {metrics_path}: pass --threshold T or --metrics EVAL_OUT/metrics.json written by "
                      "ecapa_tdnn/eval.py for an accept / reject decision")
    with open(metrics_path, encoding="utf-8") as handle:
        try:
            metrics = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{metrics_path}: not a JSON file ({error})") from None
    if "cosine_eer_threshold" not in metrics:
        raise ValueError(f"{metrics_path} has no cosine_eer_threshold (not written by ecapa_tdnn/eval.py?)")
    return float(metrics["cosine_eer_threshold"]), metrics_path


def read_pairs(path, root):
    """[(path1, path2)] of a pair list (``PATH1 PATH2`` or ``LABEL PATH1 PATH2`` lines, ``#`` comments),
    joined to ``root``. Errors name the list and line."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--pairs {path}: no such file")
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) not in (2, 3):
                raise ValueError(f"{path}:{number}: expected 'PATH1 PATH2' or 'LABEL PATH1 PATH2', "
                                 f"got {line.strip()!r}")
            pairs.append(tuple(os.path.join(root, field) for field in fields[-2:]))
    if not pairs:
        raise ValueError(f"--pairs {path}: the list holds no pair")
    return pairs


def embed_files(model, files, sample_rate, features, batch_size, strict=False):
    """Embed each file once, tolerating unusable ones.

    files: audio paths. Files are read and turned into features one by one (an expected error, e.g. an
    unreadable or empty file, puts the file in ``failed`` unless ``strict``), then sent through the model
    ``batch_size`` at a time, sorted by duration (less padding). Returns ({file: embedding float32 [D]},
    {file: reason}).
    """
    import numpy as np

    from ecapa_tdnn.src.dataset import collate, feature_extractor
    from ecapa_tdnn.src.verification import audio_seconds
    from utils.audio import read_audio
    from utils.errors import is_expected, message

    extractor = feature_extractor(features, sample_rate)
    embeddings, failed, durations = {}, {}, {}

    def guarded(file, function, *args):
        try:
            return function(*args)
        except Exception as error:  # noqa: BLE001  (only expected errors are kept, see is_expected)
            if strict or not is_expected(error):
                raise
            failed[file] = message(error)
            return None

    for file in dict.fromkeys(files):
        seconds = guarded(file, audio_seconds, file)
        if seconds is not None:
            durations[file] = seconds
    ordered = sorted(durations, key=durations.get)
    for start in range(0, len(ordered), batch_size):
        loaded = []
        for file in ordered[start:start + batch_size]:
            feats = guarded(file, lambda path: extractor(read_audio(path, sample_rate)[0]), file)
            if feats is not None:
                loaded.append((file, feats))
        if not loaded:
            continue
        feats, lengths, _ = collate([(feats, 0) for _, feats in loaded])
        for (file, _), embedding in zip(loaded, np.asarray(model(feats, lengths), dtype=np.float32)):
            if np.isfinite(embedding).all():
                embeddings[file] = embedding
            else:
                failed[file] = f"{file}: the model gave a non-finite embedding"
    return embeddings, failed


def save_embedding(path, embedding):
    """np.save under a temporary name, then renamed: never a half-written .npy."""
    import numpy as np

    from utils.batch import atomic_outputs
    with atomic_outputs([path]) as (temporary,):
        np.save(temporary, embedding)


def verify(args, model, sample_rate, features, batch_size, program):
    """Score one pair (two positional files) or every pair of --pairs; returns the exit code."""
    import json
    import logging

    from ecapa_tdnn.src.verification import cosine_scores
    from utils.batch import FAILURES_FILE, Batch, atomic_outputs

    log = logging.getLogger("zoo.infer")
    threshold, source = decision_threshold(args)
    if threshold is None:
        log.warning("printing the score only: %s", source)
    else:
        log.info("threshold %.4f from %s", threshold, source)
    if args.pairs:
        pairs = read_pairs(args.pairs, args.input or os.path.dirname(os.path.abspath(args.pairs)))
    else:
        pairs = [tuple(args.files)]
    single = not args.pairs
    files = [file for pair in pairs for file in pair]
    embeddings, failed = embed_files(model, files, sample_rate, features, batch_size, strict=args.strict or single)
    failures = os.path.join(args.output_dir, FAILURES_FILE) if args.output_dir else None
    batch = Batch(program, failures, args.strict, noun="pair")
    lines = []
    for first, second in pairs:
        bad = [failed[file] for file in (first, second) if file in failed]
        if bad:
            batch.fail(f"{first} {second}", "; ".join(bad))
            continue
        score = float(cosine_scores([embeddings[first], embeddings[second]], [0], [1])[0])
        line = json.dumps({"score": round(score, 6), "threshold": None if threshold is None else round(threshold, 6),
                           "threshold_source": None if threshold is None else source,
                           "same_speaker": None if threshold is None else bool(score >= threshold),
                           "files": [first, second]})
        print(line, flush=True)
        lines.append(line + "\n")
        batch.done += 1
    if args.output_dir and args.pairs:
        with atomic_outputs([os.path.join(args.output_dir, "scores.jsonl")]) as (temporary,):
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.writelines(lines)
    if single:
        return 0
    return batch.finish()


def embed(args, model, sample_rate, features, batch_size, program):
    """One .npy per usable file of --input; returns the exit code."""
    import logging

    from utils.audio import is_single_file, list_audio
    from utils.batch import FAILURES_FILE, Batch

    log = logging.getLogger("zoo.infer")
    files = list_audio(args.input)
    log.info("embedding %d file(s) from %s", len(files), args.input)
    strict = args.strict or is_single_file(args.input)  # one file: its failure is the run's error
    batch = Batch(program, os.path.join(args.output_dir, FAILURES_FILE), strict)
    embeddings, failed = embed_files(model, [file for file, _ in files], sample_rate, features, batch_size,
                                     strict=strict)
    for file, name in files:
        if file in failed:
            batch.fail(file, failed[file])
            continue
        target = os.path.join(args.output_dir, name + ".npy")
        ok, _ = batch.attempt(file, save_embedding, target, embeddings[file])
        if ok:
            print(f"{file} -> {target}", flush=True)
    log.info("wrote %d embedding(s) to %s", batch.done, args.output_dir)
    return batch.finish()


def main():
    args, cfg, _ = start(__file__, "ECAPA-TDNN speaker embeddings and verification", add_arguments,
                         argv=positionals_first(sys.argv[1:]))
    from ecapa_tdnn.src.verification import load_embedder
    from utils.cli import program_name

    if args.command == "verify":
        if args.pairs and args.files:
            raise SystemExit("verify takes either two audio files or --pairs LIST, not both")
        if not args.pairs and len(args.files) != 2:
            raise SystemExit(f"verify needs exactly two audio files (or --pairs LIST), got {len(args.files)}")
    elif not args.input or not args.output_dir:
        raise SystemExit("embed needs --input FILE_OR_DIR and --output_dir DIR")
    model = load_embedder(args.ckpt_path, args.use_ema)
    data_cfg = {**cfg.data, **model.config.get("data", {})}
    sample_rate, features = int(data_cfg["sample_rate"]), data_cfg["features"]
    batch_size = int(cfg.eval.embed_batch_size)
    command = verify if args.command == "verify" else embed
    return command(args, model, sample_rate, features, batch_size, program_name(__file__))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
