"""Transcribe your own recordings with a trained Jasper (.ckpt or .mindir).

    python jasper/infer.py --ckpt_path runs/jasper/best.ckpt --input speech.wav|folder/ [--output_dir OUT] \
        [--decoder greedy|beam] [--lm_path LM.arpa] [--use_ema]

Any sample rate and channel count (mixed to mono, resampled to the model's 16 kHz); .wav, .flac, .ogg and .mp3,
folders searched recursively. Each transcript is printed as one JSON line {"file", "duration", "chunks", "text"};
with --output_dir they are also written to OUT/transcripts.jsonl and OUT/transcripts.txt (file<TAB>text).

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

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def add_arguments(parser):
    from jasper.src.decoder import add_decoder_arguments
    add_checkpoint_arguments(parser, "model: training .ckpt or exported .mindir")
    parser.add_argument("--input", required=True, help="an audio file or a folder of them")
    parser.add_argument("--output_dir", default=None, help="also write transcripts.jsonl and transcripts.txt here")
    add_decoder_arguments(parser)


def find_audio(path):
    """The audio files named by --input, sorted; clear error when there are none."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise SystemExit(f"jasper/infer.py: --input {path} is neither a file nor a folder")
    found = sorted(os.path.join(folder, name) for folder, _, names in os.walk(path) for name in names
                   if name.lower().endswith(AUDIO_EXTENSIONS))
    if not found:
        raise SystemExit(f"jasper/infer.py: no {'/'.join(AUDIO_EXTENSIONS)} file under {path}")
    return found


def main():
    args, cfg, run = start(__file__, "Transcribe audio files with Jasper", add_arguments)
    from jasper.src.decoder import decoder_settings
    from jasper.src.asr import Transcriber, load_acoustic_model, long_audio_log_probs
    from jasper.src.network import normalize_blocks
    from utils.audio import read_audio
    from utils.features import FeatureConfig, LogMelExtractor

    log = logging.getLogger("zoo.infer")
    files = find_audio(args.input)
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
    records = []
    for path in tqdm(files, desc="infer", unit="file", disable=len(files) < 2):
        wave, _ = read_audio(path, sample_rate=features.sample_rate)
        log_probs, chunks = long_audio_log_probs(transcriber, extractor, wave, window, context, out_hop)
        text = transcriber.decode(log_probs[None], [len(log_probs)])[0]
        record = {"file": path, "duration": round(len(wave) / features.sample_rate, 3), "chunks": chunks, "text": text}
        records.append(record)
        tqdm.write(json.dumps(record))
    if args.output_dir and run.is_main:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "transcripts.jsonl"), "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
        with open(os.path.join(args.output_dir, "transcripts.txt"), "w", encoding="utf-8") as handle:
            handle.writelines(f"{r['file']}\t{r['text']}\n" for r in records)
        log.info("wrote %d transcript(s) to %s", len(records), args.output_dir)


if __name__ == "__main__":
    main()
