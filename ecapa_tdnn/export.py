"""Export the ECAPA-TDNN embedding network: features [B, 80, T] + lengths [B] -> embeddings [B, 192].

    python ecapa_tdnn/export.py --ckpt_path OUT/best.ckpt --file_format MINDIR --file_name OUT/ecapa
    python ecapa_tdnn/export.py --file_format MINDIR --file_name /tmp/ecapa_random   # random init (smoke tests)

MINDIR keeps the batch and frame axes dynamic; ONNX / AIR (and MINDIR with ``--fixed_length``) get batch
1 of a fixed frame count (``--fixed_length``, default 300 = 3 s). NAME.json beside the model describes the
inputs/outputs and holds the config, so eval.py and infer.py can use the .mindir like a checkpoint.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)
from functools import partial  # noqa: E402

from utils.export import add_export_arguments  # noqa: E402

DEFAULT_FIXED_FRAMES = 300


def main():
    args, cfg, _ = start(__file__, "Export the ECAPA-TDNN embedding network",
                         partial(add_export_arguments, length_unit="frames (10 ms)"))
    import numpy as np

    from ecapa_tdnn.src.verification import build_network, embedding_input_specs
    from utils.export import export_network, print_precision, log_description, network_for_export

    network, config = network_for_export(args, cfg, build_network)
    input_dim = int(config["model"]["input_dim"])
    network.set_inputs(*embedding_input_specs(input_dim))  # the shape probes below then share one compile

    def make_inputs(batch, frames):
        features = np.random.default_rng(0).standard_normal((batch, input_dim, frames)).astype(np.float32)
        return [features, np.full(batch, frames, np.int32)]

    path, description = export_network(network, embedding_input_specs(input_dim), args.file_name, args.file_format,
                                       make_inputs, input_names=["features", "lengths"],
                                       output_names=["embeddings"], fixed_length=args.fixed_length,
                                       example_length=DEFAULT_FIXED_FRAMES, config=config,
                                       precision=args.precision)
    log_description(path, description)
    print_precision(description)
    print(path)


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
