"""Training parity on the tiny corpora: each model trained N steps by our recipe and by its PyTorch reference with the
same settings, test metric and loss curve side by side, over several seeds (a table; not a test).

    python bench/train_parity.py --data_root data/tiny --models tasnet dprnn --steps 1500 --out_dir runs/parity
    python bench/train_parity.py --data_root data/tiny --models ecapa --steps 300 --out_dir runs/parity
    python bench/train_parity.py --out_dir runs/parity --table   # the markdown table of every run saved there

Per model and seed both sides see the SAME batches (numpy arrays drawn once from the seed: the same crops, data
order and labels), the same architecture, hyperparameters, constant learning rate and clipping, no augmentation,
dropout 0; each side starts from ITS OWN initialisation (seeded), so the initialisation rules are compared too.
* tasnet / dprnn: asteroid LSTMTasNet / DPRNNTasNet built from {model}/config.yaml (asteroid's options: the
  converter's mapping builds our equivalent network), PITLossWrapper(pairwise_neg_sisdr) + torch Adam vs our
  masked PIT SI-SNR + build_optimizer; test metric: SI-SNRi (dB) over every test mixture of Libri2Mix, whole.
* ecapa: SpeechBrain ECAPA_TDNN + Classifier + LogSoftmaxWrapper(AdditiveAngularMargin(0.2, 30)) + torch Adam vs
  ours (ecapa_tdnn/config.yaml model, lr 0.002 constant, margin 0.2 fixed); features from our extractor (equal to
  SpeechBrain's Fbank, see tests/ecapa_tdnn/test_convert_speechbrain.py) for both; test metric: EER (%) on the
  VoxCeleb1 test trial list, each file embedded whole.
* jasper: the NVIDIA-structured PyTorch Jasper (torch_references/nvidia_jasper.py, NVIDIA's xavier init) + torch
  CTC (per-utterance NLL, batch mean: NVIDIA's reduction, zero_infinity as ours) + NVIDIA's Novograd
  (torch_references/novograd.py) vs our JasperNet + JasperWithCTCLoss + Novograd, the model of --jasper_config
  (default bench/train_parity_jasper.yaml: jasper/config.yaml with half the filters; dropout set to 0), its
  betas / weight decay / clipping, lr constant (--jasper_lr); features from our extractor (no dither, no speed
  perturbation, no SpecAugment) for both, our class ids (blank last) for both; test metric: greedy CER and WER
  (%) over every utterance of LibriSpeech test-clean, each side decoding its own log-probs with
  jasper/src/decoder.greedy_decode.
Needs torch, asteroid, speechbrain (requirements-reference.txt). Every run is written to
OUT_DIR/{model}_seed{seed}.json as soon as it ends (losses of every step, metrics, step times); the table's loss
curve is the mean training loss over each fifth of the steps, its step times the median after the first (compile)
step. Threads: torch 1 (--torch_threads), MindSpore 2 CPU kernel threads (--ms_threads; init_context leaves
MindSpore's default of 25, far more than this 2-core machine has, and with 1 its steps ran 3-6x slower here:
DPRNN 1.77 vs 0.29 s, TasNet 0.57 vs 0.18 s); the step times are those of a shared machine, the metrics are the point.
"""
import argparse
import glob
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spinning OpenMP threads crawl here
import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402

from bench.common import timed_steps  # noqa: E402
from torch_references import import_reference  # noqa: E402

MODELS = ("tasnet", "dprnn", "ecapa", "jasper")
CURVE_POINTS = 5


def seed_everything(seed):
    import mindspore as ms
    import torch
    ms.set_seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def curve(losses):
    """Mean loss over each of CURVE_POINTS equal parts of the run."""
    return [float(np.mean(part)) for part in np.array_split(np.asarray(losses), CURVE_POINTS)]


def train_ours(step_cell, batches):
    """(losses, median seconds of a step after the first (compile))."""
    import mindspore as ms
    step_cell.set_train(True)
    return timed_steps(lambda batch: float(step_cell(*[ms.Tensor(a) for a in batch]).asnumpy()), batches)


def train_torch(model, loss_fn, batches, optimizer, clip):
    """(losses, median seconds of a step after the first); clip 0 = no clipping."""
    import torch
    model.train()

    def step(batch):
        optimizer.zero_grad()
        loss = loss_fn(batch)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        return float(loss.detach())

    return timed_steps(step, batches)


