"""Convert asteroid's LSTMTasNet / DPRNNTasNet weights into this zoo's TasNet / DPRNN.

Input: a file written by ``torch.save`` (read without torch, see utils.torch_checkpoint) holding either
asteroid's ``serialize()`` package (``model_name``, ``model_args``, ``state_dict``, optional
``sample_rate``: the ``pytorch_model.bin`` of asteroid's Hugging Face models) or a bare state_dict, whose
constructor arguments then come from a JSON/YAML file (``model_args`` itself, or an asteroid recipe
``conf.yml`` with ``filterbank:`` and ``masknet:`` sections).

Output: ``OUT/model.ckpt`` (the network + its full config, loadable by eval.py / infer.py / export.py)
and ``OUT/config.yaml``. The asteroid computation is reproduced with our models' options (see
``tasnet_model_config`` / ``dprnn_model_config``); an argument we cannot reproduce is an error naming it.

Accounting: every asteroid tensor is mapped by exactly one rule or listed in ``NOT_NEEDED`` with the
reason; any other name is an error, as is a shape mismatch; every one of our parameters must be filled.
"""
import json
import logging
import os
import re

import numpy as np
import yaml

import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms

from utils.checkpoint import save_network
from utils.config import Config, save_config
from utils.torch_checkpoint import load_torch_checkpoint, state_dict_of

LOG = logging.getLogger("zoo.convert_asteroid")

# Constructor defaults of asteroid 0.7 (used for arguments a --model_args file leaves out).
FILTERBANK_DEFAULTS = {"fb_name": "free", "n_filters": 64, "kernel_size": 16, "stride": 8, "sample_rate": 8000,
                       "encoder_activation": None, "in_chan": None, "out_chan": None,
                       "padding": 0, "output_padding": 0, "who_is_pinv": None}
ASTEROID_DEFAULTS = {
    "LSTMTasNet": {**FILTERBANK_DEFAULTS, "rnn_type": "lstm", "n_layers": 4, "hid_size": 512, "dropout": 0.3,
                   "mask_act": "sigmoid", "bidirectional": True},
    "DPRNNTasNet": {**FILTERBANK_DEFAULTS, "bn_chan": 128, "hid_size": 128, "chunk_size": 100, "hop_size": None,
                    "n_repeats": 6, "norm_type": "gLN", "mask_act": "sigmoid", "bidirectional": True,
                    "rnn_type": "LSTM", "num_layers": 1, "dropout": 0, "use_mulcat": False},
}
# asteroid's names for the same norms (its "cLN" is per frame, its "cgLN" cumulative).
DPRNN_NORMS = {"gLN": "gLN", "cLN": "chanLN"}
# asteroid applies softmax over the filter axis (DPRNN) or the frame axis (LSTMTasNet), not over sources.
MASK_ACTS = {"sigmoid": "sigmoid", "relu": "relu"}
FREE_FILTERBANKS = ("free", "FreeFB")


def _squeeze_conv_filters(array):
    """Conv1d filters [N, 1, L] -> Dense weight [N, L]."""
    if array.ndim != 3 or array.shape[1] != 1:
        raise ValueError(f"expected Conv1d filters [N, 1, L], got {list(array.shape)}")
    return array[:, 0, :]


def _transposed_conv_filters(array):
    """ConvTranspose1d filters [N, 1, L] -> overlap-add decoder Dense weight [L, N]."""
    return _squeeze_conv_filters(array).T


def _pointwise(array):
    """1x1 Conv1d [out, in, 1] / Conv2d [out, in, 1, 1] weight -> Dense weight [out, in]; others unchanged."""
    if array.ndim > 2:
        if any(size != 1 for size in array.shape[2:]):
            raise ValueError(f"expected a 1x1 convolution kernel, got {list(array.shape)}")
        return array.reshape(array.shape[:2])
    return array


def _same(array):
    return array


