"""This zoo against the field's PyTorch implementations, side by side in one run: train step and inference RTF.

    python bench/peers.py [--cases tasnet dprnn ecapa_tdnn jasper | MODEL/CONFIG ...] [--repeats 5] [--threads auto]
                          [--json results.json]

For every case both frameworks build the same model (same hyperparameters, random weights) and get the same
input shapes:

* train step = forward + loss + backward + gradient clipping (when the config clips) + optimizer update, the
  zoo through ``utils.trainer.TrainStep`` compiled as train.py's Trainer compiles it (``train.graph_shapes``),
  the peer in PyTorch eager;
* inference = one forward pass at batch 1 (no gradient), as RTF = compute seconds / audio seconds.

Peers: asteroid LSTMTasNet / DPRNNTasNet + PITLossWrapper(pairwise_neg_sisdr) + Adam; SpeechBrain ECAPA_TDNN +
Classifier + LogSoftmaxWrapper(AdditiveAngularMargin(0.2, 30)) + Adam; NVIDIA DeepLearningExamples' Jasper
structure (``torch_references/nvidia_jasper.py``) + CTC + Adam (torch has no Novograd; the zoo runs its
Novograd, whose update is a per-layer norm and a few elementwise ops).

Timing: the zoo's first call (graph compilation + one call) is timed apart and "compile" is that time minus the
median call, i.e. the compilation alone (the JSON keeps the first call's time too); then, after one
more warm-up call each, the two frameworks alternate call by call and the tables give medians of ``--repeats``
calls, so load changes on a shared machine hit both columns alike. ratio = zoo / peer (< 1: the zoo is faster).
torch runs with ``--threads`` intra-op threads ("auto", the default: per row, the faster of the CPU count and 1
after two probe calls each; PASSIVE threads can make torch's LSTMs 3-9x slower on an idle host, where each of
their small parallel regions pays a thread wake-up), 1 inter-op thread and OMP_WAIT_POLICY=PASSIVE (set before torch
loads unless you set it); MindSpore with its runtime thread pool as printed. Without torch or a peer package the
peer columns say so and the zoo is still timed.
"""
import argparse
import gc
import json
import os
import statistics
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's OpenMP threads otherwise spin on a busy machine
import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.common import timed  # noqa: E402

SEPARATION_RATE = 8000
FRAMES_PER_SECOND = 100
ECAPA_CLASSES = 1211  # VoxCeleb1 dev speakers

# model -> its configs compared by default; (model, config, what is compared)
DEFAULT_CASES = [
    ("tasnet", "config.yaml", "train+infer"),
    ("dprnn", "config.yaml", "train+infer"),
    ("dprnn", "config_asteroid.yaml", "train+infer"),
    ("ecapa_tdnn", "config.yaml", "train+infer"),
    ("ecapa_tdnn", "config_c512.yaml", "train+infer"),
    ("ecapa_tdnn", "config_c1024.yaml", "train+infer"),
    ("jasper", "config.yaml", "train+infer"),
    ("jasper", "config_10x5dr.yaml", "infer"),
]


@dataclass
class Workload:
    """One framework's side of a case: callables that run one train step / one inference to completion."""
    train_step: Optional[Callable] = None
    infer: Optional[Callable] = None
    audio_seconds: float = 1.0          # seconds of audio one ``infer`` call processes
    params_m: float = 0.0               # millions of trainable network parameters
    note: str = ""


@dataclass
class Shapes:
    """Input sizes of a case (train batch x seconds, inference seconds at batch 1)."""
    batch: int
    seconds: float
    infer_seconds: float


SHAPES = {"tasnet": Shapes(2, 2.0, 10.0), "dprnn": Shapes(2, 2.0, 10.0), "ecapa_tdnn": Shapes(32, 2.0, 8.0),
          "jasper": Shapes(16, 3.0, 10.0)}


def load_cfg(model, config_name):
    from utils.config import load_config
    return load_config(os.path.join(ROOT, model, config_name))


def count_params(cell):
    return sum(int(np.prod(p.shape)) for p in cell.trainable_params()) / 1e6


