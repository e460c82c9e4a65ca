"""The three configs: networks of the stated size, NVIDIA's schedule for 10x5 DR, Novograd from train:."""
import os

import pytest

from jasper.src.asr import build_optimizer
from jasper.src.network import build_network, count_parameters
from jasper.src.novograd import Novograd
from utils.config import load_config
from utils.schedules import build_schedule

JASPER = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "jasper")


def config(name):
    return load_config(os.path.join(JASPER, name))


@pytest.mark.parametrize("name, millions", [("config.yaml", 3.25), ("config_quartznet5x5.yaml", 6.7)])
def test_network_sizes(name, millions):
    cfg = config(name)
    network = build_network(cfg.to_dict())
    assert count_parameters(network) / 1e6 == pytest.approx(millions, abs=0.05)
    optimizer = build_optimizer(network, cfg.train)
    assert isinstance(optimizer, Novograd) and optimizer.novograd_decay == pytest.approx(1e-3)
    assert optimizer.beta1 == cfg.train.betas[0] and optimizer.beta2 == cfg.train.betas[1]


def test_10x5dr_follows_nvidia_recipe():
    train = config("config_10x5dr.yaml").train
    assert (train.optimizer, train.lr, list(train.betas), train.weight_decay, train.ema_decay) == \
        ("novograd", 0.01, [0.95, 0.0], 0.001, 0.999)
    steps = 100  # per epoch
    lr = build_schedule(train, steps)
    assert lr(0) == pytest.approx(0.01 / 201)                     # warm-up over 2 epochs
    assert lr(2 * steps) == lr(141 * steps) == 0.01               # 140 hold epochs
    assert lr(142 * steps) == 0.01 and lr(143 * steps) == pytest.approx(0.01 * 0.981, rel=1e-3)  # x0.981 per epoch
    assert lr(440 * steps) == pytest.approx(max(1e-5, 0.01 * 0.981 ** 298), rel=1e-2)


def test_adam_is_left_to_the_trainer():
    cfg = config("config.yaml")
    network = build_network(cfg.to_dict())
    assert build_optimizer(network, {**cfg.train, "optimizer": "adamw"}) is None
