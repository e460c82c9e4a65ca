"""utils/metrics.py: hand-worked values, invariances and agreement with mir_eval's BSS-eval."""
import warnings

import numpy as np
import pytest
from scipy.signal import lfilter

from utils.metrics import (EditCounts, bss_eval_sources, char_error_rate, det_curve, edit_counts, eer,
                           min_dcf, pit, sdr, sdr_improvement, si_snr, si_snr_improvement,
                           word_error_rate)

mir_eval_separation = pytest.importorskip("mir_eval.separation")


def speech_like(rng, num_samples, sample_rate=8000):
    """Voiced buzz with vibrato through two formant resonators, gated by a syllable envelope."""
    time = np.arange(num_samples) / sample_rate
    pitch = rng.uniform(90, 220) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(2, 5) * time))
    excitation = np.sign(np.sin(2 * np.pi * np.cumsum(pitch) / sample_rate))
    excitation += 0.05 * rng.standard_normal(num_samples)
    poles = [0.97 * np.exp(1j * np.pi * 0.1), 0.95 * np.exp(1j * np.pi * rng.uniform(0.25, 0.4))]
    denominator = np.poly(poles + [np.conj(p) for p in poles]).real
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(2, 4) * time + rng.uniform(0, 6)), 0, None) ** 2
    return lfilter([1.0], denominator, excitation) * (envelope + 0.01)


def mir_eval_bss(estimates, references, compute_permutation=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # bss_eval_sources is deprecated in 0.8
        return mir_eval_separation.bss_eval_sources(references, estimates, compute_permutation)


# ---------------------------------------------------------------------------------- SI-SNR
def test_si_snr_hand_worked_value_ignores_offset_and_scale():
    reference = np.array([1.0, -1.0, 1.0, -1.0])
    noise = np.array([1.0, 1.0, -1.0, -1.0])  # zero-mean and orthogonal to the reference
    estimate = 2 * reference + noise + 5.0  # the DC offset is removed before scoring
    # target = 2 * reference has energy 16, noise energy 4 -> 10 log10(4)
    assert si_snr(estimate, reference) == pytest.approx(10 * np.log10(4.0), abs=1e-6)
    assert si_snr(-0.3 * estimate, 7 * reference) == pytest.approx(10 * np.log10(4.0), abs=1e-6)


def test_si_snr_broadcasts_over_leading_axes_and_improvement():
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, 3, 800))
    estimate = reference + 0.1 * rng.standard_normal((2, 3, 800))
    values = si_snr(estimate, reference)
    assert values.shape == (2, 3)
    assert values[1, 2] == pytest.approx(si_snr(estimate[1, 2], reference[1, 2]))
    assert np.all((values > 17) & (values < 23))  # noise 20 dB below
    first, second = reference[0, 0] - reference[0, 0].mean(), reference[0, 1] - reference[0, 1].mean()
    second -= (second @ first) / (first @ first) * first
    second *= np.linalg.norm(first) / np.linalg.norm(second)
    # orthogonal equal-energy sources: the mixture scores exactly 0 dB against either one
    sources = np.stack([first, second])
    estimates = sources + 0.1 * rng.standard_normal((2, 800))
    gain = si_snr_improvement(estimates, sources, first + second)
    np.testing.assert_allclose(gain, si_snr(estimates, sources), atol=1e-6)

# --------------------------------------------------------------------------------------- PIT
def test_pit_recovers_shuffled_three_source_order():
    rng = np.random.default_rng(1)
    references = rng.standard_normal((3, 1000))
    order = np.array([2, 0, 1])
    estimates = references[order] + 0.2 * rng.standard_normal((3, 1000))
    value, perm = pit(si_snr, estimates, references)
    np.testing.assert_array_equal(estimates[perm], estimates[np.argsort(order)])
    np.testing.assert_array_equal(order[perm], [0, 1, 2])
    assert value == pytest.approx(np.mean(si_snr(estimates[perm], references)))
    assert value > 12  # noise at 14 dB below
    with pytest.raises(ValueError, match="pit"):
        pit(si_snr, estimates[:2], references)


# --------------------------------------------------------------------------------------- SDR
def leaky_filtered_estimates(rng, num_sources, kind, num_samples=4000):
    """Sources plus cross-talk, a short filter and noise at 26 dB, rolled by one source: [S, T] x2."""
    if kind == "random":
        references = rng.standard_normal((num_sources, num_samples))
    else:
        references = np.stack([speech_like(rng, num_samples) for _ in range(num_sources)])
    leakage = 0.7 * np.eye(num_sources) + 0.3 * rng.random((num_sources, num_sources))
    estimates = lfilter([1.0, 0.4], [1.0], leakage @ references, axis=1)
    estimates += 0.05 * estimates.std() * rng.standard_normal(estimates.shape)
    return np.roll(estimates, 1, axis=0), references