_RNN = r"rnn\.((?:weight|bias)_(?:ih|hh)_l\d+(?:_reverse)?)"
TASNET_RULES = [
    (r"encoder\.encoder_relu\.filterbank\._filters", "encoder.conv_u.weight", _squeeze_conv_filters),
    (r"encoder\.encoder_sig\.filterbank\._filters", "encoder.conv_v.weight", _squeeze_conv_filters),
    (r"decoder\.filterbank\._filters", "decoder.basis.weight", _transposed_conv_filters),
    (r"masker\.bn_layer\.(gamma|beta)", r"masker.norm.\1", _same),
    (r"masker\.masker\.0\." + _RNN, r"masker.lstms.0.\1", _same),
    (r"masker\.masker\.1\.(weight|bias)", r"masker.to_masks.\1", _same),
]
DPRNN_RULES = [
    (r"encoder\.filterbank\._filters", "encoder.basis.weight", _squeeze_conv_filters),
    (r"decoder\.filterbank\._filters", "decoder.basis.weight", _transposed_conv_filters),
    (r"masker\.bottleneck\.0\.(gamma|beta)", r"masker.bottleneck_norm.\1", _same),
    (r"masker\.bottleneck\.1\.(weight|bias)", r"masker.bottleneck.\1", _pointwise),
    (r"masker\.net\.(\d+)\.(intra|inter)_RNN\." + _RNN, r"masker.blocks.\1.\2_rnn.\3", _same),
    (r"masker\.net\.(\d+)\.(intra|inter)_(linear|norm)\.(weight|bias|gamma|beta)", r"masker.blocks.\1.\2_\3.\4",
     _same),
    (r"masker\.first_out\.0\.weight", "masker.prelu.w", _same),
    (r"masker\.first_out\.1\.(weight|bias)", r"masker.first_out.\1", _pointwise),
    (r"masker\.(net_out|net_gate)\.0\.(weight|bias)", r"masker.\1.\2", _pointwise),
    (r"masker\.mask_net\.weight", "masker.mask_net.weight", _pointwise),
]
# asteroid tensor -> (the tensor it must equal, why it is not needed).
NOT_NEEDED = {
    "LSTMTasNet": {"encoder.filterbank._filters": (
        "encoder.encoder_relu.filterbank._filters",
        "_GatedEncoder keeps a second reference to its ReLU branch's filterbank (for get_config)")},
    "DPRNNTasNet": {},
}
RULES = {"LSTMTasNet": TASNET_RULES, "DPRNNTasNet": DPRNN_RULES}


def _read_args_file(path):
    """model_args dict (+ sample rate or None) from a JSON/YAML file: the args themselves, a dict with a
    ``model_args`` key, or an asteroid recipe conf.yml (``filterbank`` + ``masknet`` sections)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model_args file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)  # JSON is YAML
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid JSON/YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of asteroid constructor arguments, got {type(data).__name__}")
    if "model_args" in data:
        return dict(data["model_args"]), data.get("sample_rate")
    if "filterbank" in data or "masknet" in data:
        args = {**(data.get("filterbank") or {}), **(data.get("masknet") or {})}
        sample_rate = (data.get("data") or {}).get("sample_rate")
        if sample_rate is not None:
            args.setdefault("sample_rate", sample_rate)
        return args, sample_rate
    return dict(data), None


def read_asteroid_checkpoint(path, model_args_path=None):
    """Read an asteroid checkpoint.

    Returns (model_name or None, model_args dict, state_dict {name: np.ndarray}, sample_rate or None).
    ``model_args_path`` (JSON/YAML) replaces the package's model_args; it is required for a bare state_dict.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"asteroid checkpoint not found: {path}")
    loaded = load_torch_checkpoint(path)
    package = loaded if isinstance(loaded, dict) and isinstance(loaded.get("model_args"), dict) else {}
    state = state_dict_of(loaded, path)
    if state and all(name.startswith("model.") for name in state):  # a Lightning System checkpoint
        state = {name[len("model."):]: value for name, value in state.items()}
    sample_rate = package.get("sample_rate")
    if model_args_path:
        model_args, file_rate = _read_args_file(model_args_path)
        sample_rate = sample_rate if sample_rate is not None else file_rate
    elif package:
        model_args = dict(package["model_args"])
    else:
        raise ValueError(f"{path} holds a bare state_dict without asteroid's model_args: pass --model_args "
                         f"FILE (JSON/YAML of the {'/'.join(ASTEROID_DEFAULTS)} constructor arguments)")
    if sample_rate is None:
        sample_rate = model_args.get("sample_rate")
    return package.get("model_name"), model_args, state, sample_rate


def _resolved_args(model_name, model_args, path):
    """asteroid's defaults + model_args; unknown or unsupported arguments are errors naming them."""
    defaults = ASTEROID_DEFAULTS[model_name]
    unknown = sorted(set(model_args) - set(defaults) - {"n_src"})
    if unknown:
        raise ValueError(f"{path}: {model_name} argument(s) this converter does not know: {', '.join(unknown)}")
    if "n_src" not in model_args:
        raise ValueError(f"{path}: {model_name} model_args lack n_src")
    args = {**defaults, **model_args}
    args["stride"] = args["stride"] if args["stride"] is not None else args["kernel_size"] // 2
    problems = []
    if args["fb_name"] not in FREE_FILTERBANKS:
        problems.append(f"fb_name={args['fb_name']!r} (only the free filterbank is supported)")
    for key in ("padding", "output_padding"):
        if args[key]:
            problems.append(f"{key}={args[key]} (only 0 is supported)")
    if args["who_is_pinv"] is not None:
        problems.append(f"who_is_pinv={args['who_is_pinv']!r} (pseudo-inverse filterbanks are not supported)")
    for key in ("in_chan", "out_chan"):
        if args[key] is not None and args[key] != args["n_filters"]:
            problems.append(f"{key}={args[key]} differs from n_filters={args['n_filters']}")
    if args["kernel_size"] % args["stride"]:
        problems.append(f"kernel_size={args['kernel_size']} is not a multiple of stride={args['stride']}")
    if args["mask_act"] not in MASK_ACTS:
        problems.append(f"mask_act={args['mask_act']!r} (supported: {', '.join(MASK_ACTS)})")
    if str(args["rnn_type"]).upper() != "LSTM":
        problems.append(f"rnn_type={args['rnn_type']!r} (only LSTM)")
    if problems:
        raise ValueError(f"{path}: cannot reproduce this {model_name}: " + "; ".join(problems))
    return args


