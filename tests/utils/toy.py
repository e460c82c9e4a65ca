"""A tiny regression task for testing the shared training machinery."""
import numpy as np

import mindspore as ms
from mindspore import nn

from utils.data import pad_stack


class ToyDataset:
    """Items: (x [4, T] with random T, target scalar = a fixed linear function of x's mean)."""

    def __init__(self, count=24, seed=0):
        rng = np.random.default_rng(seed)
        self.items = [rng.normal(size=(4, int(rng.integers(5, 12)))).astype(np.float32) for _ in range(count)]
        self.weights = np.array([1.0, -2.0, 0.5, 3.0], np.float32)

    def __len__(self):
        return len(self.items)

    def get(self, index, rng):
        x = self.items[index]
        if rng is not None:  # training-time randomness, like a crop or augmentation
            x = x + rng.normal(scale=0.01, size=x.shape).astype(np.float32)
        return x, np.float32(self.weights @ x.mean(axis=1))


def toy_collate(items):
    feats, lengths = pad_stack([x for x, _ in items])
    return feats, lengths, np.array([y for _, y in items], np.float32)


class ToyNet(nn.Cell):
    """[B, 4, T] + lengths -> [B]: masked mean over time, BatchNorm, two Dense layers.

    batch_norm=False replaces BatchNorm by identity: per-rank batch statistics would make a
    data-parallel run differ from a single process with the same global batch.
    """

    def __init__(self, batch_norm=True):
        super().__init__()
        self.norm = nn.BatchNorm1d(4) if batch_norm else nn.Identity()
        self.hidden = nn.Dense(4, 16, activation="tanh")
        self.out = nn.Dense(16, 1)

    def construct(self, x, lengths):
        mask = (ms.ops.arange(x.shape[-1])[None, :] < lengths[:, None]).astype(x.dtype)
        pooled = (x * mask[:, None, :]).sum(-1) / lengths[:, None].astype(x.dtype)
        return self.out(self.hidden(self.norm(pooled))).squeeze(-1)


class ToyLoss(nn.Cell):
    def __init__(self, net):
        super().__init__(auto_prefix=False)
        self.net = net

    def construct(self, x, lengths, target):
        return ((self.net(x, lengths) - target) ** 2).mean()


def toy_specs():
    return [ms.Tensor(shape=[None, 4, None], dtype=ms.float32), ms.Tensor(shape=[None], dtype=ms.int32),
            ms.Tensor(shape=[None], dtype=ms.float32)]
