"""Jasper / QuartzNet acoustic model: a stack of masked 1-D convolution blocks with (dense) residuals and CTC head.

The network is described by a list of block dicts, as in NVIDIA's configs; the first block is the prologue
(stride 2, no residual) and the last ones the epilogue. Each block has ``repeat`` sub-blocks of
conv -> BN -> ReLU -> dropout; in a residual block the last sub-block's activation comes after the residual sum.
With ``residual_dense`` a block's residual is the sum of 1x1 conv + BN projections of the input of the first
dense block and of the outputs of every dense block before it (DenseNet-style, "Jasper DR").

Every convolution first zeroes the frames past each sequence's length, so padding a batch with extra frames
does not change the outputs of the valid frames (in inference mode, where BN uses running statistics).
"""
import copy

import utils.context  # noqa: F401  (must precede the mindspore import)
import mindspore as ms
from mindspore import Tensor, nn, ops

from utils.modules import OnnxSwitchable
from utils.modules import count_parameters  # noqa: E402,F401  (re-exported for the entry points)

from jasper.src.text import BLANK, NUM_CLASSES

BLOCK_DEFAULTS = dict(repeat=1, stride=1, dilation=1, dropout=0.0, residual=False, residual_dense=False,
                      separable=False)
BLOCK_KEYS = {"filters", "kernel"} | set(BLOCK_DEFAULTS)
# "hardtanh_unit" clips to [-1, 1]: what NVIDIA DeepLearningExamples builds for ``activation: hardtanh``
# (torch nn.Hardtanh defaults), needed to run such checkpoints; its configs themselves use relu
ACTIVATIONS = {"relu": nn.ReLU, "hardtanh": lambda: nn.Hardtanh(0.0, 20.0),
               "hardtanh_unit": lambda: nn.Hardtanh(-1.0, 1.0)}


def normalize_blocks(blocks):
    """Validate block dicts and fill their defaults; errors name the block index and the problem."""
    if not blocks:
        raise ValueError("jasper/src/network.py: the block list is empty")
    result = []
    for index, block in enumerate(blocks):
        block = dict(block)
        for key in ("kernel", "stride", "dilation"):  # NVIDIA writes these as one-element lists
            if isinstance(block.get(key), (list, tuple)):
                block[key] = block[key][0]
        unknown = set(block) - BLOCK_KEYS
        missing = {"filters", "kernel"} - set(block)
        if unknown or missing:
            raise ValueError(f"jasper/src/network.py: block {index} has unknown keys {sorted(unknown)} "
                             f"or lacks {sorted(missing)}; allowed keys: {sorted(BLOCK_KEYS)}")
        full = {**BLOCK_DEFAULTS, **block}
        if full["kernel"] % 2 == 0:
            raise ValueError(f"jasper/src/network.py: block {index} kernel {full['kernel']} must be odd "
                             "('same' padding)")
        if (full["residual"] or full["residual_dense"]) and full["stride"] != 1:
            raise ValueError(f"jasper/src/network.py: residual block {index} must have stride 1")
        full["residual"] = bool(full["residual"] or full["residual_dense"])
        result.append(full)
    return result


def frame_mask(x, lengths, channels=None):
    """x [B, C, T], lengths [B] -> float mask [B, channels or C, T], 1 on valid frames.

    Built at the full shape (an outer product of the [B, 1, T] frame mask with ones over channels): multiplying x
    by a [B, 1, T] mask broadcast over channels, and that product's gradient, run ~2-3x slower on MindSpore's CPU
    backend than the same-shape product."""
    positions = ops.arange(x.shape[-1], dtype=lengths.dtype).reshape(1, -1)  # one type for ONNX's Less
    frames = (positions < lengths.reshape(-1, 1)).astype(x.dtype)           # [B, T]
    ones = ops.ones((x.shape[0], x.shape[1] if channels is None else channels, 1), x.dtype)
    return ops.bmm(ones, frames.expand_dims(1))