def shape_policy(step, cfg, specs):
    """Compile ``step`` as train.py's Trainer does: dynamic shapes only when the config asks for them."""
    if str(cfg.train.get("graph_shapes", "static")) == "dynamic":
        step.set_inputs(*specs)


def mindspore_blocking(fn):
    """Wrap a MindSpore call so it returns only when the device is done (asnumpy of the first output)."""
    def run():
        out = fn()
        (out[0] if isinstance(out, (tuple, list)) else out).asnumpy()
    return run


# ---- the zoo ------------------------------------------------------------------------------------------------
def zoo_separation(model, cfg, shapes, what):
    import mindspore as ms
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    from utils.separation.separate import mixture_spec, training_specs
    from utils.separation.synthetic import make_mixtures
    from utils.trainer import TrainStep, build_optimizer
    if model == "tasnet":
        from tasnet.src.network import TasNet as network_class
    else:
        from dprnn.src.network import DPRNN as network_class
    network = network_class(**cfg.model.to_dict())
    n_src = int(cfg.model.n_src)
    work = Workload(params_m=count_params(network), audio_seconds=shapes.infer_seconds)
    if "train" in what:
        step = TrainStep(SeparationLossCell(network, neg_sisnr_pit_loss(n_src)),
                         build_optimizer(network.trainable_params(), cfg.train), float(cfg.train.clip_grad_norm))
        shape_policy(step, cfg, training_specs(n_src))
        step.set_train(True)
        mixtures, sources = make_mixtures(shapes.batch, n_src, shapes.seconds, SEPARATION_RATE, seed=0)
        inputs = [ms.Tensor(mixtures), ms.Tensor(sources),
                  ms.Tensor(np.full(shapes.batch, mixtures.shape[1], np.int32))]
        work.train_step = mindspore_blocking(lambda: step(*inputs))
    if "infer" in what:
        # A separate network object: the train step above keeps its own compiled graph in train mode.
        infer_net = network_class(**cfg.model.to_dict())
        infer_net.set_train(False)
        infer_net.set_inputs(mixture_spec())
        mixture = ms.Tensor(make_mixtures(1, n_src, shapes.infer_seconds, SEPARATION_RATE, seed=1)[0])
        work.infer = mindspore_blocking(lambda: infer_net(mixture))
    return work


def zoo_ecapa(cfg, shapes, what):
    import mindspore as ms
    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN, dynamic_inputs
    from utils.trainer import TrainStep, build_optimizer
    model_cfg = cfg.model.to_dict()
    rng = np.random.default_rng(0)
    network = ECAPATDNN(**model_cfg)
    work = Workload(params_m=count_params(network), audio_seconds=shapes.infer_seconds)
    if "train" in what:
        head = AAMSoftmaxHead(int(model_cfg["embedding_dim"]), ECAPA_CLASSES, cfg.loss.margin, cfg.loss.scale)
        with_loss = SpeakerClassifierWithLoss(network, head)
        step = TrainStep(with_loss, build_optimizer(with_loss.trainable_params(), cfg.train),
                         float(cfg.train.clip_grad_norm))
        shape_policy(step, cfg, [ms.Tensor(shape=[None, model_cfg["input_dim"], None], dtype=ms.float32),
                                 ms.Tensor(shape=[None], dtype=ms.int32), ms.Tensor(shape=[None], dtype=ms.int32)])
        step.set_train(True)
        frames = int(shapes.seconds * FRAMES_PER_SECOND) + 1
        inputs = [ms.Tensor(rng.standard_normal((shapes.batch, model_cfg["input_dim"], frames)).astype(np.float32)),
                  ms.Tensor(np.full(shapes.batch, frames, np.int32)),
                  ms.Tensor(rng.integers(0, ECAPA_CLASSES, shapes.batch).astype(np.int32))]
        work.train_step = mindspore_blocking(lambda: step(*inputs))
    if "infer" in what:
        infer_net = dynamic_inputs(ECAPATDNN(**model_cfg))
        infer_net.set_train(False)
        frames = int(shapes.infer_seconds * FRAMES_PER_SECOND) + 1
        utterance = (ms.Tensor(rng.standard_normal((1, model_cfg["input_dim"], frames)).astype(np.float32)),
                     ms.Tensor(np.array([frames], np.int32)))
        work.infer = mindspore_blocking(lambda: infer_net(*utterance))
    return work


