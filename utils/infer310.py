"""The Ascend 310 inference file protocol, and a Python runner that speaks it through MindSpore.

A model's ``preprocess_310.py`` writes inputs with ``write_inputs``; a runner (the C++ one in
``ascend310_infer/`` on an Ascend 310, or ``python -m utils.infer310`` anywhere MindSpore runs) turns
them into outputs; the model's ``postprocess.py`` reads them back with ``read_outputs`` (or
``iter_outputs`` for one item at a time). ``ascend310_infer/README.md`` documents the same protocol.

Protocol (every file is plain text or raw bytes, so C++ parses it without a JSON library)
----------------------------------------------------------------------------------------
Input folder ``IN/``::

    IN/inputs.txt               one input name per line, in the model's input order
    IN/<input name>/<item>.bin  raw little-endian C-order array of that item for that input
    IN/shapes.txt               one line per (item, input): ``<item> <input_index> <dtype> <shape>``

Result folder ``OUT/`` (written by a runner)::

    OUT/<item>_<output_index>.bin   raw little-endian C-order output array
    OUT/shapes.txt                  same line format, index = output index
    OUT/latency.txt                 ``<item> <milliseconds>`` per item, in run order
    OUT/summary.txt                 ``<key> <value>`` lines: runner, items, mean_ms, total_ms, load_ms

Line rules for ``shapes.txt``: fields are separated by single spaces; ``item`` matches
``[A-Za-z0-9._-]+``; ``dtype`` is one of ``DTYPES`` (numpy names); ``shape`` is ``d0,d1,...`` with
positive integers, or ``-`` for a 0-d array. Lines starting with ``#`` and blank lines are ignored.
Items are processed in order of first appearance; a later line for the same (item, index) replaces an
earlier one (so re-writing an item is allowed). Each item has its own shapes: a runner resizes a
dynamic model per item, and a fixed-shape model requires every item to match its input shapes.
"""
import argparse
import json
import logging
import os
import re
import sys
import time
from collections import OrderedDict

import numpy as np
from tqdm import tqdm

LOG = logging.getLogger("zoo.infer310")
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")
SHAPES_FILE, NAMES_FILE, LATENCY_FILE, SUMMARY_FILE = "shapes.txt", "inputs.txt", "latency.txt", "summary.txt"
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_name(kind, name):
    if not _NAME.match(str(name)):
        raise ValueError(f"{kind} name {name!r} must match [A-Za-z0-9._-]+ (it becomes a file name)")
    return str(name)


def shape_to_text(shape):
    """(3, 5) -> "3,5"; () -> "-"."""
    return ",".join(str(int(d)) for d in shape) if len(shape) else "-"


def _parse_line(path, number, line):
    fields = line.split()
    if len(fields) != 4:
        raise ValueError(f"{path}:{number}: expected 'item index dtype shape', got {line!r}")
    item, index, dtype, shape = fields
    if not _NAME.match(item) or not index.isdigit() or dtype not in DTYPES:
        raise ValueError(f"{path}:{number}: bad item name, index or dtype (one of {', '.join(DTYPES)}) in {line!r}")
    if shape == "-":
        dims = ()
    else:
        dims = tuple(int(d) if d.isdigit() and int(d) > 0 else -1 for d in shape.split(","))
        if -1 in dims:
            raise ValueError(f"{path}:{number}: shape must be positive integers joined by ',' or '-', got {shape!r}")
    return item, int(index), dtype, dims