def tasnet_model_config(model_args, path="model_args"):
    """asteroid LSTMTasNet constructor args -> our TasNet(**config) computing the same function."""
    args = _resolved_args("LSTMTasNet", model_args, path)
    if args["encoder_activation"] not in (None, "linear", "relu"):  # relu is a no-op on relu * sigmoid >= 0
        raise ValueError(f"{path}: cannot reproduce LSTMTasNet encoder_activation={args['encoder_activation']!r}")
    return {"n_src": int(args["n_src"]), "n_filters": int(args["n_filters"]),
            "frame_length": int(args["kernel_size"]), "stride": int(args["stride"]),
            "hidden_size": int(args["hid_size"]), "n_layers": int(args["n_layers"]),
            "bidirectional": bool(args["bidirectional"]),
            # asteroid's LSTMMasker picks the norm from the direction: GlobLN, or CumLN (our cLN) when causal
            "norm": "gLN" if args["bidirectional"] else "cLN",
            "mask_act": MASK_ACTS[args["mask_act"]], "dropout": float(args["dropout"]),
            "frame_norm": False, "encoder_bias": False, "lstm_skip": False, "framing": "valid"}


def dprnn_model_config(model_args, path="model_args"):
    """asteroid DPRNNTasNet constructor args -> our DPRNN(**config) computing the same function."""
    args = _resolved_args("DPRNNTasNet", model_args, path)
    problems = []
    if args["encoder_activation"] not in (None, "linear", "relu"):
        problems.append(f"encoder_activation={args['encoder_activation']!r} (supported: none, linear, relu)")
    if args["norm_type"] not in DPRNN_NORMS:
        problems.append(f"norm_type={args['norm_type']!r} (supported: {', '.join(DPRNN_NORMS)})")
    if args["hop_size"] is not None and args["hop_size"] * 2 != args["chunk_size"]:
        problems.append(f"hop_size={args['hop_size']} (only chunk_size / 2 = 50 % overlap)")
    if args["num_layers"] != 1:
        problems.append(f"num_layers={args['num_layers']} (only 1 LSTM layer per path)")
    if args["use_mulcat"]:
        problems.append("use_mulcat=True (MulCat RNNs are not supported)")
    if problems:
        raise ValueError(f"{path}: cannot reproduce this DPRNNTasNet: " + "; ".join(problems))
    return {"n_src": int(args["n_src"]), "n_filters": int(args["n_filters"]),
            "kernel_size": int(args["kernel_size"]), "stride": int(args["stride"]),
            "bn_chan": int(args["bn_chan"]), "hid_size": int(args["hid_size"]),
            "chunk_size": int(args["chunk_size"]), "n_repeats": int(args["n_repeats"]),
            "norm": DPRNN_NORMS[args["norm_type"]], "mask_act": MASK_ACTS[args["mask_act"]],
            "bidirectional": bool(args["bidirectional"]), "dropout": float(args["dropout"]),
            "encoder_relu": args["encoder_activation"] == "relu", "framing": "valid", "chunk_margin": "full"}


MODEL_CONFIGS = {"LSTMTasNet": tasnet_model_config, "DPRNNTasNet": dprnn_model_config}


