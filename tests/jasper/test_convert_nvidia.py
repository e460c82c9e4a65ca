"""jasper/convert_nvidia.py against a PyTorch rebuild of NVIDIA's Jasper (torch_references/nvidia_jasper.py).

A small dense-residual Jasper (prologue, 3 dense blocks x 2 sub-blocks, 2-layer epilogue with dilation) gets
random weights and BatchNorm statistics, is saved as NVIDIA's trainer saves it ({state_dict, ema_state_dict,
epoch, ...}) and converted through the CLI; log-probabilities are compared at two input lengths, from features
(network alone) and from the waveform (front end + network).
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from torch_references import nvidia_jasper as ref  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCKS = [dict(filters=24, repeat=1, kernel=11, stride=2, dilation=1, dropout=0.2, residual=False),
          dict(filters=24, repeat=2, kernel=5, stride=1, dilation=1, dropout=0.2, residual=True, residual_dense=True),
          dict(filters=32, repeat=2, kernel=7, stride=1, dilation=1, dropout=0.2, residual=True, residual_dense=True),
          dict(filters=32, repeat=2, kernel=9, stride=1, dilation=1, dropout=0.3, residual=True, residual_dense=True),
          dict(filters=40, repeat=1, kernel=9, stride=1, dilation=2, dropout=0.4, residual=False),
          dict(filters=48, repeat=1, kernel=1, stride=1, dilation=1, dropout=0.4, residual=False)]
N_MELS, N_CLASSES = 64, 29


def reference_model(seed):
    model = ref.Jasper(N_MELS, N_CLASSES, BLOCKS)
    return ref.randomize_(model, torch.Generator().manual_seed(seed)).eval()


def state_copy(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Reference models (live + EMA), the NVIDIA-style checkpoint, a template config and both conversions."""
    root = tmp_path_factory.mktemp("nvidia_jasper")
    live, ema = reference_model(1), reference_model(2)
    checkpoint = root / "nvidia_jasper.pt"
    torch.save({"epoch": 440, "step": 123, "best_wer": 0.03, "state_dict": live.state_dict(),
                "ema_state_dict": ema.state_dict(), "optimizer": {"state": {}}}, checkpoint)
    with open(os.path.join(REPO, "jasper", "config.yaml"), encoding="utf-8") as handle:
        template = yaml.safe_load(handle)
    template["model"]["blocks"] = [{k: v for k, v in b.items() if k != "residual"} for b in BLOCKS]
    template_path = root / "template.yaml"
    template_path.write_text(yaml.safe_dump(template))
    outputs = {}
    for name, extra in (("live", []), ("ema", ["--ema"])):
        out = root / name
        command = [sys.executable, os.path.join(REPO, "jasper", "convert_nvidia.py"), "--nvidia_ckpt",
                   str(checkpoint), "--output_dir", str(out), "--config_path", str(template_path)] + extra
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs[name] = out
    return dict(root=root, live=live, ema=ema, outputs=outputs, template=template_path)


def load_ours(out_dir):
    from jasper.src.network import build_network, input_specs
    from utils.inference import load_model

    model = load_model(str(out_dir / "model.ckpt"), build_network, input_specs=input_specs(N_MELS))
    return model


def max_relative_error(ours, reference):
    return float(np.max(np.abs(ours - reference)) / np.max(np.abs(reference)))


@pytest.mark.parametrize("which", ["live", "ema"])
def test_network_matches_reference(setup, which):
    model, reference = load_ours(setup["outputs"][which]), setup[which]
    rng = np.random.default_rng(0)
    for frames in (96, 171):
        feats = rng.standard_normal((2, N_MELS, frames)).astype(np.float32)
        lengths = np.array([frames, frames - 37], np.int32)
        feats[1, :, frames - 37:] = 0.0
        with torch.no_grad():
            expected, expected_lengths = reference(torch.from_numpy(feats), torch.from_numpy(lengths).long())
        log_probs, out_lengths = model(feats, lengths)
        np.testing.assert_array_equal(out_lengths, expected_lengths.numpy())
        for item in range(2):  # frames past an utterance's length are padding in both models
            valid = int(out_lengths[item])
            error = max_relative_error(log_probs[item, :valid], expected.numpy()[item, :valid])
            print(f"{which} network, {frames} frames, item {item}: max rel error {error:.2e}")
            assert error < 1e-4


def test_ema_and_live_weights_differ(setup):
    from utils.checkpoint import read_checkpoint

    live, _ = read_checkpoint(str(setup["outputs"]["live"] / "model.ckpt"))
    ema, meta = read_checkpoint(str(setup["outputs"]["ema"] / "model.ckpt"))
    name = "encoder.1.convs.0.conv.conv.weight"
    expected = setup["ema"].state_dict()["encoder.layers.1.conv.0.weight"].numpy()[:, :, None, :]
    np.testing.assert_array_equal(ema[name].asnumpy(), expected)
    assert not np.allclose(live[name].asnumpy(), ema[name].asnumpy())
    features = meta["config"]["data"]["features"]
    assert (features["pad_mode"], features["frame_count"], features["log_guard"]) == ("reflect", "ceil", 1e-20)
    assert [b["dilation"] for b in meta["config"]["model"]["blocks"]] == [b["dilation"] for b in BLOCKS]
    assert [b["residual_dense"] for b in meta["config"]["model"]["blocks"]] == [False, True, True, True, False, False]
    on_disk = yaml.safe_load((setup["outputs"]["ema"] / "config.yaml").read_text())
    assert on_disk["model"] == meta["config"]["model"]


