"""Evaluate TasNet: SI-SNRi and SDRi (BSS-eval v3, PIT) over every full utterance of a split.

    python tasnet/eval.py --data_dir Libri2Mix --ckpt_path OUT/best.ckpt --output_dir EVAL [--split test] [--save_wavs]

--ckpt_path takes a training checkpoint or an exported .mindir. Writes EVAL/metrics.json and EVAL/per_utterance.csv.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from tasnet.src.network import TasNet
    from utils.separation.evaluate import eval_main
    from utils import cli
    cli.run(__file__, eval_main, __file__, TasNet, "Evaluate TasNet speech separation")
