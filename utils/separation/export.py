"""`<model>/export.py` for every separation model: mixture [B, T] -> estimated sources [B, S, T].

    python tasnet/export.py [--ckpt_path OUT/best.ckpt] --file_format MINDIR --file_name OUT/tasnet [--fixed_length N]

MINDIR keeps the batch and length axes dynamic; ONNX / AIR (and --fixed_length) get batch 1 of a fixed
length. NAME.json beside the model holds the config, so eval.py / infer.py take the .mindir like a .ckpt.
"""
import logging

import numpy as np

from utils.cli import start

LOG = logging.getLogger("zoo.export")
DEFAULT_EXAMPLE_SECONDS = 4.0


def add_export_arguments(parser):
    parser.add_argument("--ckpt_path", default=None,
                        help="checkpoint to export (default: random weights from the config, for smoke tests)")
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=["MINDIR", "ONNX", "AIR"],
                        help="output format (default: %(default)s)")
    parser.add_argument("--file_name", required=True, help="output path, with or without the extension")
    parser.add_argument("--fixed_length", type=int, default=None,
                        help="export batch 1 of this many samples instead of dynamic axes (e.g. for Ascend 310)")
    parser.add_argument("--use_ema", action="store_true", help="export the EMA weights of the checkpoint")


def export_main(entry_file, network_class, description):
    args, cfg, _ = start(entry_file, description, add_export_arguments)
    from utils.checkpoint import checkpoint_config, load_network
    from utils.export import export_network
    from utils.separation.separate import mixture_spec, network_builder

    config = cfg.to_dict()
    if args.ckpt_path:
        config = checkpoint_config(args.ckpt_path) or config  # the architecture the weights were trained with
    network = network_builder(network_class)(config)
    if args.ckpt_path:
        load_network(args.ckpt_path, network, use_ema=args.use_ema)
        LOG.info("loaded %s", args.ckpt_path)
    else:
        LOG.warning("no --ckpt_path: exporting RANDOM weights (smoke test only)")
    network.set_inputs(mixture_spec())  # the shape probes of export_network then share one compile
    sample_rate = int(config["data"]["sample_rate"])

    def make_inputs(batch, length):
        return [0.1 * np.random.default_rng(0).standard_normal((batch, length)).astype(np.float32)]

    path, description = export_network(network, [mixture_spec()], args.file_name, args.file_format, make_inputs,
                                       input_names=["mixture"], output_names=["sources"],
                                       fixed_length=args.fixed_length,
                                       example_length=int(DEFAULT_EXAMPLE_SECONDS * sample_rate), config=config)
    LOG.info("inputs %s -> outputs %s", [(i["name"], i["shape"]) for i in description["inputs"]],
             [(o["name"], o["shape"]) for o in description["outputs"]])
    print(path)
    return path
