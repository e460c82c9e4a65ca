"""Negative SI-SNR with permutation-invariant training (PIT), masked by the true lengths.

`PairwiseNegSISNR` scores every (estimate, target) pair; `PITLossWrapper` takes the best of all S!
permutations of any pairwise loss. Samples at or after `lengths[b]` are zeroed in both signals and left
out of the means, so zero-padding added by batching never changes the loss. Both run in GRAPH_MODE with
a dynamic batch and length.
"""
import itertools

import numpy as np

import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms
from mindspore import nn, ops, Tensor


def length_mask(lengths, n_samples, dtype=ms.float32):
    """lengths [B] (int) -> [B, 1, n_samples], 1 on valid samples and 0 on padding."""
    positions = ops.arange(n_samples).reshape(1, 1, -1)
    return (positions < lengths.reshape(-1, 1, 1)).astype(dtype)


class PairwiseNegSISNR(nn.Cell):
    """estimates [B, S, T], targets [B, S, T], lengths [B] -> -SI-SNR in dB [B, S_est, S_target]."""

    def __init__(self, eps=1e-8):
        super().__init__()
        self.eps = eps

    def construct(self, estimates, targets, lengths):
        mask = length_mask(lengths, targets.shape[-1], targets.dtype)
        count = lengths.astype(targets.dtype).reshape(-1, 1, 1)
        estimates = estimates * mask
        targets = targets * mask
        estimates = (estimates - estimates.sum(-1, keepdims=True) / count) * mask
        targets = (targets - targets.sum(-1, keepdims=True) / count) * mask
        est = estimates.expand_dims(2)    # [B, S, 1, T]
        tgt = targets.expand_dims(1)      # [B, 1, S, T]
        scale = (est * tgt).sum(-1, keepdims=True) / ((tgt ** 2).sum(-1, keepdims=True) + self.eps)
        projection = scale * tgt
        noise = est - projection
        ratio = (projection ** 2).sum(-1) / ((noise ** 2).sum(-1) + self.eps)
        return -10.0 * ops.log10(ratio + self.eps)


def permutation_matrices(n_src):
    """All n_src! permutations as (perms [P, S] int, one-hot matrices [P, S, S] with m[p, i, perm[i]] = 1)."""
    perms = np.array(list(itertools.permutations(range(n_src))), dtype=np.int32)
    onehot = np.zeros((len(perms), n_src, n_src), np.float32)
    for p, perm in enumerate(perms):
        onehot[p, np.arange(n_src), perm] = 1.0
    return perms, onehot


class PITLossWrapper(nn.Cell):
    """Permutation-invariant loss: the batch mean of min over permutations of the mean pairwise loss.

    pairwise_loss: Cell (estimates [B, S, T], targets [B, S, T], lengths [B]) -> [B, S, S].
    construct(estimates, targets, lengths) -> scalar.
    """

    def __init__(self, pairwise_loss, n_src):
        super().__init__()
        if n_src < 1:
            raise ValueError(f"n_src must be >= 1, got {n_src}")
        self.pairwise_loss = pairwise_loss
        self.n_src = n_src
        self.perms, onehot = permutation_matrices(n_src)
        self.perm_matrix = Tensor(onehot.reshape(len(self.perms), -1).T / n_src)   # [S*S, P]

    def permutation_losses(self, estimates, targets, lengths):
        """-> [B, P]: the mean loss of each permutation (order of `self.perms`)."""
        pairwise = self.pairwise_loss(estimates, targets, lengths)
        return ops.matmul(pairwise.reshape(pairwise.shape[0], -1), self.perm_matrix)

    def construct(self, estimates, targets, lengths):
        return self.permutation_losses(estimates, targets, lengths).min(axis=1).mean()

    def best_permutations(self, estimates, targets, lengths):
        """-> numpy int [B, S]: row b is the best permutation, entry i the target index matched to
        estimate i. For evaluation and tests (runs eagerly, returns numpy)."""
        losses = self.permutation_losses(estimates, targets, lengths).asnumpy()
        return self.perms[losses.argmin(axis=1)]


def neg_sisnr_pit_loss(n_src, eps=1e-8):
    """The separation training loss: PIT over negative SI-SNR for n_src sources."""
    return PITLossWrapper(PairwiseNegSISNR(eps), n_src)


class SeparationLossCell(nn.Cell):
    """network + loss for nn.TrainOneStepCell: (mixture [B, T], sources [B, S, T], lengths [B]) -> scalar."""

    def __init__(self, network, loss):
        super().__init__(auto_prefix=False)
        self.network, self.loss = network, loss

    def construct(self, mixture, sources, lengths):
        return self.loss(self.network(mixture), sources, lengths)