def jasper_batch(cfg, batch, seconds, seed):
    """(feats [B, in_features, F] float32, lengths [B] int32, labels [B, L] int32 in 0..27, label_lengths [B])."""
    rng = np.random.default_rng(seed)
    frames, n_labels = int(seconds * FRAMES_PER_SECOND), int(seconds * 12)
    return (rng.standard_normal((batch, int(cfg.model.in_features), frames)).astype(np.float32),
            np.full(batch, frames, np.int32), rng.integers(0, 28, (batch, n_labels)).astype(np.int32),
            np.full(batch, n_labels, np.int32))


def zoo_jasper(cfg, shapes, what):
    import mindspore as ms
    from jasper.src.asr import build_optimizer as jasper_optimizer
    from jasper.src.network import JasperWithCTCLoss, build_network, input_specs, loss_input_specs
    from utils.trainer import TrainStep, build_optimizer
    network = build_network(cfg.to_dict())
    work = Workload(params_m=count_params(network), audio_seconds=shapes.infer_seconds)
    if "train" in what:
        optimizer = jasper_optimizer(network, cfg.train) or build_optimizer(network.trainable_params(), cfg.train)
        step = TrainStep(JasperWithCTCLoss(network), optimizer, float(cfg.train.clip_grad_norm))
        shape_policy(step, cfg, loss_input_specs(int(cfg.model.in_features)))
        step.set_train(True)
        inputs = [ms.Tensor(a) for a in jasper_batch(cfg, shapes.batch, shapes.seconds, 0)]
        work.train_step = mindspore_blocking(lambda: step(*inputs))
    if "infer" in what:
        infer_net = build_network(cfg.to_dict())
        infer_net.set_train(False)
        infer_net.set_inputs(*input_specs(int(cfg.model.in_features)))
        feats, lengths, _, _ = jasper_batch(cfg, 1, shapes.infer_seconds, 1)
        feats, lengths = ms.Tensor(feats), ms.Tensor(lengths)
        work.infer = mindspore_blocking(lambda: infer_net(feats, lengths))
    return work


# ---- the PyTorch peers --------------------------------------------------------------------------------------
def torch_params(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad) / 1e6


def torch_train_step(torch, parameters, loss_fn, clip):
    optimizer = torch.optim.Adam(parameters, lr=1e-3)

    def step():
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
    return step


def torch_infer(torch, module, *inputs):
    module.eval()

    def infer():
        with torch.no_grad():
            module(*inputs)
    return infer


