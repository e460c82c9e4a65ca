"""Speaker-verification back end shared by train.py (validation), eval.py and infer.py.

* ``extract_embeddings``: one embedding per audio file, whole utterances batched by similar duration
  (less padding; the network masks the rest), sharded over ranks when distributed;
* ``cosine_scores``: cosine similarity of trial pairs;
* ``cohort_statistics`` / ``normalize_scores``: s-norm and adaptive s-norm (AS-norm, top-N cohort)
  computed with matrix products, chunked so a large cohort fits in memory;
* ``verification_metrics``: EER and minDCF with their thresholds.
"""
import os

import numpy as np
from tqdm import tqdm

import utils.context  # noqa: F401  (must precede the mindspore import)
import mindspore as ms

from ecapa_tdnn.src.dataset import UtteranceSet, collate
from ecapa_tdnn.src.network import ECAPATDNN
from utils.audio import audio_info
from utils.checkpoint import checkpoint_config
from utils.data import BatchLoader
from utils.distributed import all_reduce_sum
from utils.inference import load_model
from utils.metrics import eer, min_dcf

SCORE_NORMS = ("none", "snorm", "asnorm")
# Rows of the file-by-cohort score matrix computed at once (bounds memory to ~chunk * cohort floats).
_COHORT_CHUNK = 1024


def build_network(config):
    """ECAPATDNN from a full config dict (its ``model`` section), for ``utils.inference.load_model``."""
    return ECAPATDNN(**dict(config["model"]))


def embedding_input_specs(input_dim):
    """Dynamic-shape placeholders of the embedding network: features [B, input_dim, T], lengths [B]."""
    return [ms.Tensor(shape=[None, int(input_dim), None], dtype=ms.float32), ms.Tensor(shape=[None], dtype=ms.int32)]


def load_embedder(path, use_ema=False):
    """The embedding model of a training checkpoint (.ckpt) or an exported .mindir, compiled once for
    every batch size and length. Returns a ``utils.inference.LoadedModel``: ``model(features [B, F, T],
    lengths [B]) -> embeddings [B, D]`` numpy, ``model.config`` the full config it was trained with."""
    input_dim = None
    if not path.endswith(".mindir"):
        input_dim = (checkpoint_config(path).get("model") or {}).get("input_dim")
    return load_model(path, build_network, use_ema=use_ema,
                      input_specs=embedding_input_specs(input_dim) if input_dim else None)


def network_embedder(network):
    """``fn(features [B, F, T] numpy, lengths [B] numpy) -> embeddings [B, D] numpy`` for a Cell."""
    def embed(features, lengths):
        return network(ms.Tensor(features), ms.Tensor(lengths)).asnumpy()
    return embed


def audio_seconds(path):
    """Duration of an audio file in seconds (header only); utils.audio.AudioError naming the file when unreadable."""
    frames, rate, _ = audio_info(path)
    return frames / rate


def extract_embeddings(embed, data_dir, paths, sample_rate, features=None, batch_size=16, rank=0, group_size=1,
                       desc="embeddings"):
    """Embed every file once.

    embed: ``fn(features [B, F, T], lengths [B]) -> [B, D]`` (a ``LoadedModel`` or ``network_embedder``).
    paths: file paths relative to ``data_dir`` (any sample rate / channel count: resampled, averaged).
    features: ``data.features`` config section. Files are sorted by duration so a batch holds similar
    lengths; with ``group_size`` > 1 each rank embeds its share and the rows are summed over ranks.
    Returns float32 [len(paths), D], row i = paths[i].
    """
    paths = list(paths)
    if not paths:
        raise ValueError(f"no audio files to embed under {data_dir}")
    durations = [audio_seconds(os.path.join(data_dir, path)) for path in paths]
    order = np.argsort(durations, kind="stable")
    dataset = UtteranceSet(data_dir, [paths[i] for i in order], sample_rate, features)
    loader = BatchLoader(dataset, batch_size, collate, shuffle=False, rank=rank, group_size=group_size)
    embeddings = None
    for feats, lengths, indices in tqdm(loader.iterate(0), total=len(loader), desc=desc, unit="batch",
                                        disable=rank != 0, leave=False, dynamic_ncols=True):
        batch = np.asarray(embed(feats, lengths), dtype=np.float32)
        if embeddings is None:
            embeddings = np.zeros((len(paths), batch.shape[1]), np.float32)
        embeddings[order[indices]] = batch
    if embeddings is None:  # this rank got no file (fewer files than ranks): it still joins the reduction
        width = np.asarray(embed(*collate([dataset.get(0)])[:2])).shape[1]
        embeddings = np.zeros((len(paths), width), np.float32)
    if group_size > 1:
        embeddings = all_reduce_sum(embeddings)
    return np.asarray(embeddings, dtype=np.float32)