def read_shapes(path):
    """shapes.txt -> OrderedDict {item: {index: (dtype, shape)}} (items in first-appearance order)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: a protocol folder needs a {SHAPES_FILE} (see utils/infer310.py)")
    table = OrderedDict()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip() and not line.startswith("#"):
                item, index, dtype, shape = _parse_line(path, number, line)
                table.setdefault(item, {})[index] = (dtype, shape)
    return table


def _read_array(path, dtype, shape):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found (listed in {SHAPES_FILE})")
    array = np.fromfile(path, dtype=np.dtype(dtype).newbyteorder("<"))
    expected = int(np.prod(shape, dtype=np.int64))
    if array.size != expected:
        raise ValueError(f"{path}: holds {array.size} {dtype} values, {SHAPES_FILE} says shape {shape} ({expected})")
    return array.reshape(shape).astype(dtype, copy=False)


def _write_array(path, array):
    array = np.ascontiguousarray(array)
    array.astype(array.dtype.newbyteorder("<"), copy=False).tofile(path)


def _append_shapes(folder, item, arrays):
    lines = [f"{item} {i} {np.asarray(a).dtype.name} {shape_to_text(np.shape(a))}\n" for i, a in enumerate(arrays)]
    with open(os.path.join(folder, SHAPES_FILE), "a", encoding="utf-8") as handle:
        handle.writelines(lines)


def _checked_arrays(item, arrays):
    arrays = [np.asarray(a) for a in (arrays if isinstance(arrays, (list, tuple)) else [arrays])]
    for i, array in enumerate(arrays):
        if array.dtype.name not in DTYPES:
            raise ValueError(f"item {item!r} array {i}: dtype {array.dtype} is not one of {', '.join(DTYPES)}")
    return arrays


def input_names(folder):
    """Input folder names from IN/inputs.txt, in model input order."""
    path = os.path.join(folder, NAMES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: write inputs with utils.infer310.write_inputs")
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def write_inputs(folder, item, arrays, names=None):
    """Write one item's model inputs into the input folder ``folder``.

    arrays: list of numpy arrays in model input order (any shapes; lengths may differ per item).
    names: input folder names (default ``input_0``, ``input_1``...; or the ``inputs[].name`` of the
        export's JSON); fixed by the first call, later calls must agree.
    """
    item = _check_name("item", item)
    arrays = _checked_arrays(item, arrays)
    names = [_check_name("input", n) for n in (names or [f"input_{i}" for i in range(len(arrays))])]
    if len(names) != len(arrays):
        raise ValueError(f"item {item!r}: {len(arrays)} arrays for {len(names)} input names {names}")
    os.makedirs(folder, exist_ok=True)
    if os.path.isfile(os.path.join(folder, NAMES_FILE)):
        if input_names(folder) != names:
            raise ValueError(f"{folder}/{NAMES_FILE} lists inputs {input_names(folder)}, item {item!r} has {names}")
    else:
        with open(os.path.join(folder, NAMES_FILE), "w", encoding="utf-8") as handle:
            handle.write("".join(n + "\n" for n in names))
    for name, array in zip(names, arrays):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
        _write_array(os.path.join(folder, name, item + ".bin"), array)
    _append_shapes(folder, item, arrays)


def _iter_table(folder, path_of):
    for item, entries in read_shapes(os.path.join(folder, SHAPES_FILE)).items():
        if sorted(entries) != list(range(len(entries))):
            raise ValueError(f"{folder}/{SHAPES_FILE}: item {item!r} has indices {sorted(entries)}, expected 0..n-1")
        yield item, [_read_array(path_of(item, i), *entries[i]) for i in range(len(entries))]


def iter_inputs(folder):
    """Yield (item, [arrays in model input order]) from an input folder, one item in memory at a time."""
    names = input_names(folder)
    for item, arrays in _iter_table(folder, lambda item, i: os.path.join(folder, names[i], item + ".bin")):
        if len(arrays) != len(names):
            raise ValueError(f"{folder}: item {item!r} has {len(arrays)} inputs, {NAMES_FILE} lists {len(names)}")
        yield item, arrays


def iter_outputs(folder):
    """Yield (item, [arrays in model output order]) from a result folder, one item in memory at a time."""
    return _iter_table(folder, lambda item, i: os.path.join(folder, f"{item}_{i}.bin"))


def read_inputs(folder):
    """Input folder -> OrderedDict {item: [arrays in model input order]}."""
    return OrderedDict(iter_inputs(folder))


def read_outputs(folder):
    """Result folder -> OrderedDict {item: [arrays in model output order]}."""
    return OrderedDict(iter_outputs(folder))


def write_outputs(folder, item, arrays):
    """Write one item's outputs into the result folder (what a runner does)."""
    item = _check_name("item", item)
    arrays = _checked_arrays(item, arrays)
    os.makedirs(folder, exist_ok=True)
    for index, array in enumerate(arrays):
        _write_array(os.path.join(folder, f"{item}_{index}.bin"), array)
    _append_shapes(folder, item, arrays)


def write_latency(folder, latencies_ms, runner, load_ms):
    """latency.txt (per item) and summary.txt; returns the summary dict. latencies_ms: {item: ms}."""
    with open(os.path.join(folder, LATENCY_FILE), "w", encoding="utf-8") as handle:
        handle.writelines(f"{item} {ms:.3f}\n" for item, ms in latencies_ms.items())
    values = list(latencies_ms.values())
    summary = {"runner": runner, "items": len(values), "mean_ms": float(np.mean(values)) if values else 0.0,
               "total_ms": float(np.sum(values)), "load_ms": float(load_ms)}
    with open(os.path.join(folder, SUMMARY_FILE), "w", encoding="utf-8") as handle:
        handle.writelines(f"{k} {v:.3f}\n" if isinstance(v, float) else f"{k} {v}\n" for k, v in summary.items())
    return summary


def read_summary(folder):
    """summary.txt -> {key: value} (numbers as float, runner as str)."""
    path = os.path.join(folder, SUMMARY_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: the runner did not finish")
    summary = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            key, value = line.split(maxsplit=1)
            value = value.strip()
            summary[key] = value if key == "runner" else float(value)
    return summary


def model_inputs(mindir_path):
    """[(shape, dtype name)] of the inputs from the export's NAME.json next to the MINDIR (-1 = dynamic
    axis, dtype as numpy name), or None when there is no such file."""
    description = os.path.splitext(mindir_path)[0] + ".json"
    if not os.path.isfile(description):
        return None
    with open(description, encoding="utf-8") as handle:
        specs = json.load(handle).get("inputs", [])
    return [(tuple(spec["shape"]), spec["dtype"].lower().rstrip("_")) for spec in specs]


def _check_item(item, arrays, specs, mindir_path):
    if specs is None:
        return
    if len(arrays) != len(specs):
        raise ValueError(f"item {item!r} has {len(arrays)} inputs, {mindir_path} takes {len(specs)}")
    for i, (array, (shape, dtype)) in enumerate(zip(arrays, specs)):
        if array.ndim != len(shape) or any(e not in (-1, d) for d, e in zip(array.shape, shape)):
            raise ValueError(f"item {item!r} input {i} has shape {array.shape}; the model {mindir_path} "
                             f"takes {shape} (-1 = any): re-export with dynamic axes or fix the preprocess")
        if array.dtype.name != dtype:
            raise ValueError(f"item {item!r} input {i} is {array.dtype.name}; {mindir_path} takes {dtype}")


def run(mindir_path, input_path, output_path, device_target="CPU", device_id=0, progress=True):
    """Run every item of ``input_path`` through the MINDIR; write the result folder; returns the summary.

    With the export's NAME.json next to the MINDIR, items are checked against its input shapes/dtypes and a
    dynamic graph is compiled once for all lengths; without it each new shape compiles again.
    Latency per item covers the call and the copy of the outputs to host (the first item includes the
    graph compilation).
    """
    import utils.context  # noqa: F401  (environment before mindspore)
    import mindspore as ms
    from mindspore import nn

    if not os.path.isfile(mindir_path):
        raise FileNotFoundError(f"--mindir_path {mindir_path} not found")
    input_names(input_path)  # a malformed input folder fails before the model is loaded
    count = len(read_shapes(os.path.join(input_path, SHAPES_FILE)))
    specs = model_inputs(mindir_path)
    ms.set_context(mode=ms.GRAPH_MODE, device_target=device_target, device_id=int(device_id))
    start = time.perf_counter()
    graph = nn.GraphCell(ms.load(mindir_path))
    if specs and any(-1 in shape for shape, _ in specs):  # one compilation for every length, not one per shape
        graph.set_inputs(*[ms.Tensor(shape=[None if d == -1 else d for d in shape],
                                     dtype=ms.dtype.pytype_to_dtype(np.dtype(dtype))) for shape, dtype in specs])
    load_ms = (time.perf_counter() - start) * 1e3
    os.makedirs(output_path, exist_ok=True)
    for stale in (SHAPES_FILE, LATENCY_FILE, SUMMARY_FILE):  # appended to per item: start empty
        if os.path.exists(os.path.join(output_path, stale)):
            os.remove(os.path.join(output_path, stale))
    latencies = OrderedDict()
    for item, arrays in tqdm(iter_inputs(input_path), total=count, desc="infer310", unit="item", disable=not progress):
        _check_item(item, arrays, specs, mindir_path)
        start = time.perf_counter()
        outputs = graph(*[ms.Tensor(a) for a in arrays])
        outputs = [o.asnumpy() for o in (outputs if isinstance(outputs, (tuple, list)) else [outputs])]
        latencies[item] = (time.perf_counter() - start) * 1e3
        write_outputs(output_path, item, outputs)
    summary = write_latency(output_path, latencies, "python", load_ms)
    LOG.info("%d items, mean latency %.3f ms (load %.1f ms) -> %s", summary["items"], summary["mean_ms"],
             load_ms, output_path)
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a MINDIR over an Ascend-310 protocol input folder "
                                                 "(see utils/infer310.py) with MindSpore in Python.")
    parser.add_argument("--mindir_path", required=True, help="exported .mindir (dynamic axes allowed)")
    parser.add_argument("--input_path", required=True, help="input folder written by write_inputs")
    parser.add_argument("--output_path", required=True, help="result folder (created)")
    parser.add_argument("--device_target", default="CPU", choices=("CPU", "GPU", "Ascend"))
    parser.add_argument("--device_id", type=int, default=0)
    from utils.cli import add_debug_argument
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        summary = run(args.mindir_path, args.input_path, args.output_path, args.device_target, args.device_id)
    except (FileNotFoundError, ValueError) as exc:
        print(f"{parser.prog}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
