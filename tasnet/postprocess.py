"""Ascend 310 inference, step 3: the runner's result folder -> SI-SNRi / SDRi exactly as eval.py computes them.

    python tasnet/postprocess.py --result_path RUN/result --data_path Libri2Mix --output_dir RUN [--input_path IN]

Usually run by scripts/run_infer_310.sh; see utils/separation/ascend310.py.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from utils.separation.ascend310 import postprocess_main
    from utils import cli
    cli.run(__file__, postprocess_main, __file__, "Score TasNet Ascend 310 results (SI-SNRi, SDRi)")
