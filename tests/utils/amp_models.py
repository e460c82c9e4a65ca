"""Mixed-precision training checks shared by the model tests: one small model of each kind, one fixed batch
from the tiny corpora, trained through the shared Trainer at a given ``amp_level`` from the same seed."""
import glob
import os

import numpy as np

import mindspore as ms

from utils.checkpoint import load_network, read_checkpoint
from utils.context import init_context
from utils.trainer import Trainer

STEPS = 32
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RepeatLoader:
    """The same batch ``steps`` times: an overfitting run (the BatchLoader interface the Trainer uses)."""

    def __init__(self, batch, steps):
        self.batch, self.steps = batch, steps

    def __len__(self):
        return self.steps

    def iterate(self, epoch, start_batch=0):
        for _ in range(start_batch, self.steps):
            yield self.batch

    def shard(self, epoch):
        return list(range(self.steps))


# ---- one small model per kind: build() -> (network, loss cell, input specs), batch(root) -> arrays ----------
def separation_batch(root):
    from utils.separation.data import SeparationDataset, collate, find_items
    items = find_items(os.path.join(root, "Libri2Mix"), "train", 8000, "min", "mix_clean")
    dataset = SeparationDataset(items, 8000, segment_seconds=0.5, seed=0)
    return collate([dataset.get(i, np.random.default_rng(i)) for i in range(2)])


def separation_model(name, network_class, **model):
    """build() of a small separation model; ``build.config`` is the model's config.yaml with ``model``
    overridden, stored in the checkpoints so eval.py / export.py can take them."""
    from utils.config import load_config
    config = load_config(os.path.join(ROOT, name, "config.yaml")).to_dict()
    config["model"].update(model)

    def build():
        from utils.separation.loss import SeparationLossCell, neg_sisnr_pit_loss
        from utils.separation.separate import training_specs
        network = network_class(**config["model"])
        return network, SeparationLossCell(network, neg_sisnr_pit_loss(2)), training_specs(2)
    build.config = config
    return build


def tasnet():
    from tasnet.src.network import TasNet
    return separation_model("tasnet", TasNet, n_filters=32, hidden_size=16, n_layers=1)


def dprnn():
    from dprnn.src.network import DPRNN
    return separation_model("dprnn", DPRNN, n_filters=16, bn_chan=16, hid_size=16, n_repeats=1, chunk_size=20)


