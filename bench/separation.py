"""Train-step time and inference real-time factor of TasNet and DPRNN (default and paper configs), as a table.

    python bench/separation.py [--batch_size 2 --seconds 2 --steps 3 --infer_seconds 10] [--cases tasnet/config.yaml ...]

Every case runs with the same input shape (batch x seconds at 8 kHz) in GRAPH_MODE with dynamic shapes, the
first call (compile) excluded; the numbers are medians. RTF = separation time / audio duration (batch 1).
When `torch` and `asteroid` import, asteroid's LSTMTasNet / DPRNNTasNet with the same hyperparameters are
timed too and shown as a ratio (asteroid / MindSpore); otherwise those columns are skipped with a note.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import utils.context  # noqa: E402,F401  (environment before mindspore)

CASES = ["tasnet/config.yaml", "tasnet/config_paper.yaml", "dprnn/config.yaml", "dprnn/config_asteroid.yaml"]
# dprnn/config_paper.yaml (2-sample frames: 16000 frames per 2 s) took over 20 GB in a 2 x 2 s train step here and
# was killed by the kernel's OOM killer: not in the default list; try it alone with a small shape, e.g.
#   python bench/separation.py --cases dprnn/config_paper.yaml --batch_size 1 --seconds 0.5
SAMPLE_RATE = 8000


def median_seconds(fn, repeats):
    import numpy as np
    fn()  # compile / warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def mindspore_case(model, config_name, batch, seconds, steps, infer_seconds):
    """(parameters, train-step seconds, RTF) of our model."""
    import numpy as np
    import mindspore as ms
    from utils.config import load_yaml
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    from utils.separation.separate import count_parameters, mixture_spec, training_specs
    from utils.separation.synthetic import make_mixtures
    from utils.trainer import TrainStep, build_optimizer
    if model == "tasnet":
        from tasnet.src.network import TasNet as network_class
    else:
        from dprnn.src.network import DPRNN as network_class
    cfg = load_yaml(os.path.join(ROOT, model, config_name))
    network = network_class(**cfg.model)
    n_src = int(cfg.model.n_src)
    step = TrainStep(SeparationLossCell(network, neg_sisnr_pit_loss(n_src)),
                     build_optimizer(network.trainable_params(), cfg.train), float(cfg.train.clip_grad_norm))
    step.set_inputs(*training_specs(n_src))
    step.set_train(True)
    mixtures, sources = make_mixtures(batch, n_src, seconds, SAMPLE_RATE, seed=0)
    batch_inputs = [ms.Tensor(mixtures), ms.Tensor(sources), ms.Tensor(np.full(batch, mixtures.shape[1], np.int32))]
    step_seconds = median_seconds(lambda: step(*batch_inputs).asnumpy(), steps)
    network.set_train(False)
    network.set_inputs(mixture_spec())
    long_mixture = ms.Tensor(make_mixtures(1, n_src, infer_seconds, SAMPLE_RATE, seed=1)[0])
    rtf = median_seconds(lambda: network(long_mixture).asnumpy(), 3) / infer_seconds
    return count_parameters(network), step_seconds, rtf


def asteroid_case(model, config_name, batch, seconds, steps, infer_seconds):
    """The same for asteroid's model with identical hyperparameters, or None when torch/asteroid are missing."""
    try:
        import torch
        from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr
        from asteroid.models import DPRNNTasNet, LSTMTasNet
    except ImportError:
        return None
    from utils.config import load_yaml
    from utils.separation.synthetic import make_mixtures
    m = load_yaml(os.path.join(ROOT, model, config_name)).model
    if model == "tasnet":
        net = LSTMTasNet(n_src=m.n_src, out_chan=m.n_filters, hid_size=m.hidden_size, n_layers=m.n_layers,
                         dropout=m.dropout, mask_act=m.mask_act, bidirectional=m.bidirectional,
                         n_filters=m.n_filters, kernel_size=m.frame_length, stride=m.frame_length // 2,
                         encoder_activation="relu")
    else:
        net = DPRNNTasNet(n_src=m.n_src, bn_chan=m.bn_chan, hid_size=m.hid_size, chunk_size=m.chunk_size,
                          n_repeats=m.n_repeats, norm_type=m.norm, mask_act=m.mask_act,
                          bidirectional=m.bidirectional, dropout=m.dropout, n_filters=m.n_filters,
                          kernel_size=m.kernel_size, stride=m.stride)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")
    mixtures, sources = (torch.from_numpy(a) for a in make_mixtures(batch, m.n_src, seconds, SAMPLE_RATE, seed=0))

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(net(mixtures), sources)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()

    step_seconds = median_seconds(train_step, steps)
    net.eval()
    long_mixture = torch.from_numpy(make_mixtures(1, m.n_src, infer_seconds, SAMPLE_RATE, seed=1)[0])
    with torch.no_grad():
        rtf = median_seconds(lambda: net(long_mixture), 3) / infer_seconds
    return step_seconds, rtf


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=2, help="training batch (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=2.0, help="training segment, s (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=3, help="timed train steps per case (default: %(default)s)")
    parser.add_argument("--infer_seconds", type=float, default=10.0, help="mixture length for the RTF")
    parser.add_argument("--cases", nargs="+", default=CASES, metavar="MODEL/CONFIG",
                        help="model/config pairs to bench (default: %(default)s)")
    args = parser.parse_args()
    from tqdm import tqdm
    from utils.context import init_context
    init_context("CPU", seed=0)
    cases = []
    for case in args.cases:
        model, _, config_name = case.partition("/")
        if model not in ("tasnet", "dprnn") or not os.path.isfile(os.path.join(ROOT, model, config_name)):
            parser.error(f"--cases {case}: expected tasnet/<config>.yaml or dprnn/<config>.yaml of this repository")
        cases.append((model, config_name))
    rows, missing_asteroid = [], False
    for model, config_name in tqdm(cases, desc="cases", unit="case"):
        try:
            params, step_seconds, rtf = mindspore_case(model, config_name, args.batch_size, args.seconds,
                                                       args.steps, args.infer_seconds)
        except (RuntimeError, MemoryError) as error:  # e.g. the paper's 2-sample DPRNN frames exhaust the RAM
            reason = next((line for line in str(error).splitlines() if "Memory" in line), str(error).splitlines()[0])
            tqdm.write(f"{model}/{config_name} failed: {reason[:200]}")
            rows.append((f"{model}/{config_name}", None, None, None, None))
            continue
        reference = asteroid_case(model, config_name, args.batch_size, args.seconds, args.steps, args.infer_seconds)
        missing_asteroid |= reference is None
        tqdm.write(f"{model}/{config_name}: {params / 1e6:.2f} M parameters, train step {step_seconds:.3f} s, "
                   f"RTF {rtf:.3f}")
        rows.append((f"{model}/{config_name}", params / 1e6, step_seconds, rtf, reference))
    header = f"| model / config | params (M) | train step (s), {args.batch_size} x {args.seconds:g} s | RTF ({args.infer_seconds:g} s) |"
    print(header + ("" if missing_asteroid else " asteroid step (s) | ratio | asteroid RTF | ratio |"))
    print("|" + "---|" * (4 if missing_asteroid else 8))
    for name, params, step_seconds, rtf, reference in rows:
        if params is None:
            print(f"| {name} | failed (see above) | | |")
            continue
        line = f"| {name} | {params:.2f} | {step_seconds:.3f} | {rtf:.3f} |"
        if not missing_asteroid:
            line += (f" {reference[0]:.3f} | {reference[0] / step_seconds:.2f} | {reference[1]:.3f} |"
                     f" {reference[1] / rtf:.2f} |")
        print(line)
    if missing_asteroid:
        print("note: torch and/or asteroid are not importable here, so the asteroid columns are skipped "
              "(pip install torch asteroid to compare).")


if __name__ == "__main__":
    main()
