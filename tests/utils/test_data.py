import numpy as np
import pytest

from utils.data import BatchLoader, pad_stack


class Items:
    def __init__(self, count):
        self.count = count

    def __len__(self):
        return self.count

    def get(self, index, rng):
        return index, (None if rng is None else float(rng.random()))


def collate(items):
    return np.array([i for i, _ in items]), [r for _, r in items]


@pytest.mark.parametrize("bucketed", [False, True])
def test_shards_are_disjoint_complete_and_in_lock_step(bucketed):
    lengths = np.random.default_rng(0).integers(10, 100, 27) if bucketed else None
    loaders = [BatchLoader(Items(27), 3, collate, seed=5, rank=r, group_size=2, lengths=lengths) for r in range(2)]
    single = BatchLoader(Items(27), 6, collate, seed=5, lengths=lengths)
    for epoch in range(3):
        shards = [set(loader.shard(epoch).tolist()) for loader in loaders]
        assert not shards[0] & shards[1] and shards[0] | shards[1] == set(range(27))
        steps = [loader.batch_indices(epoch) for loader in loaders]
        assert len(steps[0]) == len(steps[1]) == len(single) == 5
        for k, batch in enumerate(single.batch_indices(epoch)):  # a global batch = union of the rank batches
            assert sorted(np.concatenate([steps[0][k], steps[1][k]])) == sorted(batch)
        read = [set(np.concatenate(s).tolist()) for s in steps]
        assert shards[0] <= read[0] and shards[1] <= read[1]
    assert loaders[0].batch_indices(0)[0].tolist() != loaders[0].batch_indices(1)[0].tolist()  # reshuffled


def test_item_randomness_depends_on_item_not_rank_or_resume():
    a = BatchLoader(Items(10), 2, collate, seed=1)
    batches = list(a.iterate(epoch=2))
    resumed = list(a.iterate(epoch=2, start_batch=3))
    assert [b[0].tolist() for b in batches[3:]] == [b[0].tolist() for b in resumed]
    assert [b[1] for b in batches[3:]] == [b[1] for b in resumed]
    by_item = {int(i): r for b in batches for i, r in zip(*b)}
    split = BatchLoader(Items(10), 1, collate, seed=1, rank=1, group_size=2)
    for b in split.iterate(epoch=2):
        assert by_item[int(b[0][0])] == b[1][0]


def test_evaluation_reads_every_item_once_in_order():
    loaders = [BatchLoader(Items(7), 2, collate, shuffle=False, rank=r, group_size=2) for r in range(2)]
    seen = [int(i) for loader in loaders for batch in loader.iterate(0) for i in batch[0]]
    assert sorted(seen) == list(range(7)) and len(seen) == 7
    alone = [int(i) for batch in BatchLoader(Items(7), 3, collate, shuffle=False).iterate(0) for i in batch[0]]
    assert alone == list(range(7))


def test_workers_give_the_same_batches():
    plain = list(BatchLoader(Items(12), 4, collate, seed=3).iterate(1))
    forked = list(BatchLoader(Items(12), 4, collate, seed=3, num_workers=2).iterate(1))
    assert [b[0].tolist() for b in plain] == [b[0].tolist() for b in forked]
    assert [b[1] for b in plain] == [b[1] for b in forked]


def test_pad_stack():
    batch, lengths = pad_stack([np.ones((2, 3)), np.ones((2, 5))], multiple=4)
    assert batch.shape == (2, 2, 8) and lengths.tolist() == [3, 5]
    assert batch[0, :, 3:].sum() == 0 and batch[1, :, :5].sum() == 10


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        BatchLoader(Items(0), 2, collate)
