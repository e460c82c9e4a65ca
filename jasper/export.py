"""Export Jasper to MINDIR / ONNX / AIR: log-mel features [B, 64, T] + lengths [B] -> log-probs + output lengths.

    python jasper/export.py --ckpt_path runs/jasper/best.ckpt --file_format MINDIR --file_name runs/jasper/jasper \
        [--fixed_length FRAMES] [--use_ema]

MINDIR keeps batch and time dynamic; ONNX and AIR get a fixed length (--fixed_length feature frames, 10 ms each;
default 1600 = 16 s). Without --ckpt_path the network of --config_path is exported with random weights (smoke
tests). NAME.json beside the model lists inputs/outputs (-1 = dynamic axis) and the config eval.py / infer.py need.
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)

import logging  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

from utils.export import add_export_arguments  # noqa: E402

EXAMPLE_FRAMES = 1600


def main():
    args, cfg, run = start(__file__, "Export Jasper", partial(add_export_arguments, length_unit="feature frames"))
    from jasper.src.network import build_network, count_parameters, input_specs
    from utils.export import export_network, print_precision, network_for_export

    log = logging.getLogger("zoo.export")
    network, config = network_for_export(args, cfg, build_network)
    in_features = int(config["model"]["in_features"])
    rng = np.random.default_rng(0)

    def make_inputs(batch, frames):
        return [rng.standard_normal((batch, in_features, frames)).astype(np.float32),
                np.full(batch, frames, dtype=np.int32)]

    path, description = export_network(
        network, input_specs(in_features), args.file_name, args.file_format, make_inputs=make_inputs,
        input_names=["features", "feature_lengths"], output_names=["log_probs", "output_lengths"],
        fixed_length=args.fixed_length, example_length=EXAMPLE_FRAMES, config=config,
        precision=args.precision)
    log.info("%s: %.2f M parameters, inputs %s, outputs %s", path, count_parameters(network) / 1e6,
             [(d["name"], d["shape"]) for d in description["inputs"]],
             [(d["name"], d["shape"]) for d in description["outputs"]])
    print_precision(description)
    print(path)


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
