import json
import os

import numpy as np
import pytest

import mindspore as ms

from utils.checkpoint import load_network, read_checkpoint
from utils.context import init_context
from utils.data import BatchLoader
from utils.trainer import Trainer, clip_by_global_norm
from tests.utils.toy import ToyDataset, ToyLoss, ToyNet, toy_collate, toy_specs


def make_trainer(out, epochs, seed=0, **train):
    init_context("CPU", seed=seed)
    net = ToyNet()
    dataset = ToyDataset()
    loader = BatchLoader(dataset, batch_size=5, collate=toy_collate, seed=seed)
    valid = BatchLoader(ToyDataset(8, seed=1), batch_size=4, collate=toy_collate, shuffle=False)

    def validate(network):
        errors = [float(((network(ms.Tensor(x), ms.Tensor(n)).asnumpy() - y) ** 2).mean())
                  for x, n, y in valid.iterate(0)]
        return {"mse": float(np.mean(errors))}

    # dynamic by default: the toy batches have many lengths (static graphs are tested on their own below)
    cfg = {"epochs": epochs, "lr": 0.01, "clip_grad_norm": 1.0, "graph_shapes": "dynamic", **train}
    return Trainer(ToyLoss(net), net, loader, validate, cfg, str(out), input_specs=toy_specs(),
                   metric="mse", mode="min", config={"train": cfg})


def params_of(trainer):
    return {p.name: p.asnumpy().copy() for cell in trainer._cells() for p in cell.get_parameters()}


