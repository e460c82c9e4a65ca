"""Convert an NVIDIA DeepLearningExamples Jasper checkpoint (PyTorch) into this zoo's MindSpore checkpoint.

    python jasper/convert_nvidia.py --nvidia_ckpt nvidia_jasper_210205.pt --output_dir OUT [--ema] \
        [--config_path jasper/config_10x5dr.yaml] [--key value ...]

Input: a file written by NVIDIA's trainer (PyTorch/SpeechRecognition/Jasper): a dict with ``state_dict`` and
``ema_state_dict`` (+ epoch, step, optimizer...), or a bare state dict; keys may carry a ``module.`` prefix
(DistributedDataParallel) and may use the first release's names (``jasper_encoder.encoder.*``,
``jasper_decoder.decoder_layers.*``, ``acoustic_model.*`` duplicates, ``audio_preprocessor.featurizer.fb`` /
``.window``). torch is not needed. ``--ema`` takes the averaged weights (NVIDIA evaluates with those).

Output: ``OUT/model.ckpt`` (network weights + the resolved config inside, so ``jasper/eval.py --ckpt_path
OUT/model.ckpt`` needs no other flag) and ``OUT/config.yaml`` (the same config). The architecture is read
from the tensor shapes (blocks, sub-blocks, filters, kernels, dense residual panes, input mels, classes);
stride, dilation and dropout cannot be, so they come from the template config (``--config_path``, default
``jasper/config_10x5dr.yaml``, NVIDIA's recipe), block by block. The feature settings are set to NVIDIA's
``FilterbankFeatures``: reflect-padded STFT, ln(x + 1e-20), ceil(T / hop) valid frames; a mel filterbank or
window stored in the checkpoint is compared with ours (a warning gives the largest difference).
"""
import os, sys  # noqa: E401
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)

import copy  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402

import numpy as np  # noqa: E402

LOG = logging.getLogger("zoo.convert_nvidia")
DEFAULT_TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config_10x5dr.yaml")
NVIDIA_LABELS = " abcdefghijklmnopqrstuvwxyz'"  # NVIDIA's configs; its CTC blank is appended last
# first-release names -> current ones (NVIDIA's own helpers.convert_v1_state_dict does the same renaming)
V1_RENAMES = (("jasper_encoder.encoder.", "encoder.layers."), ("jasper_decoder.decoder_layers.", "decoder.layers."))
V1_DUPLICATE_PREFIX = "acoustic_model."  # the same modules registered a second time in the first release
FEATURE_BUFFERS = {"audio_preprocessor.featurizer.fb": "mel filterbank [1, n_mels, n_fft // 2 + 1]",
                   "audio_preprocessor.featurizer.window": "analysis window [win_length]"}
BN_NAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
# reference tensors that have no counterpart in our network, with the reason
NOT_NEEDED = {"num_batches_tracked": "BatchNorm step counter, only used by torch when momentum is None "
                                     "(NVIDIA uses momentum 0.1); inference does not read it"}
# the front end of NVIDIA's FilterbankFeatures that differs from the zoo's defaults
NVIDIA_FEATURES = dict(pad_mode="reflect", log_guard=1e-20, frame_count="ceil", window="hann",
                       window_periodic=False, center=True, preemphasis=0.97, power=2.0, log="natural",
                       normalize="per_feature", norm_eps=1e-5, f_min=0.0, f_max=None, mel_norm="slaney", htk=False)

CONV_KEY = re.compile(r"^encoder\.layers\.(\d+)\.conv\.(\d+)\.(\w+)$")
RES_KEY = re.compile(r"^encoder\.layers\.(\d+)\.res\.(\d+)\.([01])\.(\w+)$")
DECODER_KEY = re.compile(r"^decoder\.layers\.0\.(weight|bias)$")


def add_arguments(parser):
    parser.add_argument("--nvidia_ckpt", required=True, help="NVIDIA Jasper checkpoint (.pt written by torch.save)")
    parser.add_argument("--output_dir", required=True, help="where model.ckpt and config.yaml are written")
    parser.add_argument("--ema", action="store_true", help="convert ema_state_dict (the averaged weights)")


class ConversionError(ValueError):
    """A checkpoint that cannot be converted; the message names the file and the tensor."""


