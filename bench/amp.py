"""Mixed precision on this machine: train-step time of every model's default config (config.yaml) at O0
(float32) and at the low-precision levels, as a table. Informational: CPUs have no fast float16 kernels, the
point of amp_level is Ascend 910 / GPU.

    python bench/amp.py [--models tasnet dprnn ecapa_tdnn jasper] [--levels O0 O2] [--repeats 5]

Each row: median seconds of --repeats steps after the compiling first one (reported apart), the same
synthetic batch at every level (the train.batch_size of the config, segment / crop lengths below).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.common import time_calls  # noqa: E402
import utils.context  # noqa: E402,F401  (environment before mindspore)

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import mindspore as ms  # noqa: E402

from utils.amp import apply_amp_for_training, loss_scale_settings  # noqa: E402
from utils.config import load_config  # noqa: E402
from utils.context import init_context  # noqa: E402
from utils.trainer import LossScaledTrainStep, TrainStep, build_optimizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEPARATION_SECONDS = 2.0
FEATURE_FRAMES = 200  # 2 s of 10 ms frames for ECAPA-TDNN and Jasper
MAX_WARMUP_STEPS = 24


def separation(name, cfg, rng):
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    if name == "tasnet":
        from tasnet.src.network import TasNet as network_class
    else:
        from dprnn.src.network import DPRNN as network_class
    network = network_class(**cfg.model)
    batch, n_src = int(cfg.train.batch_size), int(cfg.model.n_src)
    samples = int(SEPARATION_SECONDS * cfg.data.sample_rate)
    inputs = [0.1 * rng.standard_normal((batch, samples)), 0.1 * rng.standard_normal((batch, n_src, samples)),
              np.full(batch, samples)]
    shape = f"{batch} x {SEPARATION_SECONDS:g} s"
    return network, SeparationLossCell(network, neg_sisnr_pit_loss(n_src)), inputs, shape


def ecapa(cfg, rng):
    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN
    network = ECAPATDNN(**cfg.model)
    classes, batch = 100, int(cfg.train.batch_size)
    with_loss = SpeakerClassifierWithLoss(network, AAMSoftmaxHead(int(cfg.model.embedding_dim), classes))
    inputs = [rng.standard_normal((batch, int(cfg.model.input_dim), FEATURE_FRAMES)), np.full(batch, FEATURE_FRAMES),
              rng.integers(0, classes, batch)]
    return network, with_loss, inputs, f"{batch} x {FEATURE_FRAMES} frames"


def jasper(cfg, rng):
    from jasper.src.network import JasperWithCTCLoss, build_network
    network = build_network(cfg.to_dict())
    batch, labels = int(cfg.train.batch_size), FEATURE_FRAMES // 8
    inputs = [rng.standard_normal((batch, int(cfg.model.in_features), FEATURE_FRAMES)), np.full(batch, FEATURE_FRAMES),
              rng.integers(0, 28, (batch, labels)), np.full(batch, labels)]
    return network, JasperWithCTCLoss(network), inputs, f"{batch} x {FEATURE_FRAMES} frames"


def step_time(name, level, repeats):
    """(batch description, compile + first step s, median step s, overflow steps before timing, overflow steps
    among the timed ones) of one model at one level."""
    cfg = load_config(os.path.join(ROOT, name, "config.yaml"))
    init_context("CPU", seed=0)
    rng = np.random.default_rng(0)
    if name in ("tasnet", "dprnn"):
        network, with_loss, inputs, shape = separation(name, cfg, rng)
    elif name == "ecapa_tdnn":
        network, with_loss, inputs, shape = ecapa(cfg, rng)
    else:
        network, with_loss, inputs, shape = jasper(cfg, rng)
    apply_amp_for_training(with_loss, network, level)
    optimizer = build_optimizer(with_loss.trainable_params(), {"lr": 1e-4})  # Adam for every model
    kind, initial, window = loss_scale_settings({}, level)
    step = TrainStep(with_loss, optimizer, 5.0) if kind == "none" else \
        LossScaledTrainStep(with_loss, optimizer, initial, 5.0, scale_window=window)
    step.set_train(True)
    tensors = [ms.Tensor(a.astype(np.float32 if a.dtype.kind == "f" else np.int32)) for a in inputs]
    overflows = []

    def run():
        out = step(*tensors)
        if isinstance(out, tuple):
            overflows.append(bool(out[1].asnumpy()))
        return (out[0] if isinstance(out, tuple) else out).asnumpy()

    started = time.perf_counter()
    run()
    first = time.perf_counter() - started
    # a skipped (overflow) step does no optimizer update: time only once the dynamic scale has settled
    while overflows and overflows[-1] and len(overflows) < MAX_WARMUP_STEPS:
        run()
    settled = len(overflows)
    _, median = time_calls(run, repeats)
    return shape, first, median, sum(overflows[:settled]), sum(overflows[settled + 1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tasnet", "dprnn", "ecapa_tdnn", "jasper"],
                        choices=["tasnet", "dprnn", "ecapa_tdnn", "jasper"])
    parser.add_argument("--levels", nargs="+", default=["O0", "O2"], choices=["O0", "O1", "O2", "O3"])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps after the compiling one")
    args = parser.parse_args()
    print("| model (config.yaml) | batch | level | step | vs O0 | compile + first step | overflow steps before / "
          "while timing |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        base = None
        for level in args.levels:
            shape, first, median, before, timed = step_time(name, level, args.repeats)
            base = median if level == "O0" else base
            ratio = f"{median / base:.2f}x" if base else ""
            print(f"| {name} | {shape} | {level} | {median:.3f} s | {ratio} | {first:.1f} s | {before} / {timed} |",
                  flush=True)


if __name__ == "__main__":
    main()