# ---- separation ---------------------------------------------------------------------------------------------
def asteroid_args(model_name, m):
    """asteroid constructor arguments equivalent to our config's model section (asteroid-supported options)."""
    mask_act = m.mask_act if m.mask_act in ("sigmoid", "relu") else "sigmoid"
    if model_name == "tasnet":
        return dict(n_src=m.n_src, n_filters=m.n_filters, kernel_size=m.frame_length, stride=m.frame_length // 2,
                    hid_size=m.hidden_size, n_layers=m.n_layers, bidirectional=m.bidirectional, mask_act=mask_act,
                    dropout=0.0)
    return dict(n_src=m.n_src, n_filters=m.n_filters, kernel_size=m.kernel_size, stride=m.stride, bn_chan=m.bn_chan,
                hid_size=m.hid_size, chunk_size=m.chunk_size, n_repeats=m.n_repeats, norm_type="gLN",
                mask_act=mask_act, bidirectional=m.bidirectional, dropout=0.0, encoder_activation="relu")


def separation_batches(dataset, count, batch_size, seed):
    """``count`` training batches of full-length crops (no padding: asteroid's loss has no length mask)."""
    from utils.separation.data import collate
    rng = np.random.default_rng(1000 + seed)
    batches = []
    while len(batches) < count:
        items = []
        while len(items) < batch_size:
            item = dataset.get(int(rng.integers(len(dataset))), rng)
            if int(item[2]) == dataset.segment:
                items.append(item)
        batches.append(collate(items))
    return batches


def separation_case(model_name, data_root, seed, steps, segment, same_init=False, init_seed=None):
    """same_init: ours starts from the reference's initial weights (through the converter's mapping) instead of
    its own initialisation, to tell the training rule from the initial draw. init_seed: both sides draw their
    initial weights from this seed instead of ``seed`` (the batches stay those of ``seed``), to tell how much of a
    result is the initial draw and how much the data order."""
    import mindspore as ms
    import torch
    from utils.config import load_yaml
    from utils.metrics import pit, si_snr
    from utils.separation.convert_asteroid import MODEL_CONFIGS, map_state_dict
    from utils.separation.data import SeparationDataset, find_items
    from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
    from utils.separation.separate import mixture_spec
    from utils.trainer import TrainStep, build_optimizer
    if model_name == "tasnet":
        from tasnet.src.network import TasNet as network_class
        asteroid_name = "LSTMTasNet"
    else:
        from dprnn.src.network import DPRNN as network_class
        asteroid_name = "DPRNNTasNet"
    cfg = load_yaml(os.path.join(ROOT, model_name, "config.yaml"))
    data_dir = os.path.join(data_root, "Libri2Mix")
    train = SeparationDataset(find_items(data_dir, "train", 8000), 8000, segment, seed=seed)
    test = SeparationDataset(find_items(data_dir, "test", 8000), 8000)
    batches = separation_batches(train, steps, int(cfg.train.batch_size), seed)
    args = asteroid_args(model_name, cfg.model)
    lr, weight_decay, clip = float(cfg.train.lr), float(cfg.train.weight_decay), float(cfg.train.clip_grad_norm)
    n_src = int(cfg.model.n_src)

    def test_si_snri(separate_fn):
        values = []
        for index in range(len(test)):
            mixture, sources, _ = test.get(index)
            estimates = separate_fn(mixture)
            values.append(pit(si_snr, estimates, sources)[0] - float(np.mean(si_snr(mixture, sources))))
        return float(np.mean(values))

    init_seed = seed if init_seed is None else init_seed
    seed_everything(init_seed)
    network = network_class(**MODEL_CONFIGS[asteroid_name](args))
    seed_everything(init_seed)
    models = import_reference("asteroid.models")
    reference = getattr(models, asteroid_name)(**args)
    if same_init:
        start = {name: value.detach().numpy() for name, value in reference.state_dict().items()}
        for name, array in map_state_dict(start, asteroid_name, network).items():
            network.parameters_dict()[name].set_data(ms.Tensor(array))
    step = TrainStep(SeparationLossCell(network, neg_sisnr_pit_loss(n_src)),
                     build_optimizer(network.trainable_params(), {"lr": lr, "weight_decay": weight_decay}), clip)
    ours_losses, ours_seconds = train_ours(step, batches)
    network.set_train(False)
    network.set_inputs(mixture_spec())
    ours_metric = test_si_snri(lambda mixture: network(ms.Tensor(mixture[None])).asnumpy()[0])

    losses_module = import_reference("asteroid.losses")
    pit_loss = losses_module.PITLossWrapper(losses_module.pairwise_neg_sisdr, pit_from="pw_mtx")
    ref_losses, ref_seconds = train_torch(
        reference, lambda b: pit_loss(reference(torch.from_numpy(b[0])), torch.from_numpy(b[1])), batches,
        torch.optim.Adam(reference.parameters(), lr=lr, weight_decay=weight_decay), clip)
    reference.eval()
    with torch.no_grad():
        ref_metric = test_si_snri(lambda mixture: reference(torch.from_numpy(mixture[None])).numpy()[0])
    return dict(metric=(ours_metric, ref_metric), losses=(ours_losses, ref_losses),
                seconds=(ours_seconds, ref_seconds), n_test=len(test))