def nvidia_weights(checkpoint, path, use_ema=False):
    """The chosen state dict of a loaded NVIDIA checkpoint with current key names.

    checkpoint: what ``utils.torch_checkpoint.load_torch_checkpoint`` returned.
    Returns (weights {name: array}: network tensors, buffers {name: array}: front-end buffers found).
    """
    from utils.torch_checkpoint import state_dict_of

    key = "ema_state_dict" if use_ema else "state_dict"
    if use_ema and isinstance(checkpoint, dict) and checkpoint.get("ema_state_dict") is None:
        raise ConversionError(f"{path}: --ema given but the checkpoint has no ema_state_dict "
                              f"(top-level keys: {sorted(map(str, checkpoint))})")
    raw = state_dict_of(checkpoint, path, preferred=(key,))
    renamed = {}
    for name, value in raw.items():
        name = name[len("module."):] if name.startswith("module.") else name
        for old, new in V1_RENAMES:
            name = new + name[len(old):] if name.startswith(old) else name
        renamed[name] = np.asarray(value)
    weights, buffers = {}, {}
    for name, value in renamed.items():
        if name in FEATURE_BUFFERS:
            buffers[name] = value
        elif not name.startswith(V1_DUPLICATE_PREFIX):
            weights[name] = value
    for name, value in renamed.items():  # duplicates must equal the tensors they duplicate
        if name.startswith(V1_DUPLICATE_PREFIX):
            twin = name[len(V1_DUPLICATE_PREFIX):]
            for old, new in V1_RENAMES:
                twin = new + twin[len(old):] if twin.startswith(old) else twin
            if twin not in weights or not np.array_equal(weights[twin], value):
                raise ConversionError(f"{path}: {name} is not a copy of {twin} (missing or different)")
    return weights, buffers


def infer_architecture(weights, path):
    """Architecture from tensor shapes: (in_features, num_classes, blocks without stride/dilation/dropout).

    A block with several residual panes, or followed by a block with one pane more, is dense (its output
    joins the residual sources of the next dense block); a lone single-pane block is a plain residual.
    """
    convs, panes = {}, {}
    for name, value in weights.items():
        conv, res = CONV_KEY.match(name), RES_KEY.match(name)
        if conv and conv.group(3) == "weight" and value.ndim == 3:
            convs.setdefault(int(conv.group(1)), {})[int(conv.group(2))] = value.shape
        elif res and res.group(3) == "0" and res.group(4) == "weight":
            panes.setdefault(int(res.group(1)), {})[int(res.group(2))] = value.shape
    if not convs or "decoder.layers.0.weight" not in weights:
        raise ConversionError(f"{path}: no encoder.layers.*.conv.*.weight or decoder.layers.0.weight tensors: "
                              f"not a Jasper checkpoint (first keys: {sorted(weights)[:5]})")
    if sorted(convs) != list(range(len(convs))):
        raise ConversionError(f"{path}: encoder block indices {sorted(convs)} are not consecutive")
    blocks, channels = [], None
    for index in range(len(convs)):
        positions = sorted(convs[index])
        if positions != list(range(0, 4 * len(positions), 4)):
            raise ConversionError(f"{path}: encoder.layers.{index}.conv convolutions at {positions}, expected "
                                  "every 4th module (conv, bn, activation, dropout)")
        first = convs[index][0]
        if channels is None:
            channels = first[1]
        pane_count = len(panes.get(index, {}))
        blocks.append(dict(filters=int(first[0]), kernel=int(first[2]), repeat=len(positions),
                           residual=pane_count > 0, residual_dense=pane_count > 1))
    for index in range(len(blocks) - 1):
        if len(panes.get(index, {})) == 1 and len(panes.get(index + 1, {})) == 2:
            blocks[index]["residual_dense"] = True
    decoder = weights["decoder.layers.0.weight"].shape
    return int(channels), int(decoder[0]), blocks


def merge_template(inferred, template_blocks, path, template_path):
    """Our block dicts: shapes from the checkpoint, stride / dilation / dropout from the template config."""
    if len(template_blocks) != len(inferred):
        raise ConversionError(f"{path} has {len(inferred)} blocks but the template {template_path} has "
                              f"{len(template_blocks)}: pass --config_path a config with the same block list "
                              "(stride, dilation and dropout cannot be read from the weights)")
    blocks = []
    for index, (found, template) in enumerate(zip(inferred, template_blocks)):
        template = dict(template)
        for key in ("filters", "kernel", "repeat", "residual_dense"):
            value = template.get(key)
            value = value[0] if isinstance(value, (list, tuple)) else value
            if value is not None and value != found[key]:
                LOG.warning("block %d: the checkpoint has %s=%s, the template %s says %s; using the checkpoint's",
                            index, key, found[key], template_path, value)
        if template.get("separable"):
            raise ConversionError(f"template {template_path} block {index} is separable; NVIDIA's Jasper blocks "
                                  "use plain convolutions")
        blocks.append({**found, "stride": template.get("stride", 1), "dilation": template.get("dilation", 1),
                       "dropout": template.get("dropout", 0.0), "separable": False})
    return blocks


