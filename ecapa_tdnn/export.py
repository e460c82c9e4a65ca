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

DEFAULT_FIXED_FRAMES = 300


def add_arguments(parser):
    parser.add_argument("--ckpt_path", default=None, help="checkpoint to export (default: random weights built "
                                                          "from the config, for smoke tests)")
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=["MINDIR", "ONNX", "AIR"],
                        help="output format (default: %(default)s)")
    parser.add_argument("--file_name", required=True, help="output path without (or with) the extension")
    parser.add_argument("--fixed_length", type=int, default=None, help="export batch 1 of this many frames "
                                                                       "(10 ms each) instead of dynamic axes")
    parser.add_argument("--use_ema", action="store_true", help="export the EMA weights of the checkpoint")


def main():
    args, cfg, _ = start(__file__, "Export the ECAPA-TDNN embedding network", add_arguments)
    import logging

    import numpy as np

    from ecapa_tdnn.src.verification import build_network, embedding_input_specs
    from utils.checkpoint import checkpoint_config, load_network
    from utils.export import export_network

    log = logging.getLogger("zoo.export")
    config = cfg.to_dict()
    if args.ckpt_path:
        # the checkpoint's own config describes its architecture and front end
        config = checkpoint_config(args.ckpt_path) or config
    network = build_network(config)
    if args.ckpt_path:
        load_network(args.ckpt_path, network, use_ema=args.use_ema)
        log.info("loaded %s", args.ckpt_path)
    else:
        log.warning("no --ckpt_path: exporting RANDOM weights (smoke test only)")
    input_dim = int(config["model"]["input_dim"])
    network.set_inputs(*embedding_input_specs(input_dim))  # the shape probes below then share one compile

    def make_inputs(batch, frames):
        features = np.random.default_rng(0).standard_normal((batch, input_dim, frames)).astype(np.float32)
        return [features, np.full(batch, frames, np.int32)]

    path, description = export_network(network, embedding_input_specs(input_dim), args.file_name, args.file_format,
                                       make_inputs, input_names=["features", "lengths"],
                                       output_names=["embeddings"], fixed_length=args.fixed_length,
                                       example_length=DEFAULT_FIXED_FRAMES, config=config)
    log.info("inputs %s -> outputs %s", [(i["name"], i["shape"]) for i in description["inputs"]],
             [(o["name"], o["shape"]) for o in description["outputs"]])
    print(path)


if __name__ == "__main__":
    main()