def peer_separation(model, cfg, shapes, what):
    from torch_references import import_reference
    asteroid_models = import_reference("asteroid.models")
    losses = import_reference("asteroid.losses")
    import torch
    from utils.separation.synthetic import make_mixtures
    m = cfg.model
    torch.manual_seed(0)
    if model == "tasnet":
        net = asteroid_models.LSTMTasNet(
            n_src=m.n_src, out_chan=m.n_filters, hid_size=m.hidden_size, n_layers=m.n_layers, dropout=m.dropout,
            mask_act=m.mask_act, bidirectional=m.bidirectional, n_filters=m.n_filters,
            kernel_size=m.frame_length, stride=m.get("stride", m.frame_length // 2), encoder_activation="relu")
    else:
        net = asteroid_models.DPRNNTasNet(
            n_src=m.n_src, bn_chan=m.bn_chan, hid_size=m.hid_size, chunk_size=m.chunk_size, n_repeats=m.n_repeats,
            norm_type=m.norm, mask_act=m.mask_act, bidirectional=m.bidirectional, dropout=m.dropout,
            n_filters=m.n_filters, kernel_size=m.kernel_size, stride=m.stride)
    work = Workload(params_m=torch_params(net), audio_seconds=shapes.infer_seconds)
    if "train" in what:
        mixtures, sources = (torch.from_numpy(a) for a in
                             make_mixtures(shapes.batch, m.n_src, shapes.seconds, SEPARATION_RATE, seed=0))
        pit = losses.PITLossWrapper(losses.pairwise_neg_sisdr, pit_from="pw_mtx")
        work.train_step = torch_train_step(torch, list(net.parameters()), lambda: pit(net(mixtures), sources),
                                           float(cfg.train.clip_grad_norm))
    if "infer" in what:
        mixture = torch.from_numpy(make_mixtures(1, m.n_src, shapes.infer_seconds, SEPARATION_RATE, seed=1)[0])
        work.infer = torch_infer(torch, net, mixture)
    return work


def peer_ecapa(cfg, shapes, what):
    from torch_references import import_reference
    lobes = import_reference("speechbrain.lobes.models.ECAPA_TDNN")
    sb_losses = import_reference("speechbrain.nnet.losses")
    import torch
    m = cfg.model
    torch.manual_seed(0)
    net = lobes.ECAPA_TDNN(m.input_dim, channels=list(m.channels), kernel_sizes=list(m.kernel_sizes),
                           dilations=list(m.dilations), attention_channels=m.attention_channels,
                           res2net_scale=m.res2net_scale, se_channels=m.se_channels,
                           global_context=m.global_context, lin_neurons=m.embedding_dim)
    work = Workload(params_m=torch_params(net), audio_seconds=shapes.infer_seconds)
    rng = np.random.default_rng(0)
    if "train" in what:
        classifier = lobes.Classifier(m.embedding_dim, out_neurons=ECAPA_CLASSES)
        aam = sb_losses.LogSoftmaxWrapper(sb_losses.AdditiveAngularMargin(margin=float(cfg.loss.margin),
                                                                          scale=float(cfg.loss.scale)))
        frames = int(shapes.seconds * FRAMES_PER_SECOND) + 1
        feats = torch.from_numpy(rng.standard_normal((shapes.batch, frames, m.input_dim)).astype(np.float32))
        labels = torch.from_numpy(rng.integers(0, ECAPA_CLASSES, (shapes.batch, 1)))
        params = list(net.parameters()) + list(classifier.parameters())
        work.train_step = torch_train_step(torch, params, lambda: aam(classifier(net(feats)), labels),
                                           float(cfg.train.clip_grad_norm))
    if "infer" in what:
        frames = int(shapes.infer_seconds * FRAMES_PER_SECOND) + 1
        utterance = torch.from_numpy(rng.standard_normal((1, frames, m.input_dim)).astype(np.float32))
        work.infer = torch_infer(torch, net, utterance)
    return work


def peer_jasper(cfg, shapes, what):
    from torch_references import import_reference
    nvidia = import_reference("torch_references.nvidia_jasper")
    import torch
    blocks = [dict(b) for b in cfg.model.blocks]
    if any(b.get("separable") for b in blocks):
        raise NotImplementedError("the NVIDIA-structured PyTorch Jasper has no separable (QuartzNet) blocks")
    activation = {"relu": "relu", "hardtanh_unit": "hardtanh"}.get(str(cfg.model.activation))
    if activation is None:
        raise NotImplementedError(f"activation {cfg.model.activation} has no PyTorch peer here")
    torch.manual_seed(0)
    net = nvidia.Jasper(int(cfg.model.in_features), int(cfg.model.num_classes), blocks, activation)
    work = Workload(params_m=torch_params(net), audio_seconds=shapes.infer_seconds, note="peer optimizer: Adam")
    blank = int(cfg.model.num_classes) - 1
    if "train" in what:
        feats, lengths, labels, label_lengths = jasper_batch(cfg, shapes.batch, shapes.seconds, 0)
        feats = torch.from_numpy(feats)
        lengths, labels, label_lengths = (torch.from_numpy(a).long() for a in (lengths, labels, label_lengths))

        def loss_fn():
            log_probs, out_lengths = net(feats, lengths)
            return torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), labels, out_lengths, label_lengths,
                                                blank=blank, reduction="mean", zero_infinity=True)
        work.train_step = torch_train_step(torch, list(net.parameters()), loss_fn, float(cfg.train.clip_grad_norm))
    if "infer" in what:
        # other names than the train batch's: loss_fn above reads those when it runs
        infer_feats, infer_lengths, _, _ = jasper_batch(cfg, 1, shapes.infer_seconds, 1)
        work.infer = torch_infer(torch, net, torch.from_numpy(infer_feats), torch.from_numpy(infer_lengths).long())
    return work