def ecapa_batch(root):
    from ecapa_tdnn.src.dataset import VoxCelebTrainSet, collate
    dataset = VoxCelebTrainSet(os.path.join(root, "VoxCeleb1", "dev", "wav"), 16000, crop_seconds=(0.5, 0.8))
    picked = list(range(0, len(dataset), max(1, len(dataset) // 8)))[:8]  # several speakers
    return collate([dataset.get(i, np.random.default_rng(i)) for i in picked])


def ecapa():
    def build():
        from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
        from ecapa_tdnn.src.network import ECAPATDNN
        network = ECAPATDNN(input_dim=80, channels=[32, 32, 32, 32, 96], attention_channels=16, se_channels=8,
                            res2net_scale=2,
                            embedding_dim=16)
        with_loss = SpeakerClassifierWithLoss(network, AAMSoftmaxHead(16, 40, margin=0.2, scale=30.0))
        specs = [ms.Tensor(shape=[None, 80, None], dtype=ms.float32), ms.Tensor(shape=[None], dtype=ms.int32),
                 ms.Tensor(shape=[None], dtype=ms.int32)]
        return network, with_loss, specs
    return build


def jasper_batch(root):
    from jasper.src.dataset import collate
    from jasper.src.text import encode
    from utils.audio import read_audio
    from utils.features import LogMelExtractor
    extractor, items = LogMelExtractor(), []
    for transcript in sorted(glob.glob(os.path.join(root, "LibriSpeech", "train-clean-100", "*", "*", "*.trans.txt"))):
        folder = os.path.dirname(transcript)
        for line in open(transcript, encoding="utf-8"):
            name, text = line.strip().split(" ", 1)
            wave = read_audio(os.path.join(folder, name + ".flac"), 16000)[0]
            if len(wave) < 3 * 16000:
                items.append((extractor(wave), np.array(encode(text.lower()), np.int32)))
            if len(items) == 4:
                return collate(items)
    raise AssertionError("the tiny LibriSpeech has no 4 short training utterances")


def jasper():
    def build():
        from jasper.src.network import JasperNet, JasperWithCTCLoss, loss_input_specs
        blocks = [dict(filters=64, kernel=11, stride=2), dict(filters=64, kernel=11, repeat=2, residual=True),
                  dict(filters=96, kernel=1)]
        network = JasperNet(in_features=64, blocks=blocks)
        return network, JasperWithCTCLoss(network), loss_input_specs(64)
    return build


# ---- the runs -------------------------------------------------------------------------------------------
def train_at(level, build, batch, out, lr, steps=STEPS, seed=0, dynamic=False, **train):
    """Train ``steps`` steps on ``batch`` at ``level`` from ``seed``; returns the Trainer. dynamic: compile
    for dynamic batch / length as train.py does (slower to compile); else for the batch's static shapes."""
    init_context("CPU", seed=seed)
    network, with_loss, specs = build()
    cfg = dict(epochs=1, lr=lr, clip_grad_norm=5.0, amp_level=level, **train)
    config = {**getattr(build, "config", {}), "train": cfg}
    trainer = Trainer(with_loss, network, RepeatLoader(batch, steps), None, cfg, str(out),
                      input_specs=specs if dynamic else None,
                      optimizer=None if list(with_loss.trainable_params()) == list(network.trainable_params())
                      else _adam(with_loss, lr), config=config)
    trainer.fit()
    return trainer


def _adam(with_loss, lr):
    from utils.trainer import build_optimizer
    return build_optimizer(with_loss.trainable_params(), {"lr": lr})


def fp32_loss_of_checkpoint(build, path, batch, seed=0):
    """Rebuild the model in float32 (O0), load ``path`` into its network (strict) and compute the loss on
    ``batch`` in train mode (BatchNorm on batch statistics, as during training)."""
    init_context("CPU", seed=seed)
    network, with_loss, _ = build()
    params, _ = read_checkpoint(path)
    stored = {name: value.dtype for name, value in params.items() if value.dtype not in (ms.float32, ms.int32)}
    assert not stored, f"{path} holds tensors that are not float32: {stored}"
    load_network(path, network)
    for param in with_loss.get_parameters():  # the head (ECAPA) lives beside the network
        if param.name in params and param.name not in {p.name for p in network.get_parameters()}:
            param.set_data(params[param.name])
    with_loss.set_train(True)
    ms.set_context(mode=ms.PYNATIVE_MODE)  # one forward pass: no graph to compile
    try:
        return float(with_loss(*[ms.Tensor(a) for a in batch]).asnumpy())
    finally:
        ms.set_context(mode=ms.GRAPH_MODE)


def check_amp_training_matches_fp32(build, batch, tmp_path, lr, levels=("O2",), tolerance=0.02, min_drop=0.3,
                                    dynamic=False):
    """One O0 run and one run per level of ``levels``, from one seed on one batch.

    A step whose gradients overflow float16 is skipped (the dynamic scale starts at 2^16 and halves), so
    a low-precision run after k applied updates is compared with the O0 run after k updates: the same
    trajectory up to float16 rounding. Its last loss must be within ``tolerance`` x (the O0 run's loss drop)
    of the O0 loss after as many updates; every run must lower the loss (O0 by ``min_drop`` of its start).
    The checkpoint holds float32 only and gives the same loss in a float32 network. dynamic: see ``train_at``.
    Returns the numbers.
    """
    fp32 = train_at("O0", build, batch, tmp_path / "O0", lr, dynamic=dynamic)
    start, end = fp32.step_losses[0], fp32.step_losses[-1]
    drop = start - end
    print(f"O0 {np.round(fp32.step_losses, 3).tolist()}")
    assert drop > min_drop * abs(start), f"the O0 run does not learn: {fp32.step_losses}"
    results = {}
    for level in levels:
        low = train_at(level, build, batch, tmp_path / level, lr, dynamic=dynamic)
        skipped = low.overflow_steps
        numbers = dict(start=start, start_low=low.step_losses[0], end_fp32=end, end_low=low.step_losses[-1],
                       fp32_after_same_updates=fp32.step_losses[-1 - skipped], overflows=skipped,
                       scale=low.loss_scale())
        print(f"{level} {np.round(low.step_losses, 3).tolist()}")
        assert low.step_losses[-1] < start - 0.5 * drop, numbers  # it learns too, despite the skipped steps
        # same seed, same weights: the first losses differ only by float16 rounding
        assert abs(low.step_losses[0] - start) < tolerance * drop, numbers
        assert abs(numbers["end_low"] - numbers["fp32_after_same_updates"]) < tolerance * drop, numbers
        assert skipped <= 8 and low.loss_scale() >= 2.0 ** 8, numbers  # the scale settles after a few halvings
        reloaded = fp32_loss_of_checkpoint(build, str(tmp_path / level / "last.ckpt"), batch)
        numbers["reloaded_fp32"] = reloaded
        # the checkpoint holds the weights after the last step: its loss is one update further than end_low
        step_change = abs(fp32.step_losses[-1 - skipped] - fp32.step_losses[-2 - skipped])
        assert abs(reloaded - numbers["end_low"]) < step_change + tolerance * drop, numbers
        print(f"{level}: {numbers}")
        results[level] = numbers
    return results


# ---- fp16 export of a trained checkpoint ------------------------------------------------------------------
def separation_export():
    from utils.separation.separate import mixture_spec

    def make_inputs(batch, length):
        return [0.1 * np.random.default_rng(0).standard_normal((batch, length)).astype(np.float32)]
    return [mixture_spec()], make_inputs, 8000


def features_export(specs):
    def make_inputs(batch, frames):
        return [np.random.default_rng(0).standard_normal((batch, int(specs[0].shape[1]), frames)).astype(np.float32),
                np.full(batch, frames, np.int32)]
    return specs, make_inputs, 200


def ecapa_export():
    from ecapa_tdnn.src.verification import embedding_input_specs
    return features_export(embedding_input_specs(80))


def jasper_export():
    from jasper.src.network import input_specs
    return features_export(input_specs(64))


def fp16_export_error(build, export, ckpt, work):
    """Export the float32 network of ``ckpt`` as an fp16 MINDIR; returns its measured max relative error
    and the description (NAME.json)."""
    from utils.export import export_network
    init_context("CPU", seed=0)
    network = build()[0]
    load_network(ckpt, network)
    specs, make_inputs, length = export
    network.set_inputs(*specs)
    _, description = export_network(network, specs, str(work / "fp16"), "MINDIR", make_inputs,
                                    example_length=length, precision="fp16")
    return description["fp16_max_relative_error"], description