def test_waveform_to_log_probs_matches_reference(setup):
    from utils.features import FeatureConfig, LogMelExtractor

    model = load_ours(setup["outputs"]["live"])
    features = ref.FilterbankFeatures().eval()
    extractor = LogMelExtractor(FeatureConfig.from_dict(model.config["data"]["features"]))
    rng = np.random.default_rng(1)
    for samples in (16000, 12345):  # a multiple of the hop (NVIDIA drops the last STFT frame) and not
        time = np.arange(samples) / 16000.0
        wave = (0.3 * np.sin(2 * np.pi * 220 * time * (1 + time)) + 0.05 * rng.standard_normal(samples))
        wave = wave.astype(np.float32)
        with torch.no_grad():
            ref_feats, ref_lengths = features(torch.from_numpy(wave)[None], torch.tensor([samples]))
            expected, expected_lengths = setup["live"](ref_feats, ref_lengths.long())
        feats, lengths = extractor.batch([wave])
        assert lengths[0] == ref_lengths[0] == -(-samples // 160)
        feature_error = max_relative_error(feats[0, :, :lengths[0]], ref_feats.numpy()[0, :, :lengths[0]])
        log_probs, out_lengths = model(feats, lengths)
        valid = int(expected_lengths[0])
        assert int(out_lengths[0]) == valid
        error = max_relative_error(log_probs[0, :valid], expected.numpy()[0, :valid])
        print(f"waveform {samples} samples: features max rel error {feature_error:.2e}, "
              f"log-probs max rel error {error:.2e}")
        assert error < 1e-3


def test_module_prefix_v1_names_and_front_end_buffers(setup, caplog):
    """DDP ``module.`` prefixes and the first release's names (with acoustic_model duplicates and the
    featurizer buffers) convert to the same weights; a filterbank that differs from ours is reported."""
    from jasper.convert_nvidia import convert
    from utils.checkpoint import read_checkpoint
    from utils.config import load_config

    state = {}
    for name, value in setup["live"].state_dict().items():
        v1 = name.replace("encoder.layers.", "jasper_encoder.encoder.").replace("decoder.layers.",
                                                                               "jasper_decoder.decoder_layers.")
        state["module." + v1] = value
        state["module.acoustic_model." + v1] = value.clone()
    features = ref.FilterbankFeatures()
    state["module.audio_preprocessor.featurizer.fb"] = features.fb
    state["module.audio_preprocessor.featurizer.window"] = features.window
    path = setup["root"] / "v1.pt"
    torch.save({"state_dict": state, "epoch": 1}, path)
    cfg = load_config(str(setup["template"]))
    with caplog.at_level("INFO", logger="zoo.convert_nvidia"):
        network, _ = convert(str(path), cfg)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("matches our front end" in m for m in messages) == 2 and not any("differs" in m for m in messages)
    converted, _ = read_checkpoint(str(setup["outputs"]["live"] / "model.ckpt"))
    for param in network.get_parameters():
        np.testing.assert_array_equal(param.asnumpy(), converted[param.name].asnumpy())
    caplog.clear()

    state["module.audio_preprocessor.featurizer.fb"] = features.fb * 1.01
    torch.save({"state_dict": state}, path)
    with caplog.at_level("WARNING", logger="zoo.convert_nvidia"):
        convert(str(path), cfg)
    assert any("audio_preprocessor.featurizer.fb differs" in r.getMessage() for r in caplog.records)


def test_unknown_key_and_shape_mismatch_are_named(setup):
    from jasper.convert_nvidia import ConversionError, convert
    from utils.config import load_config

    cfg = load_config(str(setup["template"]))
    state = state_copy(setup["live"])
    state["encoder.layers.2.attention.weight"] = torch.zeros(3)
    path = setup["root"] / "bad.pt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(ConversionError, match=r"unknown tensor 'encoder\.layers\.2\.attention\.weight'"):
        convert(str(path), cfg)

    state = state_copy(setup["live"])
    state["encoder.layers.3.conv.1.running_var"] = torch.ones(5)
    torch.save({"state_dict": state}, path)
    with pytest.raises(ConversionError, match=r"encoder\.layers\.3\.conv\.1\.running_var \(5,\) -> "
                                              r"encoder\.3\.convs\.0\.norm\.moving_variance expects \(32,\)"):
        convert(str(path), cfg)

    with pytest.raises(ConversionError, match="no ema_state_dict"):
        convert(str(path), cfg, use_ema=True)
