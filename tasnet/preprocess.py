"""List a LibriMix or wsj0-2mix folder as JSON (LISTS/{train,valid,test}.json). Optional: the other entry
points read the official layouts directly.

    python tasnet/preprocess.py --data_dir Libri2Mix --output_dir LISTS [--splits train valid test]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from utils.separation.preprocess import preprocess_main
    from utils import cli
    cli.run(__file__, preprocess_main, __file__, "List a LibriMix / wsj0-2mix folder for TasNet")