ZOO = {"tasnet": lambda cfg, s, w: zoo_separation("tasnet", cfg, s, w),
       "dprnn": lambda cfg, s, w: zoo_separation("dprnn", cfg, s, w),
       "ecapa_tdnn": zoo_ecapa, "jasper": zoo_jasper}
PEERS = {"tasnet": lambda cfg, s, w: peer_separation("tasnet", cfg, s, w),
         "dprnn": lambda cfg, s, w: peer_separation("dprnn", cfg, s, w),
         "ecapa_tdnn": peer_ecapa, "jasper": peer_jasper}
PEER_NAMES = {"tasnet": "asteroid LSTMTasNet", "dprnn": "asteroid DPRNNTasNet",
              "ecapa_tdnn": "SpeechBrain ECAPA_TDNN", "jasper": "NVIDIA-structured Jasper"}


# ---- timing -------------------------------------------------------------------------------------------------
def seconds(fn):
    return timed(fn)[1]


@dataclass
class Row:
    case: str
    kind: str                      # "train step" or "inference"
    shape: str
    zoo_s: Optional[float] = None
    peer_s: Optional[float] = None
    compile_s: Optional[float] = None   # first zoo call minus a steady call: the graph compilation alone
    first_call_s: Optional[float] = None
    params_m: float = 0.0
    audio_seconds: float = 0.0
    peer_note: str = ""
    peer_threads: Optional[int] = None
    zoo_times: list = field(default_factory=list)
    peer_times: list = field(default_factory=list)

    @property
    def ratio(self):
        return None if self.zoo_s is None or self.peer_s is None else self.zoo_s / self.peer_s