def mask_for(x, lengths, masks):
    """x's frame mask: ``masks[C]`` when the caller built it ({channels: [B, channels, T]} for these lengths and
    frames), else built here."""
    if masks is None:
        return frame_mask(x, lengths)
    return masks[x.shape[1]]


class MaskedConv1d(nn.Cell, OnnxSwitchable):
    """Conv1d with 'same' padding that zeroes padded frames first. (x [B, C, T], lengths [B]) ->
    (y [B, C', T'], lengths' [B]) with T' = floor((T - 1) / stride) + 1."""

    def __init__(self, in_channels, out_channels, kernel, stride=1, dilation=1, groups=1, has_bias=False):
        super().__init__()
        self.padding = dilation * (kernel - 1) // 2
        self.span = dilation * (kernel - 1)
        self.stride = stride
        # Training and inference pad inside the convolution: a separate Pad copied the whole tensor before
        # every conv and its gradient crop after, 11 % of a train step (bench/peers.py). ONNX export switches
        # to an explicit ops.Pad + "valid" conv (``onnx_compatible``, same conv.weight): MindSpore 2.10 writes a
        # padded Conv1d's pads to ONNX in the wrong order (time padding lands on the height axis).
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride,
                              pad_mode="pad" if self.padding else "valid", padding=self.padding, dilation=dilation,
                              group=groups, has_bias=has_bias, weight_init="xavier_uniform")
        self.pad = ops.Pad(((0, 0), (0, 0), (self.padding, self.padding))) if self.padding else None
        self.pad_inside = True

    def onnx_compatible(self):
        """Pad with ops.Pad before a "valid" conv from now on (what MindSpore exports to ONNX correctly)."""
        if self.padding and self.pad_inside:
            conv = self.conv
            conv.conv2d = ops.Conv2D(out_channel=conv.out_channels, kernel_size=conv.kernel_size, mode=1,
                                     pad_mode="valid", pad=0, stride=conv.stride, dilation=conv.dilation,
                                     group=conv.group)
        self.pad_inside = False

    def construct(self, x, lengths, masks=None):
        """masks: see ``mask_for`` (stride 1 only: a strided conv changes lengths and frames)."""
        x = x * mask_for(x, lengths, masks)
        y = self.conv(x if self.pad_inside or not self.padding else self.pad(x))
        if self.stride == 1:
            return y, lengths
        return y, ops.floor_div(lengths + 2 * self.padding - self.span - 1, self.stride) + 1


class ConvBN(nn.Cell):
    """Masked (optionally depthwise-separable) conv followed by BatchNorm; no activation."""

    def __init__(self, in_channels, out_channels, kernel, stride, dilation, separable, bn_eps, bn_momentum):
        super().__init__()
        self.in_channels = in_channels
        self.separable = separable
        if separable:
            self.depthwise = MaskedConv1d(in_channels, in_channels, kernel, stride, dilation, groups=in_channels)
            self.pointwise = MaskedConv1d(in_channels, out_channels, 1)
        else:
            self.conv = MaskedConv1d(in_channels, out_channels, kernel, stride, dilation)
        self.norm = nn.BatchNorm1d(out_channels, eps=bn_eps, momentum=bn_momentum)

    def construct(self, x, lengths, masks=None):
        if self.separable:
            x, lengths = self.depthwise(x, lengths, masks)
            x, lengths = self.pointwise(x, lengths, masks)
        else:
            x, lengths = self.conv(x, lengths, masks)
        return self.norm(x), lengths


