"""Convert SpeechBrain ECAPA-TDNN weights into this zoo's checkpoint + config.

    python ecapa_tdnn/convert_speechbrain.py --embedding_model embedding_model.ckpt --output_dir OUT \
        [--classifier classifier.ckpt] [--model.dilations "[1, 2, 3, 4, 1]"] [--key value ...]
    python ecapa_tdnn/eval.py --ckpt_path OUT/model.ckpt ...

Input: the ``state_dict`` of SpeechBrain's ``ECAPA_TDNN`` saved with ``torch.save`` (e.g.
``embedding_model.ckpt`` of ``speechbrain/spkrec-ecapa-voxceleb``), read without torch. Output:
``OUT/model.ckpt`` (the network's parameters + the resolved config inside, so eval / export / infer rebuild
it with no flags) and ``OUT/config.yaml`` (the same config: ``model`` matches the reference, and
``data.features`` reproduces SpeechBrain's ``Fbank`` + sentence mean normalisation).

The architecture is read off the tensor shapes (input size, channels, kernel sizes, Res2Net scale, SE and
attention bottlenecks, global context, embedding size). Dilations leave no trace in the shapes: they come
from the config (default [1, 2, 3, 4, 1], SpeechBrain's too). Any ``--model.KEY value`` given on the command
line wins over the inferred value (a contradiction then fails as a shape mismatch naming the tensor).
The base config defaults to ``config_c1024.yaml`` (the recipe of the published C=1024 model). Its
``data.features`` options are replaced by SpeechBrain's front end (``SPEECHBRAIN_FEATURES``): the weights
only make sense on the features they were trained with.

Accounting: every SpeechBrain tensor is either mapped to exactly one of our parameters or listed in
``NOT_NEEDED`` with the reason; every parameter of our network (BatchNorm statistics included) is filled.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from utils.cli import start  # noqa: E402  (first: sets the environment before mindspore loads)

DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config_c1024.yaml")

# SpeechBrain's BatchNorm1d wraps torch's as ``.norm``; torch names -> MindSpore names.
BATCHNORM_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
# Reference tensors with no counterpart, and why they are not needed.
NOT_NEEDED = {
    "num_batches_tracked": "BatchNorm update counter: only used for momentum=None averaging while training; "
                           "inference reads running_mean / running_var",
}
# SpeechBrain Fbank (spkrec-ecapa-voxceleb hyperparams) + InputNormalization(norm_type=sentence, std_norm=False),
# as utils.features options on top of FeatureConfig.ecapa(): STFT centred with zero padding, periodic Hamming
# 25 ms / 10 ms, power spectrum, SpeechBrain triangles, 10 log10(max(x, 1e-10)) floored 80 dB below the
# utterance maximum, per-bin mean over the utterance subtracted.
SPEECHBRAIN_FEATURES = dict(n_fft=400, win_length=400, hop_length=160, window="hamming", f_min=0.0, f_max=None,
                            top_db=80.0, normalize="mean", mel_filters="speechbrain")


def add_arguments(parser):
    parser.add_argument("--embedding_model", required=True,
                        help="SpeechBrain ECAPA_TDNN state_dict written by torch.save (embedding_model.ckpt)")
    parser.add_argument("--classifier", default=None,
                        help="optional SpeechBrain Classifier state_dict (classifier.ckpt, AAM weight [n_spk, D]); "
                             "stored as head.weight for fine-tuning")
    parser.add_argument("--output_dir", required=True, help="writes model.ckpt, config.yaml and the log here")


def speechbrain_name(name):
    """SpeechBrain ``ECAPA_TDNN`` state_dict key of our parameter ``name``."""
    prefix, leaf = name.rsplit(".", 1)
    if leaf in BATCHNORM_NAMES:
        return f"{prefix}.norm.{BATCHNORM_NAMES[leaf]}"
    if prefix.endswith(".conv.conv"):  # TDNN convs: our ReflectConv1d and SpeechBrain's Conv1d both wrap .conv
        return name
    return f"{prefix}.conv.{leaf}"  # 1x1 convs and fc are bare here, wrapped in SpeechBrain's Conv1d


def to_our_layout(array, our_shape):
    """Reference tensor -> our layout, or None when the shapes do not correspond.

    Conv1d weights [O, I, K] become MindSpore's [O, I, 1, K]; the fc 1x1 conv [D, 2C, 1] becomes Dense [D, 2C].
    """
    our_shape = tuple(our_shape)
    if len(our_shape) == 4 and array.ndim == 3:
        array = array[:, :, None, :]
    elif len(our_shape) == 2 and array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return array if array.shape == our_shape else None


def _shape(state, key, path):
    if key not in state:
        raise KeyError(f"{path}: tensor {key!r} is missing; is this a SpeechBrain ECAPA_TDNN state_dict? "
                       f"First keys: {sorted(state)[:6]}")
    return state[key].shape


def infer_architecture(state, path):
    """``ECAPATDNN`` keyword arguments readable from the reference tensor shapes (all but ``dilations``).

    state: {SpeechBrain key: array}; path: its file (for messages).
    """
    blocks = sorted({int(key.split(".")[1]) for key in state if key.startswith("blocks.")})
    if blocks != [0, 1, 2, 3]:
        raise ValueError(f"{path}: expected blocks 0-3 (TDNN + 3 SE-Res2Blocks), found blocks {blocks}; "
                         "only the 5-layer ECAPA-TDNN is supported")
    first = _shape(state, "blocks.0.conv.conv.weight", path)  # [C0, input, K0]
    channels, kernel_sizes = [int(first[0])], [int(first[2])]
    for index in (1, 2, 3):
        channels.append(int(_shape(state, f"blocks.{index}.tdnn1.conv.conv.weight", path)[0]))
        kernel_sizes.append(int(_shape(state, f"blocks.{index}.res2net_block.blocks.0.conv.conv.weight", path)[2]))
    aggregation = _shape(state, "mfa.conv.conv.weight", path)
    channels.append(int(aggregation[0]))
    kernel_sizes.append(int(aggregation[2]))
    attention = _shape(state, "asp.tdnn.conv.conv.weight", path)  # [A, 3 C or C, 1]
    res2net_convs = {key.split(".")[4] for key in state if key.startswith("blocks.1.res2net_block.blocks.")}
    return dict(input_dim=int(first[1]), channels=channels, kernel_sizes=kernel_sizes,
                attention_channels=int(attention[0]), res2net_scale=len(res2net_convs) + 1,
                se_channels=int(_shape(state, "blocks.1.se_block.conv1.conv.weight", path)[0]),
                global_context=bool(attention[1] == 3 * channels[4]),
                embedding_dim=int(_shape(state, "fc.conv.weight", path)[0]))


def map_parameters(state, our_shapes, path):
    """{our name: float32 array} for every name of ``our_shapes`` ({name: shape}), from ``state``.

    Raises KeyError naming an unknown reference key or a parameter the file lacks, ValueError naming both
    names and shapes on a mismatch.
    """
    wanted = {speechbrain_name(name): name for name in our_shapes}
    skipped = [key for key in state if key not in wanted and key.rsplit(".", 1)[-1] in NOT_NEEDED]
    unknown = sorted(set(state) - set(wanted) - set(skipped))
    if unknown:
        raise KeyError(f"{path}: {len(unknown)} tensor(s) with no counterpart in our ECAPA-TDNN: "
                       f"{', '.join(unknown[:8])}{' ...' if len(unknown) > 8 else ''}")
    missing = sorted(key for key in wanted if key not in state)
    if missing:
        raise KeyError(f"{path}: lacks {len(missing)} tensor(s) our network needs: "
                       f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    mapped = {}
    for key, name in wanted.items():
        array = to_our_layout(state[key], our_shapes[name])
        if array is None:
            raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)} but our {name} needs "
                             f"{tuple(our_shapes[name])}")
        mapped[name] = array.astype("float32")
    return mapped


def classifier_weight(state, embedding_dim, path):
    """AAM-softmax class weights [n_speakers, embedding_dim] of a SpeechBrain ``Classifier`` (lin_blocks=0)."""
    extra = sorted(set(state) - {"weight"})
    if extra:
        raise KeyError(f"{path}: only a Classifier without hidden blocks (lin_blocks=0, key 'weight') is "
                       f"supported; unexpected tensor(s): {', '.join(extra[:8])}")
    weight = state.get("weight")
    if weight is None or weight.ndim != 2 or weight.shape[1] != embedding_dim:
        raise ValueError(f"{path}: weight must be [n_speakers, {embedding_dim}], got "
                         f"{None if weight is None else tuple(weight.shape)}")
    return weight.astype("float32")


def model_section(cfg_model, base_model, inferred, path, log):
    """The ``model`` config: inferred values, except keys the command line changed from the base config."""
    model = dict(cfg_model)
    for key, value in inferred.items():
        if key in cfg_model and cfg_model[key] != base_model.get(key) and cfg_model[key] != value:
            log.warning("model.%s = %s from the command line overrides %s read from %s", key, cfg_model[key],
                        value, path)
            continue
        model[key] = value
    return model


def main():
    args, cfg, _ = start(__file__, "Convert SpeechBrain ECAPA-TDNN weights", add_arguments,
                         default_config=os.path.basename(DEFAULT_CONFIG))
    import logging

    import mindspore as ms

    from ecapa_tdnn.src.loss import AAMSoftmaxHead
    from ecapa_tdnn.src.network import ECAPATDNN, count_parameters
    from utils.checkpoint import TrainState, save_training_checkpoint
    from utils.config import Config, load_yaml, save_config
    from utils.torch_checkpoint import load_torch_checkpoint, state_dict_of

    log = logging.getLogger("zoo.convert_speechbrain")
    path = args.embedding_model
    state = state_dict_of(load_torch_checkpoint(path), path, preferred=("state_dict", "model"))
    inferred = infer_architecture(state, path)
    log.info("%s: %d tensors; architecture read from the shapes: %s", path, len(state), inferred)

    cfg.model = Config(model_section(cfg.model.to_dict(), load_yaml(args.config_path).model.to_dict(), inferred,
                                     path, log))
    cfg.data.features.update(SPEECHBRAIN_FEATURES, n_mels=int(cfg.model.input_dim))
    network = ECAPATDNN(**cfg.model)
    our_params = {p.name: p for p in network.get_parameters()}
    mapped = map_parameters(state, {name: p.shape for name, p in our_params.items()}, path)
    for name, array in mapped.items():
        our_params[name].set_data(ms.Tensor(array))
    log.info("%d reference tensors: %d mapped onto every parameter of ours (%.2f M weights), %d not needed (%s)",
             len(state), len(mapped), count_parameters(network) / 1e6, len(state) - len(mapped),
             "; ".join(f"{k}: {v}" for k, v in NOT_NEEDED.items() if any(key.endswith(k) for key in state)))

    cells = [network]
    if args.classifier:
        weight = classifier_weight(state_dict_of(load_torch_checkpoint(args.classifier), args.classifier),
                                   int(cfg.model.embedding_dim), args.classifier)
        # margin and scale are loss hyperparameters from the config, not stored by SpeechBrain
        head = AAMSoftmaxHead(int(cfg.model.embedding_dim), weight.shape[0], cfg.loss.margin, cfg.loss.scale,
                              cfg.loss.easy_margin)
        head.update_parameters_name("head.")  # the names SpeakerClassifierWithLoss gives them
        head.weight.set_data(ms.Tensor(weight))
        cells.append(head)
        log.info("%s: AAM-softmax weight for %d speakers -> head.weight", args.classifier, weight.shape[0])

    os.makedirs(args.output_dir, exist_ok=True)
    checkpoint = os.path.join(args.output_dir, "model.ckpt")
    save_training_checkpoint(checkpoint, cells, TrainState(config=cfg.to_dict()))
    save_config(cfg, os.path.join(args.output_dir, "config.yaml"))
    log.info("wrote %s and config.yaml; evaluate with: python ecapa_tdnn/eval.py --ckpt_path %s ...",
             checkpoint, checkpoint)
    print(checkpoint)


if __name__ == "__main__":
    from utils import cli
    cli.run(__file__, main)
