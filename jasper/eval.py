"""Evaluate a Jasper model on a manifest: WER and CER of every utterance (no duration filter).

    python jasper/eval.py --manifest M/test-clean.jsonl --ckpt_path runs/jasper/best.ckpt --output_dir OUT \
        [--decoder greedy|beam] [--lm_path 4-gram.arpa] [--beam_width 16 --alpha 0.5 --beta 1.0] [--use_ema]

Writes OUT/metrics.json ({"wer", "cer", "n_utterances", decoder settings, ...}) and OUT/per_utterance.csv
(id, path, reference, hypothesis, wer, cer). --ckpt_path takes a training .ckpt or an exported .mindir. Runs on one
device (the per-utterance table is written by one process).
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_checkpoint_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)

import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def add_arguments(parser):
    from jasper.src.decoder import add_decoder_arguments
    parser.add_argument("--manifest", required=True, help="JSON-lines manifest to evaluate (every line is used)")
    add_checkpoint_arguments(parser, "model: training .ckpt or exported .mindir")
    parser.add_argument("--output_dir", required=True, help="where metrics.json and per_utterance.csv go")
    parser.add_argument("--batch_size", type=int, default=16, help="utterances per forward pass (default: 16)")
    add_decoder_arguments(parser)


def count_manifest_lines(path):
    with open(path, encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def main():
    args, cfg, run = start(__file__, "Evaluate Jasper (WER / CER)", add_arguments)
    from jasper.src.decoder import decoder_settings
    from jasper.src.asr import Transcriber, load_acoustic_model, transcript_metrics, write_transcripts
    from jasper.src.dataset import AsrDataset, collate

    log = logging.getLogger("zoo.eval")
    if not os.path.isfile(args.manifest):
        raise SystemExit(f"jasper/eval.py: --manifest {args.manifest} does not exist")
    settings = decoder_settings(args, cfg)
    model = load_acoustic_model(args.ckpt_path, args.use_ema)
    dataset = AsrDataset(args.manifest, model.config["data"], train=False)
    expected = count_manifest_lines(args.manifest)
    if len(dataset) != expected:
        raise RuntimeError(f"jasper/eval.py: {args.manifest} has {expected} lines but {len(dataset)} were read")
    log.info("evaluating %s on %d utterances of %s, decoder %s", args.ckpt_path, len(dataset), args.manifest,
             {k: v for k, v in settings.items() if v is not None})
    transcriber = Transcriber(model, settings)
    hypotheses = [None] * len(dataset)
    order = np.argsort(dataset.lengths, kind="stable")  # similar lengths together: less padding
    started = time.perf_counter()
    for first in tqdm(range(0, len(order), args.batch_size), desc="eval", unit="batch"):
        indices = order[first:first + args.batch_size]
        feats, frames, _, _ = collate([dataset.get(int(i)) for i in indices])
        for index, text in zip(indices, transcriber(feats, frames)):
            hypotheses[int(index)] = text
    seconds = time.perf_counter() - started
    assert all(h is not None for h in hypotheses), "every utterance must be transcribed exactly once"
    references = [entry["text"] for entry in dataset.entries]
    audio_seconds = sum(float(entry["duration"]) for entry in dataset.entries)
    metrics = {**transcript_metrics(references, hypotheses), **settings, "use_ema": bool(args.use_ema),
               "ckpt_path": args.ckpt_path, "manifest": args.manifest, "audio_hours": round(audio_seconds / 3600, 4),
               "real_time_factor": round(seconds / audio_seconds, 4)}
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    write_transcripts(os.path.join(args.output_dir, "per_utterance.csv"), dataset.entries, references, hypotheses)
    log.info("WER %.2f %%, CER %.2f %% on %d utterances (%s decoding, RTF %.3f); wrote %s", 100 * metrics["wer"],
             100 * metrics["cer"], len(hypotheses), settings["decoder"], metrics["real_time_factor"],
             os.path.join(args.output_dir, "metrics.json"))
    print(json.dumps({k: metrics[k] for k in ("wer", "cer", "n_utterances", "decoder")}))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
