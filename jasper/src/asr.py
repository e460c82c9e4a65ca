"""What train.py, eval.py and infer.py share: the optimizer, decoding options, batched transcription.

``Transcriber`` wraps a loaded model (``utils.inference.LoadedModel`` or a bare ``JasperNet``) and turns
feature batches into text with greedy or beam-search CTC decoding.
"""
import logging

import numpy as np

import utils.context  # noqa: F401  (must precede the mindspore import)
import mindspore as ms

from jasper.src.decoder import ArpaLanguageModel, beam_search_batch, greedy_decode
from jasper.src.novograd import Novograd
from jasper.src.text import decode
from utils.metrics import edit_counts

LOG = logging.getLogger("zoo.jasper")


def build_optimizer(network, train_cfg):
    """Novograd from ``train:`` (optimizer: novograd), else None so the Trainer builds adam/adamw."""
    if str(train_cfg.get("optimizer", "novograd")).lower() != "novograd":
        return None
    beta1, beta2 = train_cfg.get("betas", [0.95, 0.0])
    return Novograd(network.trainable_params(), learning_rate=float(train_cfg.get("lr", 0.01)), beta1=float(beta1),
                    beta2=float(beta2), weight_decay=float(train_cfg.get("weight_decay", 0.0)))


class Transcriber:
    """Features -> text with one model and one decoding setting.

    model: callable (feats [B, n_mels, F] float32, lengths [B] int32) -> (log_probs [B, F', C], out_lengths [B]),
        numpy in and out (``utils.inference.LoadedModel``).
    settings: ``decoder_settings`` dict.
    """

    def __init__(self, model, settings):
        self.model, self.settings = model, settings
        self.lm = ArpaLanguageModel(settings["lm_path"]) if settings.get("lm_path") else None
        if self.lm is not None:
            LOG.info("language model %s: order %d, %d n-grams", settings["lm_path"], self.lm.order,
                     len(self.lm.log10_prob))

    def log_probs(self, feats, lengths):
        """Run the acoustic model: numpy feats [B, n_mels, F], lengths [B] -> (log_probs [B, F', C], lengths [B])."""
        log_probs, out_lengths = self.model(feats.astype(np.float32), lengths.astype(np.int32))
        return np.asarray(log_probs), np.asarray(out_lengths)

    def decode(self, log_probs, lengths):
        """[B, F', C] log-posteriors with [B] valid frames -> B strings."""
        if self.settings["decoder"] == "greedy":
            return greedy_decode(log_probs, lengths)
        return beam_search_batch(log_probs, lengths, beam_width=self.settings["beam_width"], lm=self.lm,
                                 alpha=self.settings["alpha"], beta=self.settings["beta"])

    def __call__(self, feats, lengths):
        return self.decode(*self.log_probs(feats, lengths))


def references_of(labels, label_lengths):
    """Padded label ids [B, L] + lengths [B] -> B reference strings."""
    return [decode(row[:int(n)]) for row, n in zip(labels, label_lengths)]


def error_sums(references, hypotheses):
    """[word errors, reference words, char errors, reference chars] summed over utterances (float64 [4])."""
    sums = np.zeros(4)
    for ref, hyp in zip(references, hypotheses):
        words, chars = edit_counts(ref, hyp, "word"), edit_counts(ref, hyp, "char")
        sums += (words.errors, words.reference_length, chars.errors, chars.reference_length)
    return sums


def transcript_metrics(references, hypotheses):
    """Corpus WER / CER (errors summed over utterances, divided by the reference words / characters)."""
    from utils.metrics import char_error_rate, word_error_rate
    return {"wer": word_error_rate(references, hypotheses), "cer": char_error_rate(references, hypotheses),
            "n_utterances": len(hypotheses)}


def write_transcripts(path, entries, references, hypotheses):
    """per_utterance.csv: id, path, reference, hypothesis, wer, cer of each manifest entry."""
    import csv
    import os
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "path", "reference", "hypothesis", "wer", "cer"])
        for entry, ref, hyp in zip(entries, references, hypotheses):
            words, _, chars, _ = error_sums([ref], [hyp])
            writer.writerow([os.path.splitext(os.path.basename(entry["audio_filepath"]))[0], entry["audio_filepath"],
                             ref, hyp, round(words / max(1, len(ref.split())), 4), round(chars / max(1, len(ref)), 4)])


