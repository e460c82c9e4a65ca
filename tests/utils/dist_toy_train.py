"""Toy training run for the distributed tests: python dist_toy_train.py OUT GLOBAL_BATCH EPOCHS.

Launched either alone or by msrun; the per-rank batch is GLOBAL_BATCH / group size, so a 2-worker
run and a single run see the same global batches. ZOO_DEBUG_DUMP_DIR makes every rank dump its final
parameters and item indices.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from utils.context import init_context  # noqa: E402
import numpy as np  # noqa: E402
import mindspore as ms  # noqa: E402

from utils.data import BatchLoader  # noqa: E402
from utils.distributed import all_reduce_sum  # noqa: E402
from utils.trainer import Trainer  # noqa: E402
from tests.utils.toy import ToyDataset, ToyLoss, ToyNet, toy_collate, toy_specs  # noqa: E402


def main():
    out, global_batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run = init_context("CPU", seed=0)
    net = ToyNet(batch_norm=False)
    loader = BatchLoader(ToyDataset(27), batch_size=global_batch // run.group_size, collate=toy_collate, seed=0,
                         rank=run.rank, group_size=run.group_size)
    valid = BatchLoader(ToyDataset(9, seed=1), batch_size=2, collate=toy_collate, shuffle=False,
                        rank=run.rank, group_size=run.group_size)

    def validate(network):
        sums = np.zeros(2)
        for x, n, y in valid.iterate(0):
            sums += [float(((network(ms.Tensor(x), ms.Tensor(n)).asnumpy() - y) ** 2).sum()), len(y)]
        total = all_reduce_sum(sums)
        return {"mse": total[0] / total[1], "n_valid": total[1]}

    trainer = Trainer(ToyLoss(net), net, loader, validate, {"epochs": epochs, "lr": 0.01}, out,
                      input_specs=toy_specs(), metric="mse", mode="min")
    trainer.fit()


if __name__ == "__main__":
    main()