class JasperBlock(nn.Cell):
    """``repeat`` ConvBN sub-blocks; residual projections (one per entry of ``residual_channels``) are added
    before the last activation. Input: list of tensors (the residual sources, the last one is the block input)."""

    def __init__(self, in_channels, block, residual_channels, activation, bn_eps, bn_momentum):
        super().__init__()
        channels = [in_channels] + [block["filters"]] * block["repeat"]
        self.convs = nn.CellList([
            ConvBN(channels[i], channels[i + 1], block["kernel"], block["stride"], block["dilation"],
                   block["separable"], bn_eps, bn_momentum) for i in range(block["repeat"])])
        self.activations = nn.CellList([ACTIVATIONS[activation]() for _ in range(block["repeat"])])
        self.dropouts = nn.CellList([nn.Dropout(p=block["dropout"]) for _ in range(block["repeat"])])
        self.residuals = nn.CellList([
            ConvBN(source, block["filters"], 1, 1, 1, False, bn_eps, bn_momentum) for source in residual_channels])
        self.repeat = block["repeat"]

    def construct(self, sources, lengths, masks=None):
        """masks: see ``mask_for``; None for a strided block (its sub-blocks change lengths and frames)."""
        x = sources[-1]
        out_lengths = lengths
        for i in range(self.repeat):
            x, out_lengths = self.convs[i](x, out_lengths, masks)
            if i == self.repeat - 1:
                # the projections pair with the most recent residual sources (stride-1 blocks only)
                offset = len(sources) - len(self.residuals)
                for j, projection in enumerate(self.residuals):
                    x = x + projection(sources[offset + j], lengths, masks)[0]
            x = self.dropouts[i](self.activations[i](x))
        return x, out_lengths


class JasperNet(nn.Cell):
    """Jasper BxR / QuartzNet acoustic model.

    in_features: mel bins of the input (64). num_classes: CTC classes incl. the blank (29).
    blocks: list of dicts {filters, kernel, stride, dilation, dropout, repeat, residual, residual_dense,
        separable}; the first is the prologue, the final ones the epilogue.
    activation: "relu", "hardtanh" (ReLU clipped at 20) or "hardtanh_unit" (clipped to [-1, 1]).
    bn_eps, bn_momentum: BatchNorm1d settings
        (MindSpore momentum: running = momentum * running + (1 - momentum) * batch).
    construct(feats [B, in_features, F] float32, lengths [B] int32) ->
        (log_probs [B, F', num_classes] float32, out_lengths [B] int32), F' = F / total stride (rounded up).
    Initial weights follow NVIDIA's init_weights (xavier_uniform): every conv weight xavier-uniform (gain 1),
    the classifier bias torch's default U(+-1/sqrt(fan_in)), BatchNorm gains 1, biases 0, statistics 0 / 1.
    """

    def __init__(self, in_features=64, num_classes=NUM_CLASSES, blocks=(), activation="relu", bn_eps=1e-3,
                 bn_momentum=0.9):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"jasper/src/network.py: activation must be one of {sorted(ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.blocks_config = normalize_blocks(blocks)
        self.settings = dict(in_features=in_features, num_classes=num_classes, activation=activation,
                             bn_eps=bn_eps, bn_momentum=bn_momentum)
        cells, dense_sources, self.dense = [], [], []
        channels = in_features
        for block in self.blocks_config:
            if block["residual_dense"]:
                dense_sources.append(channels)
                residual_channels = list(dense_sources)
            else:
                dense_sources = []
                residual_channels = [channels] if block["residual"] else []
            cells.append(JasperBlock(channels, block, residual_channels, activation, bn_eps, bn_momentum))
            self.dense.append(block["residual_dense"])
            channels = block["filters"]
        self.encoder = nn.CellList(cells)
        self.block_strides = tuple(block["stride"] for block in self.blocks_config)
        self.mask_plan = self._mask_plan()
        self.classifier = MaskedConv1d(channels, num_classes, 1, has_bias=True)
        self.log_softmax = nn.LogSoftmax(axis=-1)

    def _mask_plan(self):
        """Per block, the channel counts whose frame masks to build before it: every convolution of a run of
        stride-1 blocks (and the classifier after the last block) sees the same lengths and frames, so one mask
        per channel count serves the whole run (5 masks instead of 17 in jasper/config.yaml; each is a [B, C, T]
        write). Empty tuple: keep the masks built before (or none, in a strided block)."""
        plan, run_start = [], None
        for index, (cell, block) in enumerate(zip(self.encoder, self.blocks_config)):
            plan.append(())
            if block["stride"] != 1:
                run_start = None
                continue
            if run_start is None:
                run_start = index
            needed = set(plan[run_start]) | {cell.convs[0].in_channels, block["filters"]}
            needed |= {projection.in_channels for projection in cell.residuals}
            plan[run_start] = tuple(sorted(needed))
        if run_start is not None:
            plan[run_start] = tuple(sorted(set(plan[run_start]) | {self.blocks_config[-1]["filters"]}))
        return tuple(plan)

    def get_config(self):
        """Constructor keyword arguments: ``JasperNet(**net.get_config())`` rebuilds the architecture."""
        return {**self.settings, "blocks": copy.deepcopy(self.blocks_config)}

    @property
    def total_stride(self):
        stride = 1
        for block in self.blocks_config:
            stride *= block["stride"] ** block["repeat"]  # every sub-block of a block uses its stride
        return stride

    def construct(self, feats, lengths):
        sources = [feats]
        x = feats
        masks = None
        for i, block in enumerate(self.encoder):
            if self.block_strides[i] != 1:
                masks = None  # lengths and frames change inside; the next stride-1 block builds new ones
            elif self.mask_plan[i]:
                masks = {}
                for channels in self.mask_plan[i]:
                    masks[channels] = frame_mask(x, lengths, channels)
            x, lengths = block(sources, lengths, masks)
            # dense blocks see every earlier dense output; other blocks only their own input
            sources = sources + [x] if self.dense[i] else [x]
        logits, lengths = self.classifier(x, lengths, masks)
        return self.log_softmax(ops.transpose(logits, (0, 2, 1))), lengths