def unit_rows(matrix):
    """Rows scaled to unit L2 norm. [N, D] -> [N, D]."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


def cosine_scores(embeddings, first, second):
    """Cosine similarity of pairs: embeddings [N, D]; first, second: [P] row indices -> [P] float64."""
    unit = unit_rows(embeddings)
    return np.einsum("pd,pd->p", unit[np.asarray(first)], unit[np.asarray(second)])


def cohort_statistics(embeddings, cohort, top_n=0):
    """Mean and std of each embedding's cosine scores against a cohort.

    embeddings: [N, D]; cohort: [M, D]. top_n > 0 keeps only the ``top_n`` highest scores of each row
    (AS-norm); 0 uses the whole cohort (s-norm). Returns (mean [N], std [N]) float64.
    """
    cohort = unit_rows(cohort)
    unit = unit_rows(embeddings)
    keep = cohort.shape[0] if top_n <= 0 else min(int(top_n), cohort.shape[0])
    means, stds = np.empty(unit.shape[0]), np.empty(unit.shape[0])
    for start in range(0, unit.shape[0], _COHORT_CHUNK):
        scores = unit[start:start + _COHORT_CHUNK] @ cohort.T
        if keep < scores.shape[1]:
            scores = np.partition(scores, scores.shape[1] - keep, axis=1)[:, -keep:]
        means[start:start + _COHORT_CHUNK] = scores.mean(axis=1)
        stds[start:start + _COHORT_CHUNK] = scores.std(axis=1)
    return means, stds


def normalize_scores(scores, first, second, mean, std):
    """Symmetric score normalisation: 0.5 * ((s - mean_e) / std_e + (s - mean_t) / std_t).

    scores: [P] raw trial scores; first, second: [P] file indices into ``mean`` / ``std`` ([N] from
    ``cohort_statistics``). Returns [P] float64.
    """
    first, second = np.asarray(first), np.asarray(second)
    std = np.maximum(std, 1e-12)
    return 0.5 * ((scores - mean[first]) / std[first] + (scores - mean[second]) / std[second])


def verification_metrics(scores, labels, p_target=0.01):
    """EER (fraction) and minDCF with the thresholds reaching them, as a dict of floats."""
    eer_value, eer_threshold = eer(scores, labels)
    dcf_value, dcf_threshold = min_dcf(scores, labels, p_target=p_target)
    return {"eer": eer_value, "eer_threshold": eer_threshold, "min_dcf": dcf_value,
            "min_dcf_threshold": dcf_threshold, "p_target": float(p_target), "n_trials": int(len(scores))}


def trial_metrics(scores, raw_scores, labels, p_target, **extra):
    """eval.py's metrics.json dict: EER / minDCF (+ thresholds) of ``scores`` [P], the raw-cosine thresholds
    of ``raw_scores`` [P] (what ``infer.py verify`` compares against), ``eer_percent`` and ``extra``."""
    metrics = verification_metrics(scores, labels, p_target)
    cosine = verification_metrics(raw_scores, labels, p_target)
    metrics.update(eer_percent=100 * metrics["eer"], **extra, cosine_eer_threshold=cosine["eer_threshold"],
                   cosine_min_dcf_threshold=cosine["min_dcf_threshold"])
    return metrics


def write_scores(path, scores, labels, paths, first, second):
    """scores.txt: one ``label score path1 path2`` line per trial."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(f"{label} {score:.6f} {paths[a]} {paths[b]}\n"
                          for label, score, a, b in zip(labels, scores, first, second))


def trial_indices(trials):
    """Unique files of a trial list and each trial's pair of row indices.

    trials: [(label, path1, path2)]. Returns (paths [N], labels [P] int, first [P], second [P]).
    """
    paths = sorted({path for _, a, b in trials for path in (a, b)})
    row = {path: index for index, path in enumerate(paths)}
    labels = np.array([label for label, _, _ in trials], dtype=np.int64)
    first = np.array([row[a] for _, a, _ in trials])
    second = np.array([row[b] for _, _, b in trials])
    return paths, labels, first, second
