"""Verification back end (score normalisation, embedding extraction order) and training schedules."""
import math

import numpy as np
import pytest

from ecapa_tdnn.infer import positionals_first
from ecapa_tdnn.src.loss import margin_warmup, with_margin_schedule
from ecapa_tdnn.src.training import build_lr_schedule, schedule_with_margin_warmup
from ecapa_tdnn.src.verification import (cohort_statistics, cosine_scores, extract_embeddings, normalize_scores,
                                         trial_indices, verification_metrics)
from utils.audio import write_audio


def _slow_normalized_score(enrol, test, cohort, top_n):
    """Textbook (AS-)norm for one trial, one cohort member at a time."""
    def cos(a, b):
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    def stats(vector):
        scores = sorted((cos(vector, member) for member in cohort), reverse=True)
        scores = scores[:top_n] if top_n else scores
        mean = sum(scores) / len(scores)
        return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))

    raw = cos(enrol, test)
    (mean_e, std_e), (mean_t, std_t) = stats(enrol), stats(test)
    return 0.5 * ((raw - mean_e) / std_e + (raw - mean_t) / std_t)


@pytest.mark.parametrize("top_n", [0, 7])
def test_snorm_and_asnorm_match_reference_loop(top_n):
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(12, 16))
    cohort = rng.normal(size=(30, 16))
    first, second = rng.integers(0, 12, 25), rng.integers(0, 12, 25)
    raw = cosine_scores(embeddings, first, second)
    mean, std = cohort_statistics(embeddings, cohort, top_n)
    fast = normalize_scores(raw, first, second, mean, std)
    slow = [_slow_normalized_score(embeddings[a], embeddings[b], cohort, top_n) for a, b in zip(first, second)]
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-9)
    # AS-norm with a top-N subset differs from s-norm over the whole cohort
    if top_n:
        assert not np.allclose(fast, normalize_scores(raw, first, second, *cohort_statistics(embeddings, cohort, 0)))


def test_cohort_statistics_chunking_is_exact(monkeypatch):
    rng = np.random.default_rng(1)
    embeddings, cohort = rng.normal(size=(10, 8)), rng.normal(size=(9, 8))
    whole = cohort_statistics(embeddings, cohort, 4)
    monkeypatch.setattr("ecapa_tdnn.src.verification._COHORT_CHUNK", 3)
    chunked = cohort_statistics(embeddings, cohort, 4)
    np.testing.assert_allclose(whole, chunked)


def test_trial_indices_and_metrics_on_separable_scores():
    trials = [(1, "a.wav", "b.wav"), (0, "a.wav", "c.wav"), (1, "c.wav", "d.wav"), (0, "b.wav", "d.wav")]
    paths, labels, first, second = trial_indices(trials)
    assert paths == ["a.wav", "b.wav", "c.wav", "d.wav"]
    assert [paths[i] for i in first] == ["a.wav", "a.wav", "c.wav", "b.wav"]
    metrics = verification_metrics(np.array([0.9, 0.1, 0.8, 0.2]), labels)
    assert metrics["eer"] == 0.0 and metrics["min_dcf"] == 0.0 and metrics["n_trials"] == 4
    assert 0.2 <= metrics["eer_threshold"] <= 0.8


def test_extract_embeddings_keeps_file_order_and_batches_by_length(tmp_path):
    seconds = [1.0, 0.3, 0.7, 0.2, 0.9, 0.4]
    paths = []
    for index, length in enumerate(seconds):
        paths.append(f"spk/f{index}.wav")
        write_audio(str(tmp_path / paths[-1]), 0.1 * np.sin(np.arange(int(length * 16000)) * 0.05), 16000)
    batches = []

    def fake_embed(features, lengths):  # valid frame count as the "embedding"
        batches.append(sorted(lengths.tolist()))
        return np.stack([lengths, np.zeros_like(lengths)], axis=1).astype(np.float32)

    embeddings = extract_embeddings(fake_embed, str(tmp_path), paths, 16000, batch_size=2)
    expected_frames = [1 + int(s * 16000) // 160 for s in seconds]
    np.testing.assert_array_equal(embeddings[:, 0], expected_frames)
    # sorted by duration: each batch pairs neighbours in length (0.2+0.3, 0.4+0.7, 0.9+1.0 s)
    assert batches == [[21, 31], [41, 71], [91, 101]]


def test_margin_warmup_is_applied_by_the_lr_schedule():
    set_to = []

    class FakeHead:
        def set_margin(self, margin):
            set_to.append(round(margin, 6))

    schedule = with_margin_schedule(lambda step: 0.5 * step, FakeHead(), margin_warmup(0.2, 4))
    lrs = [schedule(step) for step in [0, 1, 2, 2, 4, 5, 9]]
    assert lrs == [0.0, 0.5, 1.0, 1.0, 2.0, 2.5, 4.5]
    assert set_to == [0.0, 0.05, 0.1, 0.2]  # written only when the value moves
    assert margin_warmup(0.3, 0)(0) == 0.3


def test_lr_schedules_from_config():
    cyclic = build_lr_schedule({"lr": 1e-3, "epochs": 10, "lr_schedule": "cyclic", "base_lr": 1e-8,
                                "cyclic_step_epochs": 2.0, "cyclic_mode": "triangular"}, steps_per_epoch=5)
    assert cyclic(0) == pytest.approx(1e-8) and cyclic(10) == pytest.approx(1e-3)
    assert cyclic(5) == pytest.approx(0.5 * (1e-3 + 1e-8)) and cyclic(20) == pytest.approx(1e-8)
    warm = build_lr_schedule({"lr": 1e-3, "epochs": 4, "max_steps": 3, "lr_schedule": "warmup_decay",
                              "warmup_epochs": 1.0, "decay": "cosine", "min_lr": 1e-5}, steps_per_epoch=10)
    assert warm(0) < warm(9) <= 1e-3 and warm(10) == pytest.approx(1e-3)
    assert warm(39) < 2e-5 and warm(100) == pytest.approx(1e-5)  # decays over epochs, not max_steps
    with pytest.raises(ValueError, match="lr_schedule"):
        build_lr_schedule({"lr_schedule": "sawtooth"}, 10)


def test_schedule_with_margin_warmup_counts_epochs_in_steps():
    margins = []

    class FakeHead:
        def set_margin(self, margin):
            margins.append(margin)

    schedule = schedule_with_margin_warmup(lambda step: 1.0, FakeHead(), {"margin": 0.2, "margin_warmup_epochs": 2},
                                           steps_per_epoch=5)
    schedule(5)
    schedule(10)
    assert margins == [pytest.approx(0.1), pytest.approx(0.2)]


def test_infer_argv_puts_files_first():
    argv = ["verify", "--ckpt_path", "m.ckpt", "a.wav", "--use_ema", "b.wav", "--threshold=0.5"]
    assert positionals_first(argv) == ["verify", "a.wav", "b.wav", "--ckpt_path", "m.ckpt", "--use_ema",
                                       "--threshold=0.5"]