def test_resume_is_bit_identical(tmp_path):
    straight = make_trainer(tmp_path / "a", epochs=4, ema_decay=0.9)
    straight.fit()
    first = make_trainer(tmp_path / "b", epochs=2, ema_decay=0.9)
    first.fit()
    second = make_trainer(tmp_path / "b", epochs=4, ema_decay=0.9, )
    second.resume(str(tmp_path / "b" / "last.ckpt"))
    state = second.fit()
    assert state.epoch == 4 and state.global_step == 4 * 5
    a, b = params_of(straight), params_of(second)
    assert set(a) == set(b) and any(k.startswith("moment1.") for k in a) and any(k.startswith("ema.") for k in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    logged = [json.loads(line) for line in open(tmp_path / "b" / "train_log.jsonl")]
    assert [r["epoch"] for r in logged] == [1, 2, 3, 4]


def test_resume_mid_epoch_with_max_steps(tmp_path):
    straight = make_trainer(tmp_path / "a", epochs=2)
    straight.fit()
    part = make_trainer(tmp_path / "b", epochs=2, max_steps=7)  # stops inside epoch 2
    state = part.fit()
    assert (state.epoch, state.step_in_epoch, state.global_step) == (1, 2, 7)
    rest = make_trainer(tmp_path / "b", epochs=2)
    rest.resume(str(tmp_path / "b" / "last.ckpt"))
    rest.fit()
    a, b = params_of(straight), params_of(rest)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_training_learns_and_keeps_best(tmp_path):
    trainer = make_trainer(tmp_path, epochs=6)
    before = trainer.validate(trainer.network)["mse"]
    state = trainer.fit()
    assert state.best_metric < 0.5 * before
    assert os.path.isfile(tmp_path / "best.ckpt") and os.path.isfile(tmp_path / "last.ckpt")
    net = ToyNet()
    meta = load_network(str(tmp_path / "best.ckpt"), net)
    assert meta["best_metric"] == pytest.approx(state.best_metric)
    assert meta["config"]["train"]["epochs"] == 6
    params, _ = read_checkpoint(str(tmp_path / "last.ckpt"))
    assert int(params["global_step"].asnumpy().reshape(-1)[0]) == 6 * 5


def test_lr_halving_and_early_stop(tmp_path):
    trainer = make_trainer(tmp_path, epochs=20, lr_halving_patience=1, early_stop_patience=3)
    trainer.validate = lambda network: {"mse": 1.0}  # never improves after the first epoch
    state = trainer.fit()
    assert state.epoch == 4  # epoch 1 sets the best, epochs 2-4 do not improve -> stop
    assert state.lr_factor == pytest.approx(0.125)
    assert trainer.optimizer.learning_rate.asnumpy() == pytest.approx(0.01 * 0.25)  # last step ran at x0.25


def test_loss_scaled_step_trains(tmp_path):
    trainer = make_trainer(tmp_path, epochs=3, loss_scale=1024.0)
    before = trainer.validate(trainer.network)["mse"]
    state = trainer.fit()
    assert state.best_metric < before


def test_nan_loss_is_reported(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, lr=1e30, clip_grad_norm=0.0)
    with pytest.raises(FloatingPointError, match="loss became"):
        trainer.fit()


class ToyLossWithHead(ToyLoss):
    """A loss Cell owning a trainable weight outside the network, like ECAPA's classifier head."""

    def __init__(self, net, size):
        super().__init__(net)
        self.head = ms.Parameter(ms.Tensor(np.full(size, 0.5, np.float32)), name="head.weight")

    def construct(self, x, lengths, target):
        return ((self.net(x, lengths) * self.head.mean() - target) ** 2).mean()


def test_initialize_from_starts_a_fresh_run_from_the_weights(tmp_path):
    donor = make_trainer(tmp_path / "donor", epochs=2, ema_decay=0.9)
    donor.fit()
    donor_weights = {p.name: p.asnumpy().copy() for p in donor.network.get_parameters()}
    fine = make_trainer(tmp_path / "fine", epochs=1, ema_decay=0.9)
    taken, fresh = fine.initialize_from(str(tmp_path / "donor" / "last.ckpt"))
    assert taken == [] and fresh == []
    for param in fine.network.get_parameters():
        np.testing.assert_array_equal(param.asnumpy(), donor_weights[param.name], err_msg=param.name)
    for shadow, live in zip(fine.ema.shadow, fine.ema.live):  # the average starts at the loaded weights
        np.testing.assert_array_equal(shadow.asnumpy(), live.asnumpy())
    assert fine.state.global_step == 0 and fine.state.best_metric is None
    assert all(not m.asnumpy().any() for m in fine.optimizer.moment1)  # fresh optimizer
    started = fine.validate(fine.network)["mse"]  # it computes exactly what the donor computes
    assert started == donor.validate(donor.network)["mse"]
    scratch = make_trainer(tmp_path / "scratch", epochs=1)
    assert abs(started - scratch.validate(scratch.network)["mse"]) > 0.1
    assert fine.fit().global_step == 5


def test_initialize_from_takes_or_skips_extra_weights_and_checks_shapes(tmp_path):
    donor = make_trainer(tmp_path / "donor", epochs=1)
    donor.fit()
    ckpt = str(tmp_path / "donor" / "best.ckpt")
    params, _ = read_checkpoint(ckpt)
    from utils.checkpoint import save_network
    holder = ToyLossWithHead(ToyNet(), 3)
    holder.head.set_data(ms.Tensor(np.array([1.0, 2.0, 3.0], np.float32)))
    load_network(ckpt, holder.net)
    save_network(str(tmp_path / "with_head.ckpt"), holder)
    for size, expect_taken in ((3, True), (5, False)):  # same head shape: taken; other class count: fresh
        trainer = make_trainer(tmp_path / f"t{size}", epochs=1)
        trainer.net_with_loss = ToyLossWithHead(trainer.network, size)
        taken, fresh = trainer.initialize_from(str(tmp_path / "with_head.ckpt"))
        assert (taken, fresh) == ((["head.weight"], []) if expect_taken else ([], ["head.weight"]))
        head = trainer.net_with_loss.head.asnumpy()
        assert head.tolist() == ([1.0, 2.0, 3.0] if expect_taken else [0.5] * size)
    wrong = make_trainer(tmp_path / "wrong", epochs=1)
    wrong.network.out = ms.nn.Dense(16, 2)  # a different architecture than the checkpoint's
    wrong.network.out.update_parameters_name("out.")
    with pytest.raises(ValueError, match=r"out\.weight has shape \(1, 16\).*needs \(2, 16\)"):
        wrong.initialize_from(ckpt)
    assert "head.weight" not in params  # the plain donor had no head


def test_static_graph_shapes_switch_to_dynamic_and_train_like_dynamic(tmp_path):
    # ToyDataset batches have many lengths: 2 static graphs, then one dynamic graph for all the others.
    static = make_trainer(tmp_path / "s", epochs=2, graph_shapes="static", max_static_shapes=2)
    assert not static.dynamic
    static.fit()
    assert static.dynamic and len(static.static_shapes) == 2
    dynamic = make_trainer(tmp_path / "d", epochs=2, graph_shapes="dynamic")
    assert dynamic.dynamic
    dynamic.fit()
    a, b = params_of(static), params_of(dynamic)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
    with pytest.raises(ValueError, match="graph_shapes"):
        make_trainer(tmp_path / "x", epochs=1, graph_shapes="sometimes")


@pytest.mark.parametrize("clip_norm", [0.5, 1e3])
def test_global_norm_clipping_follows_the_rule(clip_norm):
    """Gradients scaled by clip / max(global L2 norm, clip): the global norm lands on clip_norm when above it,
    and the gradients stay as they are below it (float32 rounding of the dot-product sums only)."""
    init_context("CPU", seed=0)
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=shape).astype(np.float32) for shape in [(300, 70), (70,), (3, 5, 7), ()]]
    clipped = ms.jit(clip_by_global_norm)(tuple(ms.Tensor(g) for g in grads), clip_norm)
    norm = np.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in grads))
    factor = clip_norm / max(norm, clip_norm)
    for grad, result in zip(grads, clipped):
        np.testing.assert_allclose(result.asnumpy(), grad * factor, rtol=2e-6, atol=1e-7)
    if clip_norm < norm:
        assert abs(np.sqrt(sum(float(np.sum(r.asnumpy().astype(np.float64) ** 2)) for r in clipped)) - clip_norm) < 1e-5