class JasperWithCTCLoss(nn.Cell):
    """Network + CTC loss, the ``net_with_loss`` of the trainer.

    construct(feats [B, 64, F] float32, feat_lengths [B] int32, labels [B, L] int32, label_lengths [B] int32)
    -> scalar: the per-utterance CTC negative log-likelihood averaged over the batch (NVIDIA's Jasper loss:
    utterances with more characters weigh more); per_label=True divides each by its label length first
    (torch's reduction="mean"). Impossible alignments (labels longer than the output frames) give 0 instead
    of inf (``zero_infinity``; NVIDIA's would be inf).
    """

    def __init__(self, network, blank=BLANK, per_label=False):
        super().__init__(auto_prefix=False)  # keeps the network's parameter names for its checkpoints
        self.network = network
        self.per_label = bool(per_label)
        self.ctc = nn.CTCLoss(blank=blank, reduction="mean" if self.per_label else "none", zero_infinity=True)

    def construct(self, feats, feat_lengths, labels, label_lengths):
        log_probs, out_lengths = self.network(feats, feat_lengths)
        loss = self.ctc(ops.transpose(log_probs, (1, 0, 2)), labels, out_lengths, label_lengths)
        return loss if self.per_label else loss.mean()


def build_network(config):
    """``JasperNet`` from a full config dict (its ``model:`` section), e.g. the one stored in a checkpoint."""
    model = dict(config.get("model") or {})
    if not model.get("blocks"):
        raise ValueError("jasper/src/network.py: the config has no model.blocks list")
    return JasperNet(**model)


def input_specs(in_features=64):
    """Dynamic-shape placeholders of the network inputs: feats [B, in_features, F] float32, lengths [B] int32."""
    return [Tensor(shape=[None, in_features, None], dtype=ms.float32), Tensor(shape=[None], dtype=ms.int32)]


def loss_input_specs(in_features=64):
    """Placeholders of ``JasperWithCTCLoss``: feats, feat_lengths, labels [B, L], label_lengths."""
    return input_specs(in_features) + [Tensor(shape=[None, None], dtype=ms.int32), Tensor(shape=[None], dtype=ms.int32)]
