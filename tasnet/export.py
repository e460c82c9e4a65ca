"""Export TasNet (mixture [B, T] -> sources [B, n_src, T]) to MINDIR (dynamic batch and length), ONNX or AIR.

    python tasnet/export.py [--ckpt_path OUT/best.ckpt] --file_format MINDIR --file_name OUT/tasnet [--fixed_length 32000]

Without --ckpt_path the network has random weights (smoke tests). NAME.json beside the file holds the config.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from tasnet.src.network import TasNet
    from utils.separation.export import export_main
    from utils import cli
    cli.run(__file__, export_main, __file__, TasNet, "Export TasNet speech separation")
