"""Evaluation metrics in NumPy: separation (SI-SNR, BSS-eval SDR, PIT), speaker verification
(EER, minDCF, DET) and recognition (WER, CER).

Ratios are in dB. Separation functions take the estimate first, then the reference.
"""
import itertools
from dataclasses import dataclass

import Levenshtein
import numpy as np
import scipy.fft
import scipy.linalg

BSS_FILTER_TAPS = 512


# ----------------------------------------------------------------------------- separation
def si_snr(estimate, reference, eps=1e-8):
    """Scale-invariant signal-to-noise ratio over the last axis.

    estimate, reference: [..., T] (broadcastable). Both are made zero-mean first.
    Returns dB as an array over the leading axes (a float for 1-D input).
    """
    estimate = np.asarray(estimate, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    estimate = estimate - estimate.mean(axis=-1, keepdims=True)
    reference = reference - reference.mean(axis=-1, keepdims=True)
    scale = (np.sum(estimate * reference, axis=-1, keepdims=True)
             / (np.sum(reference ** 2, axis=-1, keepdims=True) + eps))
    target = scale * reference
    noise = estimate - target
    ratio = (np.sum(target ** 2, axis=-1) + eps) / (np.sum(noise ** 2, axis=-1) + eps)
    return 10 * np.log10(ratio)


def si_snr_improvement(estimate, reference, mixture, eps=1e-8):
    """SI-SNR(estimate) - SI-SNR(mixture) in dB; mixture [T] broadcasts against [..., T]."""
    return si_snr(estimate, reference, eps) - si_snr(mixture, reference, eps)


def pit(metric_fn, estimates, references):
    """Permutation-invariant evaluation over all S! orderings (higher-is-better metric).

    metric_fn(estimate [T], reference [T]) -> float, evaluated once per (estimate, reference) pair.
    estimates, references: [S, T].
    Returns (best mean value, perm) where estimates[perm[j]] is matched to references[j].
    """
    estimates, references = np.asarray(estimates), np.asarray(references)
    if estimates.ndim != 2 or estimates.shape != references.shape:
        raise ValueError(f"pit: estimates and references must both be [S, T], "
                         f"got {estimates.shape} and {references.shape}")
    num_sources = len(references)
    pair_values = np.array([[float(metric_fn(est, ref)) for ref in references] for est in estimates])
    return _best_permutation(pair_values, np.arange(num_sources))


def _best_permutation(pair_values, targets):
    """pair_values[k, j] scores estimate k against reference j; returns (best mean, perm)."""
    perms = np.array(list(itertools.permutations(range(len(targets)))))
    means = pair_values[perms, targets].mean(axis=1)
    best = int(np.argmax(means))
    return float(means[best]), perms[best]


def _as_sources(array, name):
    array = np.asarray(array, dtype=np.float64)
    array = array[np.newaxis] if array.ndim == 1 else array
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty [S, T] or [T] array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} hold NaN or Inf")
    if not np.all(np.any(array != 0, axis=1)):
        raise ValueError(f"{name} holds an all-zero source: BSS-eval SDR is undefined for silence")
    return array


def _safe_db(numerator, denominator):
    with np.errstate(divide="ignore"):
        return 10 * np.log10(numerator / denominator)


def _lagged_correlations(spectra_a, spectra_b, taps, n_fft):
    """c[a, b, d] = sum_n a[n] * b[n - d] for lags d = 0..taps-1, via FFT. spectra: [A, F], [B, F]."""
    return scipy.fft.irfft(spectra_a[:, None, :] * np.conj(spectra_b[None, :, :]), n_fft)[..., :taps]


def _solve_normal_equations(gram, rhs):
    """gram @ coefficients = rhs for a symmetric positive semi-definite gram: Cholesky (half the
    cost of LU), falling back to least squares when gram is numerically singular."""
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram, check_finite=False), rhs)
    except np.linalg.LinAlgError:
        return scipy.linalg.lstsq(gram, rhs)[0]


