"""Export a network to MINDIR / AIR / ONNX with a description of its inputs and outputs.

``export_network(network, inputs, file_name, file_format)`` writes ``FILE.<ext>`` and ``FILE.json``:
``{"format", "inputs": [{"name", "shape", "dtype"}], "outputs": [...]}`` with -1 for a dynamic axis.
MINDIR keeps dynamic axes (inputs given as ``Tensor(shape=[None, ...])``); for Ascend 310 use
``fixed_length`` (``--fixed_length`` in the entry points). ONNX and AIR need concrete shapes: batch 1 of
``fixed_length`` (default ``example_length``). ONNX graph inputs and outputs carry the names of the JSON.
MindSpore 2.10's ``mindspore.onnx.export(dynamic_axes=...)`` only relabels the input axes: sizes derived
from the length while tracing stay constant (a TasNet exported at 8000 samples and fed 12000 still
returns 8000). So ONNX without ``fixed_length`` is exported at several lengths and merged into one graph
whose length-dependent tensors are computed from the input's shape (utils.onnx_dynamic; batch stays 1);
a network where that is impossible gets a fixed length, with a warning saying why.
"""
import json
import logging
import os

import numpy as np

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn, ops

from utils.modules import OnnxSwitchable

LOG = logging.getLogger("zoo.export")
EXTENSIONS = {"MINDIR": ".mindir", "AIR": ".air", "ONNX": ".onnx"}
PRECISIONS = ("fp32", "fp16")


def _spec(name, shape, dtype):
    return {"name": name, "shape": [-1 if d is None or d < 0 else int(d) for d in shape], "dtype": str(dtype)}


