"""Inference latency of every model as deployed: checkpoint (graph mode), MINDIR (GraphCell), ONNX (onnxruntime).

    python bench/deploy.py [--models tasnet dprnn ecapa_tdnn jasper] [--length_seconds 4.0] [--repeats 20]
                           [--output deploy.md]

Each model gets its default config.yaml sizes and random weights, saved as a checkpoint and exported as a user
does it (``python MODEL/export.py --ckpt_path ...``): MINDIR with dynamic axes, ONNX fixed to the benchmark's
length. All three run batch 1 on the same input of ``--length_seconds`` (mixture samples for the separators,
10 ms log-mel frames for ECAPA-TDNN and Jasper; feature extraction is not timed). Latency: median and 90th
percentile of ``--repeats`` calls after the first. "first call": loading (rebuild + weights, MINDIR load, ONNX
session) plus the first run, which compiles. "max rel. error": max|out - ckpt| / max|ckpt| over the float
outputs. The machine is shared: numbers vary with its load.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.common import call_times  # noqa: E402

import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

FRAMES_PER_SECOND = 100


@dataclass
class Deployable:
    """build_network(config) -> Cell; input_specs(config) -> dynamic placeholders;
    make_inputs(config, seconds) -> batch-1 numpy inputs (their first array's last axis is the exported length)."""
    build_network: callable
    input_specs: callable
    make_inputs: callable
    unit: str


def _separator(network_class):
    from utils.separation.separate import mixture_spec, network_builder

    def make_inputs(config, seconds):
        samples = int(seconds * config["data"]["sample_rate"])
        return [(0.1 * np.random.default_rng(0).standard_normal((1, samples))).astype(np.float32)]
    return Deployable(network_builder(network_class), lambda config: [mixture_spec()], make_inputs, "samples")


def _feature_inputs(bins_key):
    def make_inputs(config, seconds):
        frames = int(seconds * FRAMES_PER_SECOND)
        features = np.random.default_rng(0).standard_normal((1, config["model"][bins_key], frames))
        return [features.astype(np.float32), np.array([frames], np.int32)]
    return make_inputs


def tasnet():
    from tasnet.src.network import TasNet
    return _separator(TasNet)


def dprnn():
    from dprnn.src.network import DPRNN
    return _separator(DPRNN)


def ecapa_tdnn():
    from ecapa_tdnn.src.verification import build_network, embedding_input_specs
    return Deployable(build_network, lambda config: embedding_input_specs(config["model"]["input_dim"]),
                      _feature_inputs("input_dim"), "frames")


def jasper():
    from jasper.src.network import build_network, input_specs
    return Deployable(build_network, lambda config: input_specs(config["model"]["in_features"]),
                      _feature_inputs("in_features"), "frames")


MODELS = {"tasnet": tasnet, "dprnn": dprnn, "ecapa_tdnn": ecapa_tdnn, "jasper": jasper}


def export(model, checkpoint, folder, length):
    """Run MODEL/export.py for MINDIR (dynamic) and ONNX (fixed ``length``) concurrently.
    Returns {format: path or the error text}."""
    commands = {fmt: [sys.executable, os.path.join(ROOT, model, "export.py"), "--ckpt_path", checkpoint,
                      "--file_format", fmt, "--file_name", os.path.join(folder, f"{model}_{fmt.lower()}")]
                for fmt in ("MINDIR", "ONNX")}
    commands["ONNX"] += ["--fixed_length", str(length)]
    running = {fmt: subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for fmt, argv in commands.items()}
    results = {}
    for fmt, process in running.items():
        stdout, stderr = process.communicate()
        results[fmt] = stdout.strip().splitlines()[-1] if process.returncode == 0 else \
            f"export failed: {stderr.strip().splitlines()[-1][:120]}"
    return results


def max_relative_error(outputs, reference):
    pairs = [(np.asarray(o), np.asarray(r)) for o, r in zip(outputs, reference) if np.issubdtype(r.dtype, np.floating)]
    return max(float(np.abs(o - r).max() / np.abs(r).max()) for o, r in pairs)


def measure(load, run_once, repeats, reference=None):
    """{first_s, median_ms, p90_ms, error, outputs}: ``load()`` -> runner, then ``run_once(runner)`` timed."""
    started = time.perf_counter()
    runner = load()
    load_s = time.perf_counter() - started
    first, times = call_times(lambda: run_once(runner), repeats)
    outputs = run_once(runner)
    outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
    return dict(first_s=load_s + first, median_ms=1e3 * float(np.median(times)),
                p90_ms=1e3 * float(np.percentile(times, 90)), outputs=outputs,
                error=max_relative_error(outputs, reference) if reference is not None else None)


def benchmark_model(name, seconds, repeats, folder):
    """Rows (runtime, stats dict or note) of one model with its default config and random weights."""
    from utils.checkpoint import save_network
    from utils.config import load_config
    from utils.inference import load_model
    from utils.modules import count_parameters

    deployable = MODELS[name]()
    config = load_config(os.path.join(ROOT, name, "config.yaml")).to_dict()
    network = deployable.build_network(config)
    checkpoint = os.path.join(folder, f"{name}.ckpt")
    save_network(checkpoint, network, config)
    inputs = deployable.make_inputs(config, seconds)
    length = inputs[0].shape[-1]
    exported = export(name, checkpoint, folder, length)
    info = dict(params_m=count_parameters(network) / 1e6, input=f"{length} {deployable.unit}")

    rows = [("checkpoint (graph mode)", measure(
        lambda: load_model(checkpoint, deployable.build_network, input_specs=deployable.input_specs(config)),
        lambda model: model(*inputs), repeats))]
    reference = rows[0][1]["outputs"]
    mindir = exported["MINDIR"]
    rows.append(("MINDIR (GraphCell)", measure(lambda: load_model(mindir, None), lambda model: model(*inputs),
                                               repeats, reference) if mindir.endswith(".mindir") else mindir))
    try:
        import onnxruntime
    except ImportError:
        rows.append(("ONNX (onnxruntime)", "not measured: onnxruntime is not installed (pip install onnxruntime)"))
        return info, rows
    onnx = exported["ONNX"]
    if not onnx.endswith(".onnx"):
        rows.append((f"ONNX (onnxruntime {onnxruntime.__version__})", onnx))
        return info, rows

    def open_session():
        session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
        return session, [spec.name for spec in session.get_inputs()]
    rows.append((f"ONNX (onnxruntime {onnxruntime.__version__})", measure(
        open_session, lambda runner: runner[0].run(None, dict(zip(runner[1], inputs))), repeats, reference)))
    return info, rows


def markdown_table(results, seconds, repeats):
    lines = [f"Inference latency, batch 1, {seconds:g} s of input, CPU ({os.cpu_count()} cores), median and p90 of "
             f"{repeats} calls after the first; random weights, default config.yaml sizes.", "",
             "| model | params (M) | input | runtime | first call (s) | median (ms) | p90 (ms) | max rel. error |",
             "|---|---|---|---|---|---|---|---|"]
    for name, (info, rows) in results.items():
        for runtime, stats in rows:
            head = f"| {name} | {info['params_m']:.2f} | {info['input']} | {runtime} |"
            if isinstance(stats, str):
                lines.append(f"{head} {stats} | - | - | - |")
            else:
                error = "reference" if stats["error"] is None else f"{stats['error']:.1e}"
                lines.append(f"{head} {stats['first_s']:.2f} | {stats['median_ms']:.1f} | {stats['p90_ms']:.1f} | "
                             f"{error} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="\n".join(__doc__.splitlines()[1:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        help="models to measure (default: all)")
    parser.add_argument("--length_seconds", type=float, default=4.0,
                        help="input length, seconds of audio (default: %(default)s; the ONNX file is fixed to it)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls after the first (default: %(default)s)")
    parser.add_argument("--output", default=None, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    if args.length_seconds <= 0 or args.repeats < 1:
        parser.error("--length_seconds must be > 0 and --repeats >= 1")

    from utils.context import init_context
    init_context("CPU", seed=0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_deploy_") as folder:
        for name in tqdm(args.models, desc="models"):
            results[name] = benchmark_model(name, args.length_seconds, args.repeats, folder)
    table = markdown_table(results, args.length_seconds, args.repeats)
    print("\n" + table)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(table + "\n")
        print(f"table written to {args.output}")


if __name__ == "__main__":
    main()
