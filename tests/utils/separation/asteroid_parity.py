"""Shared by tests/tasnet and tests/dprnn test_convert_asteroid.py: build a small random asteroid model, save
it as a user would get it, run the converter CLI and compare our output with asteroid's forward."""
import os
import subprocess
import sys
import types

import numpy as np
import yaml

from tests.reference import import_reference
from utils.context import init_context
from utils.inference import load_model
from utils.separation.separate import mixture_spec, network_builder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LENGTHS = (8000, 12345)


def asteroid_models():
    return import_reference("asteroid.models")


def randomize(model, seed):
    """Add noise to every asteroid parameter: norm gains/biases and the PReLU slope leave their constant
    initial values, so a swapped or dropped tensor changes the output."""
    import torch
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    return model.eval()


def save_package(model, path, sample_rate=None):
    """asteroid's own ``serialize()`` package (the format of its hub ``pytorch_model.bin``), torch.save'd.
    serialize() imports pytorch_lightning only to record its version: a stand-in supplies it when absent."""
    import torch
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:
        sys.modules["pytorch_lightning"] = types.SimpleNamespace(__version__="0.0.0+stand-in")
    package = model.serialize()
    if sample_rate is not None:
        package["sample_rate"] = sample_rate
    torch.save(package, path)
    return path


def save_bare(model, directory, model_args):
    """(state_dict file, model_args YAML file)."""
    import torch
    weights, args_file = os.path.join(directory, "state_dict.pth"), os.path.join(directory, "model_args.yaml")
    torch.save(model.state_dict(), weights)
    with open(args_file, "w", encoding="utf-8") as handle:
        yaml.safe_dump(model_args, handle)
    return weights, args_file


def run_converter(model_dir, *argv):
    """Run ``<model_dir>/convert_asteroid.py`` as a user types it; returns the CompletedProcess."""
    return subprocess.run([sys.executable, f"{model_dir}/convert_asteroid.py", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def convert_ok(model_dir, *argv):
    done = run_converter(model_dir, *argv)
    assert done.returncode == 0, f"converter failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def max_relative_errors(reference, ckpt_path, network_class, lengths=LENGTHS, batch=2, seed=0):
    """{length: max|ours - asteroid| / max|asteroid|} on random mixtures [batch, length]; our model is
    loaded the way eval.py loads it (utils.inference.load_model, config from the checkpoint)."""
    import torch
    init_context("CPU", seed=0)
    ours = load_model(ckpt_path, network_builder(network_class), input_specs=[mixture_spec()])
    errors = {}
    for length in lengths:
        mixture = np.random.default_rng(seed + length).standard_normal((batch, length)).astype(np.float32)
        with torch.no_grad():
            expected = reference(torch.from_numpy(mixture)).numpy()
        got = ours(mixture)
        assert got.shape == expected.shape, (got.shape, expected.shape)
        errors[length] = float(np.abs(got - expected).max() / np.abs(expected).max())
    return errors


def read_yaml(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def resave_state(directory, state):
    """Write an (edited) state dict {name: array} back with torch.save; returns the file path."""
    import torch
    path = os.path.join(str(directory), "edited.pth")
    torch.save({name: torch.from_numpy(np.array(value)) for name, value in state.items()}, path)
    return path


def check_unknown_tensor_rejected(model_dir, directory, weights, args_file, extra_name, shape):
    """Add ``extra_name`` (zeros of ``shape``) to a saved state dict: the converter CLI must fail naming it
    and write no checkpoint."""
    from utils.separation.convert_asteroid import read_asteroid_checkpoint
    _, _, state, _ = read_asteroid_checkpoint(weights, args_file)
    state[extra_name] = np.zeros(shape, np.float32)
    out = os.path.join(str(directory), "out")
    done = run_converter(model_dir, "--asteroid_ckpt", resave_state(directory, state), "--model_args", args_file,
                         "--output_dir", out)
    assert done.returncode != 0 and extra_name in done.stderr, done.stderr[-2000:]
    assert not os.path.exists(os.path.join(out, "model.ckpt"))