# mir_eval needs about a second per (estimate, reference) pair here: keep the cases few and short
@pytest.mark.parametrize("num_sources,kind", [(2, "random"), (3, "speech")])
def test_sdr_matches_mir_eval_bss_eval_sources(num_sources, kind):
    estimates, references = leaky_filtered_estimates(np.random.default_rng(num_sources), num_sources, kind)
    expected_sdr, expected_sir, expected_sar, expected_perm = mir_eval_bss(estimates, references)
    values, perm = sdr(estimates, references)
    assert not np.array_equal(expected_perm, np.arange(num_sources))  # the search is exercised
    np.testing.assert_array_equal(perm, expected_perm)
    np.testing.assert_allclose(values, expected_sdr, atol=0.01)
    _, sir, sar, _ = bss_eval_sources(estimates, references)
    np.testing.assert_allclose(sir, expected_sir, atol=0.01)
    np.testing.assert_allclose(sar, expected_sar, atol=0.01)


def test_sdr_in_fixed_order_matches_mir_eval():
    estimates, references = leaky_filtered_estimates(np.random.default_rng(7), 2, "speech", 3000)
    expected = mir_eval_bss(estimates, references, compute_permutation=False)[0]
    values, perm = sdr(estimates, references, compute_permutation=False)
    np.testing.assert_array_equal(perm, [0, 1])
    np.testing.assert_allclose(values, expected, atol=0.01)


def test_sdr_forgives_short_filters_but_not_noise():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal(6000)
    delayed = np.concatenate([np.zeros(10), reference[:-10]])  # a 10-sample delay is a 11-tap filter
    # only the 10 samples pushed past the end are lost: about 10 log10(5990 / 10) = 27.8 dB
    assert sdr(delayed, reference)[0][0] > 27
    assert si_snr(delayed, reference) < 0
    noise = rng.standard_normal(6000)
    noise *= 0.1 * np.linalg.norm(reference) / np.linalg.norm(noise)  # 20 dB below
    # the 512-tap filter absorbs about 512 / 6000 of the noise energy: +0.4 dB at most
    assert 19.9 < sdr(reference + noise, reference)[0][0] < 20.5


def test_sdr_improvement_is_zero_for_the_mixture_and_errors_are_clear():
    rng = np.random.default_rng(4)
    references = rng.standard_normal((2, 2000))
    mixture = references.sum(axis=0)
    gain, _ = sdr_improvement(np.stack([mixture, mixture]), references, mixture, compute_permutation=False)
    np.testing.assert_allclose(gain, 0.0, atol=1e-9)
    gain, perm = sdr_improvement(references[::-1] + 0.01 * mixture, references, mixture)
    np.testing.assert_array_equal(perm, [1, 0])
    assert np.all(gain > 25)
    with pytest.raises(ValueError, match="all-zero"):
        sdr(np.zeros((2, 2000)), references)
    with pytest.raises(ValueError, match="must match"):
        sdr(references[:1], references)


# ------------------------------------------------------------------------ EER / minDCF / DET
def test_eer_and_min_dcf_hand_worked():
    scores = [0.9, 0.7, 0.5, 0.8, 0.6]
    labels = [1, 1, 1, 0, 0]
    # threshold 0.7: FRR 1/3, FAR 1/2; threshold 0.8: FRR 2/3, FAR 1/2 -> crossing half-way
    rate, threshold = eer(scores, labels)
    assert rate == pytest.approx(0.5) and threshold == pytest.approx(0.75)
    # p_target 0.5: normalised cost is FRR + FAR, smallest (2/3 + 0) at threshold 0.9
    cost, threshold = min_dcf(scores, labels, p_target=0.5)
    assert cost == pytest.approx(2 / 3) and threshold == pytest.approx(0.9)
    # an exact crossing needs no interpolation: at 0.7 both rates are 1/3
    rate, threshold = eer([0.9, 0.8, 0.3, 0.7, 0.2, 0.1], [1, 1, 1, 0, 0, 0])
    assert rate == pytest.approx(1 / 3) and threshold == pytest.approx(0.7)


def test_eer_and_min_dcf_on_separable_and_identical_distributions():
    rng = np.random.default_rng(5)
    targets, nontargets = rng.normal(3, 1, 500), rng.normal(-3, 1, 5000)
    nontargets = np.minimum(nontargets, targets.min() - 0.1)
    scores = np.concatenate([targets, nontargets])
    labels = np.concatenate([np.ones(500), np.zeros(5000)])
    rate, threshold = eer(scores, labels)
    assert rate == 0.0 and nontargets.max() < threshold <= targets.min()
    assert min_dcf(scores, labels)[0] == 0.0

    same = rng.standard_normal(20000)
    coin = (rng.random(20000) < 0.5).astype(int)
    assert abs(eer(same, coin)[0] - 0.5) < 0.02
    assert 0.9 < min_dcf(same, coin, p_target=0.01)[0] <= 1.0


