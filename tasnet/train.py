"""Train TasNet on LibriMix or wsj0-2mix: random segments, PIT SI-SNR loss, SI-SNRi on full dev utterances.

    python tasnet/train.py --data_dir Libri2Mix --output_dir OUT [--resume OUT/last.ckpt] [--config_path tasnet/config_paper.yaml]
        [--train.max_steps 20] [--key value ...]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from tasnet.src.network import TasNet
    from utils.separation.train import train_main
    from utils import cli
    cli.run(__file__, train_main, __file__, TasNet, "Train TasNet speech separation")