def export_network(network, input_specs, file_name, file_format="MINDIR", make_inputs=None, input_names=None,
                   output_names=None, fixed_length=None, example_length=16000, config=None, precision="fp32"):
    """Export ``network`` and write ``FILE.json``; returns (model path, description dict).

    input_specs: ``Tensor(shape=[None, ...], dtype=...)`` placeholders (None = dynamic axis).
    make_inputs: ``fn(batch, length) -> list of numpy arrays`` matching the specs; used to export
        fixed shapes (``fixed_length``: batch 1 of that length, for Ascend 310) and to find which
        output axes are dynamic.
    file_format: MINDIR keeps dynamic axes; ONNX/AIR get ``example_length`` (or ``fixed_length``)
        when MindSpore cannot keep them.
    precision: "fp32", or "fp16" (MINDIR only, for Ascend 310): the network computes in float16 with its
        float32 islands (``utils.amp``, level O2), weights stored in float16; inputs and outputs stay
        float32. The largest error against the float32 network (max |fp16 - fp32| / max |fp32| over each
        output, batch 2 of ``example_length`` or ``fixed_length``) is logged and stored in FILE.json.
    """
    file_format = file_format.upper()
    if file_format not in EXTENSIONS:
        raise ValueError(f"--file_format must be one of {', '.join(EXTENSIONS)}, got {file_format!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and file_format != "MINDIR":
        raise ValueError(f"--precision fp16 is for MINDIR (Ascend 310); export {file_format} in fp32")
    check_inputs = fp32_outputs = None
    if precision == "fp16":  # the float32 answer first: the conversion below changes the network in place
        network.set_train(False)
        check_inputs = make_inputs(2 if not fixed_length else 1, int(fixed_length or example_length))
        fp32_outputs = _as_list(network(*[ms.Tensor(a) for a in check_inputs]))
        network = _float16_network(network)
    ext = EXTENSIONS[file_format]
    base = file_name[:-len(ext)] if file_name.endswith(ext) else file_name
    os.makedirs(os.path.dirname(os.path.abspath(base)), exist_ok=True)
    input_names = input_names or [f"input_{i}" for i in range(len(input_specs))]
    network.set_train(False)
    inputs = list(input_specs)
    if file_format == "ONNX":
        for _, cell in network.cells_and_names():
            if isinstance(cell, OnnxSwitchable):  # e.g. FusedLSTM, Jasper's padded conv
                cell.onnx_compatible()
    if file_format == "ONNX" and not fixed_length:
        described = _export_dynamic_onnx(network, make_inputs, base, input_names, output_names, example_length,
                                         config)
        if described:
            return described
    if fixed_length or file_format == "ONNX":
        inputs = [ms.Tensor(a) for a in make_inputs(1, int(fixed_length or example_length))]
    elif file_format != "MINDIR":
        try:  # dynamic axes where the format and MindSpore allow them
            ms.export(network, *inputs, file_name=base, file_format=file_format)
        except Exception as exc:  # noqa: BLE001  (MindSpore raises RuntimeError/ValueError/TypeError here)
            LOG.warning("%s export with dynamic axes failed (%s): exporting length %d", file_format,
                        str(exc).splitlines()[0][:200], example_length)
            inputs = [ms.Tensor(a) for a in make_inputs(1, int(example_length))]
    outputs = _output_specs(network, make_inputs, output_names, inputs)
    if file_format == "ONNX":  # names the graph's inputs/outputs as the JSON does (ms.export cannot)
        ms.onnx.export(_FreshOutputs(network), *inputs, file_name=base + ext, input_names=list(input_names),
                       output_names=[spec["name"] for spec in outputs])
    else:
        ms.export(network, *inputs, file_name=base, file_format=file_format)
    description = {
        "format": file_format,
        "inputs": [_spec(n, s.shape, s.dtype) for n, s in zip(input_names, inputs)],
        "outputs": outputs,
        "config": config or {},
        "precision": precision,
    }
    if precision == "fp16":
        exported = _as_list(nn.GraphCell(ms.load(base + ext))(*[ms.Tensor(a) for a in check_inputs]))
        description["fp16_max_relative_error"] = max_relative_error(fp32_outputs, exported)
        LOG.info("fp16 export: max relative error vs fp32 %.3g (max |fp16 - fp32| / max |fp32| per output)",
                 description["fp16_max_relative_error"])
    with open(base + ".json", "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2)
    LOG.info("exported %s (+ %s.json)", base + ext, os.path.basename(base))
    return base + ext, description


def _export_dynamic_onnx(network, make_inputs, base, input_names, output_names, example_length, config):
    """ONNX with a dynamic length axis (utils.onnx_dynamic); returns (path, description), or None (with a
    warning saying why) when this network cannot have one: the caller then exports a fixed length."""
    try:
        import onnx  # noqa: F401
        from utils.onnx_dynamic import DynamicExportError, export_dynamic_onnx
    except ImportError:
        LOG.warning("the onnx package is not installed: ONNX gets a fixed length of %d (pip install onnx)",
                    example_length)
        return None
    probe = network(*[ms.Tensor(a) for a in make_inputs(1, int(example_length))])
    names = output_names or [f"output_{i}" for i in range(len(probe) if isinstance(probe, (tuple, list)) else 1)]
    try:
        path, report = export_dynamic_onnx(network, make_inputs, base + ".onnx", input_names, names,
                                           int(example_length))
    except DynamicExportError as exc:
        LOG.warning("ONNX with a dynamic length is not possible for this network (%s): exporting batch 1 of "
                    "length %d", exc, example_length)
        return None
    import onnx
    graph = onnx.load(path).graph

    def described(value):
        tensor = value.type.tensor_type
        return {"name": value.name, "shape": [-1 if d.dim_param else int(d.dim_value) for d in tensor.shape.dim],
                "dtype": str(_ONNX_TYPES.get(tensor.elem_type, tensor.elem_type))}

    description = {"format": "ONNX", "inputs": [described(v) for v in graph.input],
                   "outputs": [described(v) for v in graph.output], "dynamic_length": report, "config": config or {}}
    with open(base + ".json", "w", encoding="utf-8") as handle:
        json.dump(description, handle, indent=2)
    LOG.info("exported %s with a dynamic length axis: %d length-dependent tensors rewritten from exports at %s%s",
             path, report["replaced"], report["lengths"],
             f"; onnxruntime at length {report['check']['length']}: max relative error "
             f"{report['check']['max_relative_error']:.1e}" if "check" in report else "")
    return path, description


_ONNX_TYPES = {1: ms.float32, 6: ms.int32, 7: ms.int64, 10: ms.float16}


def _as_list(out):
    return [o.asnumpy() for o in (out if isinstance(out, (tuple, list)) else [out])]


def max_relative_error(reference, other):
    """max over the floating outputs of max |other - reference| / max |reference| (lists of arrays)."""
    errors = [float(np.abs(b.astype(np.float64) - a).max() / max(np.abs(a).max(), 1e-12))
              for a, b in zip(reference, other) if np.issubdtype(a.dtype, np.floating)]
    return max(errors) if errors else 0.0


def _float16_network(network):
    """``network`` computing in float16 at level O2 (float32 islands), its low-precision weights stored as
    float16, behind a float32-output wrapper (a new Cell: nothing compiled in float32 is reused)."""
    from utils.amp import apply_amp, fp32_output_view, store_low_precision
    apply_amp(network, "O2", "float16")
    converted = store_low_precision(network, "float16")
    LOG.info("fp16 export: %d weight tensors stored as float16, normalisations / softmax / pooling in float32",
             converted)
    view = fp32_output_view(network)
    view.set_train(False)
    return view


class _FreshOutputs(nn.Cell):
    """``network`` with every output passed through Identity. MindSpore 2.10's ONNX exporter renames the
    node producing a named output but not the other nodes reading it, which leaves the graph invalid when
    an output is also used inside (Jasper's output lengths feed its masks): Identity outputs have no readers."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)  # keeps the parameter (initializer) names of the network
        self.network = network
        self.identity = ops.Identity()

    def construct(self, *inputs):
        out = self.network(*inputs)
        if isinstance(out, tuple):
            return tuple(self.identity(o) for o in out)
        return self.identity(out)


def _output_specs(network, make_inputs, output_names, exported_inputs):
    """[{name, shape, dtype}] of the outputs; an axis is -1 when it follows a dynamic input axis."""
    def run(arrays):
        out = network(*[ms.Tensor(a) for a in arrays])
        return [(tuple(o.shape), o.dtype) for o in (out if isinstance(out, (tuple, list)) else [out])]

    dynamic = any(d is None or d < 0 for s in exported_inputs for d in s.shape)
    if dynamic:
        first, second = run(make_inputs(1, 8000)), run(make_inputs(2, 9600))
    else:
        first = second = run([np.zeros(s.shape, ms.dtype_to_nptype(s.dtype)) if s.dtype != ms.int32
                              else s.asnumpy() for s in exported_inputs])
    names = output_names or [f"output_{i}" for i in range(len(first))]
    return [_spec(name, [x if (x == y or not dynamic) else -1 for x, y in zip(sa, sb)], dtype)
            for name, (sa, dtype), (sb, _) in zip(names, first, second)]


def add_export_arguments(parser, length_unit="samples"):
    """The flags every ``<model>/export.py`` takes."""
    from utils.cli import add_checkpoint_arguments
    add_checkpoint_arguments(parser, "checkpoint to export (default: random weights from the config, for smoke "
                             "tests)", required=False)
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=list(EXTENSIONS),
                        help="output format (default: %(default)s)")
    parser.add_argument("--file_name", required=True, help="output path, with or without the extension")
    parser.add_argument("--fixed_length", type=int, default=None,
                        help=f"export batch 1 of this many {length_unit} instead of dynamic axes (Ascend 310, ONNX)")
    parser.add_argument("--use_ema", action="store_true", help="export the EMA weights of the checkpoint")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="fp16: MINDIR computing in float16 (Ascend 310) with normalisations, softmax and "
                             "pooling in float32 and float32 inputs/outputs; its max relative error vs fp32 is "
                             "printed and stored in NAME.json (default: %(default)s)")


def network_for_export(args, cfg, build_network):
    """(network in eval mode, its config): the checkpoint's stored config and weights when
    ``--ckpt_path`` is given (the architecture the weights were trained with), else random weights
    from the config files (smoke tests, with a warning)."""
    from utils.checkpoint import checkpoint_config, load_network
    config = cfg.to_dict()
    if args.ckpt_path:
        stored = checkpoint_config(args.ckpt_path)
        if not stored.get("model"):
            raise SystemExit(f"{args.ckpt_path} stores no model config: it was not written by this zoo's train.py")
        config = stored
    network = build_network(config)
    if args.ckpt_path:
        load_network(args.ckpt_path, network, use_ema=args.use_ema)
        LOG.info("loaded %s%s", args.ckpt_path, " (EMA weights)" if args.use_ema else "")
    else:
        LOG.warning("no --ckpt_path: exporting RANDOM weights (smoke test only)")
    network.set_train(False)
    return network, config


def print_precision(description):
    """Print the fp16 export's measured error (nothing for fp32)."""
    if "fp16_max_relative_error" in description:
        print(f"fp16 max relative error vs fp32: {description['fp16_max_relative_error']:.3g}")


def log_description(path, description):
    LOG.info("%s: inputs %s -> outputs %s", path, [(d["name"], d["shape"]) for d in description["inputs"]],
             [(d["name"], d["shape"]) for d in description["outputs"]])