def greedy_validator(loader):
    """``validate(network) -> {"wer", "cer"}`` for the Trainer: greedy decoding of every validation batch,
    error sums added over ranks (each rank decodes its shard)."""
    from tqdm import tqdm

    from utils.context import run_info
    from utils.distributed import all_reduce_sum

    def validate(network):
        sums = np.zeros(4)
        batches = tqdm(loader.iterate(0), total=len(loader), desc="validation", unit="batch", leave=False,
                       disable=not run_info().is_main)
        for feats, frames, labels, label_lengths in batches:
            log_probs, out_lengths = network(ms.Tensor(feats), ms.Tensor(frames))
            hypotheses = greedy_decode(log_probs.asnumpy(), out_lengths.asnumpy())
            sums += error_sums(references_of(labels, label_lengths), hypotheses)
        sums = all_reduce_sum(sums)
        return {"wer": float(sums[0] / max(sums[1], 1)), "cer": float(sums[2] / max(sums[3], 1))}
    return validate


def load_acoustic_model(path, use_ema=False):
    """``utils.inference.LoadedModel`` of a Jasper .ckpt or .mindir; a checkpoint's network compiles once for
    every batch shape. Its ``config`` is the training run's (model + data sections)."""
    from jasper.src.network import JasperNet, build_network, input_specs
    from utils.inference import load_model

    if not path or not (path.endswith(".ckpt") or path.endswith(".mindir")):
        raise SystemExit(f"--ckpt_path must be a .ckpt or .mindir file, got {path!r}")
    if path.endswith(".mindir") and use_ema:
        raise SystemExit("--use_ema applies to training checkpoints only; a .mindir holds the weights it was "
                         "exported with")
    model = load_model(path, build_network, use_ema=use_ema)
    if isinstance(model.cell, JasperNet):
        model.cell.set_inputs(*input_specs(int(model.cell.settings["in_features"])))
    if not model.config.get("data"):
        raise SystemExit(f"{path}: no data/feature settings stored with the model (a .mindir needs the "
                         f".json written beside it by jasper/export.py)")
    return model


def chunk_plan(num_samples, window, context, out_hop):
    """How ``infer.py`` cuts a long recording: list of (start, end, keep_from, keep_to) in samples / output frames.

    Each chunk is read from ``[start, end)`` samples; of its output frames, ``[keep_from, keep_to)`` are kept: the
    centre, away from the chunk edges where the convolutions lack context. The kept frames of consecutive chunks
    tile the recording's output frames with no gap or overlap. window, context: samples, multiples of ``out_hop``
    (samples per output frame); window > 2 * context. A recording no longer than ``window`` is one chunk.
    """
    if window % out_hop or context % out_hop or window <= 2 * context:
        raise ValueError(f"jasper/src/asr.py: window {window} and context {context} must be multiples of "
                         f"{out_hop} samples with window > 2 * context")
    if num_samples <= window:
        return [(0, num_samples, 0, None)]
    step = window - 2 * context
    plan, core = [], 0
    while True:
        start, end = max(0, core - context), min(num_samples, core + step + context)
        keep_from = (core - start) // out_hop
        if end == num_samples:  # this window reaches the end: it keeps everything after its core start
            plan.append((start, end, keep_from, None))
            break
        plan.append((start, end, keep_from, keep_from + step // out_hop))
        core += step
    return plan


def long_audio_log_probs(transcriber, extractor, wave, window, context, out_hop):
    """Frame log-posteriors [F', C] of a whole recording [T] computed chunk by chunk (``chunk_plan``).

    Returns (log_probs, number of chunks). Every chunk is normalised on its own, as a training utterance is.
    """
    pieces = []
    plan = chunk_plan(len(wave), window, context, out_hop)
    for start, end, keep_from, keep_to in plan:
        feats = extractor(wave[start:end])
        log_probs, lengths = transcriber.log_probs(feats[None], np.array([feats.shape[1]], np.int32))
        valid = log_probs[0, :int(lengths[0])]
        pieces.append(valid[keep_from:keep_to])
    return np.concatenate(pieces, axis=0), len(plan)