def threads_option(value):
    """--threads: "auto" or a positive number of torch intra-op threads."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {value!r}")
    return int(value)


def choose_peer_threads(theirs, threads):
    """Set torch's intra-op threads for this row and return them: ``threads`` itself, or for "auto" the faster
    of the CPU count and 1 over two probe calls each (after one warm-up call)."""
    import torch
    if threads != "auto":
        torch.set_num_threads(threads)
        return threads
    candidates = sorted({os.cpu_count() or 1, 1}, reverse=True)
    best = {}
    for count in candidates:
        torch.set_num_threads(count)
        theirs()
        best[count] = min(seconds(theirs) for _ in range(2))
    chosen = min(candidates, key=best.get)
    torch.set_num_threads(chosen)
    return chosen


def compare(ours, theirs, repeats, peer_threads="auto"):
    """(first-call s, zoo times, peer times, peer threads): first zoo call apart, the peer's threads chosen
    (``choose_peer_threads``), one warm-up each, then alternating calls."""
    first_call_s = seconds(ours)
    chosen = None
    if theirs is not None:
        chosen = choose_peer_threads(theirs, peer_threads)
        theirs()
    ours()
    zoo_times, peer_times = [], []
    for _ in range(repeats):
        zoo_times.append(seconds(ours))
        if theirs is not None:
            peer_times.append(seconds(theirs))
    return first_call_s, zoo_times, peer_times, chosen


def run_case(model, config_name, what, repeats, progress, peer_threads="auto"):
    cfg = load_cfg(model, config_name)
    shapes = SHAPES[model]
    ours = ZOO[model](cfg, shapes, what)
    try:
        theirs, peer_note = PEERS[model](cfg, shapes, what), ""
    except (ImportError, NotImplementedError) as error:
        theirs, peer_note = None, f"not measured: {error}"
    rows = []
    for kind, attr in (("train step", "train_step"), ("inference", "infer")):
        zoo_fn = getattr(ours, attr)
        if zoo_fn is None:
            continue
        peer_fn = getattr(theirs, attr) if theirs is not None else None
        progress.set_postfix_str(f"{model}/{config_name} {kind}")
        shape = (f"{shapes.batch} x {shapes.seconds:g} s" if kind == "train step" else f"1 x {shapes.infer_seconds:g} s")
        first_call_s, zoo_times, peer_times, threads = compare(zoo_fn, peer_fn, repeats, peer_threads)
        zoo_s = statistics.median(zoo_times)
        rows.append(Row(f"{model}/{config_name}", kind, shape, zoo_s,
                        statistics.median(peer_times) if peer_times else None, max(0.0, first_call_s - zoo_s),
                        first_call_s, ours.params_m, ours.audio_seconds,
                        peer_note or (theirs.note if theirs else ""), threads, zoo_times, peer_times))
    del ours, theirs
    gc.collect()
    return rows


def parse_cases(names):
    """--cases entries: a model (its default configs) or MODEL/CONFIG (train+infer, infer only for 10x5dr)."""
    cases = []
    for name in names:
        model, _, config_name = name.partition("/")
        if model not in ZOO:
            raise SystemExit(f"peers.py: error: unknown model {model!r} in --cases; choose from {', '.join(ZOO)}")
        if not config_name:
            cases += [c for c in DEFAULT_CASES if c[0] == model]
            continue
        if not os.path.isfile(os.path.join(ROOT, model, config_name)):
            raise SystemExit(f"peers.py: error: {model}/{config_name} does not exist")
        cases.append((model, config_name, "infer" if "10x5dr" in config_name else "train+infer"))
    return cases


def format_table(rows):
    lines = ["| model / config | measured | shape | params (M) | zoo compile (s) | zoo (s) | peer (s) | ratio zoo/peer |"
             " zoo RTF | peer RTF | peer threads |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        def fmt(value, spec):
            return "-" if value is None else format(value, spec)
        infer = row.kind == "inference"
        rtf = (lambda s: fmt(None if s is None else s / row.audio_seconds, ".4f")) if infer else (lambda s: "")
        peer = fmt(row.peer_s, ".3f") if row.peer_s is not None else (row.peer_note or "-")
        lines.append(f"| {row.case} | {row.kind} | {row.shape} | {row.params_m:.2f} | {fmt(row.compile_s, '.1f')} | "
                     f"{fmt(row.zoo_s, '.3f')} | {peer} | {fmt(row.ratio, '.2f')} | {rtf(row.zoo_s)} | "
                     f"{rtf(row.peer_s)} | {fmt(row.peer_threads, 'd')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(ZOO), metavar="MODEL[/CONFIG]",
                        help="models (their default configs) or model/config pairs (default: every model)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls of each framework per row (default: 5)")
    parser.add_argument("--threads", default="auto", type=threads_option,
                        help="torch intra-op threads: a number, or auto (default: per row the faster of "
                             f"{os.cpu_count()} and 1)")
    parser.add_argument("--json", default=None, help="also write every timing to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    cases = parse_cases(args.cases)
    import mindspore as ms
    from utils.context import init_context
    init_context("CPU", seed=0)
    try:
        import torch
        torch.set_num_threads(os.cpu_count() if args.threads == "auto" else args.threads)
        torch.set_num_interop_threads(1)
        intra = "per row the faster of {} and 1".format(os.cpu_count()) if args.threads == "auto" else args.threads
        torch_line = (f"torch {torch.__version__}: {intra} intra-op / 1 inter-op threads, "
                      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}")
    except ImportError:
        torch_line = "torch: not installed (bash scripts/setup.sh --test installs it), peer columns empty"
    settings = (f"MindSpore {ms.__version__} GRAPH_MODE CPU: runtime_num_threads="
                f"{ms.get_context('runtime_num_threads')}, ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')}"
                f"; {torch_line}; {os.cpu_count()} CPUs; medians of {args.repeats} alternating calls")
    rows = []
    progress = tqdm(cases, desc="cases", unit="case")
    for model, config_name, what in progress:
        case_rows = run_case(model, config_name, what, args.repeats, progress, args.threads)
        rows += case_rows
        tqdm.write("\n".join(format_table(case_rows).splitlines()[2:]))
    print("\n" + settings + "\n")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"settings": settings, "rows": [row.__dict__ for row in rows]}, handle, indent=1)


if __name__ == "__main__":
    main()
