"""What every ``<model>/preprocess_310.py`` and ``<model>/postprocess.py`` share (see utils/infer310.py
for the .bin protocol and scripts/run_infer_310.sh for the whole run).

The preprocess writes, beside the protocol inputs, ``IN/references.json``: which utterance each item is,
where its references live (absolute paths) and its true length before ``--fixed_length`` padding, so the
postprocess needs nothing but the input folder and the result folder to score the run.
"""
import csv
import json
import logging
import os

import numpy as np

from utils.infer310 import LATENCY_FILE, SHAPES_FILE

LOG = logging.getLogger("zoo.deploy310")
REFERENCES_FILE = "references.json"


def add_preprocess_arguments(parser, length_unit="samples"):
    """Flags every preprocess_310.py takes (the model adds its own)."""
    parser.add_argument("--data_path", required=True, help="the dataset in its official layout")
    parser.add_argument("--output_path", required=True, help="protocol input folder to create (must be new)")
    parser.add_argument("--fixed_length", type=int, default=None,
                        help=f"pad / crop every item to this many {length_unit} (a fixed-shape Ascend 310 model "
                             "exported with the same --fixed_length); the true lengths are recorded")
    parser.add_argument("--max_items", type=int, default=None, help="only the first N items (smoke runs)")
    from utils.batch import add_batch_arguments
    add_batch_arguments(parser)


def preprocess_batch(entry_file, args, noun):
    """The ``utils.batch.Batch`` of a preprocess_310 run: an unusable utterance is reported, left out of the
    items and listed in OUT/failures.tsv; the others are written (see ``finish_preprocess``)."""
    from utils.batch import FAILURES_FILE, Batch
    from utils.cli import program_name
    return Batch(program_name(entry_file), os.path.join(args.output_path, FAILURES_FILE), args.strict, noun=noun)


def finish_preprocess(batch, written):
    """Summary + exit code of a preprocess_310 run (1 when some utterances were left out); an error when
    none of them could be used."""
    status = batch.finish()
    if not written:
        from utils.errors import UsageError
        raise UsageError(f"none of the {len(batch.failures)} {batch.noun}s could be used (see "
                         f"{batch.failures_path})")
    return status


def add_postprocess_arguments(parser):
    """Flags every postprocess.py takes (the model adds its own)."""
    parser.add_argument("--result_path", required=True, help="result folder written by the runner")
    parser.add_argument("--data_path", required=True,
                        help="the dataset given to preprocess_310.py, or the protocol input folder itself")
    parser.add_argument("--output_dir", required=True, help="metrics.json and the per-utterance CSV go here")
    parser.add_argument("--input_path", default=None,
                        help="protocol input folder written by preprocess_310.py (default: --data_path when it "
                             "is one, else OUTPUT_DIR/preprocess as laid out by scripts/run_infer_310.sh)")


def start_output_folder(path):
    """Refuse to append to an existing protocol folder (write_inputs appends to shapes.txt)."""
    if os.path.exists(os.path.join(path, SHAPES_FILE)):
        raise SystemExit(f"--output_path {path} already holds a {SHAPES_FILE}: give a new folder")
    os.makedirs(path, exist_ok=True)


def check_item_limit(max_items, fixed_length):
    for name, value in (("--max_items", max_items), ("--fixed_length", fixed_length)):
        if value is not None and value <= 0:
            raise SystemExit(f"{name} must be a positive integer, got {value}")


def fit_length(array, length, axis=-1):
    """Zero-pad or crop ``array`` along ``axis`` to ``length`` (None: unchanged)."""
    if length is None:
        return array
    array = np.asarray(array)
    size = array.shape[axis]
    if size >= length:
        return np.take(array, np.arange(length), axis=axis)
    padding = [(0, 0)] * array.ndim
    padding[axis] = (0, length - size)
    return np.pad(array, padding)


def write_feature_item(folder, index, features, fixed_length, input_names):
    """Write one utterance's features [C, F] as protocol item ``index`` (batch of 1): the features fitted
    to ``fixed_length`` frames (None: as they are) and the valid frame count, under ``input_names``
    (features, lengths). Returns ``(item name, frames, valid frames)``; valid < frames when cropped."""
    from utils.infer310 import write_inputs
    frames = int(features.shape[1])
    valid = min(frames, fixed_length or frames)
    name = f"{index:06d}"
    write_inputs(folder, name, [fit_length(features, fixed_length, axis=1)[None].astype(np.float32),
                                np.array([valid], np.int32)], names=list(input_names))
    return name, frames, valid


def write_references(folder, references):
    """IN/references.json: a dict with an ``items`` list (one dict per item, key ``item`` = its name)."""
    cropped = sum(1 for entry in references["items"] if entry.get("cropped"))
    if cropped:
        LOG.warning("%d of %d items are longer than --fixed_length %s and were cropped: their metrics cover "
                    "the first %s only", cropped, len(references["items"]), references.get("fixed_length"),
                    references.get("fixed_length"))
    with open(os.path.join(folder, REFERENCES_FILE), "w", encoding="utf-8") as handle:
        json.dump(references, handle, indent=1)
    LOG.info("%d items -> %s", len(references["items"]), folder)


def input_folder(args):
    """The protocol input folder of a postprocess run (see add_postprocess_arguments)."""
    if args.input_path:
        return args.input_path
    if os.path.isfile(os.path.join(args.data_path, REFERENCES_FILE)):
        return args.data_path
    return os.path.join(args.output_dir, "preprocess")


def read_references(folder):
    path = os.path.join(folder, REFERENCES_FILE)
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found: --input_path must be the folder written by the model's "
                         "preprocess_310.py")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_latencies(result_path):
    """{item: milliseconds} from the runner's latency.txt ({} when absent)."""
    path = os.path.join(result_path, LATENCY_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return {item: float(ms) for item, ms in (line.split() for line in handle if line.strip())}


def check_coverage(references, seen, result_path):
    """Every item of the input folder must have exactly one result."""
    expected = [entry["item"] for entry in references["items"]]
    missing = sorted(set(expected) - set(seen))
    extra = sorted(set(seen) - set(expected))
    if missing or extra or len(seen) != len(set(seen)):
        raise SystemExit(f"{result_path}: results do not match the input items (missing {missing[:5]}, "
                         f"unexpected {extra[:5]}, {len(seen)} results for {len(expected)} items)")


def write_report(output_dir, metrics, csv_name, header, rows, printed_keys):
    """OUTPUT_DIR/metrics.json + OUTPUT_DIR/<csv_name>; prints the main metrics as one JSON line."""
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
    with open(os.path.join(output_dir, csv_name), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    LOG.info("wrote metrics.json and %s to %s", csv_name, output_dir)
    print(json.dumps({key: metrics[key] for key in printed_keys}))
