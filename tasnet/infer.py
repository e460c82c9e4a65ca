"""Separate your own recordings with TasNet: NAME_s1.wav ... NAME_sN.wav per input file.

    python tasnet/infer.py --ckpt_path OUT/best.ckpt --input FILE_OR_DIR --output_dir SEPARATED
        [--chunk_seconds 8 --overlap_seconds 1] [--record SECONDS]

Any sample rate / channel count in; long files go through the model in overlapping chunks (speaker order kept).
--ckpt_path takes a training checkpoint or an exported .mindir; --record needs the optional sounddevice package.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from tasnet.src.network import TasNet
    from utils.separation.infer import infer_main
    from utils import cli
    cli.run(__file__, infer_main, __file__, TasNet, "Separate audio files with TasNet")