def bss_eval_sources(estimates, references, compute_permutation=True, taps=BSS_FILTER_TAPS):
    """BSS-eval v3 source decomposition, numerically the same as mir_eval.separation.bss_eval_sources.

    Each estimate is projected (least squares) on the delayed copies (0..taps-1 samples) of its
    reference (the allowed distortion filter) and of all references (adds interference).
    The Gram matrix of all references is shared by every estimate, so it is factorised once.
    estimates, references: [S, T] (or [T] for one source), no all-zero source.
    Returns (sdr, sir, sar, perm): dB arrays [S] ordered by reference, where estimate perm[j] is
    matched to reference j; perm maximises the mean SIR (identity when compute_permutation=False).
    """
    estimates = _as_sources(estimates, "estimates")
    references = _as_sources(references, "references")
    if estimates.shape != references.shape:
        raise ValueError(f"estimates {estimates.shape} and references {references.shape} must match")
    num_sources, num_samples = references.shape
    padded_length = num_samples + taps - 1
    n_fft = scipy.fft.next_fast_len(padded_length, real=True)
    ref_spectra = scipy.fft.rfft(references, n_fft)
    est_spectra = scipy.fft.rfft(estimates, n_fft)

    # gram[(i, a), (j, b)] = <ref_i delayed by a, ref_j delayed by b> = r_ij[b - a], where
    # r_ij[d] = c[i, j, d] for d >= 0 and c[j, i, -d] for d < 0
    ref_corr = _lagged_correlations(ref_spectra, ref_spectra, taps, n_fft)  # c: [I, J, taps]
    all_lags = np.concatenate([np.swapaxes(ref_corr, 0, 1)[:, :, :0:-1], ref_corr], axis=-1)
    lag_index = np.arange(taps)[None, :] - np.arange(taps)[:, None] + taps - 1
    blocks = all_lags[:, :, lag_index]  # [I, J, a, b]
    gram = blocks.transpose(0, 2, 1, 3).reshape(num_sources * taps, num_sources * taps)
    # rhs[(i, a), k] = <ref_i delayed by a, estimate k>
    rhs = _lagged_correlations(est_spectra, ref_spectra, taps, n_fft)  # [K, I, taps]
    rhs = rhs.transpose(1, 2, 0).reshape(num_sources * taps, num_sources)

    def project(coefficients, spectra):
        """coefficients [I, taps, K] filter spectra [I, F] -> projections [K, padded_length]."""
        filters = scipy.fft.rfft(coefficients, n_fft, axis=1)
        return scipy.fft.irfft(np.einsum("ifk,if->kf", filters, spectra), n_fft)[:, :padded_length]

    all_coefficients = _solve_normal_equations(gram, rhs).reshape(num_sources, taps, num_sources)
    projection_all = project(all_coefficients, ref_spectra)  # [K, L]
    projection_own = np.stack([
        project(_solve_normal_equations(gram[j * taps:(j + 1) * taps, j * taps:(j + 1) * taps],
                                        rhs[j * taps:(j + 1) * taps])[None], ref_spectra[j:j + 1])
        for j in range(num_sources)], axis=1)  # [K, J, L]

    padded_estimates = np.pad(estimates, ((0, 0), (0, taps - 1)))[:, None, :]
    target_energy = np.sum(projection_own ** 2, axis=-1)
    sdr_db = _safe_db(target_energy, np.sum((padded_estimates - projection_own) ** 2, axis=-1))
    sir_db = _safe_db(target_energy, np.sum((projection_all[:, None] - projection_own) ** 2, axis=-1))
    sar_db = _safe_db(np.sum(projection_all ** 2, axis=-1),
                   np.sum((padded_estimates[:, 0] - projection_all) ** 2, axis=-1))[:, None]
    sar_db = np.broadcast_to(sar_db, sdr_db.shape)  # SAR depends on the estimate only
    targets = np.arange(num_sources)
    perm = _best_permutation(sir_db, targets)[1] if compute_permutation else targets
    return sdr_db[perm, targets], sir_db[perm, targets], sar_db[perm, targets], perm


