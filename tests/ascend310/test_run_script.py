"""scripts/run_infer_310.sh: argument handling, and a full preprocess -> python runner -> postprocess run."""
import json
import os
import subprocess

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from utils import infer310
from utils.export import export_network

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "run_infer_310.sh")

# A toy model folder: the preprocess writes 3 items of different lengths, the postprocess checks that each
# output is the input times 3 and writes metrics.json.
PREPROCESS = '''import argparse, numpy as np
from utils.infer310 import write_inputs
parser = argparse.ArgumentParser()
parser.add_argument("--data_path"); parser.add_argument("--output_path"); parser.add_argument("--lengths")
parser.add_argument("--unusable", default=None)
args = parser.parse_args()
for n in map(int, args.lengths.split(",")):
    write_inputs(args.output_path, f"utt{n}", [np.linspace(-1, 1, n, dtype=np.float32)[None]])
if args.unusable:  # like utils.batch: the unusable input is listed and left out, exit 1
    open(f"{args.output_path}/failures.tsv", "w").write(f"file\\treason\\n{args.unusable}\\tempty\\n")
    raise SystemExit(1)
'''
POSTPROCESS = '''import argparse, json, os, numpy as np
from utils.infer310 import read_inputs, read_outputs
parser = argparse.ArgumentParser()
parser.add_argument("--result_path"); parser.add_argument("--data_path"); parser.add_argument("--output_dir")
args = parser.parse_args()
inputs = read_inputs(os.path.join(args.output_dir, "preprocess"))
outputs = read_outputs(args.result_path)
error = max(float(np.abs(outputs[k][0] - 3 * inputs[k][0]).max()) for k in inputs)
shapes = {k: list(v[0].shape) for k, v in outputs.items()}
json.dump({"max_error": error, "shapes": shapes}, open(os.path.join(args.output_dir, "metrics.json"), "w"))
'''


@pytest.fixture()
def toy_model(tmp_path):
    folder = tmp_path / "toymodel"
    folder.mkdir()
    (folder / "preprocess_310.py").write_text(PREPROCESS)
    (folder / "postprocess.py").write_text(POSTPROCESS)
    (tmp_path / "data").mkdir()
    (tmp_path / "model.mindir").write_bytes(b"placeholder")
    return folder


def _run(args, tmp_path, **env):
    environ = dict(os.environ, ZOO_RUNS=str(tmp_path / "runs"), **env)
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, cwd=str(tmp_path), env=environ)


@pytest.mark.parametrize("args, message", [
    ([], "usage: bash scripts/run_infer_310.sh"),
    (["TOY", "model.mindir", "data", "maybe"], "NEED_PREPROCESS must be y or n, got 'maybe'"),
    (["TOY", "model.mindir", "data", "y", "gpu0"], "DEVICE_ID must be a non-negative integer"),
    (["TOY", "model.mindir", "data", "y", "--runner", "java"], "--runner must be cpp or python, got 'java'"),
    (["TOY", "model.mindir", "data", "y", "--runner"], "--runner needs a value"),
    (["TOY", "missing.mindir", "data", "y"], "MINDIR_PATH 'missing.mindir' not found"),
    (["TOY", "model.mindir", "data", "n"], "DATA_PATH must be a protocol input folder"),
    (["wavenet", "model.mindir", "data", "y"], "unknown MODEL 'wavenet'"),
])
def test_bad_arguments_exit_2_with_a_message(tmp_path, toy_model, args, message):
    args = [str(toy_model) if a == "TOY" else a for a in args]
    done = _run(args, tmp_path)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "runs").exists()  # nothing is created before the arguments are valid


def test_model_without_preprocess_script(tmp_path, toy_model):
    (toy_model / "preprocess_310.py").unlink()
    done = _run([str(toy_model), "model.mindir", "data", "yes", "--runner", "python"], tmp_path)
    assert done.returncode == 2 and "preprocess_310.py does not exist" in done.stderr


def test_cpp_runner_needs_mindspore_path(tmp_path, toy_model):
    environ = {k: v for k, v in os.environ.items() if k != "MINDSPORE_PATH"}
    done = subprocess.run(["bash", SCRIPT, str(toy_model), "model.mindir", "data", "y", "3"], capture_output=True,
                          text=True, cwd=str(tmp_path), env=dict(environ, ZOO_RUNS=str(tmp_path / "runs")))
    assert done.returncode == 2 and "--runner cpp builds ascend310_infer and needs MINDSPORE_PATH" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_failing_step_stops_the_run_and_keeps_its_log(tmp_path, toy_model):
    (toy_model / "preprocess_310.py").write_text("raise SystemExit('no such dataset')\n")
    done = _run([str(toy_model), "model.mindir", "data", "y", "--runner", "python"], tmp_path)
    run_dir, = (tmp_path / "runs").iterdir()
    assert done.returncode == 1 and "preprocess failed (exit 1)" in done.stderr
    assert run_dir.name.startswith("toymodel_infer310_")
    assert "no such dataset" in (run_dir / "logs" / "preprocess.log").read_text()
    assert not (run_dir / "result").exists()


class Triple(nn.Cell):
    """[B, T] -> [B, T] audio * 3."""

    def construct(self, audio):
        return audio * 3.0


@pytest.mark.slow
def test_full_run_with_the_python_runner(tmp_path, toy_model):
    make = lambda batch, length: [np.zeros((batch, length), np.float32)]  # noqa: E731
    mindir, _ = export_network(Triple(), [ms.Tensor(shape=[None, None], dtype=ms.float32)], str(tmp_path / "triple"),
                               make_inputs=make)
    done = _run([str(toy_model), mindir, "data", "Y", "--runner", "python", "--lengths", "5,11,29"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir, = (tmp_path / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["max_error"] < 1e-6
    assert metrics["shapes"] == {"utt5": [1, 5], "utt11": [1, 11], "utt29": [1, 29]}
    assert infer310.read_summary(str(run_dir / "result"))["items"] == 3
    assert {p.name for p in (run_dir / "logs").iterdir()} == {"preprocess.log", "infer.log", "postprocess.log"}
    assert "latency: runner python items 3" in done.stdout
    # a preprocess that left an input out (exit 1 + failures.tsv): the others are run and scored, exit 1
    done = _run([str(toy_model), mindir, "data", "Y", "--runner", "python", "--lengths", "5,11",
                 "--unusable", "bad.wav"], tmp_path)
    assert done.returncode == 1 and "could not be used and are not in the metrics" in done.stderr
    run_dir, = [d for d in (tmp_path / "runs").iterdir() if d.name != run_dir.name]
    assert json.loads((run_dir / "metrics.json").read_text())["shapes"] == {"utt5": [1, 5], "utt11": [1, 11]}
