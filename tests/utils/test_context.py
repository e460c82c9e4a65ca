import os
import subprocess
import sys

import numpy as np
import pytest

from utils import context

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_environment_is_set_before_mindspore_unless_the_user_set_it():
    code = "import os, utils.context; print(os.environ['ONEDNN_MAX_CPU_ISA'], os.environ['GLOG_v'])"
    env = {k: v for k, v in os.environ.items() if k not in ("ONEDNN_MAX_CPU_ISA", "GLOG_v")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["AVX2", "3"]
    env.update(ONEDNN_MAX_CPU_ISA="AVX512_CORE", GLOG_v="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["AVX512_CORE", "1"]


@pytest.mark.parametrize("environ, expected", [
    ({}, False),
    ({"MS_WORKER_NUM": "2", "MS_ROLE": "MS_WORKER"}, True),
    ({"MS_WORKER_NUM": "2", "MS_ROLE": "MS_SCHED"}, True),  # msrun's scheduler must join init() too
    ({"MS_WORKER_NUM": "1", "MS_ROLE": "MS_WORKER"}, False),
    ({"RANK_TABLE_FILE": "/x.json", "RANK_SIZE": "8"}, True),
    ({"RANK_TABLE_FILE": "/x.json", "RANK_SIZE": "1"}, False),
])
def test_distributed_launch_detection(environ, expected):
    assert context.launched_distributed(environ) is expected


def test_init_after_kernels_ran_and_bad_device():
    import mindspore as ms
    assert float((ms.Tensor(np.ones(2)) * 2).sum().asnumpy()) == 4.0  # the runtime is now initialised
    run = context.init_context("cpu", seed=3)
    assert (run.rank, run.group_size, run.device_target, run.is_main) == (0, 1, "CPU", True)
    assert np.random.rand() == np.random.RandomState(3).rand()
    with pytest.raises(ValueError, match="must be one of CPU, GPU, Ascend"):
        context.init_context("TPU")
