"""Runtime context shared by every entry point.

Import this module before anything imports mindspore: at import time it fixes two environment
variables that MindSpore reads only once, when it is loaded:

* ``ONEDNN_MAX_CPU_ISA=AVX2``: on AVX-512 CPUs oneDNN otherwise picks a reference kernel for
  Conv1d with kernel > 1, which is 70-180x slower (see ``bench/ops.py``).
* ``GLOG_v=3``: silences MindSpore's warning noise.

Both are left alone when the user already set them. ``init_context`` then sets the device, the
execution mode and the seeds, and joins a distributed job when the process was launched by
``msrun`` or with a rank table.
"""
import os
import random
from dataclasses import dataclass

os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
os.environ.setdefault("GLOG_v", "3")

DEVICE_TARGETS = ("CPU", "GPU", "Ascend")


@dataclass(frozen=True)
class RunInfo:
    """Where this process sits in the job.

    rank: index of this process in the data-parallel group (0 when standalone).
    group_size: number of processes in the group (1 when standalone).
    device_target: "CPU", "GPU" or "Ascend".
    """
    rank: int = 0
    group_size: int = 1
    device_target: str = "CPU"

    @property
    def distributed(self):
        return self.group_size > 1

    @property
    def is_main(self):
        """Only the main process writes checkpoints, logs and metrics."""
        return self.rank == 0


def launched_distributed(environ=None):
    """True when msrun (MS_WORKER_NUM > 1) or a rank table (RANK_TABLE_FILE with RANK_SIZE > 1)
    started this process as one worker of several."""
    env = os.environ if environ is None else environ
    # msrun also starts a scheduler process (MS_ROLE=MS_SCHED) running the same script: it must call
    # init() too, which serves the workers and ends the process when they are done.
    if int(env.get("MS_WORKER_NUM", "1") or 1) > 1 and env.get("MS_ROLE", "MS_WORKER") in ("MS_WORKER", "MS_SCHED"):
        return True
    return bool(env.get("RANK_TABLE_FILE")) and int(env.get("RANK_SIZE", "1") or 1) > 1


def set_seed(seed):
    """Seed Python, NumPy and MindSpore (global and op-level) from one integer."""
    import numpy as np
    import mindspore as ms
    random.seed(seed)
    np.random.seed(seed)
    ms.set_seed(seed)


_RUN_INFO = None


def init_context(device_target="CPU", device_id=None, seed=None, graph_mode=True, distributed=None):
    """Configure MindSpore for this process and return its ``RunInfo``.

    device_target: "CPU", "GPU" or "Ascend" (case-insensitive).
    device_id: accelerator index; defaults to $DEVICE_ID when set (rank-table launches).
    seed: when given, seeds every random generator (see ``set_seed``).
    graph_mode: GRAPH_MODE (compiled, the fast path for training) or PYNATIVE_MODE.
    distributed: join a data-parallel group; None means "when the launcher asked for it".
    Calling it again returns the same RunInfo (distributed init can only happen once).
    """
    global _RUN_INFO
    import mindspore as ms
    canonical = {t.lower(): t for t in DEVICE_TARGETS}
    target = canonical.get(str(device_target).lower())
    if target is None:
        raise ValueError(f"--device_target must be one of {', '.join(DEVICE_TARGETS)}, got {device_target!r}")
    ms.set_context(mode=ms.GRAPH_MODE if graph_mode else ms.PYNATIVE_MODE)
    if _RUN_INFO is not None:
        if seed is not None:
            set_seed(seed)
        return _RUN_INFO
    if device_id is None and "DEVICE_ID" in os.environ and target != "CPU":
        device_id = os.environ["DEVICE_ID"]
    try:
        ms.set_device(target, **({"device_id": int(device_id)} if device_id is not None else {}))
    except RuntimeError as exc:
        # MindSpore fixes the device when the first kernel runs; a process that already ran one on
        # the same device (a test session, a notebook) can go on, another device cannot.
        if "runtime has been initialized" not in str(exc) or ms.get_context("device_target") != target:
            raise
    if distributed is None:
        distributed = launched_distributed()
    rank, group_size = 0, 1
    if distributed:
        from mindspore.communication import init, get_rank, get_group_size
        init()
        rank, group_size = get_rank(), get_group_size()
        ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                     gradients_mean=True, device_num=group_size)
    if seed is not None:
        set_seed(seed)
    _RUN_INFO = RunInfo(rank=rank, group_size=group_size, device_target=target)
    return _RUN_INFO


def run_info():
    """The RunInfo of this process (standalone CPU defaults before ``init_context``)."""
    return _RUN_INFO if _RUN_INFO is not None else RunInfo()
