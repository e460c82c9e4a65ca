"""Framing and overlap-add written with reshape/concat/slicing only, so they compile in GRAPH_MODE with a
dynamic length and export to MINDIR/ONNX (no Conv1dTranspose, no fold op).

Convention: a frame is `frame_length` samples long and frames start every `hop` samples, with
`frame_length` a whole multiple `ratio` of `hop` (50 % overlap is ratio 2). `pad_to_frames` pads
`(ratio - 1) * hop` samples on the left and enough on the right that every input sample is covered by
exactly `ratio` frames; `overlap_add` followed by `crop_frames` undoes it.
"""
import utils.context  # noqa: F401  (must precede mindspore)
from mindspore import ops


def zero_pad(x, before, after):
    """Zero-pad axis 1 of x [B, T, ...] by constant widths. Written as a concat because in MindSpore 2.10
    GRAPH_MODE the gradient of ops.pad (PadV3) is stale after the first step when shapes are static."""
    zero_slice = ops.zeros_like(x[:, :1])
    reps = (1,) * (x.ndim - 2)
    if before:
        x = ops.concat((zero_slice.tile((1, before) + reps), x), 1)
    if after:
        x = ops.concat((x, zero_slice.tile((1, after) + reps)), 1)
    return x


def frame_ratio(frame_length, hop):
    """Frames per sample (frame_length / hop); a clear error when it is not a whole number."""
    if hop <= 0 or frame_length % hop:
        raise ValueError(f"frame_length ({frame_length}) must be a positive multiple of hop ({hop})")
    return frame_length // hop


def pad_to_frames(signal, frame_length, hop, exact_width=False):
    """Pad a batch of signals so whole frames cover it.

    signal: [B, T] -> [B, (ceil(T / hop) + 2 * (ratio - 1)) * hop]
    exact_width: build the right pad at its run-time width (``zero_pad_around``) instead of padding a constant
    width and cropping; faster, but that width is no ``A * floor((T + B) / D) + C`` of T, the form the
    dynamic-length ONNX export (utils/onnx_dynamic.py) rewrites, so ONNX exports keep the crop.
    """
    ratio = frame_ratio(frame_length, hop)
    length = signal.shape[-1]
    margin = (ratio - 1) * hop
    padded_length = ((length + hop - 1) // hop) * hop + 2 * margin
    # margin 0 may leave nothing to pad on the right, which a concat cannot take
    return zero_pad_around(signal, margin, padded_length, hop - 1 + margin, exact_width and margin > 0)


def zero_pad_around(signal, before, length, max_after, exact_width):
    """signal [B, T] -> [B, length]: `before` zeros, the signal, then zeros up to `length`
    (0 <= length - before - T <= max_after).

    exact_width (needs length > before + T): the right pad is built at its run-time width; dropping the crop of
    the other way (a StridedSlice of DPRNN's [B * C, T] chunking input) made DPRNN's inference x0.955. Else a
    constant `max_after` pad then a crop (ops.pad with run-time widths has no gradient in graph mode)."""
    if not exact_width:
        return zero_pad(signal, before, max_after)[:, :length]
    zeros = ops.zeros((signal.shape[0], length - before - signal.shape[1]), signal.dtype)
    return ops.concat((zero_pad(signal, before, 0), zeros), 1)


def frame_signal(padded, frame_length, hop):
    """Cut a padded signal into overlapping frames.

    padded: [B, T_pad] with T_pad a multiple of hop (from `pad_to_frames`) -> frames [B, F, frame_length],
    F = T_pad / hop - ratio + 1.
    """
    ratio = frame_ratio(frame_length, hop)
    chunks = padded.reshape(padded.shape[0], -1, hop)
    n_frames = chunks.shape[1] - ratio + 1
    if ratio == 1:
        return chunks
    return ops.concat([chunks[:, r:r + n_frames] for r in range(ratio)], axis=2)


def overlap_add(frames, hop):
    """Sum overlapping frames back into a signal (the adjoint of `frame_signal`).

    frames: [..., F, frame_length] -> [..., (F + ratio - 1) * hop]
    """
    lead_shape = frames.shape[:-2]
    n_frames, frame_length = frames.shape[-2], frames.shape[-1]
    ratio = frame_ratio(frame_length, hop)
    rows = frames.reshape(-1, n_frames, frame_length)
    # Slices of the LAST axis: MindSpore's CPU StridedSlice over a middle axis (a [..., ratio, hop] view
    # indexed at r) is ~25x slower, and was the largest cost of DPRNN's inference after the LSTMs.
    total = zero_pad(rows[..., :hop], 0, ratio - 1)
    for r in range(1, ratio):
        total = total + zero_pad(rows[..., r * hop:(r + 1) * hop], r, ratio - 1 - r)
    return total.reshape(lead_shape + (-1,))


def crop_frames(signal, length, frame_length, hop):
    """Undo `pad_to_frames`: [..., T_pad] -> [..., length]."""
    start = (frame_ratio(frame_length, hop) - 1) * hop
    return signal[..., start:start + length]


def valid_length(length, frame_length, hop):
    """Samples covered by whole frames when framing starts at sample 0 with no padding (a Conv1d with
    padding 0, as asteroid's encoders frame): ((length - frame_length) // hop) * hop + frame_length."""
    return ((length - frame_length) // hop) * hop + frame_length


def pad_to_length(signal, length, max_pad):
    """Zero-pad the last axis of signal [..., T] to `length` samples, 0 <= length - T <= max_pad.

    Pads a constant `max_pad` then crops to `length` (dynamic widths have no gradient in graph mode).
    """
    lead_shape = signal.shape[:-1]
    rows = signal.reshape(-1, signal.shape[-1], 1)
    return zero_pad(rows, 0, max_pad)[:, :length].reshape(lead_shape + (-1,))
