"""CTC decoding in numpy: greedy (best path) and prefix beam search with an optional word n-gram LM.

The LM is read from an ARPA file by the small reader below and scored with standard Katz back-off.
We write it ourselves instead of depending on pyctcdecode + kenlm because kenlm ships only as a C++ source
package on PyPI (it needs a compiler, cmake and Boost at install time); an ARPA file of the LibriSpeech LM
size class is read in well under a minute, and decoding speed is secondary to the acoustic model here.

Scores: log_probs are natural-log CTC posteriors [T, C]. A beam's rank is
``log P_ctc(prefix) + alpha * ln P_lm(words) + beta * number_of_words``; the LM term of a word is added
when the word is closed by a space (and for the last word, with the end-of-sentence token, at the end).
"""
import math
from collections import defaultdict

import numpy as np

from jasper.src.text import BLANK, LABELS

LN10 = math.log(10.0)
SPACE = LABELS.index(" ")
NEG_INF = -float("inf")


def _collapse(ids, blank):
    """Best-path rule: merge repeats, then drop blanks."""
    out, previous = [], None
    for i in ids:
        if i != previous and i != blank:
            out.append(int(i))
        previous = i
    return out


def ids_to_text(ids):
    """Label ids -> text with the spaces tidied (beams may start, end or double a space)."""
    return " ".join("".join(LABELS[i] for i in ids if i != BLANK).split())


def greedy_decode(log_probs, lengths=None, blank=BLANK):
    """Best-path decoding of a batch.

    log_probs: [B, T, C] (log-)posteriors (any monotone scores work). lengths: [B] valid frames (None = T).
    Returns a list of B strings.
    """
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 3:
        raise ValueError(f"jasper/src/decoder.py: greedy_decode expects [B, T, C], got {log_probs.shape}")
    best = log_probs.argmax(axis=-1)
    lengths = np.full(len(best), best.shape[1]) if lengths is None else np.asarray(lengths)
    return [ids_to_text(_collapse(row[:int(n)], blank)) for row, n in zip(best, lengths)]


class ArpaLanguageModel:
    """Word n-gram LM from an ARPA file with back-off scoring.

    score(history, word) -> natural-log P(word | history); history is a tuple of words (``<s>`` is prepended
    by the caller). Words absent from the vocabulary get ``<unk>``'s probability when the file has one,
    otherwise ``unk_log10`` (log10).
    """

    def __init__(self, path, unk_log10=-10.0):
        self.path = path
        self.log10_prob, self.log10_backoff = {}, {}
        self.order = 0
        self.unk_log10 = unk_log10
        self._read(path)
        if ("<unk>",) in self.log10_prob:
            self.unk_log10 = self.log10_prob[("<unk>",)]
        self._cache = {}

    def _read(self, path):
        section = None
        with open(path, encoding="utf-8") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.strip()
                if not line or line.startswith("ngram ") or line == "\\data\\":
                    continue
                if line == "\\end\\":
                    break
                if line.startswith("\\") and line.endswith("-grams:"):
                    section = int(line[1:line.index("-")])
                    self.order = max(self.order, section)
                    continue
                if section is None:
                    raise ValueError(f"{path}:{number}: expected the \\data\\ header or an n-gram section, "
                                     f"got {line[:60]!r}")
                parts = line.split()
                if len(parts) not in (section + 1, section + 2):
                    raise ValueError(f"{path}:{number}: a {section}-gram line needs log10 prob, {section} "
                                     f"words and an optional back-off, got {line[:60]!r}")
                words = tuple(word.lower() for word in parts[1:section + 1])  # LibriSpeech LMs are upper case
                self.log10_prob[words] = float(parts[0])
                if len(parts) == section + 2:
                    self.log10_backoff[words] = float(parts[-1])
        if not self.log10_prob:
            raise ValueError(f"{path}: no n-grams found (is it an ARPA file?)")

    def _log10(self, context, word):
        if (word,) not in self.log10_prob:
            return self.unk_log10
        penalty = 0.0
        while True:
            if context + (word,) in self.log10_prob:
                return penalty + self.log10_prob[context + (word,)]
            penalty += self.log10_backoff.get(context, 0.0)
            context = context[1:]

    def score(self, history, word):
        context = tuple(history)[-(self.order - 1):] if self.order > 1 else ()
        key = (context, word)
        if key not in self._cache:
            self._cache[key] = self._log10(context, word) * LN10
        return self._cache[key]

    def sentence_score(self, words, final):
        """ln P of the words of a prefix; ``final`` also scores the end-of-sentence token."""
        history, total = ("<s>",), 0.0
        for word in words:
            total += self.score(history, word)
            history = history + (word,)
        if final:
            total += self.score(history, "</s>")
        return total


