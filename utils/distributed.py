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
_MAX_DIMS = 8


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


def pad_to_common_shape(arrays):
    """Zero-pad this rank's batch arrays so every rank holds the same shapes: the shapes a single
    process would get from collating the whole global batch.

    arrays: the collated batch (a sequence of numpy arrays [B, ...], B equal on every rank, at most
    ``_MAX_DIMS`` axes each). Each axis after the first is padded at its end to the largest size any
    rank has. Collates pad with zeros (or with values nothing reads, like label ids past a label
    length), so this gives what the model's collate gives for the global batch, and layers whose
    statistics include padded frames (BatchNorm over [B, C, T]) see the frames a single process sees.
    Standalone runs return the arrays unchanged. Returns a tuple of arrays.
    """
    run = run_info()
    arrays = [np.asarray(array) for array in arrays]
    if not run.distributed:
        return tuple(arrays)
    if any(array.ndim > _MAX_DIMS for array in arrays):
        raise ValueError(f"utils/distributed.py: batch arrays may have at most {_MAX_DIMS} axes")
    # one fixed-size row per rank: [ndim, size_0, ..., size_{_MAX_DIMS-1}] per array
    row = np.zeros((len(arrays), _MAX_DIMS + 1))
    for index, array in enumerate(arrays):
        row[index, 0] = array.ndim
        row[index, 1:array.ndim + 1] = array.shape
    table = all_reduce_sum(np.eye(run.group_size)[run.rank][:, None, None] * row[None])  # [ranks, arrays, 1 + dims]
    padded = []
    for index, array in enumerate(arrays):
        shapes = table[:, index].astype(int)
        if (shapes[:, 0] != array.ndim).any() or (array.ndim and (shapes[:, 1] != array.shape[0]).any()):
            raise ValueError(f"utils/distributed.py: batch array {index} differs across ranks in rank or batch size "
                             f"(per rank: {[tuple(s[1:s[0] + 1]) for s in shapes]}); training batches must have the "
                             "same number of items on every rank")
        target = shapes[:, 1:array.ndim + 1].max(axis=0)
        if tuple(target) != array.shape:
            array = np.pad(array, [(0, int(t) - s) for t, s in zip(target, array.shape)])
        padded.append(array)
    return tuple(padded)
