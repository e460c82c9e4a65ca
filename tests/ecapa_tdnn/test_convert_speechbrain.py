"""SpeechBrain ECAPA-TDNN -> ours: the converter CLI on random reference weights, parity from features and
from the waveform, the published C=1024 shapes, and the errors for foreign or mis-shaped tensors."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.reference import import_reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMALL = dict(channels=[64, 64, 64, 64, 192], lin_neurons=32, attention_channels=16, se_channels=16)
PUBLISHED = dict(channels=[1024, 1024, 1024, 1024, 3072], lin_neurons=192, attention_channels=128, se_channels=128)
N_SPEAKERS = 7


def convert(*args, expect_ok=True):
    started = time.time()
    result = subprocess.run([sys.executable, os.path.join(ROOT, "ecapa_tdnn", "convert_speechbrain.py"),
                             *map(str, args)], capture_output=True, text=True, timeout=600)
    print(f"convert_speechbrain.py: {time.time() - started:.1f} s")
    if expect_ok:
        assert result.returncode == 0, f"conversion failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def reference_model(torch, seed, **sizes):
    """SpeechBrain ECAPA_TDNN (80 mels) in eval mode with random weights and BatchNorm statistics."""
    ecapa = import_reference("speechbrain.lobes.models.ECAPA_TDNN")
    torch.manual_seed(seed)
    model = ecapa.ECAPA_TDNN(80, **sizes)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_mean") or name.endswith("norm.bias"):
                tensor.normal_(0.0, 0.2)
            elif name.endswith("running_var") or name.endswith("norm.weight"):
                tensor.uniform_(0.5, 2.0)
    return model.eval()


def relative_error(ours, ref):
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def small(torch, tmp_path_factory):
    """(reference model, converted checkpoint path, classifier weight) for the small architecture."""
    folder = tmp_path_factory.mktemp("ecapa_speechbrain")
    model = reference_model(torch, 0, **SMALL)
    torch.save(model.state_dict(), folder / "embedding_model.ckpt")
    classifier = torch.randn(N_SPEAKERS, SMALL["lin_neurons"])
    torch.save({"weight": classifier}, folder / "classifier.ckpt")
    convert("--embedding_model", folder / "embedding_model.ckpt", "--classifier", folder / "classifier.ckpt",
            "--output_dir", folder / "out")
    return model, str(folder / "out" / "model.ckpt"), classifier.numpy()


def test_config_describes_reference(small):
    from utils.checkpoint import read_checkpoint
    from utils.config import load_yaml
    _, checkpoint, classifier = small
    params, meta = read_checkpoint(checkpoint)
    written = load_yaml(os.path.join(os.path.dirname(checkpoint), "config.yaml")).to_dict()
    assert written == meta["config"]
    assert written["model"] == dict(input_dim=80, channels=SMALL["channels"], kernel_sizes=[5, 3, 3, 3, 1],
                                    dilations=[1, 2, 3, 4, 1], attention_channels=16, res2net_scale=8,
                                    se_channels=16, global_context=True, embedding_dim=32)
    assert written["data"]["features"]["mel_filters"] == "speechbrain"
    np.testing.assert_array_equal(params["head.weight"].asnumpy(), classifier)


def test_network_matches_reference_on_features(small, torch):
    from ecapa_tdnn.src.verification import load_embedder
    model, checkpoint, _ = small
    embedder = load_embedder(checkpoint)
    rng = np.random.default_rng(0)
    for frames in (150, 233):
        feats = rng.standard_normal((2, 80, frames)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(feats.transpose(0, 2, 1).copy()))[:, 0].numpy()
        error = relative_error(embedder(feats, np.full(2, frames, np.int32)), ref)
        print(f"network, {frames} frames: max relative error {error:.2e}")
        assert error < 1e-4


def test_waveform_to_embedding_matches_reference(small, torch):
    from ecapa_tdnn.src.dataset import feature_extractor
    from ecapa_tdnn.src.verification import load_embedder
    from utils.checkpoint import checkpoint_config
    sb_features = import_reference("speechbrain.lobes.features")
    sb_processing = import_reference("speechbrain.processing.features")
    model, checkpoint, _ = small
    config = checkpoint_config(checkpoint)
    extractor = feature_extractor(config["data"]["features"], config["data"]["sample_rate"])
    embedder = load_embedder(checkpoint)
    # the spkrec-ecapa-voxceleb front end: Fbank(n_mels=80) + sentence mean normalisation
    fbank, normalise = sb_features.Fbank(n_mels=80).eval(), sb_processing.InputNormalization(
        norm_type="sentence", std_norm=False).eval()
    rng = np.random.default_rng(1)
    for samples in (16000, 27351):
        time_axis = np.arange(samples) / 16000.0
        wave = (0.3 * np.sin(2 * np.pi * 220.0 * time_axis * (1 + time_axis))
                + 0.05 * rng.standard_normal(samples)).astype(np.float32)
        with torch.no_grad():
            feats = normalise(fbank(torch.from_numpy(wave)[None]), torch.ones(1))
            ref = model(feats)[:, 0].numpy()
        ours_feats = extractor(wave)
        feature_error = relative_error(ours_feats, feats[0].numpy().T)
        error = relative_error(embedder(ours_feats[None], np.array([ours_feats.shape[1]], np.int32)), ref)
        print(f"waveform, {samples} samples: features {feature_error:.2e}, embedding {error:.2e}")
        assert feature_error < 1e-4 and error < 1e-3


@pytest.mark.slow
def test_published_c1024_shapes_convert(torch, tmp_path):
    from ecapa_tdnn.src.verification import load_embedder
    model = reference_model(torch, 1, **PUBLISHED)
    torch.save(model.state_dict(), tmp_path / "embedding_model.ckpt")
    convert("--embedding_model", tmp_path / "embedding_model.ckpt", "--output_dir", tmp_path / "out")
    embedder = load_embedder(str(tmp_path / "out" / "model.ckpt"))
    assert embedder.config["model"]["channels"] == PUBLISHED["channels"]
    feats = np.random.default_rng(2).standard_normal((1, 80, 120)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(feats.transpose(0, 2, 1).copy()))[:, 0].numpy()
    error = relative_error(embedder(feats, np.array([120], np.int32)), ref)
    print(f"C=1024 published shapes, 120 frames: max relative error {error:.2e}")
    assert error < 1e-4


@pytest.mark.parametrize("change, message", [
    ("extra", "blocks.1.se_block.conv3.conv.weight"),
    ("reshape", "asp.conv.conv.weight has shape (192, 16, 3) but our asp.conv.weight needs (192, 16, 1, 1)"),
    ("missing", "lacks 1 tensor(s) our network needs: mfa.norm.norm.running_var"),
])
def test_foreign_missing_or_misshaped_tensor_is_named(torch, tmp_path, change, message):
    state = reference_model(torch, 0, **SMALL).state_dict()
    if change == "extra":
        state["blocks.1.se_block.conv3.conv.weight"] = torch.zeros(16, 16, 1)
    elif change == "reshape":
        state["asp.conv.conv.weight"] = torch.zeros(192, 16, 3)
    else:
        del state["mfa.norm.norm.running_var"]
    torch.save(state, tmp_path / "embedding_model.ckpt")
    result = convert("--embedding_model", tmp_path / "embedding_model.ckpt", "--output_dir", tmp_path / "out",
                     expect_ok=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "out" / "model.ckpt")
