"""Mixed precision in the shared Trainer: levels, float32 islands, loss scaling, overflow skipping, resume."""
import json

import numpy as np
import pytest

import mindspore as ms
from mindspore import nn

from utils.amp import CastOutputs, Fp32Outputs, amp_settings, apply_amp, check_device_supports, loss_scale_settings
from utils.checkpoint import load_network, read_checkpoint
from tests.utils.test_trainer import make_trainer, params_of
from tests.utils.toy import ToyNet


def test_settings_and_errors():
    assert amp_settings({}) == ("O0", "float16") and amp_settings({"amp_level": "o2"}) == ("O2", "float16")
    with pytest.raises(ValueError, match="train.amp_level must be one of O0, O1, O2, O3, got 'O4'"):
        amp_settings({"amp_level": "O4"})
    with pytest.raises(ValueError, match="train.amp_dtype must be one of float16, bfloat16, got 'fp8'"):
        amp_settings({"amp_dtype": "fp8"})
    assert loss_scale_settings({}, "O0")[0] == "none"  # auto: no scaling in float32
    assert loss_scale_settings({}, "O2") == ("dynamic", 65536.0, 1000)
    assert loss_scale_settings({"loss_scale": 128}, "O0")[:2] == ("fixed", 128.0)
    assert loss_scale_settings({"loss_scale": 0}, "O3")[0] == "none"
    with pytest.raises(ValueError, match="train.loss_scale must be auto, dynamic"):
        loss_scale_settings({"loss_scale": "big"}, "O2")


def test_bfloat16_on_cpu_is_a_clear_error_before_training(tmp_path):
    with pytest.raises(ValueError, match="train.amp_dtype bfloat16 cannot run on this CPU device"):
        make_trainer(tmp_path, epochs=1, amp_level="O2", amp_dtype="bfloat16")
    check_device_supports("float16")  # float16 runs everywhere


def test_levels_keep_islands_names_and_float32_weights():
    net = ToyNet()
    names = [p.name for p in net.get_parameters()]
    apply_amp(net, "O2")
    assert net.fp16 and net.hidden.fp16 and net.norm.cell.fp32 and not net.norm.cell.fp16  # BatchNorm: an island
    o1 = apply_amp(ToyNet(), "O1")
    assert isinstance(o1.hidden, CastOutputs) and o1.hidden.dtype == ms.float32 and o1.hidden.cell.fp16
    assert o1.norm.fp32 and o1.fp32 and isinstance(net.norm, CastOutputs) and net.norm.dtype == ms.float16
    o3 = apply_amp(ToyNet(), "O3")  # O3 keeps the same float32 islands: it computes what O2 computes
    flags = lambda cell: [(name, sub.fp16, sub.fp32) for name, sub in cell.cells_and_names()]  # noqa: E731
    assert flags(o3) == flags(net)
    for cell in (net, o1, o3):
        assert [p.name for p in cell.get_parameters()] == names
        assert all(p.dtype == ms.float32 for p in cell.get_parameters())  # master weights stay float32


@pytest.mark.slow
def test_forced_overflow_skips_the_update_and_halves_the_scale(tmp_path):
    trainer = make_trainer(tmp_path, epochs=1, max_steps=1, amp_level="O2", loss_scale="dynamic",
                           loss_scale_init=2.0 ** 30)
    before = params_of(trainer)
    trainer.fit()
    assert trainer.overflow_steps == 1 and trainer.loss_scale() == 2.0 ** 29
    after = params_of(trainer)
    for name in before:  # weights, Adam moments, step counters: untouched (BatchNorm statistics move in
        # the forward pass, as in any framework's skipped step)
        if name not in ("scale_sense", "current_iterator_step", "last_overflow_iterator_step") \
                and not name.startswith("norm.moving_"):
            np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    # training then proceeds: the scale halves on each overflow until the gradients fit in float16
    trainer.cfg["max_steps"] = 0
    trainer.cfg["epochs"] = 5
    trainer.fit()
    assert trainer.loss_scale() < 2.0 ** 16
    moved = [n for n in before if not np.array_equal(before[n], params_of(trainer)[n])]
    assert "hidden.weight" in moved


@pytest.mark.slow
def test_resume_restores_the_loss_scale_bit_identically(tmp_path):
    common = dict(amp_level="O2", loss_scale_window=3)  # the scale moves both ways within a few steps
    straight = make_trainer(tmp_path / "a", epochs=4, **common)
    straight.fit()
    first = make_trainer(tmp_path / "b", epochs=4, max_steps=7, **common)  # stops inside epoch 2
    first.fit()
    stored = float(read_checkpoint(str(tmp_path / "b" / "last.ckpt"))[0]["scale_sense"].asnumpy())
    assert stored == first.loss_scale()
    rest = make_trainer(tmp_path / "b", epochs=4, **common)
    rest.resume(str(tmp_path / "b" / "last.ckpt"))
    assert rest.loss_scale() == stored != 2.0 ** 16
    rest.fit()
    a, b = params_of(straight), params_of(rest)
    assert straight.loss_scale() == rest.loss_scale()
    logged = [json.loads(line) for line in open(tmp_path / "b" / "train_log.jsonl")]
    assert logged[0]["overflow_steps"] >= 1 and [r["loss_scale"] for r in logged][-1] == rest.loss_scale()
    net = ToyNet()  # an O0 network loads the O2 checkpoint: float32 weights
    load_network(str(tmp_path / "b" / "best.ckpt"), net)
    assert all(p.dtype == ms.float32 for p in net.get_parameters())
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_fp32_output_view_casts_outputs():
    class Half(nn.Cell):
        def construct(self, x):
            return x.astype(ms.float16), x.astype(ms.int32)

    out = Fp32Outputs(Half())(ms.Tensor(np.ones((2, 3), np.float32)))
    assert out[0].dtype == ms.float32 and out[1].dtype == ms.int32
