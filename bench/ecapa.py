"""ECAPA-TDNN speed: train-step time and embedding real-time factor per config, as a table.

    python bench/ecapa.py [--configs config.yaml config_c512.yaml config_c1024.yaml] [--batch_size 32]
                          [--crop_seconds 2.0] [--utterance_seconds 8.0] [--repeats 3]

train step: one compiled forward + backward + Adam update of ECAPA-TDNN + AAM head (1211 classes, as
VoxCeleb1 dev) on ``batch_size`` crops of ``crop_seconds``; median of ``repeats`` after the compile.
embedding RTF: seconds of network compute per second of audio for one utterance of ``utterance_seconds``
(features precomputed; < 1 is faster than real time). The machine is shared: numbers vary with its load.

SpeechBrain's ECAPA_TDNN (PyTorch) is measured the same way when ``torch`` and ``speechbrain`` import;
otherwise its columns say why they are empty.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.common import time_calls  # noqa: E402

import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

FRAMES_PER_SECOND = 100
N_CLASSES = 1211


def measure_mindspore(model_cfg, batch, crop_frames, utterance_frames, repeats):
    import mindspore as ms
    from mindspore import nn

    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN, count_parameters, dynamic_inputs

    rng = np.random.default_rng(0)
    network = ECAPATDNN(**model_cfg)
    head = AAMSoftmaxHead(int(model_cfg["embedding_dim"]), N_CLASSES)
    with_loss = SpeakerClassifierWithLoss(network, head)
    step = nn.TrainOneStepCell(with_loss, nn.Adam(with_loss.trainable_params(), learning_rate=1e-4))
    step.set_train()
    inputs = (ms.Tensor(rng.standard_normal((batch, model_cfg["input_dim"], crop_frames)).astype(np.float32)),
              ms.Tensor(np.full(batch, crop_frames, np.int32)),
              ms.Tensor(rng.integers(0, N_CLASSES, batch).astype(np.int32)))
    compile_s, step_s = time_calls(lambda: step(*inputs).asnumpy(), repeats)
    network.set_train(False)
    dynamic_inputs(network)
    utterance = (ms.Tensor(rng.standard_normal((1, model_cfg["input_dim"], utterance_frames)).astype(np.float32)),
                 ms.Tensor(np.array([utterance_frames], np.int32)))
    _, embed_s = time_calls(lambda: network(*utterance).asnumpy(), repeats)
    return {"params_m": count_parameters(network) / 1e6, "step_s": step_s, "compile_s": compile_s,
            "rtf": embed_s / (utterance_frames / FRAMES_PER_SECOND)}


def measure_speechbrain(model_cfg, batch, crop_frames, utterance_frames, repeats):
    """The same measurements for SpeechBrain's ECAPA_TDNN, or a string saying why not."""
    try:
        import torch
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN
    except Exception as error:  # noqa: BLE001  (any import failure means: not measurable here)
        return f"not measured: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
    torch.manual_seed(0)
    model = ECAPA_TDNN(model_cfg["input_dim"], channels=model_cfg["channels"], kernel_sizes=model_cfg["kernel_sizes"],
                       dilations=model_cfg["dilations"], attention_channels=model_cfg["attention_channels"],
                       res2net_scale=model_cfg["res2net_scale"], se_channels=model_cfg["se_channels"],
                       global_context=model_cfg["global_context"], lin_neurons=model_cfg["embedding_dim"])
    weight = torch.nn.Parameter(torch.randn(N_CLASSES, model_cfg["embedding_dim"]))
    optimizer = torch.optim.Adam(list(model.parameters()) + [weight], lr=1e-4)
    feats = torch.randn(batch, crop_frames, model_cfg["input_dim"])  # SpeechBrain takes [B, T, F]
    labels = torch.randint(0, N_CLASSES, (batch,))

    def train_step():
        optimizer.zero_grad()
        embedding = model(feats).squeeze(1)
        logits = 30.0 * torch.nn.functional.normalize(embedding) @ torch.nn.functional.normalize(weight).T
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()

    compile_s, step_s = time_calls(train_step, repeats)
    model.eval()
    utterance = torch.randn(1, utterance_frames, model_cfg["input_dim"])
    with torch.no_grad():
        _, embed_s = time_calls(lambda: model(utterance), repeats)
    return {"step_s": step_s, "compile_s": compile_s, "rtf": embed_s / (utterance_frames / FRAMES_PER_SECOND)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["config.yaml", "config_c512.yaml", "config_c1024.yaml"],
                        help="config files under ecapa_tdnn/ (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=32, help="training crops per step (default: 32)")
    parser.add_argument("--crop_seconds", type=float, default=2.0, help="training crop length (default: 2.0)")
    parser.add_argument("--utterance_seconds", type=float, default=8.0,
                        help="utterance length for the embedding RTF (default: 8.0, VoxCeleb1 test mean)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first (default: 3)")
    args = parser.parse_args(argv)

    from utils.config import load_config
    from utils.context import init_context
    init_context("CPU", seed=0)
    crop_frames = int(args.crop_seconds * FRAMES_PER_SECOND) + 1
    utterance_frames = int(args.utterance_seconds * FRAMES_PER_SECOND) + 1
    rows = []
    for name in tqdm(args.configs, desc="configs"):
        model_cfg = load_config(os.path.join(ROOT, "ecapa_tdnn", name)).model.to_dict()
        ours = measure_mindspore(model_cfg, args.batch_size, crop_frames, utterance_frames, args.repeats)
        theirs = measure_speechbrain(model_cfg, args.batch_size, crop_frames, utterance_frames, args.repeats)
        rows.append((name, model_cfg["channels"], ours, theirs))

    print(f"\nECAPA-TDNN on CPU: train step = batch {args.batch_size} x {args.crop_seconds:g} s crops "
          f"(+ AAM head, {N_CLASSES} classes); embedding RTF on one {args.utterance_seconds:g} s utterance\n")
    print("| config | channels | params (M) | compile (s) | train step (s) | embedding RTF | "
          "SpeechBrain step (s) | SpeechBrain RTF | step ratio MS/SB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, channels, ours, theirs in rows:
        if isinstance(theirs, dict):
            sb = f"{theirs['step_s']:.2f} | {theirs['rtf']:.4f} | {ours['step_s'] / theirs['step_s']:.2f}"
        else:
            sb = f"{theirs} | - | -"
        print(f"| {name} | {channels[0]}/{channels[-1]} | {ours['params_m']:.2f} | {ours['compile_s']:.1f} | "
              f"{ours['step_s']:.2f} | {ours['rtf']:.4f} | {sb} |")


if __name__ == "__main__":
    main()