def map_state_dict(state_dict, model_name, network, path="checkpoint"):
    """asteroid state_dict -> {our parameter name: np.float32 array} for every parameter of ``network``.

    Errors name: an asteroid tensor no rule maps, an alias that differs from its original, a target we do
    not have, a shape mismatch (both names and shapes), one of our parameters left unfilled.
    """
    ours = {param.name: tuple(param.shape) for param in network.get_parameters()}
    rules = [(re.compile(pattern + r"\Z"), target, transform) for pattern, target, transform in RULES[model_name]]
    mapped = {}
    for name, value in state_dict.items():
        if name in NOT_NEEDED[model_name]:
            original, _ = NOT_NEEDED[model_name][name]
            if original in state_dict and not np.array_equal(state_dict[original], value):
                raise ValueError(f"{path}: {name} should be the same tensor as {original} but differs")
            continue
        match = next(((rule, target, transform) for rule, target, transform in rules if rule.match(name)), None)
        if match is None:
            raise KeyError(f"{path}: asteroid tensor {name!r} {list(np.shape(value))} is not mapped to any "
                           f"{'TasNet' if model_name == 'LSTMTasNet' else 'DPRNN'} parameter (unknown name)")
        rule, target, transform = match
        our_name = rule.sub(target, name)
        if our_name not in ours:
            raise KeyError(f"{path}: asteroid tensor {name!r} maps to {our_name!r}, which the converted network "
                           f"does not have (the model_args do not match the weights?)")
        try:
            array = np.asarray(transform(np.asarray(value)), dtype=np.float32)
        except ValueError as exc:
            raise ValueError(f"{path}: {name}: {exc}") from exc
        if tuple(array.shape) != ours[our_name]:
            raise ValueError(f"{path}: shape mismatch: asteroid {name} {list(np.shape(value))} -> "
                             f"{list(array.shape)}, but our {our_name} is {list(ours[our_name])}")
        if our_name in mapped:
            raise KeyError(f"{path}: two asteroid tensors map to {our_name}")
        mapped[our_name] = array
    missing = [name for name in ours if name not in mapped]
    if missing:
        raise KeyError(f"{path}: {len(missing)} parameter(s) of ours get no asteroid tensor: {', '.join(missing[:8])}"
                       f"{' ...' if len(missing) > 8 else ''}")
    return mapped


def detect_model_name(model_name, state_dict, expected, path):
    """The asteroid class: the package's model_name, else guessed from the tensor names; must be `expected`."""
    if model_name is None:
        model_name = "LSTMTasNet" if any(n.startswith("encoder.encoder_relu.") for n in state_dict) else "DPRNNTasNet"
    if model_name != expected:
        raise ValueError(f"{path} holds an asteroid {model_name}; this converter takes {expected}")
    return model_name


def convert(path, expected_model, network_class, cfg, model_args_path=None):
    """Convert ``path`` into a network of ``network_class``; ``cfg`` (Config) gets the model section and the
    sample rate. Returns (network with the asteroid weights, cfg, asteroid model_args)."""
    model_name, model_args, state_dict, sample_rate = read_asteroid_checkpoint(path, model_args_path)
    model_name = detect_model_name(model_name, state_dict, expected_model, path)
    model_config = MODEL_CONFIGS[model_name](model_args, model_args_path or path)
    network = network_class(**model_config)
    mapped = map_state_dict(state_dict, model_name, network, path)
    for param in network.get_parameters():
        param.set_data(ms.Tensor(mapped[param.name]))
    network.set_train(False)
    cfg.model = Config(model_config)
    if sample_rate is not None:
        cfg.data.sample_rate = int(sample_rate)
    else:
        LOG.warning("%s names no sample rate: keeping data.sample_rate %s", path, cfg.data.sample_rate)
    LOG.info("mapped %d asteroid tensors onto %d parameters of %s", len(state_dict), len(mapped),
             network_class.__name__)
    return network, cfg, model_args


def add_convert_arguments(parser):
    parser.add_argument("--asteroid_ckpt", required=True,
                        help="asteroid checkpoint: a serialize() package (e.g. a hub pytorch_model.bin) or a "
                             "bare state_dict (then --model_args is required)")
    parser.add_argument("--model_args", default=None,
                        help="JSON/YAML file with the asteroid constructor arguments (or a recipe conf.yml); "
                             "overrides the package's model_args")
    parser.add_argument("--output_dir", required=True, help="writes OUT/model.ckpt and OUT/config.yaml")


def convert_main(entry_file, expected_model, network_class, description):
    """The whole converter entry point: asteroid ``expected_model`` -> ``network_class`` in OUT/."""
    from utils.cli import start
    args, cfg, run = start(entry_file, description, add_convert_arguments)
    network, cfg, model_args = convert(args.asteroid_ckpt, expected_model, network_class, cfg, args.model_args)
    if run.is_main:
        os.makedirs(args.output_dir, exist_ok=True)
        ckpt_path = os.path.join(args.output_dir, "model.ckpt")
        save_network(ckpt_path, network, config=cfg.to_dict())
        save_config(cfg, os.path.join(args.output_dir, "config.yaml"))
        LOG.info("asteroid %s args %s", expected_model, json.dumps(model_args, sort_keys=True, default=str))
        LOG.info("wrote %s and config.yaml (model: %s)", ckpt_path, dict(cfg.model))
    return network, cfg