def class_order(num_classes, path):
    """For each of our classes (LABELS + blank), the row of NVIDIA's decoder that holds it."""
    from jasper.src.text import LABELS

    if num_classes != len(NVIDIA_LABELS) + 1:
        raise ConversionError(f"{path}: the decoder has {num_classes} classes; NVIDIA's vocabulary "
                              f"{NVIDIA_LABELS!r} + blank has {len(NVIDIA_LABELS) + 1}")
    missing = [char for char in LABELS if char not in NVIDIA_LABELS]
    if missing or len(LABELS) != len(NVIDIA_LABELS):
        raise ConversionError(f"our alphabet {LABELS} cannot be mapped onto NVIDIA's {NVIDIA_LABELS!r}")
    return [NVIDIA_LABELS.index(char) for char in LABELS] + [len(NVIDIA_LABELS)]


def our_name(name, path):
    """NVIDIA tensor name -> (our parameter name, kind) or (None, reason) for tensors we do not need."""
    leaf = name.rsplit(".", 1)[-1]
    if leaf in NOT_NEEDED:
        return None, NOT_NEEDED[leaf]
    conv, res, decoder = CONV_KEY.match(name), RES_KEY.match(name), DECODER_KEY.match(name)
    if conv:
        block, position, leaf = int(conv.group(1)), int(conv.group(2)), conv.group(3)
        if position % 4 == 0 and leaf == "weight":
            return f"encoder.{block}.convs.{position // 4}.conv.conv.weight", "conv"
        if position % 4 == 1 and leaf in BN_NAMES:
            return f"encoder.{block}.convs.{position // 4}.norm.{BN_NAMES[leaf]}", "bn"
    elif res:
        block, pane, part, leaf = int(res.group(1)), int(res.group(2)), res.group(3), res.group(4)
        if part == "0" and leaf == "weight":
            return f"encoder.{block}.residuals.{pane}.conv.conv.weight", "conv"
        if part == "1" and leaf in BN_NAMES:
            return f"encoder.{block}.residuals.{pane}.norm.{BN_NAMES[leaf]}", "bn"
    elif decoder:
        return f"classifier.conv.{decoder.group(1)}", f"decoder_{decoder.group(1)}"
    raise ConversionError(f"{path}: unknown tensor {name!r} (not part of NVIDIA's Jasper encoder/decoder)")


def map_parameters(weights, network, path):
    """{our parameter name: float32 array} for every parameter of ``network``; errors name unknown tensors,
    shape mismatches (both names and shapes) and parameters the checkpoint does not fill."""
    ours = {param.name: tuple(param.shape) for param in network.get_parameters()}
    order = class_order(network.settings["num_classes"], path)
    mapped, skipped = {}, {}
    for name, value in sorted(weights.items()):
        target, kind = our_name(name, path)
        if target is None:
            skipped[name] = kind
            continue
        value = np.asarray(value, dtype=np.float32)
        if kind == "conv" or kind == "decoder_weight":
            value = value[:, :, None, :] if value.ndim == 3 else value  # [out, in, k] -> [out, in, 1, k]
        if kind.startswith("decoder"):
            value = value[order]
        if target not in ours:
            raise ConversionError(f"{path}: {name} maps to {target}, which the inferred network lacks")
        if tuple(value.shape) != ours[target]:
            raise ConversionError(f"{path}: shape mismatch: {name} {tuple(np.shape(weights[name]))} -> "
                                  f"{target} expects {ours[target]}")
        mapped[target] = value
    unfilled = sorted(set(ours) - set(mapped))
    if unfilled:
        raise ConversionError(f"{path}: {len(unfilled)} parameter(s) of our network have no tensor in the "
                              f"checkpoint: {', '.join(unfilled[:8])}")
    LOG.info("mapped %d tensors; not needed: %d (%s)", len(mapped), len(skipped),
             "; ".join(sorted({f"{n.rsplit('.', 1)[-1]}: {r}" for n, r in skipped.items()})) or "none")
    return mapped


