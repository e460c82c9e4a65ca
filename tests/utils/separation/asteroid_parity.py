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


def separation_batches(count, batch=2, n_src=2, length=1600, seed=0):
    """``count`` (mixture [B, T], sources [B, S, T], lengths [B]) float32 training batches: random sources with
    random gains, mixture = their sum, every item full length."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        sources = (rng.standard_normal((batch, n_src, length)) * rng.uniform(0.3, 1.0, (batch, n_src, 1)))
        sources = sources.astype(np.float32)
        batches.append((sources.sum(1), sources, np.full(batch, length, np.int32)))
    return batches


def train_step_parity(reference, model_name, network_class, steps=3, lr=1e-3, weight_decay=1e-5, clip_norm=5.0):
    """Train the asteroid ``reference`` (PITLossWrapper(pairwise_neg_sisdr) + torch Adam + clip_grad_norm_) and our
    converted copy (SeparationLossCell + build_optimizer + TrainStep) for ``steps`` steps on the same batches,
    the reference in float32 and float64. Returns (losses (ours, torch32, torch64), distances (see
    tests.training_parity.compare), gradient norms of the float32 reference)."""
    import copy
    import mindspore as ms
    from tests import training_parity as parity
    from utils.separation.convert_asteroid import MODEL_CONFIGS, map_state_dict
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    from utils.trainer import TrainStep, build_optimizer

    torch = parity.torch_threads()
    losses_module = import_reference("asteroid.losses")
    init_context("CPU", seed=0)
    model_args = reference.get_model_args()
    n_src = int(model_args["n_src"])
    batches = separation_batches(steps, n_src=n_src)
    network = network_class(**MODEL_CONFIGS[model_name](model_args))
    start = {name: value.detach().numpy() for name, value in reference.state_dict().items()}
    for param in network.get_parameters():
        param.set_data(ms.Tensor(map_state_dict(start, model_name, network)[param.name]))
    train_cfg = {"optimizer": "adam", "lr": lr, "weight_decay": weight_decay}
    optimizer = build_optimizer(network.trainable_params(), train_cfg)
    step = TrainStep(SeparationLossCell(network, neg_sisnr_pit_loss(n_src)), optimizer, clip_norm)
    step.set_train(True)
    ours_losses = parity.ours_train(step, optimizer, batches)
    ours = {param.name: param.asnumpy() for param in network.get_parameters()}

    pit = losses_module.PITLossWrapper(losses_module.pairwise_neg_sisdr, pit_from="pw_mtx")
    results = {}
    for dtype in (torch.float32, torch.float64):
        model = copy.deepcopy(reference).to(dtype)

        def loss_fn(model, batch, dtype=dtype):
            mixture, sources, _ = batch
            return pit(model(torch.from_numpy(mixture).to(dtype)), torch.from_numpy(sources).to(dtype))

        results[dtype] = parity.torch_train(
            model, loss_fn, batches, lambda params: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
            clip_norm)
    (losses32, state32, norms), (losses64, state64, _) = results[torch.float32], results[torch.float64]
    distances = parity.compare(ours, map_state_dict(state32, model_name, network),
                               map_state_dict(state64, model_name, network))
    return (ours_losses, losses32, losses64), distances, norms


def init_statistics_check(reference, model_name, network_class):
    """Our freshly built network vs a freshly built asteroid ``reference`` (same architecture), tensor by tensor
    in our names (tests.training_parity.init_mismatches); returns (problems, number of random tensors)."""
    from tests import training_parity as parity
    from utils.separation.convert_asteroid import MODEL_CONFIGS, map_state_dict
    network = network_class(**MODEL_CONFIGS[model_name](reference.get_model_args()))
    start = {name: value.detach().numpy() for name, value in reference.state_dict().items()}
    return parity.init_mismatches({p.name: p.asnumpy() for p in network.get_parameters()},
                                  map_state_dict(start, model_name, network))


def assert_three_training_steps_match(reference, asteroid_name, network_class):
    """3 training steps of ``reference`` (an asteroid model, dropout 0) and of our ``network_class`` from the same
    weights on the same batches (clipping at 5 must be active) land on the same weights and losses."""
    from tests import training_parity as parity
    losses, distances, norms = train_step_parity(reference, asteroid_name, network_class, steps=3, clip_norm=5.0)
    print(parity.summary(f"{asteroid_name} 3 steps", distances, losses), "; grad norms", np.round(norms, 3))
    assert (norms > 5.0).any(), f"clipping never active: gradient norms {norms}"
    np.testing.assert_allclose(losses[0], losses[2], rtol=0, atol=1e-4)
    assert not parity.failures(distances), parity.failures(distances)