# ---- ECAPA-TDNN ---------------------------------------------------------------------------------------------
def ecapa_case(data_root, seed, steps, crop, batch_size):
    import mindspore as ms
    import torch
    from ecapa_tdnn.src.dataset import VoxCelebTrainSet, collate, read_trials
    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN, dynamic_inputs
    from ecapa_tdnn.src.verification import cosine_scores, extract_embeddings, network_embedder, trial_indices
    from utils.config import load_yaml
    from utils.metrics import eer
    from utils.trainer import TrainStep, build_optimizer
    cfg = load_yaml(os.path.join(ROOT, "ecapa_tdnn", "config.yaml"))
    m, lr, weight_decay, clip = cfg.model, 0.002, float(cfg.train.weight_decay), float(cfg.train.clip_grad_norm)
    margin, scale = float(cfg.loss.margin), float(cfg.loss.scale)
    train = VoxCelebTrainSet(os.path.join(data_root, "VoxCeleb1", "dev", "wav"), 16000, (crop, crop),
                             cfg.data.features)
    rng = np.random.default_rng(1000 + seed)
    batches = [collate([train.get(int(rng.integers(len(train))), rng) for _ in range(batch_size)])
               for _ in range(steps)]
    test_dir = os.path.join(data_root, "VoxCeleb1", "test", "wav")
    trials = read_trials(os.path.join(data_root, "VoxCeleb1", "veri_test2.txt"), test_dir)
    paths, labels, first, second = trial_indices(trials)

    def test_eer(embed):
        embeddings = extract_embeddings(embed, test_dir, paths, 16000, cfg.data.features, batch_size=1)
        return 100.0 * eer(cosine_scores(embeddings, first, second), labels)[0]

    seed_everything(seed)
    network = ECAPATDNN(**m)
    head = AAMSoftmaxHead(int(m.embedding_dim), train.num_classes, margin, scale)
    with_loss = SpeakerClassifierWithLoss(network, head)
    step = TrainStep(with_loss, build_optimizer(with_loss.trainable_params(), {"lr": lr, "weight_decay": weight_decay}),
                     clip)
    ours_losses, ours_seconds = train_ours(step, batches)
    network.set_train(False)
    ours_metric = test_eer(network_embedder(dynamic_inputs(network)))

    seed_everything(seed)
    ecapa = import_reference("speechbrain.lobes.models.ECAPA_TDNN")
    losses_module = import_reference("speechbrain.nnet.losses")
    reference = ecapa.ECAPA_TDNN(int(m.input_dim), channels=list(m.channels), kernel_sizes=list(m.kernel_sizes),
                                 dilations=list(m.dilations), attention_channels=int(m.attention_channels),
                                 res2net_scale=int(m.res2net_scale), se_channels=int(m.se_channels),
                                 global_context=bool(m.global_context), lin_neurons=int(m.embedding_dim))
    classifier = ecapa.Classifier(int(m.embedding_dim), out_neurons=train.num_classes)
    model = torch.nn.ModuleDict({"embedding": reference, "classifier": classifier})
    criterion = losses_module.LogSoftmaxWrapper(losses_module.AdditiveAngularMargin(margin=margin, scale=scale))

    def loss_fn(batch):
        features = torch.from_numpy(batch[0].transpose(0, 2, 1).copy())
        return criterion(classifier(reference(features)), torch.from_numpy(batch[2].astype(np.int64))[:, None])

    ref_losses, ref_seconds = train_torch(model, loss_fn, batches,
                                          torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay), clip)
    model.eval()

    def embed(features, lengths):
        with torch.no_grad():
            return reference(torch.from_numpy(features.transpose(0, 2, 1).copy()))[:, 0].numpy()
    ref_metric = test_eer(embed)
    return dict(metric=(ours_metric, ref_metric), losses=(ours_losses, ref_losses),
                seconds=(ours_seconds, ref_seconds), n_test=len(trials))


