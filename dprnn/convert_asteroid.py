"""Convert an asteroid DPRNNTasNet checkpoint into this zoo's DPRNN (same outputs, no PyTorch needed).

    python dprnn/convert_asteroid.py --asteroid_ckpt pytorch_model.bin --output_dir OUT
    python dprnn/convert_asteroid.py --asteroid_ckpt state_dict.pth --model_args model_args.yaml --output_dir OUT

Writes OUT/model.ckpt (for eval.py / infer.py / export.py --ckpt_path) and OUT/config.yaml.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from dprnn.src.network import DPRNN
    from utils.separation.convert_asteroid import convert_main
    from utils import cli
    cli.run(__file__, convert_main, __file__, "DPRNNTasNet", DPRNN,
            "Convert an asteroid DPRNNTasNet checkpoint to DPRNN")
