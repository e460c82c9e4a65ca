"""Training parity with NVIDIA's Jasper recipe: the NVIDIA-structured PyTorch Jasper (torch_references/nvidia_jasper.py:
masked convolutions, dense residuals, BatchNorm in train mode) + torch CTC (reduction none, batch mean: NVIDIA's
CTCLossNM) + Novograd written in torch from DeepLearningExamples' definition (torch_references/novograd.py),
against our JasperNet + JasperWithCTCLoss + Novograd + TrainStep: K steps from the same weights on the same batches
(utterances of different lengths, so the masks matter) land on the same weights and BatchNorm running statistics."""
import copy

import numpy as np
import pytest

from tests import training_parity as parity

torch = pytest.importorskip("torch")

from torch_references import nvidia_jasper as ref  # noqa: E402
from torch_references.novograd import TorchNovograd  # noqa: E402

BLOCKS = [dict(filters=16, repeat=1, kernel=11, stride=2, dilation=1, dropout=0.0, residual=False),
          dict(filters=16, repeat=2, kernel=5, stride=1, dilation=1, dropout=0.0, residual=True, residual_dense=True),
          dict(filters=24, repeat=2, kernel=7, stride=1, dilation=1, dropout=0.0, residual=True, residual_dense=True),
          dict(filters=24, repeat=1, kernel=9, stride=1, dilation=2, dropout=0.0, residual=False),
          dict(filters=32, repeat=1, kernel=1, stride=1, dilation=1, dropout=0.0, residual=False)]
N_MELS, N_CLASSES, STEPS = 64, 29, 3
LR, BETAS, WEIGHT_DECAY, CLIP = 0.01, (0.95, 0.0), 1e-3, 1.0


def batches(rng, count, batch=3, frames=64):
    """(feats [B, 64, F] zero past each length, lengths [B], labels [B, L] (ours, blank last), label lengths [B])."""
    out = []
    for _ in range(count):
        lengths = np.array([frames, frames - 9, frames - 20], np.int32)[:batch]
        feats = rng.standard_normal((batch, N_MELS, frames)).astype(np.float32)
        feats *= (np.arange(frames)[None, None] < lengths[:, None, None])
        label_lengths = np.array([6, 4, 5], np.int32)[:batch]
        labels = np.zeros((batch, 6), np.int32)
        for b, size in enumerate(label_lengths):
            labels[b, :size] = rng.integers(0, N_CLASSES - 1, size)
        out.append((feats, lengths, labels, label_lengths))
    return out


@pytest.mark.slow
def test_three_novograd_ctc_steps_match_nvidia_jasper():
    parity.torch_threads()
    import mindspore as ms
    from jasper.convert_nvidia import class_order, infer_architecture, map_parameters, merge_template
    from jasper.src.network import JasperNet, JasperWithCTCLoss
    from jasper.src.novograd import Novograd
    from utils.context import init_context
    from utils.schedules import warmup_hold_decay
    from utils.trainer import TrainStep

    init_context("CPU", seed=0)
    reference = ref.randomize_(ref.Jasper(N_MELS, N_CLASSES, BLOCKS), torch.Generator().manual_seed(0))
    data = batches(np.random.default_rng(0), STEPS)
    lr_schedule = warmup_hold_decay(LR, total_steps=6, warmup_steps=1, hold_steps=1, decay="poly")
    order = np.array(class_order(N_CLASSES, "reference"))  # our class c is NVIDIA's row order[c]

    start = {name: value.numpy() for name, value in reference.state_dict().items()}
    in_features, num_classes, inferred = infer_architecture(start, "reference")
    network = JasperNet(in_features, num_classes, merge_template(inferred, BLOCKS, "reference", "BLOCKS"),
                        bn_eps=1e-3, bn_momentum=0.9)
    for name, array in map_parameters(start, network, "reference").items():
        network.parameters_dict()[name].set_data(ms.Tensor(array))
    optimizer = Novograd(network.trainable_params(), learning_rate=LR, beta1=BETAS[0], beta2=BETAS[1],
                         weight_decay=WEIGHT_DECAY)
    step = TrainStep(JasperWithCTCLoss(network), optimizer, CLIP)
    step.set_train(True)
    ours_losses = parity.ours_train(step, optimizer, data, lr_schedule)
    ours = {p.name: p.asnumpy() for p in network.get_parameters()}

    ctc = torch.nn.CTCLoss(blank=N_CLASSES - 1, reduction="none")
    runs = {}
    for dtype in (torch.float32, torch.float64):
        model = copy.deepcopy(reference).to(dtype)

        def loss_fn(model, batch, dtype=dtype):
            feats, lengths, labels, label_lengths = batch
            log_probs, out_lengths = model(torch.from_numpy(feats).to(dtype), torch.from_numpy(lengths).long())
            targets = torch.from_numpy(order[labels]).long()
            return ctc(log_probs.transpose(0, 1), targets, out_lengths, torch.from_numpy(label_lengths).long()).mean()

        losses, state, norms = parity.torch_train(
            model, loss_fn, data, lambda params: TorchNovograd(params, LR, BETAS, weight_decay=WEIGHT_DECAY), CLIP,
            lr_schedule)
        runs[dtype] = losses, map_parameters(state, network, "reference"), norms
    (losses32, state32, norms), (losses64, state64, _) = runs[torch.float32], runs[torch.float64]
    distances = parity.compare(ours, state32, state64)
    print(parity.summary(f"Jasper {STEPS} Novograd steps", distances, (ours_losses, losses32, losses64)),
          "; grad norms", np.round(norms, 3), "; lrs", [lr_schedule(k) for k in range(STEPS)])
    assert sum("moving_variance" in name for name in distances) == sum("norm.gamma" in name for name in ours) > 0
    assert (norms > CLIP).any(), f"clipping never active: gradient norms {norms}"
    assert not parity.loss_failures((ours_losses, losses32, losses64)), (ours_losses, losses32, losses64)
    assert not parity.failures(distances), parity.failures(distances)


def test_initial_weights_follow_nvidia():
    parity.torch_threads()
    from jasper.convert_nvidia import infer_architecture, map_parameters, merge_template
    from jasper.src.network import JasperNet
    torch.manual_seed(0)
    blocks = [dict(block, filters=4 * block["filters"]) for block in BLOCKS]
    reference = ref.nvidia_init_(ref.Jasper(N_MELS, N_CLASSES, blocks))
    start = {name: value.numpy() for name, value in reference.state_dict().items()}
    in_features, num_classes, inferred = infer_architecture(start, "reference")
    network = JasperNet(in_features, num_classes, merge_template(inferred, blocks, "reference", "blocks"))
    problems, compared = parity.init_mismatches({p.name: p.asnumpy() for p in network.get_parameters()},
                                                map_parameters(start, network, "reference"))
    assert compared >= 8 and not problems, problems