def sdr(estimate, reference, compute_permutation=True):
    """BSS-eval v3 SDR (512-tap distortion filter) in dB, as mir_eval computes it.

    estimate, reference: [S, T] or [T]. Returns (sdr [S] ordered by reference, perm [S]) where
    estimate perm[j] is matched to reference j (see ``bss_eval_sources``).
    """
    values, _, _, perm = bss_eval_sources(estimate, reference, compute_permutation)
    return values, perm


def sdr_improvement(estimate, reference, mixture, compute_permutation=True):
    """SDR(estimate) - SDR(mixture) per reference in dB; mixture is [T].

    Returns (improvement [S] ordered by reference, perm [S]).
    """
    reference = np.atleast_2d(reference)
    values, perm = sdr(estimate, reference, compute_permutation)
    mixture_copies = np.broadcast_to(np.asarray(mixture, dtype=np.float64), reference.shape)
    baseline, _ = sdr(mixture_copies, reference, compute_permutation=False)
    return values - baseline, perm


PESQ_RATES = {8000: "nb", 16000: "wb"}  # ITU-T P.862 narrow band at 8 kHz, P.862.2 wide band at 16 kHz


def perceptual_backends():
    """{"pesq": fn or None, "stoi": fn or None, "missing": {name: why}} from the ``pesq`` / ``pystoi``
    packages (requirements.txt; pesq builds a C extension, so a machine without a compiler may lack it)."""
    found, missing = {}, {}
    for name, module, attribute in (("pesq", "pesq", "pesq"), ("stoi", "pystoi", "stoi")):
        try:
            found[name] = getattr(__import__(module), attribute)
        except ImportError as exc:
            found[name] = None
            missing[name] = f"unavailable: the {module} package cannot be imported ({exc})"
    return {**found, "missing": missing}


def pesq_score(estimate, reference, sample_rate, backend=None):
    """PESQ (MOS-LQO) of ``estimate`` against ``reference`` ([T] each): narrow band at 8 kHz, wide band at
    16 kHz; other rates are resampled to 16 kHz first. NaN when PESQ finds no speech (silence)."""
    from math import gcd
    from scipy.signal import resample_poly

    backend = backend or perceptual_backends()["pesq"]
    estimate, reference = np.asarray(estimate, np.float64), np.asarray(reference, np.float64)
    if sample_rate not in PESQ_RATES:
        divisor = gcd(int(sample_rate), 16000)
        estimate, reference = (resample_poly(x, 16000 // divisor, int(sample_rate) // divisor)
                               for x in (estimate, reference))
        sample_rate = 16000
    try:
        return float(backend(int(sample_rate), reference, estimate, PESQ_RATES[sample_rate]))
    except Exception:  # noqa: BLE001  (pesq raises its own types for silence / too-short input)
        return float("nan")


def stoi_score(estimate, reference, sample_rate, backend=None):
    """STOI (0..1, Taal et al. 2011; pystoi resamples to 10 kHz itself) of ``estimate`` vs ``reference``."""
    backend = backend or perceptual_backends()["stoi"]
    return float(backend(np.asarray(reference, np.float64), np.asarray(estimate, np.float64), int(sample_rate)))


# ------------------------------------------------------------------------------ verification
def _check_trials(scores, labels):
    scores, labels = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(labels).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"scores ({scores.size}) and labels ({labels.size}) must have the same length")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 1 (target trial) or 0 (non-target trial)")
    if not np.isfinite(scores).all():
        raise ValueError("scores hold NaN or Inf")
    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        raise ValueError("need both target (1) and non-target (0) trials")
    return scores, labels


def det_curve(scores, labels):
    """False-acceptance and false-rejection rates at every distinct threshold.

    scores: [N] (higher = more likely the same speaker); labels: [N], 1 = target, 0 = non-target.
    A trial is accepted when score >= threshold. Returns (far, frr, thresholds), each [M] with
    thresholds increasing: far falls from 1 to 0 while frr rises from 0 to 1 (the last threshold
    lies just above the highest score and accepts nothing).
    """
    scores, labels = _check_trials(scores, labels)
    target_scores = np.sort(scores[labels])
    nontarget_scores = np.sort(scores[~labels])
    thresholds = np.append(np.unique(scores), np.nextafter(scores.max(), np.inf))
    frr = np.searchsorted(target_scores, thresholds, side="left") / target_scores.size
    far = 1.0 - np.searchsorted(nontarget_scores, thresholds, side="left") / nontarget_scores.size
    return far, frr, thresholds


