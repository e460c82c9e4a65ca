"""ECAPA-TDNN speaker embedding network (Desplanques et al., Interspeech 2020).

Layer structure follows SpeechBrain's ``speechbrain/lobes/models/ECAPA_TDNN.py`` so that its public
checkpoints can be converted by renaming parameters:

* ``TDNNBlock`` = Conv1d -> ReLU -> BatchNorm (BN after the activation), "same" length output with
  reflect padding; the bias of every Conv1d is kept.
* ``SERes2NetBlock`` = TDNN 1x1 -> Res2Net (dilated k3) -> TDNN 1x1 -> SE, plus the residual (a 1x1
  shortcut conv only when the channel count changes). SE sits at the end of the block, before the add.
* Res2Net splits the channels into ``scale`` chunks: chunk 0 passes through untouched, chunk 1 goes
  through its own TDNN, chunk i > 1 through TDNN(chunk_i + output_{i-1}); outputs are concatenated.
* Multi-layer feature aggregation concatenates the outputs of the three SE-Res2Blocks and applies a
  1x1 TDNN to ``channels[-1]`` (1536 in the paper for both C=512 and C=1024; SpeechBrain's
  VoxCeleb checkpoint uses 3072 with C=1024).
* Attentive statistics pooling with global context: the attention TDNN (1x1, to
  ``attention_channels``) sees [frames, utterance mean, utterance std] -> tanh -> 1x1 conv back to
  one score per channel and frame; softmax over time; weighted mean and std (std clamped at 1e-12
  before the square root). Then BatchNorm on the 2*C statistics and a 1x1 conv (= linear) to the
  embedding.

Parameter names mirror SpeechBrain's (``blocks.0`` TDNN, ``blocks.1-3`` SE-Res2Blocks, ``mfa``, ``asp``,
``asp_bn``, ``fc``) minus its wrapper level: SpeechBrain ``X.conv.weight`` [O, I, K] -> ours
``X.weight`` [O, I, 1, K] for 1x1 convs (``se_block.conv1/2``, ``shortcut``, ``asp.conv``); TDNN convs keep
``.conv.conv``; BatchNorm ``X.norm.weight/bias/running_mean/running_var`` -> ``X.gamma/beta/moving_mean/
moving_variance``; ``fc`` is a Dense [192, 2C] here (SpeechBrain: 1x1 Conv1d).

Initialisation is SpeechBrain's (torch defaults, which MindSpore 2.10's defaults equal): every conv and
the fc weight kaiming-uniform with a = sqrt(5) (bound 1/sqrt(fan_in)), their biases U(+-1/sqrt(fan_in)),
BatchNorm gains 1 and biases 0 (the AAM head's xavier-uniform weight is in loss.py).

Difference from SpeechBrain, by design: every operation is length aware. Reflect padding reflects at
each utterance's own last frame, SE squeezes and the pooling statistics/softmax use only valid frames,
so an utterance gets the same embedding alone or zero-padded inside a longer batch. For an unpadded
batch the result equals SpeechBrain's (whose reflect padding and masks coincide with ours then).
"""
import utils.context  # noqa: F401  (must precede the mindspore import)

import mindspore as ms
from mindspore import nn, ops

from utils.modules import count_parameters  # noqa: E402,F401  (re-exported for the entry points)

# Padded attention scores get this value so that exp() underflows to exactly 0.
_MASKED_SCORE = -1e30
_STD_FLOOR = 1e-12


def length_mask(lengths, max_len):
    """Valid-frame mask.

    lengths: [B] int frames; max_len: padded frame count T.
    Returns float32 [B, 1, T], 1 on frames < length.
    """
    steps = ops.arange(0, max_len, dtype=ms.int32).reshape(1, -1)  # int32 like lengths (ONNX needs one type)
    return (steps < lengths.reshape(-1, 1)).astype(ms.float32).expand_dims(1)


def mean_weights(mask):
    """mask [B, 1, T] -> [B, 1, T] weights of a mean over valid frames (1 / length there, 0 on padding)."""
    return mask / mask.sum(axis=2, keepdims=True)


_TIMES_TRANSPOSED = ops.BatchMatMul(transpose_b=True)


