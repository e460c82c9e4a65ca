"""Ascend 310 inference, step 3: the runner's log-probabilities -> transcripts, WER and CER exactly as eval.py.

    python jasper/postprocess.py --result_path RUN/result --data_path LibriSpeech/test-clean --output_dir RUN \
        [--input_path IN] [--decoder greedy|beam] [--lm_path 4-gram.arpa] [--beam_width 16 --alpha 0.5 --beta 1.0]

Decodes each item's ``log_probs`` [1, F', C] over its ``output_lengths`` frames with the decoder of the config's
``infer:`` section (or the flags) and writes RUN/metrics.json (eval.py's keys) and RUN/per_utterance.csv
(id, path, reference, hypothesis, wer, cer).
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)


def add_arguments(parser):
    from jasper.src.decoder import add_decoder_arguments
    from utils.deploy310 import add_postprocess_arguments
    add_postprocess_arguments(parser)
    add_decoder_arguments(parser)


def main():
    args, cfg, _ = start(__file__, "Decode and score Jasper Ascend 310 results (WER, CER)", add_arguments)
    import json
    import logging

    from tqdm import tqdm

    from jasper.src.asr import Transcriber, transcript_metrics, write_transcripts
    from jasper.src.decoder import decoder_settings
    from utils.deploy310 import check_coverage, input_folder, read_latencies, read_references
    from utils.infer310 import iter_outputs

    folder = input_folder(args)
    references = read_references(folder)
    entries = references["items"]
    position = {entry["item"]: index for index, entry in enumerate(entries)}
    settings = decoder_settings(args, cfg)
    transcriber = Transcriber(None, settings)
    hypotheses, seen = [None] * len(entries), []
    for name, outputs in tqdm(iter_outputs(args.result_path), total=len(entries), desc="postprocess", unit="utt"):
        if name not in position:
            raise SystemExit(f"{args.result_path}: result item {name!r} is not in {folder}")
        log_probs, output_lengths = outputs[0], outputs[1]
        hypotheses[position[name]] = transcriber.decode(log_probs, output_lengths.reshape(-1))[0]
        seen.append(name)
    check_coverage(references, seen, args.result_path)
    texts = [entry["text"] for entry in entries]
    audio_seconds = sum(entry["duration"] for entry in entries)
    latency_seconds = sum(read_latencies(args.result_path).values()) / 1e3
    metrics = {**transcript_metrics(texts, hypotheses), **settings, "use_ema": False, "ckpt_path": None,
               "manifest": os.path.join(os.path.abspath(folder), references["manifest_file"]),
               "audio_hours": round(audio_seconds / 3600, 4),
               "real_time_factor": round(latency_seconds / audio_seconds, 4),
               "result_path": os.path.abspath(args.result_path), "fixed_length": references["fixed_length"],
               "n_cropped": sum(1 for entry in entries if entry["cropped"])}
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    write_transcripts(os.path.join(args.output_dir, "per_utterance.csv"), entries, texts, hypotheses)
    logging.getLogger("zoo.postprocess").info(
        "WER %.2f %%, CER %.2f %% on %d utterances (%s decoding); wrote %s", 100 * metrics["wer"], 100 * metrics["cer"],
        len(hypotheses), settings["decoder"], os.path.join(args.output_dir, "metrics.json"))
    print(json.dumps({k: metrics[k] for k in ("wer", "cer", "n_utterances", "decoder")}))


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
