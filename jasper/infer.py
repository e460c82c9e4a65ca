"""Transcribe your own recordings with a trained Jasper (.ckpt or .mindir).

    python jasper/infer.py --ckpt_path runs/jasper/best.ckpt --input speech.wav|folder/ [--output_dir OUT] \
        [--decoder greedy|beam] [--lm_path LM.arpa] [--use_ema]

Any sample rate and channel count (mixed to mono, resampled to the model's 16 kHz); .wav, .flac, .ogg and .mp3,
folders searched recursively, or a .txt list of paths. Each transcript is printed as one JSON line
{"file", "duration", "chunks", "text"}; with --output_dir they are also written to OUT/transcripts.jsonl and
OUT/transcripts.txt (file<TAB>text). A file that cannot be used is reported (one line on stderr, and in
OUT/failures.tsv), the others are transcribed; the run ends with "N done, M failed" and exits 1 if any failed
(--strict: stop at the first); a single --input file that cannot be used is an error (one line, exit 2).

Recordings longer than infer.chunk_seconds are cut into windows of that length that overlap by 2 x
infer.chunk_context seconds; only the centre frames of each window's posteriors are kept (the edges lack context)
and the stitched posteriors of the whole recording are decoded once. This needs no word-boundary heuristics, never
cuts or doubles a word, and lets the beam search and LM see the recording as one utterance.
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import add_checkpoint_arguments, start  # noqa: E402  (first: sets the environment before mindspore loads)

import json  # noqa: E402
import logging  # noqa: E402

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402


def add_arguments(parser):
    from jasper.src.decoder import add_decoder_arguments
    from utils.batch import add_batch_arguments
    add_checkpoint_arguments(parser, "model: training .ckpt or exported .mindir")
    parser.add_argument("--input", required=True, help="an audio file, a folder of them (searched recursively) or a "
                        ".txt list of audio paths")
    parser.add_argument("--output_dir", default=None, help="also write transcripts.jsonl, transcripts.txt (and "
                        "failures.tsv) here")
    add_decoder_arguments(parser)
    add_batch_arguments(parser)


def main():
    args, cfg, run = start(__file__, "Transcribe audio files with Jasper", add_arguments)
    from jasper.src.decoder import decoder_settings
    from jasper.src.asr import Transcriber, load_acoustic_model, long_audio_log_probs
    from jasper.src.network import normalize_blocks
    from utils.audio import is_single_file, list_audio, read_audio
    from utils.batch import FAILURES_FILE, Batch, atomic_outputs
    from utils.cli import program_name
    from utils.features import FeatureConfig, LogMelExtractor

    log = logging.getLogger("zoo.infer")
    files = [path for path, _ in list_audio(args.input)]
    settings = decoder_settings(args, cfg)
    model = load_acoustic_model(args.ckpt_path, args.use_ema)
    transcriber = Transcriber(model, settings)
    features = FeatureConfig.from_dict(dict(model.config["data"]["features"]))
    extractor = LogMelExtractor(features)
    stride = int(np.prod([b["stride"] ** b["repeat"] for b in normalize_blocks(model.config["model"]["blocks"])]))
    out_hop = features.hop_length * stride
    infer_cfg = cfg.get("infer") or {}
    window = int(float(infer_cfg.get("chunk_seconds", 15.0)) * features.sample_rate) // out_hop * out_hop
    context = int(float(infer_cfg.get("chunk_context", 1.0)) * features.sample_rate) // out_hop * out_hop
    log.info("transcribing %d file(s) with %s (%s decoding, windows of %.1f s with %.1f s context)", len(files),
             args.ckpt_path, settings["decoder"], window / features.sample_rate, context / features.sample_rate)
    failures = os.path.join(args.output_dir, FAILURES_FILE) if args.output_dir and run.is_main else None
    batch = Batch(program_name(__file__), failures, args.strict or is_single_file(args.input))

    def transcribe(path):
        wave, _ = read_audio(path, sample_rate=features.sample_rate)
        log_probs, chunks = long_audio_log_probs(transcriber, extractor, wave, window, context, out_hop)
        text = transcriber.decode(log_probs[None], [len(log_probs)])[0]
        return {"file": path, "duration": round(len(wave) / features.sample_rate, 3), "chunks": chunks, "text": text}

    records = []
    for path in tqdm(files, desc="infer", unit="file", disable=len(files) < 2):
        ok, record = batch.attempt(path, transcribe, path)
        if ok:
            records.append(record)
            tqdm.write(json.dumps(record))
    if args.output_dir and run.is_main:
        names = [os.path.join(args.output_dir, name) for name in ("transcripts.jsonl", "transcripts.txt")]
        with atomic_outputs(names) as (jsonl, text):
            with open(jsonl, "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(r) + "\n" for r in records)
            with open(text, "w", encoding="utf-8") as handle:
                handle.writelines(f"{r['file']}\t{r['text']}\n" for r in records)
        log.info("wrote %d transcript(s) to %s", len(records), args.output_dir)
    return batch.finish()

if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
