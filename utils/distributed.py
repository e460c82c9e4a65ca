"""Cross-rank reductions for evaluation code running outside the compiled train step.

Each rank evaluates its shard; sums (of errors, counts, scores...) are added over ranks so every
rank ends with the metric of the whole set. Standalone runs return the input unchanged.
"""
import numpy as np

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn, ops

from utils.context import run_info


class _AllReduceSum(nn.Cell):
    def __init__(self):
        super().__init__()
        self.reduce = ops.AllReduce()

    def construct(self, x):
        return self.reduce(x)


_REDUCER = None


def all_reduce_sum(values):
    """Element-wise sum over ranks of a float array (float64 in, float64 out; summed in float32 on
    the wire, so keep values moderate, e.g. sums over one shard)."""
    global _REDUCER
    array = np.asarray(values, dtype=np.float64)
    if not run_info().distributed:
        return array
    if _REDUCER is None:
        _REDUCER = _AllReduceSum()
    flat = array.reshape(-1).astype(np.float32)
    return _REDUCER(ms.Tensor(flat)).asnumpy().astype(np.float64).reshape(array.shape)


def all_gather_lists(items):
    """Concatenate Python lists of numbers from every rank (order: rank 0's, then rank 1's, ...).

    Implemented with all_reduce_sum on a zero-padded matrix so it needs no extra collective.
    """
    run = run_info()
    if not run.distributed:
        return list(items)
    counts = all_reduce_sum(np.eye(run.group_size)[run.rank] * len(items)).astype(int)
    width = int(counts.max()) if counts.size else 0
    matrix = np.zeros((run.group_size, max(width, 1)))
    matrix[run.rank, :len(items)] = items
    matrix = all_reduce_sum(matrix)
    return [value for rank in range(run.group_size) for value in matrix[rank, :counts[rank]]]