def eer(scores, labels):
    """Equal error rate as a fraction in [0, 1], where the (linearly interpolated) DET curve
    crosses FAR == FRR. Returns (eer, threshold at that point)."""
    far, frr, thresholds = det_curve(scores, labels)
    gap = frr - far  # rises from -1 to +1 with the threshold
    after = int(np.argmax(gap >= 0))
    if gap[after] == 0:
        return float(far[after]), float(thresholds[after])
    before = after - 1
    weight = -gap[before] / (gap[after] - gap[before])
    rate = far[before] + weight * (far[after] - far[before])
    threshold = thresholds[before] + weight * (thresholds[after] - thresholds[before])
    return float(rate), float(threshold)


def min_dcf(scores, labels, p_target=0.01, c_miss=1.0, c_fa=1.0):
    """Minimum normalised detection cost (NIST SRE definition).

    DCF(t) = c_miss * p_target * FRR(t) + c_fa * (1 - p_target) * FAR(t), minimised over the
    thresholds and divided by min(c_miss * p_target, c_fa * (1 - p_target)), the cost of the best
    trivial system. Returns (min_dcf, threshold).
    """
    if not 0 < p_target < 1:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    far, frr, thresholds = det_curve(scores, labels)
    cost = c_miss * p_target * frr + c_fa * (1 - p_target) * far
    best = int(np.argmin(cost))
    return float(cost[best] / min(c_miss * p_target, c_fa * (1 - p_target))), float(thresholds[best])


# ------------------------------------------------------------------------------- recognition
@dataclass(frozen=True)
class EditCounts:
    """Alignment of one hypothesis against its reference, in tokens (words or characters)."""
    substitutions: int
    deletions: int
    insertions: int
    reference_length: int

    @property
    def errors(self):
        return self.substitutions + self.deletions + self.insertions


def _tokens(text, unit):
    """Whitespace-normalised tokens: words split on any whitespace, or the characters of the
    words joined by single spaces (spaces count as characters)."""
    words = text.split()
    return words if unit == "word" else list(" ".join(words))


def edit_counts(reference, hypothesis, unit="word"):
    """Levenshtein alignment of one utterance; unit is "word" or "char". Returns EditCounts."""
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    ref_tokens, hyp_tokens = _tokens(reference, unit), _tokens(hypothesis, unit)
    operations = [op for op, _, _ in Levenshtein.editops(ref_tokens, hyp_tokens)]
    return EditCounts(substitutions=operations.count("replace"), deletions=operations.count("delete"),
                      insertions=operations.count("insert"), reference_length=len(ref_tokens))


def _corpus_error_rate(references, hypotheses, unit):
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("references and hypotheses must be lists of strings, one per utterance")
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    counts = [edit_counts(ref, hyp, unit) for ref, hyp in zip(references, hypotheses)]
    total_reference = sum(c.reference_length for c in counts)
    if total_reference == 0:
        raise ValueError(f"the references hold no {unit}s in total: the {unit} error rate is undefined")
    return sum(c.errors for c in counts) / total_reference


def word_error_rate(references, hypotheses):
    """Corpus WER: total word edits / total reference words (a fraction, may exceed 1).

    references, hypotheses: lists of strings, one per utterance; text is split on whitespace and
    compared as is (normalise case and punctuation beforehand). An utterance with an empty
    reference adds its hypothesis words as insertions; an all-empty corpus raises ValueError.
    """
    return _corpus_error_rate(references, hypotheses, "word")


def char_error_rate(references, hypotheses):
    """Corpus CER: total character edits / total reference characters (single spaces between
    words count as characters). Same conventions as ``word_error_rate``."""
    return _corpus_error_rate(references, hypotheses, "char")
