"""BatchNorm whose training statistics cover the GLOBAL batch of a data-parallel job.

MindSpore 2.10 has no SyncBatchNorm kernel on CPU, and a plain ``nn.BatchNorm1d`` normalises each rank
with the statistics of its own share of the batch: the ranks then train a different function than one
process holding the whole batch. ``SyncBatchNorm`` adds the per-channel sums, sums of squared deviations
and element counts of every rank with ``ops.AllReduce`` before normalising, so its output, its moving
statistics and (through AllReduce's backward, itself an AllReduce) its gradients equal those of
``nn.BatchNorm1d`` on the concatenated batch.

It follows MindSpore's BatchNorm conventions exactly: the biased variance normalises, the unbiased one
enters the moving variance, ``moving = momentum * moving + (1 - momentum) * batch`` with MindSpore's
``momentum`` (0.9 = torch's 0.1). Every element of the input counts, padded frames included, as in
``nn.BatchNorm1d``. In eval mode it is a plain BatchNorm on the moving statistics. The parameters keep
their names (``gamma``, ``beta``, ``moving_mean``, ``moving_variance``) and shapes, so checkpoints move
freely between single-device and distributed runs.

The same AllReduce implementation serves CPU, GPU and Ascend (one code path to test).
"""
import logging

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn, ops

from utils.context import run_info

LOG = logging.getLogger("zoo.sync_batch_norm")


class SyncBatchNorm(nn.BatchNorm1d):
    """Cross-rank BatchNorm over the channel axis 1 of [N, C], [N, C, L] or [N, C, H, W] inputs.

    num_features: C. eps: added to the variance. momentum: MindSpore convention (weight of the old
    moving value). group_size: ranks whose batches form the global batch (1: no communication, then it
    computes exactly what ``nn.BatchNorm1d`` computes).
    construct(x [N, C, ...]) -> [N, C, ...] float32.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.9, group_size=1):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.group_size = int(group_size)
        self.all_reduce = ops.AllReduce() if self.group_size > 1 else None
        self.new_weight = self.momentum  # the base class stores 1 - momentum: the weight of the batch value

    def _global_sum(self, x):
        return self.all_reduce(x) if self.group_size > 1 else x

    def construct(self, x):
        if not self.training:
            return self._infer(x)
        axes = (0,) + tuple(range(2, x.ndim))
        broadcast = (1, -1) + (1,) * (x.ndim - 2)
        shape = ops.cast(ops.dyn_shape(x), ms.float32)  # dynamic batch and length: count at run time
        local_count = shape[0:1]
        for axis in axes[1:]:
            local_count = local_count * shape[axis:axis + 1]
        # pass 1: the global mean; pass 2: squared deviations from it (better conditioned than E[x^2] - E[x]^2)
        totals = self._global_sum(ops.concat((x.sum(axis=axes), local_count)))
        count = totals[-1]
        mean = totals[:-1] / count
        centered = x - mean.reshape(broadcast)
        variance = self._global_sum((centered * centered).sum(axis=axes)) / count
        output = centered / ops.sqrt(variance + self.eps).reshape(broadcast) * self.gamma.reshape(broadcast) \
            + self.beta.reshape(broadcast)
        unbiased = ops.stop_gradient(variance * count / ops.maximum(count - 1.0, 1.0))
        mean = ops.stop_gradient(mean)
        updated_mean = ops.assign(self.moving_mean,
                                  self.moving_mean * (1.0 - self.new_weight) + mean * self.new_weight)
        updated_variance = ops.assign(self.moving_variance,
                                      self.moving_variance * (1.0 - self.new_weight) + unbiased * self.new_weight)
        return ops.depend(ops.depend(output, updated_mean), updated_variance)

    def _infer(self, x):
        shape = x.shape
        four_d = x.reshape(shape + (1,) * (4 - len(shape))) if len(shape) < 4 else x
        out = self.bn_infer(four_d, self.gamma, self.beta, self.moving_mean, self.moving_variance)[0]
        return out.reshape(shape) if len(shape) < 4 else out


def synchronise_batch_norm(network, train_cfg):
    """What a train.py calls: ``convert_to_sync_batch_norm`` when ``train.sync_batch_norm`` (default true)
    and the job is data parallel, logging how many layers now share their statistics. Returns the network."""
    if train_cfg.get("sync_batch_norm", True):
        network, synced = convert_to_sync_batch_norm(network)
        if synced:
            LOG.info("%d BatchNorm layers synchronised over %d ranks", synced, run_info().group_size)
    return network


def convert_to_sync_batch_norm(network, group_size=None):
    """Replace every ``nn.BatchNorm1d`` / ``nn.BatchNorm2d`` inside ``network`` by a ``SyncBatchNorm``
    that reuses its Parameter objects (same names, values and shapes, so optimizers built later and
    checkpoints see no difference).

    group_size: ranks of the data-parallel group (default: this process's ``run_info()``); with 1 the
    network is returned untouched. Returns (network, number of layers replaced).
    """
    group_size = run_info().group_size if group_size is None else int(group_size)
    if group_size <= 1:
        return network, 0
    replacements = []
    for _, cell in network.cells_and_names():
        for child_name, child in cell.name_cells().items():
            if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)) and not isinstance(child, SyncBatchNorm):
                replacements.append((cell, child_name, child))
    for parent, child_name, old in replacements:
        if old.use_batch_statistics is not None or old.format != "NCHW":
            raise ValueError(f"utils/sync_batch_norm.py: cannot convert {type(old).__name__} {child_name!r}: "
                             "only use_batch_statistics=None and NCHW layout are supported")
        new = SyncBatchNorm(old.num_features, eps=old.eps, momentum=1.0 - old.momentum, group_size=group_size)
        new.gamma, new.beta = old.gamma, old.beta
        new.moving_mean, new.moving_variance = old.moving_mean, old.moving_variance
        names = {key: getattr(old, key).name for key in ("gamma", "beta", "moving_mean", "moving_variance")}
        new.set_train(old.training)
        if isinstance(parent, (nn.CellList, nn.SequentialCell)):
            parent[int(child_name)] = new
        else:
            setattr(parent, child_name, new)
        for key, full_name in names.items():  # assigning a cell re-prefixes its parameters: keep the full names
            getattr(new, key).name = full_name
    return network, len(replacements)