# ---- Jasper -------------------------------------------------------------------------------------------------
def librispeech_dataset(librispeech_dir, subset, data_cfg, manifest_dir):
    """Our AsrDataset of one LibriSpeech subset in evaluation mode (no dither / speed perturbation / SpecAugment);
    its manifest is written to manifest_dir."""
    from jasper.preprocess import subset_entries
    from jasper.src.dataset import AsrDataset
    entries, problems = subset_entries(os.path.join(librispeech_dir, subset))
    if problems:
        raise ValueError(f"{librispeech_dir}/{subset}: unreadable files {problems[:5]}")
    os.makedirs(manifest_dir, exist_ok=True)
    manifest = os.path.join(manifest_dir, f"{subset}.jsonl")
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in entries)
    return AsrDataset(manifest, data_cfg, train=False)


def jasper_case(data_root, seed, steps, config_path, batch_size, lr, manifest_dir):
    import mindspore as ms
    import torch
    from jasper.src.dataset import collate
    from jasper.src.decoder import greedy_decode
    from jasper.src.network import JasperNet, JasperWithCTCLoss, input_specs, loss_input_specs
    from jasper.src.novograd import Novograd
    from jasper.src.asr import references_of, transcript_metrics
    from torch_references.novograd import TorchNovograd
    from utils.config import load_yaml
    from utils.trainer import TrainStep
    cfg = load_yaml(config_path)
    m = cfg.model
    blocks = [dict(block, dropout=0.0) for block in m.blocks]
    if any(block.get("separable") for block in blocks):
        raise ValueError(f"{config_path}: the NVIDIA-structured PyTorch Jasper has no separable (QuartzNet) blocks")
    activation = {"relu": "relu", "hardtanh_unit": "hardtanh"}.get(str(m.activation))
    if activation is None:
        raise ValueError(f"{config_path}: model.activation {m.activation} has no PyTorch counterpart here")
    beta1, beta2 = (float(b) for b in cfg.train.betas)
    weight_decay, clip = float(cfg.train.weight_decay), float(cfg.train.clip_grad_norm)
    in_features, num_classes = int(m.in_features), int(m.num_classes)
    librispeech = os.path.join(data_root, "LibriSpeech")
    train = librispeech_dataset(librispeech, "train-clean-100", cfg.data, manifest_dir)
    test = librispeech_dataset(librispeech, "test-clean", cfg.data, manifest_dir)
    bucket = int(cfg.data.get("bucket_frames", 16))
    features = [train.get(i) for i in range(len(train))]  # computed once: the same arrays feed both sides
    rng = np.random.default_rng(1000 + seed)
    batches = [collate([features[int(i)] for i in rng.integers(len(features), size=batch_size)], bucket)
               for _ in range(steps)]
    test_batches = [collate([test.get(i)], bucket) for i in range(len(test))]
    references = [references_of(labels, label_lengths)[0] for _, _, labels, label_lengths in test_batches]

    def test_metrics(log_probs_fn):
        hypotheses = []
        for feats, lengths, _, _ in test_batches:
            log_probs, out_lengths = log_probs_fn(feats, lengths)
            hypotheses += greedy_decode(log_probs, out_lengths)
        metrics = transcript_metrics(references, hypotheses)
        return 100.0 * metrics["cer"], 100.0 * metrics["wer"]

    seed_everything(seed)
    network = JasperNet(in_features, num_classes, blocks, activation=str(m.activation), bn_eps=float(m.bn_eps),
                        bn_momentum=float(m.bn_momentum))
    optimizer = Novograd(network.trainable_params(), learning_rate=lr, beta1=beta1, beta2=beta2,
                         weight_decay=weight_decay)
    step = TrainStep(JasperWithCTCLoss(network), optimizer, clip)
    step.set_inputs(*loss_input_specs(in_features))  # one compile for every batch shape
    ours_losses, ours_seconds = train_ours(step, batches)
    network.set_train(False)
    network.set_inputs(*input_specs(in_features))

    def ours_log_probs(feats, lengths):
        log_probs, out_lengths = network(ms.Tensor(feats), ms.Tensor(lengths))
        return log_probs.asnumpy(), out_lengths.asnumpy()
    ours_cer, ours_wer = test_metrics(ours_log_probs)

    seed_everything(seed)
    nvidia = import_reference("torch_references.nvidia_jasper")
    reference = nvidia.nvidia_init_(nvidia.Jasper(in_features, num_classes, blocks, activation))
    ctc = torch.nn.CTCLoss(blank=num_classes - 1, reduction="none", zero_infinity=True)

    def loss_fn(batch):
        feats, lengths, labels, label_lengths = batch
        log_probs, out_lengths = reference(torch.from_numpy(feats), torch.from_numpy(lengths).long())
        return ctc(log_probs.transpose(0, 1), torch.from_numpy(labels).long(), out_lengths,
                   torch.from_numpy(label_lengths).long()).mean()

    ref_losses, ref_seconds = train_torch(
        reference, loss_fn, batches,
        TorchNovograd(reference.parameters(), lr, (beta1, beta2), weight_decay=weight_decay), clip)
    reference.eval()

    def ref_log_probs(feats, lengths):
        with torch.no_grad():
            log_probs, out_lengths = reference(torch.from_numpy(feats), torch.from_numpy(lengths).long())
        return log_probs.numpy(), out_lengths.numpy()
    ref_cer, ref_wer = test_metrics(ref_log_probs)
    return dict(metric=(ours_cer, ref_cer), wer=(ours_wer, ref_wer), losses=(ours_losses, ref_losses),
                seconds=(ours_seconds, ref_seconds), n_test=len(test))


