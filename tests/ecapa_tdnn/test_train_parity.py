"""Training parity with SpeechBrain: ECAPA_TDNN + Classifier + LogSoftmaxWrapper(AdditiveAngularMargin(0.2, 30)) +
torch Adam (L2 decay on every parameter) + clip_grad_norm_ + a cyclic LR, BatchNorm in train mode, against our
ECAPATDNN + AAMSoftmaxHead + build_optimizer + TrainStep: K steps from the same weights on the same batches land on
the same weights and BatchNorm running statistics."""
import copy

import numpy as np
import pytest

from tests import training_parity as parity
from tests.reference import import_reference

SIZES = dict(channels=[32, 32, 32, 32, 96], lin_neurons=16, attention_channels=8, se_channels=8)
N_SPEAKERS, BATCH, FRAMES, STEPS = 5, 4, 50, 3
MARGIN, SCALE, WEIGHT_DECAY, CLIP = 0.2, 30.0, 2e-6, 5.0
# triangular cycle 1e-4 -> 2e-3 over 2 steps: the LR changes at every step
CYCLIC = dict(lr=2e-3, base_lr=1e-4, cyclic_step_epochs=2.0, lr_schedule="cyclic")


@pytest.mark.slow
def test_three_training_steps_match_speechbrain():
    torch = parity.torch_threads()
    import mindspore as ms
    from ecapa_tdnn.convert_speechbrain import infer_architecture, map_parameters
    from ecapa_tdnn.src.loss import AAMSoftmaxHead, SpeakerClassifierWithLoss
    from ecapa_tdnn.src.network import ECAPATDNN
    from ecapa_tdnn.src.training import build_lr_schedule
    from utils.context import init_context
    from utils.trainer import TrainStep, build_optimizer

    ecapa = import_reference("speechbrain.lobes.models.ECAPA_TDNN")
    losses_module = import_reference("speechbrain.nnet.losses")
    schedulers = import_reference("speechbrain.nnet.schedulers")
    init_context("CPU", seed=0)
    torch.manual_seed(0)
    reference, classifier = ecapa.ECAPA_TDNN(80, **SIZES), ecapa.Classifier(SIZES["lin_neurons"],
                                                                             out_neurons=N_SPEAKERS)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((BATCH, 80, FRAMES)).astype(np.float32), np.full(BATCH, FRAMES, np.int32),
                rng.integers(0, N_SPEAKERS, BATCH).astype(np.int32)) for _ in range(STEPS)]
    lr_schedule = build_lr_schedule(CYCLIC, steps_per_epoch=1)
    # SpeechBrain's CyclicLRScheduler sets the LR of step k >= 1 in on_batch_end (step 0 runs at the optimizer's
    # initial LR): the same triangle from step 1 on
    speechbrain_cycle = schedulers.CyclicLRScheduler(base_lr=1e-4, max_lr=2e-3, step_size=2)
    assert [speechbrain_cycle.clr(k) for k in range(1, 8)] == pytest.approx([lr_schedule(k) for k in range(1, 8)])

    # ours, from the reference's weights through the converter's mapping
    start = {name: value.numpy() for name, value in reference.state_dict().items()}
    network = ECAPATDNN(**infer_architecture(start, "reference"), dilations=[1, 2, 3, 4, 1])
    head = AAMSoftmaxHead(SIZES["lin_neurons"], N_SPEAKERS, MARGIN, SCALE)
    with_loss = SpeakerClassifierWithLoss(network, head)
    shapes = {p.name: p.shape for p in network.get_parameters()}
    for name, array in map_parameters(start, shapes, "reference").items():
        network.parameters_dict()[name].set_data(ms.Tensor(array))
    head.weight.set_data(ms.Tensor(classifier.weight.detach().numpy()))
    optimizer = build_optimizer(with_loss.trainable_params(), {"optimizer": "adam", "lr": CYCLIC["lr"],
                                                               "weight_decay": WEIGHT_DECAY})
    step = TrainStep(with_loss, optimizer, CLIP)
    step.set_train(True)
    ours_losses = parity.ours_train(step, optimizer, batches, lr_schedule)
    ours = {p.name: p.asnumpy() for p in with_loss.get_parameters() if p.name != "head.margin"}

    criterion = losses_module.LogSoftmaxWrapper(losses_module.AdditiveAngularMargin(margin=MARGIN, scale=SCALE))
    runs = {}
    for dtype in (torch.float32, torch.float64):
        model = torch.nn.ModuleDict({"embedding": copy.deepcopy(reference), "classifier": copy.deepcopy(classifier)})
        model.to(dtype)

        def loss_fn(model, batch, dtype=dtype):
            features, _, labels = batch
            embeddings = model["embedding"](torch.from_numpy(features.transpose(0, 2, 1).copy()).to(dtype))
            return criterion(model["classifier"](embeddings), torch.from_numpy(labels.astype(np.int64))[:, None])

        losses, state, norms = parity.torch_train(
            model, loss_fn, batches, lambda params: torch.optim.Adam(params, lr=CYCLIC["lr"], weight_decay=WEIGHT_DECAY),
            CLIP, lr_schedule)
        embedding_state = {name[len("embedding."):]: value for name, value in state.items()
                           if name.startswith("embedding.")}
        mapped = map_parameters(embedding_state, shapes, "reference")
        mapped = {name: value.astype(np.float64) for name, value in mapped.items()}
        mapped["head.weight"] = state["classifier.weight"]
        runs[dtype] = losses, mapped, norms
    (losses32, state32, norms), (losses64, state64, _) = runs[torch.float32], runs[torch.float64]
    # map_parameters casts to float32: take the float64 run's values before that cast for the reference
    distances = parity.compare(ours, state32, state64)
    print(parity.summary(f"ECAPA-TDNN {STEPS} steps", distances, (ours_losses, losses32, losses64)),
          "; grad norms", np.round(norms, 3), "; lrs", [round(lr_schedule(k), 6) for k in range(STEPS)])
    statistics = [name for name in distances if "moving" in name]
    assert len(statistics) == 2 * sum("moving_mean" in name for name in ours) > 0
    assert (norms > CLIP).any(), f"clipping never active: gradient norms {norms}"
    assert not parity.loss_failures((ours_losses, losses32, losses64)), (ours_losses, losses32, losses64)
    assert not parity.failures(distances), parity.failures(distances)


