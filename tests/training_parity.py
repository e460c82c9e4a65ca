"""K-step training parity with a PyTorch reference, shared by the per-model tests.

Both sides start from the same weights (the reference's, through our converter's mapping), see the same numpy
batches and run K full steps (forward, loss, backward, global-norm clipping, optimizer update, LR schedule).

Tolerance, justified from float32 noise rather than picked: the reference is run twice, in float32 and in
float64 from the same float32 start. ``drift32`` = how far torch's own float32 run lands from the float64 one
(the rounding noise of K float32 steps, amplified by Adam's normalisation where a gradient is tiny; the largest
over the model's tensors). Each of our tensors is accepted when its distance to the float64 run is at most
``FACTOR`` x drift32 (+ a floor of a few float32 ulps). An implementation with a real difference lands orders
of magnitude further away: MindSpore's nn.Adam (eps before the bias correction, no decay on gamma/beta) in the
DPRNN test gives 2.8e-3 against a drift32 of 7.4e-7.
"""
import os

import numpy as np

FACTOR = 10.0  # ours may be this many times noisier than torch's own float32 run
ULP_FLOOR = 1e-6  # relative: a few float32 ulps, for tensors where torch32 happens to equal torch64


def torch_threads():
    """One torch thread and passive OpenMP waiting (the machine is shared; spinning threads run 4-30x slower)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    torch.set_num_threads(1)
    return torch


def torch_train(model, loss_fn, batches, make_optimizer, clip_norm=0.0, lr_schedule=None, before_step=None):
    """K training steps of a torch model; returns (losses [K], state {name: float64 array}, grad norms [K]).

    loss_fn(model, batch) -> scalar tensor; batch: tuple of numpy arrays (converted by loss_fn).
    make_optimizer(params) -> torch optimizer. lr_schedule(step) -> lr set before each step.
    before_step(step): called before each step (e.g. an AAM margin schedule).
    """
    import torch
    optimizer = make_optimizer(list(model.parameters()))
    model.train()
    losses, norms = [], []
    for step, batch in enumerate(batches):
        if lr_schedule is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_schedule(step)
        if before_step is not None:
            before_step(step)
        optimizer.zero_grad()
        loss = loss_fn(model, batch)
        loss.backward()
        params = [p for p in model.parameters() if p.grad is not None]
        norms.append(float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))))
        if clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
    state = {name: value.detach().double().numpy().copy() for name, value in model.state_dict().items()}
    return np.array(losses), state, np.array(norms)


def ours_train(step_cell, optimizer, batches, lr_schedule=None, before_step=None):
    """K steps of our compiled ``TrainStep``; returns the losses [K]."""
    import mindspore as ms
    losses = []
    for step, batch in enumerate(batches):
        if lr_schedule is not None:
            optimizer.learning_rate.set_data(ms.Tensor(lr_schedule(step), ms.float32))
        if before_step is not None:
            before_step(step)
        losses.append(float(step_cell(*[ms.Tensor(array) for array in batch]).asnumpy()))
    return np.array(losses)


def relative_distance(a, b):
    """max |a - b| / max(max |b|, 1e-12)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def compare(ours, torch32, torch64):
    """Per tensor {name: (ours vs torch64, torch32 vs torch64)}, relative distances (see the module docstring).

    ours / torch32 / torch64: {our name: array} in our layout.
    """
    return {name: (relative_distance(ours[name], torch64[name]), relative_distance(torch32[name], torch64[name]))
            for name in torch64}


def failures(distances, factor=FACTOR, floor=ULP_FLOOR):
    """The tensors whose distance to the float64 run exceeds ``factor`` x torch32's drift (+ floor).

    The drift is that of the whole run (the largest over its tensors): per tensor it is one random sample of
    the rounding noise, sometimes far below the noise a tensor with tiny gradients can pick up."""
    drift = max(pair[1] for pair in distances.values())
    return {name: pair for name, pair in distances.items() if pair[0] > factor * drift + floor}


def loss_failures(losses, factor=FACTOR, floor=1e-5):
    """Steps whose loss is further from the float64 run than ``factor`` x torch32's largest gap + ``floor`` x |loss|
    (a loss is a sum over thousands of float32 terms: ~1e-6 relative rounding each way).
    losses: (ours, torch32, torch64), each [K]."""
    ours, ref32, ref64 = (np.asarray(x, np.float64) for x in losses)
    limit = factor * np.abs(ref32 - ref64).max() + floor * np.maximum(np.abs(ref64), 1.0)
    return [int(k) for k in np.nonzero(np.abs(ours - ref64) > limit)[0]]


def summary(label, distances, losses=None):
    """One printable line: the largest distances (ours and torch32's) and the loss gaps."""
    worst = max(distances, key=lambda name: distances[name][0])
    text = (f"{label}: {len(distances)} tensors, max rel distance to float64 torch: ours {distances[worst][0]:.2e} "
            f"({worst}), torch float32 {max(pair[1] for pair in distances.values()):.2e}")
    if losses is not None:
        ours, ref32, ref64 = losses
        text += (f"; loss max |ours - torch64| {np.abs(ours - ref64).max():.2e}, "
                 f"|torch32 - torch64| {np.abs(ref32 - ref64).max():.2e}")
    return text


def init_mismatches(ours, reference, min_size=400, rel=0.15):
    """Compare freshly constructed weights with the reference's, tensor by tensor (both {our name: array}).

    Constant tensors (norm gains/biases, BatchNorm statistics, PReLU slopes) must be equal. Random ones with at
    least ``min_size`` entries must have the same std within ``rel`` and the same family: uniform (max |w| <=
    1.9 std; sqrt(3) = 1.73 for a uniform) or not (a normal's max over 400+ draws exceeds 2.9 std). Random
    tensors the reference starts equal (a copied layer, e.g. asteroid's gated encoder) must start equal in ours.
    Returns ({name: problem}, number of random tensors compared).
    """
    problems, compared = {}, 0
    random_names = [name for name, value in reference.items() if np.asarray(value).std() > 0]
    for i, first in enumerate(random_names):
        for second in random_names[i + 1:]:
            if (np.array_equal(reference[first], reference[second])
                    and not np.array_equal(ours[first], ours[second])):
                problems[second] = f"starts as a copy of {first} in the reference, drawn apart in ours"
    for name, expected in reference.items():
        got = np.asarray(ours[name], np.float64)
        expected = np.asarray(expected, np.float64)
        if expected.std() == 0:
            if not np.array_equal(got, expected):
                problems[name] = f"constant {expected.flat[0]:.4g} expected, got std {got.std():.3g} mean {got.mean():.3g}"
            continue
        if expected.size < min_size:
            continue
        compared += 1
        ratio = got.std() / expected.std()
        uniform = (np.abs(got).max() <= 1.9 * got.std(), np.abs(expected).max() <= 1.9 * expected.std())
        if abs(ratio - 1.0) > rel or uniform[0] != uniform[1]:
            problems[name] = (f"std {got.std():.4g} vs reference {expected.std():.4g} (ratio {ratio:.2f}), "
                              f"{'uniform' if uniform[0] else 'normal'} vs {'uniform' if uniform[1] else 'normal'}")
    return problems, compared