def _logsumexp(a, b):
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high = max(a, b)
    return high + math.log1p(math.exp(-abs(a - b)))


def beam_search_decode(log_probs, beam_width=16, lm=None, alpha=0.5, beta=1.0, prune_log_prob=-12.0,
                       blank=BLANK):
    """CTC prefix beam search on one utterance.

    log_probs: [T, C] natural-log posteriors of the valid frames.
    beam_width: prefixes kept per frame. lm: ArpaLanguageModel or None (then alpha/beta are unused).
    alpha: LM weight; beta: bonus per word (ln units). prune_log_prob: labels scoring below this in a frame
        are not tried (the frame's best label always is).
    Returns the best text.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2:
        raise ValueError(f"jasper/src/decoder.py: beam_search_decode expects [T, C], got {log_probs.shape}")

    def rank(prefix, acoustic, final=False):
        if lm is None:
            return acoustic
        words = ids_to_text(prefix).split()
        closed = words if final or (prefix and prefix[-1] == SPACE) else words[:-1]
        return acoustic + alpha * lm.sentence_score(closed, final and bool(words)) + beta * len(closed)

    beams = {(): (0.0, NEG_INF)}  # prefix -> (ln P ending in blank, ln P ending in a label)
    for frame in log_probs:
        candidates = [c for c in np.flatnonzero(frame >= prune_log_prob) if c != blank]
        best = int(frame.argmax())
        if best != blank and best not in candidates:
            candidates.append(best)
        following = defaultdict(lambda: [NEG_INF, NEG_INF])
        for prefix, (p_blank, p_label) in beams.items():
            stay = following[prefix]
            stay[0] = _logsumexp(stay[0], _logsumexp(p_blank, p_label) + frame[blank])
            for c in candidates:
                c = int(c)
                extended = following[prefix + (c,)]
                if prefix and prefix[-1] == c:
                    # a repeat only extends the prefix after a blank; otherwise it merges into it
                    extended[1] = _logsumexp(extended[1], p_blank + frame[c])
                    stay[1] = _logsumexp(stay[1], p_label + frame[c])
                else:
                    extended[1] = _logsumexp(extended[1], _logsumexp(p_blank, p_label) + frame[c])
        ordered = sorted(following.items(), key=lambda item: rank(item[0], _logsumexp(*item[1])), reverse=True)
        beams = {prefix: tuple(p) for prefix, p in ordered[:beam_width]}
    best_prefix = max(beams, key=lambda prefix: rank(prefix, _logsumexp(*beams[prefix]), final=True))
    return ids_to_text(best_prefix)


def beam_search_batch(log_probs, lengths, **options):
    """``beam_search_decode`` on each item of [B, T, C] log-probs with [B] valid frame counts."""
    return [beam_search_decode(np.asarray(item)[:int(n)], **options) for item, n in zip(log_probs, lengths)]


DECODERS = ("greedy", "beam")


def add_decoder_arguments(parser):
    """--decoder, --lm_path, --beam_width, --alpha, --beta (defaults: the config's ``infer:`` section)."""
    parser.add_argument("--decoder", choices=DECODERS, default=None, help="CTC decoding (default: infer.decoder)")
    parser.add_argument("--lm_path", default=None, help="word n-gram LM in ARPA format for the beam search")
    parser.add_argument("--beam_width", type=int, default=None, help="beam search width (default: infer.beam_width)")
    parser.add_argument("--alpha", type=float, default=None, help="LM weight (default: infer.alpha)")
    parser.add_argument("--beta", type=float, default=None, help="word insertion bonus (default: infer.beta)")
    parser.add_argument("--use_ema", action="store_true", help="use the EMA weights of a training checkpoint")


def decoder_settings(args, cfg):
    """The decoding options actually used, as a dict for logs and metrics.json."""
    infer = cfg.get("infer") or {}
    settings = {"decoder": args.decoder or infer.get("decoder", "greedy"),
                "beam_width": int(args.beam_width or infer.get("beam_width", 16)),
                "alpha": float(args.alpha if args.alpha is not None else infer.get("alpha", 0.5)),
                "beta": float(args.beta if args.beta is not None else infer.get("beta", 1.0)),
                "lm_path": args.lm_path}
    if settings["lm_path"] and settings["decoder"] != "beam":
        raise SystemExit("--lm_path needs --decoder beam (greedy decoding cannot use a language model)")
    return settings