# ---- results ------------------------------------------------------------------------------------------------
METRIC_NAMES = {"tasnet": "SI-SNRi dB (higher is better)", "dprnn": "SI-SNRi dB (higher is better)",
                "ecapa": "EER % (lower is better)", "jasper": "greedy CER % (lower is better; WER in brackets)"}
BARS = {"tasnet": 0.3, "dprnn": 0.3, "ecapa": 1.0, "jasper": 2.0}  # issue 16: |mean ours - mean reference|
HIGHER_IS_BETTER = {"tasnet": True, "dprnn": True, "ecapa": False, "jasper": False}


def run_path(out_dir, model_name, seed):
    return os.path.join(out_dir, f"{model_name}_seed{seed}.json")


def load_runs(out_dir):
    """{model: [run dicts sorted by seed]} of every run file in out_dir."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*_seed*.json"))):
        with open(path, encoding="utf-8") as handle:
            run = json.load(handle)
        runs.setdefault(run["model"], []).append(run)
    return {name: sorted(runs[name], key=lambda r: r["seed"]) for name in MODELS if name in runs}


def table(runs):
    """The markdown table (per seed and means) of load_runs' result."""
    lines = ["| model | steps | seed | ours metric | reference metric | ours loss curve | reference loss curve | "
             "step s ours / ref |", "|---|---|---|---|---|---|---|---|"]

    def metric_text(run, side):
        text = f"{run['metric'][side]:.2f}"
        return text + (f" ({run['wer'][side]:.1f})" if "wer" in run else "")
    for name, model_runs in runs.items():
        for run in model_runs:
            ours_curve, ref_curve = (" ".join(f"{v:.2f}" for v in curve(losses)) for losses in run["losses"])
            lines.append(f"| {name} | {run['steps']} | {run['seed']} | {metric_text(run, 0)} | {metric_text(run, 1)} "
                         f"| {ours_curve} | {ref_curve} | {run['seconds'][0]:.3f} / {run['seconds'][1]:.3f} |")
        metrics = np.array([run["metric"] for run in model_runs])
        gap = metrics[:, 0].mean() - metrics[:, 1].mean()
        verdict = "within" if abs(gap) <= BARS[name] else "OUTSIDE"
        better = "ours better" if (gap > 0) == HIGHER_IS_BETTER[name] else "reference better"
        spread = " / ".join(f"{metrics[:, side].std(ddof=1):.2f}" for side in (0, 1)) if len(metrics) > 1 else "-"
        lines.append(f"| **{name}** | | **mean of {len(model_runs)}** | **{metrics[:, 0].mean():.2f}** | "
                     f"**{metrics[:, 1].mean():.2f}** | difference {gap:+.2f} ({better}): {verdict} the bar "
                     f"+-{BARS[name]} | {METRIC_NAMES[name]}; seed std ours / ref {spread} | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", help="folder with Libri2Mix/, VoxCeleb1/, LibriSpeech/ (the tiny corpora)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to compare")
    parser.add_argument("--steps", type=int, default=100, help="training steps per run (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: %(default)s)")
    parser.add_argument("--out_dir", default="runs/train_parity",
                        help="each run's results go to OUT_DIR/{model}_seed{seed}.json (default: %(default)s)")
    parser.add_argument("--table", action="store_true", help="only print the table of the runs saved in --out_dir")
    parser.add_argument("--torch_threads", type=int, default=1, help="torch's CPU threads (default: %(default)s)")
    parser.add_argument("--ms_threads", type=int, default=2,
                        help="MindSpore's CPU kernel threads (default: %(default)s)")
    parser.add_argument("--same_init", action="store_true",
                        help="tasnet / dprnn: ours starts from the reference's initial weights (a diagnostic)")
    parser.add_argument("--init_seed", type=int, default=None,
                        help="tasnet / dprnn: both sides draw their initial weights from this seed, the batches "
                             "stay those of --seeds (a diagnostic; use its own --out_dir)")
    parser.add_argument("--segment_seconds", type=float, default=1.0, help="separation training crops, s")
    parser.add_argument("--ecapa_crop_seconds", type=float, default=2.0, help="ECAPA training crops, s")
    parser.add_argument("--ecapa_batch_size", type=int, default=16, help="ECAPA crops per step")
    parser.add_argument("--jasper_config", default=os.path.join(ROOT, "bench", "train_parity_jasper.yaml"),
                        help="Jasper config whose model / betas / weight decay / clipping both sides use (default: "
                             "jasper/config.yaml with half the filters)")
    parser.add_argument("--jasper_batch_size", type=int, default=16, help="Jasper utterances per step")
    parser.add_argument("--jasper_lr", type=float, default=0.02, help="Jasper's constant learning rate")
    args = parser.parse_args()
    if args.table:
        print(table(load_runs(args.out_dir)))
        return
    if not args.data_root:
        parser.error("--data_root is required to train (only --table reads saved runs)")
    import mindspore as ms
    import torch
    from utils.context import init_context
    torch.set_num_threads(args.torch_threads)
    init_context("CPU", seed=0)
    ms.device_context.cpu.op_tuning.threads_num(args.ms_threads)
    os.makedirs(args.out_dir, exist_ok=True)
    for model_name in args.models:
        for seed in args.seeds:
            started = time.time()
            if model_name == "ecapa":
                result = ecapa_case(args.data_root, seed, args.steps, args.ecapa_crop_seconds, args.ecapa_batch_size)
            elif model_name == "jasper":
                result = jasper_case(args.data_root, seed, args.steps, args.jasper_config, args.jasper_batch_size,
                                     args.jasper_lr, os.path.join(args.out_dir, "manifests"))
            else:
                result = separation_case(model_name, args.data_root, seed, args.steps, args.segment_seconds,
                                         args.same_init, args.init_seed)
                result.update(init_seed=seed if args.init_seed is None else args.init_seed)
            result.update(model=model_name, seed=seed, steps=args.steps, wall_seconds=time.time() - started,
                          same_init=bool(args.same_init and model_name in ("tasnet", "dprnn")),
                          threads=dict(torch=args.torch_threads, mindspore=args.ms_threads))
            with open(run_path(args.out_dir, model_name, seed), "w", encoding="utf-8") as handle:
                json.dump(result, handle)
            print(f"{model_name} seed {seed}: metric ours / reference {result['metric']}, "
                  f"wall {result['wall_seconds']:.0f} s", flush=True)
    print(table(load_runs(args.out_dir)))


if __name__ == "__main__":
    main()
