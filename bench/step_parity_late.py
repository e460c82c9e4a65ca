"""Step parity late in training: does our training step still equal asteroid's once the model has learned?

    python bench/step_parity_late.py --data_root data/tiny --model tasnet --after 0 400 800 --steps 5

tests/{tasnet,dprnn}/test_train_parity.py compare 3 steps from RANDOM weights on white-noise batches. This
trains asteroid's model (config.yaml sizes, asteroid's options, torch Adam lr 1e-3 wd 1e-5, clip 5) on the tiny
Libri2Mix training crops (the batches of bench/train_parity.py, seed --seed), and at each --after count converts
its weights into ours and runs the same comparison for --steps more real batches (tests.utils.separation.
asteroid_parity.train_step_parity: ours vs asteroid in float32 and float64, fresh Adam states on both sides).
One line per checkpoint: the largest relative distance of our weights to the float64 run beside torch float32's
own, the loss gaps, the gradient norms (clipping at 5 is active while they exceed 5). A rule difference that only
matters for trained weights (small gradients, saturated gates) would show as ours drifting far beyond torch32.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads
import utils.context  # noqa: E402,F401  (environment before mindspore)

import numpy as np  # noqa: E402

ASTEROID_NAMES = {"tasnet": "LSTMTasNet", "dprnn": "DPRNNTasNet"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_root", required=True, help="folder with Libri2Mix/ (the tiny corpora)")
    parser.add_argument("--model", default="tasnet", choices=sorted(ASTEROID_NAMES))
    parser.add_argument("--after", type=int, nargs="+", default=[0, 400, 800],
                        help="compare after this many asteroid training steps (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=5, help="steps compared at each point (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="initial weights and batches (default: %(default)s)")
    args = parser.parse_args()

    import torch
    from bench.train_parity import asteroid_args, seed_everything, separation_batches
    from tests import training_parity as parity
    from tests.utils.separation import asteroid_parity
    from torch_references import import_reference
    from utils.config import load_yaml
    from utils.separation.data import SeparationDataset, find_items
    if args.model == "tasnet":
        from tasnet.src.network import TasNet as network_class
    else:
        from dprnn.src.network import DPRNN as network_class
    torch.set_num_threads(1)
    cfg = load_yaml(os.path.join(ROOT, args.model, "config.yaml"))
    train = SeparationDataset(find_items(os.path.join(args.data_root, "Libri2Mix"), "train", 8000), 8000, 1.0,
                              seed=args.seed)
    checkpoints = sorted(set(args.after))
    batches = separation_batches(train, checkpoints[-1] + args.steps, int(cfg.train.batch_size), args.seed)
    seed_everything(args.seed)
    name = ASTEROID_NAMES[args.model]
    reference = getattr(import_reference("asteroid.models"), name)(**asteroid_args(args.model, cfg.model))
    losses_module = import_reference("asteroid.losses")
    pit = losses_module.PITLossWrapper(losses_module.pairwise_neg_sisdr, pit_from="pw_mtx")
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3, weight_decay=1e-5)
    trained = 0
    for checkpoint in checkpoints:
        for mixture, sources, _ in batches[trained:checkpoint]:
            optimizer.zero_grad()
            pit(reference(torch.from_numpy(mixture)), torch.from_numpy(sources)).backward()
            torch.nn.utils.clip_grad_norm_(reference.parameters(), 5.0)
            optimizer.step()
        trained = checkpoint
        upcoming = batches[trained:trained + args.steps]
        asteroid_parity.separation_batches = lambda count, upcoming=upcoming, **_: upcoming[:count]
        losses, distances, norms = asteroid_parity.train_step_parity(reference, name, network_class,
                                                                     steps=args.steps, clip_norm=5.0)
        print(f"{args.model} after {trained} asteroid steps: "
              f"{parity.summary(f'{args.steps} more steps', distances, losses)}; "
              f"gradient norms {np.round(norms, 1).tolist()}", flush=True)


if __name__ == "__main__":
    main()
