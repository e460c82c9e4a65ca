import math

import pytest

from utils.schedules import build_schedule, cyclic_triangular, linear_warmup_decay, warmup_hold_decay


def test_warmup_hold_poly_decay_shape():
    fn = warmup_hold_decay(0.01, total_steps=100, warmup_steps=9, hold_steps=11, decay="poly", min_lr=1e-5)
    assert fn(0) == pytest.approx(0.001)          # (0 + 1) / (9 + 1) of the peak
    assert fn(4) == pytest.approx(0.005)
    assert fn(9) == fn(19) == 0.01               # hold
    assert fn(60) == pytest.approx(0.01 * 0.5 ** 2)  # half-way through the 80-step decay, power 2
    assert fn(100) == fn(500) == 1e-5            # floor after the end
    values = [fn(s) for s in range(20, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_cosine_and_exp_decay():
    cosine = warmup_hold_decay(1.0, total_steps=100, decay="cosine", min_lr=0.1)
    assert cosine(0) == pytest.approx(1.0) and cosine(50) == pytest.approx(0.55) and cosine(100) == pytest.approx(0.1)
    exp = warmup_hold_decay(1.0, total_steps=1000, warmup_steps=10, decay="exp", half_life_steps=20)
    assert exp(10) == pytest.approx(1.0) and exp(30) == pytest.approx(0.5) and exp(50) == pytest.approx(0.25)
    assert warmup_hold_decay(0.5, 10, decay="none")(9999) == 0.5


def test_cyclic_triangular_modes():
    tri = cyclic_triangular(1e-8, 1e-3, step_size=10)
    assert tri(0) == pytest.approx(1e-8) and tri(10) == pytest.approx(1e-3)
    assert tri(5) == pytest.approx(0.5e-3, rel=1e-4)
    assert tri(20) == pytest.approx(1e-8) and tri(30) == pytest.approx(1e-3)
    halving = cyclic_triangular(0.0, 1.0, step_size=10, mode="triangular2")
    assert [halving(s) for s in (10, 30, 50)] == pytest.approx([1.0, 0.5, 0.25])
    exp_range = cyclic_triangular(0.0, 1.0, step_size=10, mode="exp_range", gamma=0.99)
    assert exp_range(10) == pytest.approx(0.99 ** 10)


def test_linear_warmup_decay():
    fn = linear_warmup_decay(1.0, warmup_steps=4, total_steps=14, final_lr=0.0)
    assert [fn(s) for s in (0, 2, 4, 9, 14, 20)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0, 0.0])


def test_build_schedule_converts_epochs_and_rejects_bad_names():
    cfg = {"lr": 0.02, "epochs": 10, "schedule": {"name": "warmup_hold_decay", "warmup_epochs": 1,
                                                   "hold_epochs": 2, "decay": "cosine", "min_lr": 0.0}}
    fn = build_schedule(cfg, steps_per_epoch=5)
    assert fn(4) == pytest.approx(0.02 * 5 / 6) and fn(14) == 0.02
    assert fn(15 + 35 // 2) == pytest.approx(0.01 * (1 + math.cos(math.pi * 17 / 35)))
    assert fn(50) == pytest.approx(0.0)
    assert build_schedule({"lr": 0.3}, 7)(123) == 0.3
    cyclic = build_schedule({"lr": 1e-3, "schedule": {"name": "cyclic_triangular", "base_lr": 0.0,
                                                      "step_size_epochs": 2}}, steps_per_epoch=3)
    assert cyclic(6) == pytest.approx(1e-3) and cyclic(12) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="schedules.py.*bogus"):
        build_schedule({"schedule": {"name": "bogus"}}, 1)
    with pytest.raises(ValueError, match="decay must be"):
        warmup_hold_decay(0.1, 10, decay="linear")
