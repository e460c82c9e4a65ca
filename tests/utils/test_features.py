"""The log-mel front end against a slow, literal numpy computation of the same definition."""
import librosa
import numpy as np
import pytest
import scipy.signal

from utils.features import FeatureConfig, LogMelExtractor, analysis_window, mel_filter_matrix


def reference_features(wave, cfg):
    """Frame-by-frame evaluation of the documented definition: explicit padding, framing loop and DFT sums."""
    x = np.asarray(wave, dtype=np.float64)
    if cfg.preemphasis:
        emphasised = x.copy()
        for t in range(1, len(x)):
            emphasised[t] = x[t] - cfg.preemphasis * x[t - 1]
        x = emphasised
    if cfg.center:
        x = np.concatenate([np.zeros(cfg.n_fft // 2), x, np.zeros(cfg.n_fft // 2)])
    sym = not cfg.window_periodic
    window = scipy.signal.get_window(cfg.window, cfg.win_length, fftbins=not sym)
    offset = (cfg.n_fft - cfg.win_length) // 2
    bins = np.arange(cfg.n_fft // 2 + 1)
    columns = []
    for start in range(0, len(x) - cfg.n_fft + 1, cfg.hop_length):
        frame = np.zeros(cfg.n_fft)
        frame[offset:offset + cfg.win_length] = x[start + offset:start + offset + cfg.win_length] * window
        n = np.arange(cfg.n_fft)
        spectrum = np.array([np.sum(frame * np.exp(-2j * np.pi * k * n / cfg.n_fft)) for k in bins])
        columns.append(np.abs(spectrum) ** cfg.power)
    power = np.stack(columns, axis=1)
    mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.f_min,
                              fmax=cfg.f_max, htk=cfg.htk, norm=cfg.mel_norm) @ power
    if cfg.log == "natural":
        feats = np.log(mel + cfg.log_guard)
    else:
        feats = 10 * np.log10(np.maximum(mel, cfg.db_amin))
        feats = np.maximum(feats, feats.max() - cfg.top_db)
    out = np.empty_like(feats)
    for row in range(feats.shape[0]):
        values = feats[row]
        if cfg.normalize == "per_feature":
            out[row] = (values - values.mean()) / (values.std(ddof=1) + cfg.norm_eps)
        else:
            out[row] = values - values.mean()
    return out


def test_symmetric_and_periodic_windows_match_scipy():
    hann = analysis_window(FeatureConfig())
    assert hann.shape == (512,)
    np.testing.assert_allclose(hann[96:416], scipy.signal.get_window("hann", 320, fftbins=False), atol=1e-12)
    assert np.all(hann[:96] == 0) and np.all(hann[416:] == 0)
    hamming = analysis_window(FeatureConfig.ecapa())
    np.testing.assert_allclose(hamming, scipy.signal.get_window("hamming", 400, fftbins=True), atol=1e-12)


@pytest.mark.parametrize("preset", [FeatureConfig.jasper, FeatureConfig.ecapa])
def test_matches_direct_numpy_definition(preset):
    rng = np.random.default_rng(0)
    t = np.arange(4000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    cfg = preset()
    extractor = LogMelExtractor(cfg)
    feats = extractor(wave)
    expected = reference_features(wave, cfg)
    assert feats.dtype == np.float32
    assert feats.shape == (cfg.n_mels, extractor.num_frames(len(wave))) == expected.shape
    assert feats.shape[1] == 1 + 4000 // 160
    np.testing.assert_allclose(feats, expected, atol=1e-4)


def test_dither_only_in_training_and_seeded():
    extractor = LogMelExtractor()
    wave = np.zeros(1600, np.float32)
    wave[400:800] = 0.1
    eval_a, eval_b = extractor(wave), extractor(wave)
    np.testing.assert_array_equal(eval_a, eval_b)
    train_a = extractor(wave, train=True, rng=np.random.default_rng(1))
    train_b = extractor(wave, train=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(train_a, train_b)
    assert np.abs(train_a - eval_a).max() > 1e-3


def test_batch_normalises_over_valid_frames_only():
    rng = np.random.default_rng(3)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 3000, 5123)]
    extractor = LogMelExtractor()
    feats, lengths = extractor.batch(waves)
    assert lengths.tolist() == [51, 19, 33]
    assert feats.shape == (3, 64, 64)  # 51 frames padded to a multiple of 16
    for item, wave, length in zip(feats, waves, lengths):
        valid = item[:, :length]
        np.testing.assert_allclose(valid, extractor(wave), atol=1e-6)
        np.testing.assert_allclose(valid.mean(axis=1), 0.0, atol=1e-4)
        np.testing.assert_allclose(valid.std(axis=1, ddof=1), 1.0, atol=1e-3)
        assert np.all(item[:, length:] == 0)


def test_ecapa_db_floor_and_mean_normalisation():
    wave = np.zeros(3200, np.float32)
    wave[1000:1200] = 0.5  # mostly digital silence: the 80 dB floor must hold
    cfg = FeatureConfig.ecapa()
    unnormalised = LogMelExtractor(FeatureConfig.ecapa(normalize="none"))(wave)
    assert unnormalised.max() - unnormalised.min() == pytest.approx(80.0, abs=1e-3)
    feats = LogMelExtractor(cfg)(wave)
    assert feats.shape == (80, 21)
    np.testing.assert_allclose(feats.mean(axis=1), 0.0, atol=1e-3)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="window"):
        FeatureConfig(window="kaiser")
    with pytest.raises(ValueError, match="unknown option"):
        FeatureConfig.from_dict({"n_mel": 80})
    with pytest.raises(ValueError, match="mono"):
        LogMelExtractor()(np.zeros((2, 100)))


def test_speechbrain_triangles_are_symmetric_on_htk_mel_points():
    ours = mel_filter_matrix(FeatureConfig.ecapa(mel_filters="speechbrain"))
    librosa_htk = mel_filter_matrix(FeatureConfig.ecapa())
    assert ours.shape == librosa_htk.shape == (80, 201)
    points = librosa.mel_frequencies(n_mels=82, fmin=0.0, fmax=8000.0, htk=True)
    centres, left_widths = points[1:-1, None], np.diff(points)[:-1, None]
    bin_hz = np.fft.rfftfreq(400, 1 / 16000)[None, :]
    # SpeechBrain: both slopes as wide as the gap to the previous mel point, peak 1 at the centre
    np.testing.assert_allclose(ours, np.maximum(0.0, 1.0 - np.abs(bin_hz - centres) / left_widths), atol=1e-9)
    # librosa's HTK filters share the rising half only (their falling half spans the next gap)
    rising = bin_hz <= centres
    np.testing.assert_allclose(ours[rising], librosa_htk[rising], atol=1e-6)
    assert np.abs(ours - librosa_htk).max() > 0.01


def test_speechbrain_option_matches_speechbrain_fbank():
    from tests.reference import import_reference
    torch = pytest.importorskip("torch")
    sb_features = import_reference("speechbrain.lobes.features")
    sb_processing = import_reference("speechbrain.processing.features")
    fbank = sb_features.Fbank(n_mels=80).eval()
    normalise = sb_processing.InputNormalization(norm_type="sentence", std_norm=False).eval()
    extractor = LogMelExtractor(FeatureConfig.ecapa(mel_filters="speechbrain"))
    rng = np.random.default_rng(3)
    for samples in (8000, 13579):
        wave = (0.2 * rng.standard_normal(samples) * np.hanning(samples)).astype(np.float32)
        with torch.no_grad():
            ref = normalise(fbank(torch.from_numpy(wave)[None]), torch.ones(1))[0].numpy().T
        error = np.abs(extractor(wave) - ref).max() / np.abs(ref).max()
        print(f"SpeechBrain Fbank + sentence mean norm, {samples} samples: max relative error {error:.2e}")
        assert error < 1e-4


def test_mel_filters_option_is_checked():
    with pytest.raises(ValueError, match="mel_filters"):
        FeatureConfig(mel_filters="kaldi")
