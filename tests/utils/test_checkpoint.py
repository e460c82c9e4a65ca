import os

import numpy as np
import pytest

import mindspore as ms

from utils.checkpoint import TrainState, load_network, read_checkpoint, save_network, save_training_checkpoint
from tests.utils.toy import ToyNet


def test_atomic_save_leaves_no_temporary_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    net = ToyNet()
    path = str(tmp_path / "last.ckpt")
    save_training_checkpoint(path, [net], TrainState(epoch=3, best_metric=1.5))
    assert os.listdir(tmp_path) == ["last.ckpt"]
    before = open(path, "rb").read()

    def broken(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(ms, "save_checkpoint", broken)
    with pytest.raises(OSError):
        save_training_checkpoint(path, [net], TrainState(epoch=4))
    assert open(path, "rb").read() == before
    _, meta = read_checkpoint(path)
    assert meta["epoch"] == 3 and meta["best_metric"] == 1.5


def test_load_network_restores_values_and_rejects_incomplete_files(tmp_path):
    source, target = ToyNet(), ToyNet()
    source.hidden.weight.set_data(ms.Tensor(np.full((16, 4), 0.25, np.float32)))
    path = str(tmp_path / "net.ckpt")
    save_network(path, source, config={"model": {"x": 1}})
    meta = load_network(path, target)
    assert meta["config"] == {"model": {"x": 1}}
    np.testing.assert_array_equal(target.hidden.weight.asnumpy(), 0.25)
    partial = str(tmp_path / "partial.ckpt")
    ms.save_checkpoint([{"name": "hidden.weight", "data": source.hidden.weight}], partial)
    with pytest.raises(KeyError, match="lacks 7 parameter"):
        load_network(partial, ToyNet())
    with pytest.raises(KeyError, match="no EMA weights"):
        load_network(path, ToyNet(), use_ema=True)
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        load_network(str(tmp_path / "missing.ckpt"), ToyNet())