def test_initial_weights_follow_speechbrain():
    """Fresh weights have SpeechBrain's statistics: torch-default convs and biases, BatchNorm ones / zeros / 0 / 1,
    xavier-uniform AAM classifier."""
    torch = parity.torch_threads()
    from ecapa_tdnn.convert_speechbrain import infer_architecture, map_parameters
    from ecapa_tdnn.src.loss import AAMSoftmaxHead
    from ecapa_tdnn.src.network import ECAPATDNN
    ecapa = import_reference("speechbrain.lobes.models.ECAPA_TDNN")
    torch.manual_seed(0)
    sizes = dict(channels=[128, 128, 128, 128, 384], lin_neurons=64, attention_channels=32, se_channels=32)
    reference, classifier = ecapa.ECAPA_TDNN(80, **sizes), ecapa.Classifier(64, out_neurons=40)
    start = {name: value.numpy() for name, value in reference.state_dict().items()}
    network = ECAPATDNN(**infer_architecture(start, "reference"))
    head = AAMSoftmaxHead(64, 40)
    ours = {p.name: p.asnumpy() for p in network.get_parameters()}
    expected = map_parameters(start, {name: value.shape for name, value in ours.items()}, "reference")
    ours["head.weight"], expected["head.weight"] = head.weight.asnumpy(), classifier.weight.detach().numpy()
    problems, compared = parity.init_mismatches(ours, expected)
    print(f"{compared} random tensors compared")
    assert compared >= 35 and not problems, problems