def weighted_time_sum(x, weights):
    """sum over t of x[b, c, t] * weights[b, c or 0, t].

    x: [B, C, T]; weights: [B, 1 or C, T] -> [B, C].
    Written as matrix products: MindSpore's CPU ReduceSum over the time axis (and the BroadcastTo of its
    gradient) is 5-9x slower than a BatchMatMul / MatMul doing the same sums (forward and backward).
    """
    if weights.shape[1] == 1:
        return _TIMES_TRANSPOSED(x, weights).squeeze(2)
    product = x * weights
    frames = product.shape[2]
    return ops.matmul(product.reshape(-1, frames), ops.ones((frames, 1), product.dtype)).reshape(product.shape[0], -1)


def repeat_over_time(values, frames):
    """values [B, C] -> [B, C, T] (each value on every frame), as an outer product with ones.

    Bit-identical to broadcasting values[:, :, None], but its gradient is a MatMul instead of a ReduceSum over
    T, which MindSpore's CPU backend runs several times slower (see ``weighted_time_sum``)."""
    ones = ops.ones((1, frames), values.dtype)
    return ops.matmul(values.reshape(-1, 1), ones).reshape(values.shape[0], values.shape[1], frames)


def masked_mean_std(x, weights):
    """Weighted statistics over time.

    x: [B, C, T]; weights: [B, 1 or C, T], summing to 1 over T (0 on padded frames).
    Returns (mean, std), each [B, C].
    """
    mean = weighted_time_sum(x, weights)
    centered = x - repeat_over_time(mean, x.shape[2])
    var = weighted_time_sum(centered * centered, weights)
    return mean, ops.sqrt(ops.maximum(var, _STD_FLOOR))  # clamp(min=float) has no ONNX export


