"""Exported models compute what the checkpoint computes: `python MODEL/export.py` as a user types it, then
MINDIR (one dynamic-shape file) at two input lengths and ONNX (one file with a dynamic length axis, run in
onnxruntime) at three lengths, against the checkpoint's network in graph mode, on a small random-weight network
per model."""
import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from utils.checkpoint import save_network
from utils.config import load_config
from utils.context import init_context
from utils.inference import load_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_RELATIVE_ERROR = 1e-4
pytestmark = pytest.mark.slow  # 8 export processes (2 per model, run concurrently)


@dataclass
class Case:
    """How to build, feed and shrink one model. make_inputs(rng, length) -> the network's numpy inputs
    (batch 1); lengths: the two input lengths (samples or feature frames) compared."""
    build_network: callable
    input_specs: callable  # config dict -> dynamic placeholders
    make_inputs: callable
    shrink: callable  # config dict -> small config dict
    lengths: tuple
    onnx_lengths: tuple = ()  # the dynamic ONNX file is also run at these


def _separation(network_class, small):
    from utils.separation.separate import mixture_spec, network_builder
    return Case(network_builder(network_class), lambda config: [mixture_spec()],
                lambda rng, length: [(0.1 * rng.standard_normal((1, length))).astype(np.float32)],
                lambda config: {**config, "model": {**config["model"], **small}}, (8000, 12345), (20011,))


def _features(rng, length, bins):
    """Features [1, bins, length] with 7 padded frames at the end (lengths [1] = length - 7): the masks run."""
    return [rng.standard_normal((1, bins, length)).astype(np.float32), np.array([length - 7], np.int32)]


def _tasnet():
    from tasnet.src.network import TasNet
    return _separation(TasNet, dict(n_filters=32, hidden_size=16, n_layers=1))


def _dprnn():
    from dprnn.src.network import DPRNN
    # chunk_size 10: a hop of 5 frames (80 samples) keeps the bisection exports of the dynamic ONNX export few
    # (K = 20 works too, with more exports: minutes on 2 cores)
    return _separation(DPRNN, dict(n_filters=16, bn_chan=16, hid_size=16, chunk_size=10, n_repeats=1))


def _ecapa():
    from ecapa_tdnn.src.verification import build_network, embedding_input_specs
    small = dict(channels=[32, 32, 32, 32, 96], attention_channels=16, se_channels=16, res2net_scale=4,
                 embedding_dim=24)
    return Case(build_network, lambda config: embedding_input_specs(config["model"]["input_dim"]),
                lambda rng, length: _features(rng, length, 80),
                lambda config: {**config, "model": {**config["model"], **small}}, (150, 233), (577,))


def _jasper():
    from jasper.src.network import build_network, input_specs

    def shrink(config):
        """32 filters everywhere; the middle blocks dense-residual (Jasper DR) and one depthwise-separable
        (QuartzNet), so every code path of the network goes through the exporters."""
        config = copy.deepcopy(config)
        for index, block in enumerate(config["model"]["blocks"]):
            block["filters"] = 32
            block["residual_dense"] = 1 <= index <= 3
            block["separable"] = index == 2
        return config
    return Case(build_network, lambda config: input_specs(config["model"]["in_features"]),
                lambda rng, length: _features(rng, length, 64), shrink, (200, 317), (901,))


CASES = {"tasnet": _tasnet, "dprnn": _dprnn, "ecapa_tdnn": _ecapa, "jasper": _jasper}


def run_entry_points(*commands):
    """Run `python ARGS...` commands from the repo root concurrently (the exports are independent); returns
    their stdouts."""
    started = [subprocess.Popen([sys.executable, *map(str, argv)], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for argv in commands]
    printed = []
    for argv, process in zip(commands, started):
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, f"{' '.join(map(str, argv))} failed:\n{stdout[-3000:]}\n{stderr[-3000:]}"
        printed.append(stdout)
    return printed


def relative_error(actual, expected):
    """max|actual - expected| / max|expected|."""
    return float(np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max())


def assert_same_outputs(actual, expected, what):
    actual = actual if isinstance(actual, (tuple, list)) else [actual]
    expected = expected if isinstance(expected, (tuple, list)) else [expected]
    assert len(actual) == len(expected), f"{what}: {len(actual)} outputs, the checkpoint has {len(expected)}"
    for index, (got, want) in enumerate(zip(actual, expected)):
        assert got.shape == want.shape, f"{what} output {index}: shape {got.shape} != {want.shape}"
        if np.issubdtype(want.dtype, np.integer):
            np.testing.assert_array_equal(got, want, err_msg=f"{what} output {index}")
        else:
            error = relative_error(got, want)
            assert error < MAX_RELATIVE_ERROR, f"{what} output {index}: max relative error {error:.2e}"


@pytest.fixture(scope="module", params=list(CASES))
def model(request, tmp_path_factory):
    """A small random-weight checkpoint of the model (config inside), its exports as a user runs them (one
    dynamic MINDIR, one dynamic-length ONNX) and the checkpoint network compiled for dynamic shapes."""
    name = request.param
    case = CASES[name]()
    init_context("CPU", seed=0)
    work = tmp_path_factory.mktemp(f"parity_{name}")
    config = case.shrink(load_config(os.path.join(ROOT, name, "config.yaml")).to_dict())
    checkpoint = str(work / "random.ckpt")
    save_network(checkpoint, case.build_network(config), config)
    export = [f"{name}/export.py", "--ckpt_path", checkpoint, "--file_name"]
    printed = run_entry_points([*export, work / name, "--file_format", "MINDIR"],
                               [*export, work / f"{name}_dynamic", "--file_format", "ONNX"])
    for path, stdout in zip([f"{name}.mindir", f"{name}_dynamic.onnx"], printed):
        assert str(work / path) in stdout
    network = load_model(checkpoint, case.build_network, input_specs=case.input_specs(config))
    return dict(name=name, case=case, work=work, network=network)


def test_mindir_matches_checkpoint_at_two_lengths(model):
    exported = load_model(str(model["work"] / f"{model['name']}.mindir"), None)
    assert exported.config["model"] == model["network"].config["model"]
    rng = np.random.default_rng(0)
    for length in model["case"].lengths:
        inputs = model["case"].make_inputs(rng, length)
        assert_same_outputs(exported(*inputs), model["network"](*inputs), f"{model['name']} MINDIR, length {length}")


def test_dynamic_length_onnx_matches_checkpoint_and_json_at_three_lengths(model):
    """One ONNX file takes any length (utils/onnx_dynamic.py rewrites MindSpore's fixed-length export)."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed: ONNX parity not checked")
    rng = np.random.default_rng(1)
    base = model["work"] / f"{model['name']}_dynamic"
    description = json.load(open(f"{base}.json"))
    assert description["inputs"][0]["shape"][-1] == -1 and description["dynamic_length"]["replaced"] > 0
    session = onnxruntime.InferenceSession(f"{base}.onnx", providers=["CPUExecutionProvider"])
    for declared, actual in ((description["inputs"], session.get_inputs()),
                             (description["outputs"], session.get_outputs())):
        assert [(d["name"], d["shape"]) for d in declared] == [
            (a.name, [-1 if isinstance(d, str) else d for d in a.shape]) for a in actual]
    for length in model["case"].lengths + model["case"].onnx_lengths:
        inputs = model["case"].make_inputs(rng, length)
        outputs = session.run(None, {spec.name: array for spec, array in zip(session.get_inputs(), inputs)})
        expected = model["network"](*inputs)
        assert_same_outputs(outputs if len(outputs) > 1 else outputs[0], expected,
                            f"{model['name']} ONNX, length {length}")
