"""Training parity on the tiny corpora: each model trained N steps by our recipe and by its PyTorch reference with the
same settings, test metric and loss curve side by side, over several seeds (a table; not a test).

    python bench/train_parity.py --data_root data/tiny [--models tasnet dprnn ecapa] [--steps 100] [--seeds 0 1 2]

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
Needs torch, asteroid, speechbrain (requirements-reference.txt). Loss curve: the mean training loss over each fifth
of the steps.
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spinning OpenMP threads crawl here
import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402

MODELS = ("tasnet", "dprnn", "ecapa")
CURVE_POINTS = 5


def import_reference(name):
    """A reference package, with a stand-in ``torchaudio`` (asteroid/speechbrain import it at import time)."""
    import importlib
    import types
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__version__ = "0.0.0+stand-in"
        sys.modules["torchaudio"] = stand_in
    return importlib.import_module(name)


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
    losses, times = [], []
    for batch in batches:
        started = time.perf_counter()
        losses.append(float(step_cell(*[ms.Tensor(a) for a in batch]).asnumpy()))
        times.append(time.perf_counter() - started)
    return losses, float(np.median(times[1:] or times))


def train_torch(model, loss_fn, batches, lr, weight_decay, clip):
    import torch
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    losses, times = [], []
    for batch in batches:
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(float(loss.detach()))
        times.append(time.perf_counter() - started)
    return losses, float(np.median(times[1:] or times))


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


def separation_case(model_name, data_root, seed, steps, segment):
    import mindspore as ms
    import torch
    from utils.config import load_yaml
    from utils.metrics import pit, si_snr
    from utils.separation.convert_asteroid import MODEL_CONFIGS
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

    seed_everything(seed)
    network = network_class(**MODEL_CONFIGS[asteroid_name](args))
    step = TrainStep(SeparationLossCell(network, neg_sisnr_pit_loss(n_src)),
                     build_optimizer(network.trainable_params(), {"lr": lr, "weight_decay": weight_decay}), clip)
    ours_losses, ours_seconds = train_ours(step, batches)
    network.set_train(False)
    network.set_inputs(mixture_spec())
    ours_metric = test_si_snri(lambda mixture: network(ms.Tensor(mixture[None])).asnumpy()[0])

    seed_everything(seed)
    models = import_reference("asteroid.models")
    losses_module = import_reference("asteroid.losses")
    reference = getattr(models, asteroid_name)(**args)
    pit_loss = losses_module.PITLossWrapper(losses_module.pairwise_neg_sisdr, pit_from="pw_mtx")
    ref_losses, ref_seconds = train_torch(
        reference, lambda b: pit_loss(reference(torch.from_numpy(b[0])), torch.from_numpy(b[1])), batches, lr,
        weight_decay, clip)
    reference.eval()
    with torch.no_grad():
        ref_metric = test_si_snri(lambda mixture: reference(torch.from_numpy(mixture[None])).numpy()[0])
    return dict(metric=(ours_metric, ref_metric), curves=(curve(ours_losses), curve(ref_losses)),
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

    ref_losses, ref_seconds = train_torch(model, loss_fn, batches, lr, weight_decay, clip)
    model.eval()

    def embed(features, lengths):
        with torch.no_grad():
            return reference(torch.from_numpy(features.transpose(0, 2, 1).copy()))[:, 0].numpy()
    ref_metric = test_eer(embed)
    return dict(metric=(ours_metric, ref_metric), curves=(curve(ours_losses), curve(ref_losses)),
                seconds=(ours_seconds, ref_seconds), n_test=len(trials))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", required=True, help="folder with Libri2Mix/ and VoxCeleb1/ (the tiny corpora)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to compare")
    parser.add_argument("--steps", type=int, default=100, help="training steps per run (default: %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default: %(default)s)")
    parser.add_argument("--segment_seconds", type=float, default=1.0, help="separation training crops, s")
    parser.add_argument("--ecapa_crop_seconds", type=float, default=2.0, help="ECAPA training crops, s")
    parser.add_argument("--ecapa_batch_size", type=int, default=16, help="ECAPA crops per step")
    args = parser.parse_args()
    import torch
    from utils.context import init_context
    torch.set_num_threads(1)
    init_context("CPU", seed=0)
    rows = []
    for model_name in args.models:
        for seed in args.seeds:
            if model_name == "ecapa":
                result = ecapa_case(args.data_root, seed, args.steps, args.ecapa_crop_seconds, args.ecapa_batch_size)
            else:
                result = separation_case(model_name, args.data_root, seed, args.steps, args.segment_seconds)
            print(f"{model_name} seed {seed}: {result}", flush=True)
            rows.append((model_name, seed, result))
    print(f"\n{args.steps} steps per run; metric: SI-SNRi (dB, higher is better) for tasnet/dprnn, EER (%, lower is "
          f"better) for ecapa; loss: mean over each fifth of the run\n")
    print("| model | seed | ours metric | reference metric | ours loss curve | reference loss curve | step s ours / ref |")
    print("|---|---|---|---|---|---|---|")
    for model_name, seed, result in rows:
        ours_curve, ref_curve = (" ".join(f"{v:.2f}" for v in c) for c in result["curves"])
        print(f"| {model_name} | {seed} | {result['metric'][0]:.2f} | {result['metric'][1]:.2f} | {ours_curve} | "
              f"{ref_curve} | {result['seconds'][0]:.2f} / {result['seconds'][1]:.2f} |")
    for model_name in args.models:
        metrics = np.array([r["metric"] for name, _, r in rows if name == model_name])
        print(f"| {model_name} | mean | {metrics[:, 0].mean():.2f} | {metrics[:, 1].mean():.2f} | "
              f"difference {metrics[:, 0].mean() - metrics[:, 1].mean():+.2f} | | |")


if __name__ == "__main__":
    main()
