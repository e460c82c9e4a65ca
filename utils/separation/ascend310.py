"""`<model>/preprocess_310.py` and `<model>/postprocess.py` for every separation model (Ascend 310 inference).

    python tasnet/preprocess_310.py --data_path Libri2Mix --output_path IN [--split test] [--fixed_length N] \
        [--max_items N]
    python tasnet/postprocess.py --result_path OUT/result --data_path Libri2Mix --output_dir OUT [--input_path IN]

The preprocess writes one item per mixture: input ``mixture`` float32 [1, T] (T = its full length, or
--fixed_length samples zero-padded / cropped). The postprocess crops each output [1, S, T] back to the true
length and scores it exactly like eval.py (SI-SNRi, SDRi with PIT): OUT/metrics.json (eval.py's keys) and
OUT/per_utterance.csv. An item longer than --fixed_length is scored on its first --fixed_length samples.
A mixture whose files cannot be read is reported, left out and listed in IN/failures.tsv (exit 1 at the end;
--strict stops at the first).
"""
import json
import logging
import os

import numpy as np
from tqdm import tqdm

from utils.cli import start
from utils.deploy310 import (add_postprocess_arguments, add_preprocess_arguments, check_coverage, check_item_limit,
                             finish_preprocess, fit_length, input_folder, preprocess_batch, read_latencies,
                             read_references, start_output_folder, write_references)

LOG = logging.getLogger("zoo.deploy310")


def _add_preprocess_arguments(parser):
    add_preprocess_arguments(parser, "samples")
    parser.add_argument("--split", default="test", help="test (test / tt), valid, or a corpus split name")


def preprocess_main(entry_file, description):
    """Dataset split -> protocol input folder + references.json (see the module doc)."""
    args, cfg, _ = start(entry_file, description, _add_preprocess_arguments)
    from utils.infer310 import write_inputs
    from utils.separation.data import SeparationDataset
    from utils.separation.train import find_split

    check_item_limit(args.max_items, args.fixed_length)
    sample_rate = int(cfg.data.sample_rate)
    items = find_split(args.data_path, args.split, cfg.data)[:args.max_items]
    dataset = SeparationDataset(items, sample_rate)
    start_output_folder(args.output_path)
    batch = preprocess_batch(entry_file, args, "mixture")
    entries = []
    for index, item in enumerate(tqdm(items, desc="preprocess", unit="utt")):
        ok, loaded = batch.attempt(item.mixture_path, dataset.load_exact, index)
        if not ok:
            continue
        mixture = loaded[0]
        name = f"{len(entries):06d}"
        write_inputs(args.output_path, name, [fit_length(mixture, args.fixed_length)[None]], names=["mixture"])
        entries.append({"item": name, "mixture_id": item.mixture_id, "mixture_path": os.path.abspath(item.mixture_path),
                        "source_paths": [os.path.abspath(p) for p in item.source_paths], "length": int(mixture.size),
                        "cropped": bool(args.fixed_length and mixture.size > args.fixed_length)})
    write_references(args.output_path, {"task": "separation", "data_path": os.path.abspath(args.data_path),
                                        "split": args.split, "sample_rate": sample_rate,
                                        "fixed_length": args.fixed_length, "items": entries})
    return finish_preprocess(batch, entries)


def postprocess_main(entry_file, description):
    """Result folder -> the metrics of eval.py (see the module doc); returns the metrics dict."""
    args, _, _ = start(entry_file, description, add_postprocess_arguments)
    from utils.infer310 import iter_outputs
    from utils.separation.data import SeparationDataset, SeparationItem
    from utils.metrics import perceptual_backends
    from utils.separation.evaluate import COLUMNS, perceptual_metrics, summarize, utterance_metrics, write_tables

    references = read_references(input_folder(args))
    entries = references["items"]
    position = {entry["item"]: index for index, entry in enumerate(entries)}
    sample_rate, fixed_length = int(references["sample_rate"]), references.get("fixed_length")
    dataset = SeparationDataset([SeparationItem(e["mixture_id"], e["mixture_path"], tuple(e["source_paths"]))
                                 for e in entries], sample_rate)
    latencies = read_latencies(args.result_path)
    backends = perceptual_backends()
    rows, seen = [], []
    for name, outputs in tqdm(iter_outputs(args.result_path), total=len(entries), desc="postprocess", unit="utt"):
        if name not in position:
            raise SystemExit(f"{args.result_path}: result item {name!r} is not in the input folder")
        seen.append(name)
        index = position[name]
        mixture, sources, _ = dataset.get(index)
        if dataset.bad_files:
            raise SystemExit(f"cannot score: {dataset.report()}")
        scored = min(mixture.size, fixed_length or mixture.size)  # a cropped item is scored on what the model saw
        estimates = outputs[0][0][:, :scored]
        if estimates.shape != (sources.shape[0], scored):
            raise SystemExit(f"{args.result_path}: item {name} output has shape {outputs[0].shape}, expected "
                             f"[1, {sources.shape[0]}, >= {scored}]")
        values, perm = utterance_metrics(estimates.astype(np.float32), sources[:, :scored], mixture[:scored])
        values.update(perceptual_metrics(estimates[perm], sources[:, :scored], mixture[:scored], sample_rate, backends))
        values.update(audio_seconds=scored / sample_rate, seconds=latencies.get(name, float("nan")) / 1e3)
        rows.append((index, {column: values[column] for column in COLUMNS}))
    check_coverage(references, seen, args.result_path)
    rows.sort(key=lambda row: row[0])
    metrics = summarize(rows, backends["missing"], split=references["split"], checkpoint=None,
                        result_path=os.path.abspath(args.result_path), fixed_length=fixed_length,
                        n_cropped=sum(1 for e in entries if e["cropped"]))
    write_tables(args.output_dir, metrics, rows, [e["mixture_id"] for e in entries], backends["missing"])
    LOG.info("%s: SI-SNRi %.2f dB, SDRi %.2f dB (SI-SNR %.2f, SDR %.2f) over %d utterances -> %s",
             references["split"], metrics["si_snri"], metrics["sdri"], metrics["si_snr"], metrics["sdr"], len(rows),
             os.path.join(args.output_dir, "metrics.json"))
    print(json.dumps({k: metrics[k] for k in ("si_snri", "sdri", "n_utterances")}))
    return metrics