def check_front_end(buffers, features, path):
    """Compare a stored mel filterbank / window with the ones our features use; returns {buffer: max |diff|}
    and warns when a difference exceeds float32 rounding."""
    from utils.features import FeatureConfig, LogMelExtractor

    extractor = LogMelExtractor(FeatureConfig.from_dict(features))
    config = extractor.config
    left = (config.n_fft - config.win_length) // 2
    expected = {"audio_preprocessor.featurizer.fb": extractor.mel_basis[None],
                "audio_preprocessor.featurizer.window": extractor.window[left:left + config.win_length]}
    differences = {}
    for name, value in buffers.items():
        reference = expected[name]
        if np.shape(value) != reference.shape:
            LOG.warning("%s: %s %s has shape %s, our %s has %s: the features differ", path, name,
                        FEATURE_BUFFERS[name], np.shape(value), FEATURE_BUFFERS[name], reference.shape)
            differences[name] = float("inf")
            continue
        differences[name] = float(np.max(np.abs(np.asarray(value, np.float64) - reference)))
        scale = float(np.max(np.abs(reference))) or 1.0
        if differences[name] > 1e-5 * scale:
            LOG.warning("%s: %s differs from ours by up to %.3g (max %.3g): features will not match NVIDIA's",
                        path, name, differences[name], scale)
        else:
            LOG.info("%s matches our front end (max |difference| %.2g)", name, differences[name])
    return differences


def convert(nvidia_path, cfg, use_ema=False, template_path="template"):
    """Build our network from an NVIDIA checkpoint. cfg: the template config (dict-like, complete).

    Returns (network: JasperNet with every parameter set, config: dict, the template with model + features
    matching the checkpoint).
    """
    import mindspore as ms
    from jasper.src.network import JasperNet
    from utils.torch_checkpoint import load_torch_checkpoint

    checkpoint = load_torch_checkpoint(nvidia_path)
    weights, buffers = nvidia_weights(checkpoint, nvidia_path, use_ema)
    in_features, num_classes, inferred = infer_architecture(weights, nvidia_path)
    config = copy.deepcopy(cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg))
    model = dict(config.get("model") or {})
    model.update(in_features=in_features, num_classes=num_classes,
                 blocks=merge_template(inferred, model.get("blocks") or [], nvidia_path, template_path))
    model.setdefault("activation", "relu")
    model.update(bn_eps=1e-3, bn_momentum=0.9)  # torch BatchNorm1d(eps=1e-3, momentum=0.1)
    config["model"] = model
    data = dict(config.get("data") or {})
    features = {**dict(data.get("features") or {}), **NVIDIA_FEATURES, "n_mels": in_features}
    data["features"] = features
    config["data"] = data
    check_front_end(buffers, features, nvidia_path)
    network = JasperNet(**model)
    parameters = map_parameters(weights, network, nvidia_path)
    ms.load_param_into_net(network, {name: ms.Parameter(ms.Tensor(value), name=name)
                                     for name, value in parameters.items()}, strict_load=True)
    for param in network.get_parameters():  # every parameter must now hold the checkpoint's value
        if not np.array_equal(param.asnumpy(), parameters[param.name]):
            raise ConversionError(f"{param.name} was not loaded from {nvidia_path}")
    return network, config


def main():
    args, cfg, run = start(__file__, "Convert an NVIDIA DeepLearningExamples Jasper checkpoint (the template config "
                           "gives what the weights cannot tell: strides, dilations, dropout, training settings)",
                           add_arguments, default_config=os.path.basename(DEFAULT_TEMPLATE))
    from utils.checkpoint import save_network
    from utils.config import save_config

    try:
        network, config = convert(args.nvidia_ckpt, cfg, args.ema, args.config_path)
    except (ConversionError, FileNotFoundError) as error:
        raise SystemExit(f"jasper/convert_nvidia.py: {error}") from None
    if run.is_main:
        os.makedirs(args.output_dir, exist_ok=True)
        ckpt_path = os.path.join(args.output_dir, "model.ckpt")
        save_network(ckpt_path, network, config)
        save_config(config, os.path.join(args.output_dir, "config.yaml"))
        blocks = config["model"]["blocks"]
        LOG.info("wrote %s and config.yaml: %d blocks (%s dense), %d input mels, %d classes, %s weights",
                 ckpt_path, len(blocks), sum(b["residual_dense"] for b in blocks), config["model"]["in_features"],
                 config["model"]["num_classes"], "EMA" if args.ema else "live")


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
