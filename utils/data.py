"""Deterministic, shardable, resumable batching of a random-access dataset.

Every model's dataset exposes ``__len__`` and ``get(index, rng)`` returning one item (a tuple of
NumPy arrays); the model's ``collate(items)`` pads them into the step's inputs. ``BatchLoader``
decides which items form which batch, on which rank, in which epoch:

* the epoch's order is a permutation drawn from ``(seed, epoch)``: the same on every rank, so the
  ranks cut disjoint shards out of one order (rank r takes every group_size-th item of each global
  batch) and together cover the whole set;
* every global batch is full: the last one is completed with items from the start of the epoch's
  order, so all ranks run the same number of steps (no collective waits on a missing batch) and
  every step has one shape per length bucket;
* an item's randomness (crop position, augmentation) comes from ``rng = default_rng((seed, epoch,
  index))``, so it does not depend on the rank, on worker processes or on resuming;
* ``iterate(epoch, start_batch)`` skips batches without loading them: resuming mid-epoch is exact.
* optional length bucketing: items are sorted by length inside windows of ``bucket_window`` global
  batches before batching, so a batch holds utterances of similar length (less padding).
"""
import math
import multiprocessing

import numpy as np


def item_rng(seed, epoch, index):
    """The random generator of one item in one epoch (independent of rank and worker)."""
    return np.random.default_rng((int(seed), int(epoch), int(index)))


class BatchLoader:
    """Batches of ``dataset`` for one rank.

    dataset: object with ``__len__`` and ``get(index, rng)`` (rng is None when ``shuffle`` is False).
    batch_size: items per step on this rank (the global batch is batch_size * group_size).
    collate: ``fn(list of items) -> tuple of arrays``.
    shuffle: new order and new item randomness every epoch (training); False keeps the file order
        and gives each item exactly once with no completion (evaluation).
    lengths: optional per-item lengths for bucketing.
    num_workers: >0 prepares batches in that many forked processes, in order.
    """

    def __init__(self, dataset, batch_size, collate, shuffle=True, seed=0, rank=0, group_size=1,
                 lengths=None, bucket_window=50, num_workers=0):
        if len(dataset) == 0:
            raise ValueError("the dataset is empty: no batches can be made")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset, self.batch_size, self.collate = dataset, int(batch_size), collate
        self.shuffle, self.seed = shuffle, int(seed)
        self.rank, self.group_size = int(rank), int(group_size)
        self.lengths = None if lengths is None else np.asarray(lengths)
        self.bucket_window, self.num_workers = int(bucket_window), int(num_workers)

    @property
    def global_batch(self):
        return self.batch_size * self.group_size

    def __len__(self):
        """Steps per epoch (the same on every rank)."""
        return math.ceil(len(self.dataset) / self.global_batch)

    def epoch_order(self, epoch):
        """All item indices of the epoch in order, as one permutation shared by every rank."""
        count = len(self.dataset)
        if not self.shuffle:
            return np.arange(count)
        order = np.random.default_rng((self.seed, int(epoch), 0x5EED)).permutation(count)
        if self.lengths is not None:
            window = self.global_batch * self.bucket_window
            for start in range(0, count, window):
                chunk = order[start:start + window]
                order[start:start + window] = chunk[np.argsort(self.lengths[chunk], kind="stable")]
        return order

    def global_batches(self, epoch):
        """[steps, global_batch] item indices (training) or a list of shorter ones (evaluation)."""
        order = self.epoch_order(epoch)
        if not self.shuffle:
            return [order[i:i + self.global_batch] for i in range(0, len(order), self.global_batch)]
        steps = len(self)
        padded = np.resize(order, steps * self.global_batch)  # completes the last batch from the start
        batches = padded.reshape(steps, self.global_batch)
        if self.lengths is not None:  # buckets were built in order: shuffle whole batches
            batches = batches[np.random.default_rng((self.seed, int(epoch), 0xB0C)).permutation(steps)]
        return list(batches)

    def batch_indices(self, epoch):
        """This rank's item indices for each step of the epoch."""
        return [batch[self.rank::self.group_size] for batch in self.global_batches(epoch)]

    def shard(self, epoch):
        """This rank's share of the epoch's order, without the items repeated to complete the last
        global batch: the shards of all ranks are disjoint and together the whole dataset."""
        order = self.epoch_order(epoch)
        if self.shuffle and self.lengths is not None:
            # bucketed epochs shuffle whole batches, so a slot's position is not its order position
            rows = self.global_batches(epoch)
            seen, mine = set(), []
            for row in rows:
                for slot, index in enumerate(row):
                    if int(index) in seen:
                        continue
                    seen.add(int(index))
                    if slot % self.group_size == self.rank:
                        mine.append(int(index))
            return np.array(mine, dtype=np.int64)
        return order[self.rank::self.group_size]

    def _load(self, job):
        epoch, indices = job
        items = [self.dataset.get(int(i), item_rng(self.seed, epoch, i) if self.shuffle else None)
                 for i in indices]
        return self.collate(items)

    def iterate(self, epoch, start_batch=0):
        """Yield this rank's collated batches of ``epoch``, from ``start_batch`` on."""
        jobs = [(epoch, idx) for idx in self.batch_indices(epoch)[start_batch:]]
        jobs = [job for job in jobs if len(job[1])]  # evaluation: a rank may get no item in the last batch
        if self.num_workers <= 0:
            for job in jobs:
                yield self._load(job)
            return
        with multiprocessing.get_context("fork").Pool(self.num_workers) as pool:
            yield from pool.imap(self._load, jobs, chunksize=1)


def pad_stack(arrays, pad_value=0.0, multiple=1, dtype=np.float32):
    """Stack arrays that differ in their LAST axis, zero-padding to the longest.

    arrays: list of [..., T_i]. Returns (batch [B, ..., T_max], lengths [B] int32), T_max rounded up
    to a multiple of ``multiple``.
    """
    lengths = np.array([a.shape[-1] for a in arrays], dtype=np.int32)
    longest = int(math.ceil(lengths.max() / multiple) * multiple)
    batch = np.full((len(arrays),) + arrays[0].shape[:-1] + (longest,), pad_value, dtype=dtype)
    for row, array in zip(batch, arrays):
        row[..., :array.shape[-1]] = array
    return batch, lengths
