"""Convert an asteroid LSTMTasNet checkpoint into this zoo's TasNet (same outputs, no PyTorch needed).

    python tasnet/convert_asteroid.py --asteroid_ckpt pytorch_model.bin --output_dir OUT
    python tasnet/convert_asteroid.py --asteroid_ckpt state_dict.pth --model_args model_args.yaml --output_dir OUT

Writes OUT/model.ckpt (for eval.py / infer.py / export.py --ckpt_path) and OUT/config.yaml.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402,F401  (first: sets the environment before mindspore loads)

if __name__ == "__main__":
    from tasnet.src.network import TasNet
    from utils.separation.convert_asteroid import convert_main
    from utils import cli
    cli.run(__file__, convert_main, __file__, "LSTMTasNet", TasNet,
            "Convert an asteroid LSTMTasNet checkpoint to TasNet")