def test_det_curve_spans_both_extremes_monotonically():
    rng = np.random.default_rng(6)
    scores = np.round(rng.standard_normal(300), 1)  # many ties
    labels = rng.random(300) < 0.3
    far, frr, thresholds = det_curve(scores, labels.astype(int))
    assert (far[0], frr[0], far[-1], frr[-1]) == (1.0, 0.0, 0.0, 1.0)
    assert np.all(np.diff(thresholds) > 0) and np.all(np.diff(far) <= 0) and np.all(np.diff(frr) >= 0)
    accepted = scores >= thresholds[5]
    assert far[5] == pytest.approx(np.mean(accepted[~labels]))
    with pytest.raises(ValueError, match="both target"):
        eer([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        eer([0.1, 0.2], [1, 2])


# ---------------------------------------------------------------------------------- WER / CER
def test_word_error_rate_hand_worked_and_edge_cases():
    assert word_error_rate(["a b c"], ["a x c d"]) == pytest.approx(2 / 3)
    assert edit_counts("a b c", "a x c d") == EditCounts(substitutions=1, deletions=0, insertions=1,
                                                         reference_length=3)
    # corpus rate pools the edits: (2 + 2) / (3 + 2), the empty hypothesis deletes both words
    assert word_error_rate(["a b c", "d e"], ["a x c d", ""]) == pytest.approx(0.8)
    assert word_error_rate(["d e"], [""]) == 1.0
    assert word_error_rate(["  hello \t world\n"], ["hello world"]) == 0.0
    assert word_error_rate(["", "a b"], ["x", "a b"]) == pytest.approx(0.5)  # empty ref: insertions
    with pytest.raises(ValueError, match="no words"):
        word_error_rate(["", " "], ["a", ""])
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(TypeError):
        word_error_rate("a b", "a b")


def test_char_error_rate_counts_characters_with_single_spaces():
    assert char_error_rate(["abc"], ["abd"]) == pytest.approx(1 / 3)
    assert char_error_rate(["ab cd"], ["ab   cd "]) == 0.0
    assert char_error_rate(["ab cd"], ["abcd"]) == pytest.approx(1 / 5)  # the lost space is a deletion
    counts = edit_counts("kitten", "sitting", unit="char")
    assert (counts.substitutions, counts.insertions, counts.deletions, counts.errors) == (2, 1, 0, 3)


def _chirp(sample_rate, seconds=3.0):
    """Amplitude-modulated chirp: speech-like enough for PESQ's voice activity detection."""
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return 0.3 * np.sin(2 * np.pi * 200 * time * (1 + time)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * time))


def test_pesq_modes_ceilings_and_stoi_match_the_packages():
    """Narrow band at 8 kHz, wide band at 16 kHz: identical signals reach the scales' ceilings (P.862.1
    mapping 4.549, P.862.2 4.644), noise lowers them, values equal the packages' own calls; STOI of a
    signal with itself is 1; other rates are scored wide band after resampling; silence gives NaN."""
    pesq = pytest.importorskip("pesq").pesq
    stoi = pytest.importorskip("pystoi").stoi
    from utils.metrics import pesq_score, stoi_score
    rng = np.random.default_rng(0)
    for rate, mode, ceiling in ((8000, "nb", 4.549), (16000, "wb", 4.644)):
        clean = _chirp(rate)
        noisy = clean + 0.05 * rng.standard_normal(clean.size)
        assert pesq_score(clean, clean, rate) == pytest.approx(ceiling, abs=1e-3)
        assert pesq_score(noisy, clean, rate) == pytest.approx(pesq(rate, clean, noisy, mode), abs=1e-6)
        assert pesq_score(noisy, clean, rate) < ceiling - 2.0
        assert stoi_score(clean, clean, rate) == pytest.approx(1.0, abs=1e-9)
        assert stoi_score(noisy, clean, rate) == pytest.approx(stoi(clean, noisy, rate), abs=1e-9)
        assert stoi_score(noisy, clean, rate) < 0.9
    clean = _chirp(22050)
    assert pesq_score(clean, clean, 22050) == pytest.approx(4.644, abs=1e-3)
    with np.errstate(invalid="ignore"):
        assert np.isnan(pesq_score(np.zeros(16000), np.zeros(16000), 16000))


def test_missing_perceptual_package_reads_unavailable(tmp_path):
    """Without pesq (say) metrics.json gives the reason and the CSV column says "unavailable"; STOI still
    averages, skipping a NaN utterance."""
    import csv
    import json

    from utils.separation.evaluate import COLUMNS, summarize, write_tables
    rows = [(index, {**{column: 1.0 for column in COLUMNS}, "pesq": float("nan"), "mixture_pesq": float("nan"),
                     "stoi": stoi}) for index, stoi in enumerate((0.5, 0.7, float("nan")))]
    missing = {"pesq": "unavailable: the pesq package cannot be imported (No module named 'pesq')"}
    metrics = summarize(rows, missing, split="test")
    assert metrics["pesq"] == metrics["mixture_pesq"] == missing["pesq"]
    assert metrics["stoi"] == pytest.approx(0.6) and metrics["mixture_stoi"] == 1.0
    write_tables(str(tmp_path), metrics, rows, ["a", "b", "c"], missing)
    table = list(csv.DictReader(open(tmp_path / "per_utterance.csv")))
    assert [row["pesq"] for row in table] == ["unavailable"] * 3 and table[0]["stoi"] == "0.5000"
    assert json.load(open(tmp_path / "metrics.json"))["pesq"].startswith("unavailable")
