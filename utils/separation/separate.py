"""Running a trained separator on whole signals or on long signals in overlapping chunks.

A "separator" here is anything `separate` accepts: a MindSpore Cell (mixture [B, T] -> [B, S, T]) or
a `utils.inference.LoadedModel` (.ckpt or .mindir) called with NumPy arrays.
"""
import numpy as np

import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms
from mindspore import nn

from utils.modules import count_parameters  # noqa: E402,F401  (re-exported for the entry points)

from utils.metrics import pit


def mixture_spec():
    """Dynamic placeholder of a mixture batch [B, T] (float32): one compile for every shape."""
    return ms.Tensor(shape=[None, None], dtype=ms.float32)


def training_specs(n_src):
    """Placeholders of a training batch: mixtures [B, T], sources [B, S, T], lengths [B] int32."""
    return [mixture_spec(), ms.Tensor(shape=[None, n_src, None], dtype=ms.float32),
            ms.Tensor(shape=[None], dtype=ms.int32)]


def network_builder(network_class):
    """fn(full config dict) -> network, as utils.inference.load_model wants it."""
    return lambda config: network_class(**config["model"])


def separate(model, mixture):
    """mixture float32 [T] -> estimated sources float32 [S, T] (one forward pass over the whole signal)."""
    batch = np.ascontiguousarray(mixture, dtype=np.float32)[None]
    if isinstance(model, nn.Cell):
        return model(ms.Tensor(batch)).asnumpy()[0]
    return np.asarray(model(batch))[0]


def _abs_correlation(first, second):
    """|normalised correlation| of two signals [O] (1 = same waveform up to gain and sign)."""
    first, second = first - first.mean(), second - second.mean()
    return abs(float(first @ second)) / (np.linalg.norm(first) * np.linalg.norm(second) + 1e-8)


def align_sources(previous, current):
    """Reorder (and rescale) `current` [S, O] to continue `previous` [S, O] over the same samples.

    Returns (perm, gains): current[perm[j]] * gains[j] continues previous[j]. The permutation maximises
    the summed absolute correlation on the overlap; the least-squares gain also undoes a sign flip or a
    level change between chunks (an SI-SNR-trained model's output scale is arbitrary per chunk).
    """
    perm = pit(_abs_correlation, current, previous)[1]
    matched = current[perm]
    gains = (matched * previous).sum(-1) / ((matched ** 2).sum(-1) + 1e-8)
    return perm, gains


def chunk_starts(n_samples, chunk, overlap):
    """Start sample of every chunk of `chunk` samples hopping by chunk - overlap, the last one ending at or
    beyond n_samples."""
    if chunk <= 0 or not 0 <= 2 * overlap <= chunk:
        raise ValueError(f"chunk ({chunk} samples) must be > 0 and overlap ({overlap}) at most half of it")
    hop = chunk - overlap
    starts = [0]
    while starts[-1] + chunk < n_samples:
        starts.append(starts[-1] + hop)
    return starts


def separate_in_chunks(model, mixture, chunk, overlap):
    """Separate a long mixture [T] chunk by chunk; yields finished pieces [S, n] in time order (their
    concatenation is [S, T]), so only one chunk is ever in the model and the caller can stream to disk.

    Each chunk's sources are matched to the previous chunk's on their `overlap` common samples (best
    permutation + gain: the speaker order stays the same across chunks) and cross-faded linearly there.
    """
    n_samples = len(mixture)
    if n_samples <= chunk:
        yield separate(model, mixture)
        return
    tail = None
    starts = chunk_starts(n_samples, chunk, overlap)
    fade_in = np.linspace(0.0, 1.0, overlap + 2, dtype=np.float32)[1:-1]
    for index, start in enumerate(starts):
        estimates = separate(model, mixture[start:start + chunk])
        if tail is not None and overlap:
            perm, gains = align_sources(tail, estimates[:, :overlap])
            estimates = estimates[perm] * gains[:, None].astype(np.float32)
            yield tail * (1.0 - fade_in) + estimates[:, :overlap] * fade_in
            estimates = estimates[:, overlap:]
        last = index == len(starts) - 1
        if last or not overlap:
            yield estimates
        else:
            yield estimates[:, :-overlap]
            tail = estimates[:, -overlap:]


def separate_long(model, mixture, chunk=None, overlap=0):
    """[T] -> [S, T]: whole-signal separation, or chunked (see `separate_in_chunks`) when chunk is set."""
    if not chunk:
        return separate(model, mixture)
    return np.concatenate(list(separate_in_chunks(model, mixture, chunk, overlap)), axis=1)
