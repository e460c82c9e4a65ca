"""Ascend 310 inference, step 1: a LibriMix / wsj0-2mix split -> protocol input folder (one mixture per item).

    python tasnet/preprocess_310.py --data_path Libri2Mix --output_path IN [--split test] [--fixed_length N] [--max_items N]

Usually run by scripts/run_infer_310.sh; see utils/separation/ascend310.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from utils.separation.ascend310 import preprocess_main
    from utils import cli
    cli.run(__file__, preprocess_main, __file__, "Write a separation split as Ascend 310 inputs for TasNet")