class ReflectConv1d(nn.Cell):
    """Conv1d with "same" output length and per-utterance reflect padding.

    The padding reflects at frame ``length - 1`` of each utterance (torch ``padding_mode="reflect"``
    applied to the unpadded utterance), so valid outputs never read padded frames.
    x: [B, C_in, T], lengths: [B] frames -> [B, C_out, T].
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ecapa_tdnn/src/network.py: kernel_size must be odd for 'same' padding, "
                             f"got {kernel_size}")
        self.pad = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, pad_mode="valid", dilation=dilation, has_bias=True)

    def source_frames(self, lengths, max_len, channels):
        """Which input frame each padded frame reads: int32 [B, channels, T + 2 * pad] (None when pad is 0).

        Convolutions with the same padding can share it (Res2NetBlock's branches do): the index arithmetic is
        ~8 small kernels, whose launches cost more than the gather itself at inference."""
        if self.pad == 0:
            return None
        # Index arithmetic in float32 (exact for these small integers): ONNX Clip rejects int32.
        last = (lengths.astype(ms.float32) - 1.0).reshape(-1, 1)
        source = ops.abs(ops.arange(-self.pad, max_len + self.pad, dtype=ms.float32)).reshape(1, -1)
        source = ops.where(source > last, 2.0 * last - source, source)
        # Frames past 2*last (padding region of short utterances) only feed padded outputs.
        source = ops.clamp(source, 0.0, max_len - 1.0).astype(ms.int32)
        # gather_elements measured faster here than gather(batch_dims=1) in a full training step.
        return ops.broadcast_to(source.expand_dims(1), (-1, channels, -1))

    def construct(self, x, lengths, source=None):
        """source: ``source_frames(lengths, T, C_in)`` when the caller shares it, else computed here."""
        if self.pad == 0:
            return self.conv(x)
        if source is None:
            source = self.source_frames(lengths, x.shape[-1], x.shape[1])
        return self.conv(ops.gather_elements(x, 2, source))


class TDNNBlock(nn.Cell):
    """Conv1d -> ReLU -> BatchNorm1d. x: [B, C_in, T], lengths: [B] -> [B, C_out, T]."""

    def __init__(self, in_channels, out_channels, kernel_size=1, dilation=1):
        super().__init__()
        self.conv = ReflectConv1d(in_channels, out_channels, kernel_size, dilation)
        self.activation = nn.ReLU()
        # MindSpore momentum is the weight of the old running value (torch 0.1 == MindSpore 0.9).
        self.norm = nn.BatchNorm1d(out_channels, eps=1e-5, momentum=0.9)

    def construct(self, x, lengths, source=None):
        return self.norm(self.activation(self.conv(x, lengths, source)))


class Res2NetBlock(nn.Cell):
    """Hierarchical split convolution. x: [B, C, T] -> [B, C, T]; C must divide by ``scale``."""

    def __init__(self, channels, scale=8, kernel_size=3, dilation=1):
        super().__init__()
        if channels % scale:
            raise ValueError(f"ecapa_tdnn/src/network.py: channels ({channels}) must be divisible by "
                             f"res2net_scale ({scale})")
        width = channels // scale
        self.scale = scale
        self.blocks = nn.CellList([TDNNBlock(width, width, kernel_size, dilation) for _ in range(scale - 1)])

    def construct(self, x, lengths):
        chunks = ops.chunk(x, self.scale, axis=1)
        # Every branch has the same kernel and dilation: one reflect-padding index for all of them.
        source = self.blocks[0].conv.source_frames(lengths, x.shape[-1], chunks[1].shape[1])
        outputs = [chunks[0]]
        previous = self.blocks[0](chunks[1], lengths, source)
        outputs.append(previous)
        for i in range(2, self.scale):
            previous = self.blocks[i - 1](chunks[i] + previous, lengths, source)
            outputs.append(previous)
        return ops.cat(outputs, axis=1)


class SEBlock(nn.Cell):
    """Squeeze-excitation with the squeeze averaged over valid frames only.

    x: [B, C, T], frame_weights: [B, 1, T] (1 / length on valid frames, 0 on padding) -> [B, C, T].
    """
    amp_fp32 = True  # the squeeze sums over time: float32 under mixed precision (utils/amp.py)

    def __init__(self, channels, se_channels):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, se_channels, 1, has_bias=True)
        self.conv2 = nn.Conv1d(se_channels, channels, 1, has_bias=True)

    def construct(self, x, frame_weights):
        squeezed = weighted_time_sum(x, frame_weights).expand_dims(2)
        gate = ops.sigmoid(self.conv2(ops.relu(self.conv1(squeezed))))
        return x * repeat_over_time(gate.squeeze(2), x.shape[2])


class SERes2NetBlock(nn.Cell):
    """TDNN(1x1) -> Res2Net(k, dilation) -> TDNN(1x1) -> SE, plus residual.

    x: [B, C_in, T], lengths: [B], frame_weights: [B, 1, T] (``mean_weights``) -> [B, C_out, T].
    """

    def __init__(self, in_channels, out_channels, res2net_scale=8, se_channels=128, kernel_size=3, dilation=1):
        super().__init__()
        self.tdnn1 = TDNNBlock(in_channels, out_channels, 1)
        self.res2net_block = Res2NetBlock(out_channels, res2net_scale, kernel_size, dilation)
        self.tdnn2 = TDNNBlock(out_channels, out_channels, 1)
        self.se_block = SEBlock(out_channels, se_channels)
        self.shortcut = (nn.Conv1d(in_channels, out_channels, 1, has_bias=True)
                         if in_channels != out_channels else None)

    def construct(self, x, lengths, frame_weights):
        residual = x if self.shortcut is None else self.shortcut(x)
        x = self.tdnn2(self.res2net_block(self.tdnn1(x, lengths), lengths), lengths)
        return self.se_block(x, frame_weights) + residual


class AttentiveStatisticsPooling(nn.Cell):
    """Channel- and context-dependent attentive mean/std pooling over valid frames.

    x: [B, C, T], lengths: [B], mask: [B, 1, T], frame_weights: [B, 1, T] (``mean_weights``) -> [B, 2C]
    (mean then std).
    """
    amp_fp32 = True  # softmax over time and the statistics: float32 under mixed precision (utils/amp.py)

    def __init__(self, channels, attention_channels=128, global_context=True):
        super().__init__()
        self.global_context = global_context
        self.channels = channels
        self.tdnn = TDNNBlock(channels * 3 if global_context else channels, attention_channels, 1)
        self.conv = nn.Conv1d(attention_channels, channels, 1, has_bias=True)
        self.frame_projection = ops.Conv2D(attention_channels, (1, 1), stride=(1, 1), dilation=(1, 1))  # tuples: ONNX

    def context_attention(self, x, mean, std):
        """The attention TDNN's 1x1 conv of [x; mean; std] (3C channels) without building that [B, 3C, T]
        tensor: mean and std are constant over time, so their part of the conv is one [B, A] product added
        to every frame. Same parameters and result; 3x fewer conv FLOPs and no 3C-channel copy.
        x: [B, C, T], mean/std: [B, C] -> [B, A, T] (conv output before ReLU and BatchNorm)."""
        weight = self.tdnn.conv.conv.weight                                  # [A, 3C, 1, 1]
        frames = self.frame_projection(x.expand_dims(2), weight[:, :self.channels]).squeeze(2)
        flat = weight.reshape(weight.shape[0], -1)
        constant = (ops.matmul(mean, flat[:, self.channels:2 * self.channels].T)
                    + ops.matmul(std, flat[:, 2 * self.channels:].T) + self.tdnn.conv.conv.bias)
        return frames + repeat_over_time(constant, frames.shape[2])

    def construct(self, x, lengths, mask, frame_weights):
        if self.global_context:
            mean, std = masked_mean_std(x, frame_weights)
            attention = self.tdnn.norm(self.tdnn.activation(self.context_attention(x, mean, std)))
        else:
            attention = self.tdnn(x, lengths)
        scores = self.conv(ops.tanh(attention))
        scores = ops.where(mask > 0, scores, ops.full_like(scores, _MASKED_SCORE))
        mean, std = masked_mean_std(x, ops.softmax(scores, axis=2))
        return ops.cat([mean, std], axis=1)


class ECAPATDNN(nn.Cell):
    """ECAPA-TDNN embedding extractor.

    Args (all plain values so ``ECAPATDNN(**cfg.model)`` works; SpeechBrain's names in brackets):
        input_dim: feature channels per frame, 80 log-mel bins [input_size].
        channels: output channels of [TDNN, SE-Res2Block x3, aggregation]; C=512 paper model is
            [512, 512, 512, 512, 1536].
        kernel_sizes / dilations: per layer, paper [5, 3, 3, 3, 1] / [1, 2, 3, 4, 1].
        attention_channels: bottleneck of the attentive pooling (128).
        res2net_scale: number of Res2Net chunks (8).
        se_channels: SE bottleneck (128).
        global_context: attention sees utterance mean/std too (True in the paper).
        embedding_dim: speaker embedding size, 192 [lin_neurons].

    construct(features [B, input_dim, T] float32, lengths [B] int32 frames) -> embeddings [B, embedding_dim].
    """

    def __init__(self, input_dim=80, channels=(512, 512, 512, 512, 1536), kernel_sizes=(5, 3, 3, 3, 1),
                 dilations=(1, 2, 3, 4, 1), attention_channels=128, res2net_scale=8, se_channels=128,
                 global_context=True, embedding_dim=192):
        super().__init__()
        channels, kernel_sizes, dilations = list(channels), list(kernel_sizes), list(dilations)
        if not len(channels) == len(kernel_sizes) == len(dilations) == 5:
            raise ValueError("ecapa_tdnn/src/network.py: channels, kernel_sizes and dilations need 5 entries each "
                             f"(TDNN, 3 SE-Res2Blocks, aggregation), got {channels}, {kernel_sizes}, {dilations}")
        self._config = dict(input_dim=input_dim, channels=channels, kernel_sizes=kernel_sizes, dilations=dilations,
                            attention_channels=attention_channels, res2net_scale=res2net_scale,
                            se_channels=se_channels, global_context=global_context, embedding_dim=embedding_dim)
        self.input_dim = input_dim
        # One list as in SpeechBrain (blocks.0 = TDNN, blocks.1-3 = SE-Res2Blocks) keeps parameter names close.
        self.blocks = nn.CellList([TDNNBlock(input_dim, channels[0], kernel_sizes[0], dilations[0])] + [
            SERes2NetBlock(channels[i - 1], channels[i], res2net_scale, se_channels, kernel_sizes[i], dilations[i])
            for i in range(1, 4)])
        self.mfa = TDNNBlock(sum(channels[1:4]), channels[4], kernel_sizes[4], dilations[4])
        self.asp = AttentiveStatisticsPooling(channels[4], attention_channels, global_context)
        self.asp_bn = nn.BatchNorm1d(channels[4] * 2, eps=1e-5, momentum=0.9)
        self.fc = nn.Dense(channels[4] * 2, embedding_dim)

    def get_config(self):
        """Constructor arguments as plain Python values (stored with checkpoints)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self._config.items()}

    def construct(self, features, lengths):
        mask = length_mask(lengths, features.shape[-1])
        frame_weights = mean_weights(mask)  # once for the 3 SE squeezes and the pooling's global context
        x = self.blocks[0](features, lengths)
        block_outputs = []
        for index in range(1, 4):
            x = self.blocks[index](x, lengths, frame_weights)
            block_outputs.append(x)
        x = self.mfa(ops.cat(block_outputs, axis=1), lengths)
        return self.fc(self.asp_bn(self.asp(x, lengths, mask, frame_weights)))


def dynamic_inputs(network):
    """Let a graph-mode network compile once for any batch size and frame count."""
    network.set_inputs(ms.Tensor(shape=[None, network.input_dim, None], dtype=ms.float32),
                       ms.Tensor(shape=[None], dtype=ms.int32))
    return network
