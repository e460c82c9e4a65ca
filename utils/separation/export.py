"""`<model>/export.py` for every separation model: mixture [B, T] -> estimated sources [B, S, T].

    python tasnet/export.py [--ckpt_path OUT/best.ckpt] --file_format MINDIR --file_name OUT/tasnet [--fixed_length N]

MINDIR keeps the batch and length axes dynamic; ONNX / AIR (and --fixed_length) get batch 1 of a fixed
length. NAME.json beside the model holds the config, so eval.py / infer.py take the .mindir like a .ckpt.
"""
import numpy as np

from utils.cli import start
from utils.export import add_export_arguments

DEFAULT_EXAMPLE_SECONDS = 4.0


def export_main(entry_file, network_class, description):
    args, cfg, _ = start(entry_file, description, add_export_arguments)
    from utils.export import export_network, print_precision, log_description, network_for_export
    from utils.separation.separate import mixture_spec, network_builder

    network, config = network_for_export(args, cfg, network_builder(network_class))
    network.set_inputs(mixture_spec())  # the shape probes of export_network then share one compile
    sample_rate = int(config["data"]["sample_rate"])

    def make_inputs(batch, length):
        return [0.1 * np.random.default_rng(0).standard_normal((batch, length)).astype(np.float32)]

    path, description = export_network(network, [mixture_spec()], args.file_name, args.file_format, make_inputs,
                                       input_names=["mixture"], output_names=["sources"],
                                       fixed_length=args.fixed_length,
                                       example_length=int(DEFAULT_EXAMPLE_SECONDS * sample_rate), config=config,
                                       precision=args.precision)
    log_description(path, description)
    print_precision(description)
    print(path)
    return path
