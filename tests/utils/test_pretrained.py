"""utils/pretrained without network: a fake hub (tests/utils/fake_hub.py) serves small random-weight reference
models written by the real serialisers (SpeechBrain's state_dict, asteroid's serialize() package, NVIDIA's
trainer dict), under the registry's real repository names, file names and NGC URL path. Each test proves
download -> convert -> cache -> reuse with no request, and that the cached model computes what the reference
does (the converters' parity tolerance)."""
import json
import os
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from tests.utils.fake_hub import FakeHub  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ECAPA = "speechbrain/spkrec-ecapa-voxceleb"
DPRNN_HUB = "mpariente/DPRNNTasNet-ks2_WHAM_sepclean"
JASPER = "nvidia/jasper_pyt_ckpt_amp"


def sha256(path):
    from utils.pretrained import sha256_of
    return sha256_of(str(path))


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """(FakeHub, overlay registry dict, write_overlay()) with ZOO_CACHE / ZOO_HF_ENDPOINT / the overlay set."""
    fake = FakeHub(tmp_path / "hub")
    overlay = {}
    overlay_path = tmp_path / "registry_overlay.yaml"

    def write_overlay():
        overlay_path.write_text(yaml.safe_dump(overlay))

    write_overlay()
    for name, value in (("ZOO_CACHE", str(tmp_path / "cache")), ("ZOO_HF_ENDPOINT", fake.url),
                        ("ZOO_PRETRAINED_REGISTRY", str(overlay_path)), ("HF_HOME", str(tmp_path / "hf_home"))):
        monkeypatch.setenv(name, value)
    for name in ("ZOO_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield fake, overlay, write_overlay
    fake.close()


def test_ecapa_verify_first_command_downloads_converts_then_reuses_offline(hub, tmp_path):
    """The README's first command, twice: the second run is offline and sends no request."""
    import soundfile as sf

    from tests.ecapa_tdnn.test_convert_speechbrain import SMALL, reference_model
    fake, overlay, write_overlay = hub
    model = reference_model(torch, 0, **SMALL)
    torch.save(model.state_dict(), fake.add(ECAPA, "embedding_model.ckpt"))
    torch.save({"weight": torch.randn(5, SMALL["lin_neurons"])}, fake.add(ECAPA, "classifier.ckpt"))
    # the registry pins the published files' sha256: the fake ones have their own
    overlay[ECAPA] = {"files": {key: {"sha256": sha256(fake.add(ECAPA, name))} for key, name in
                                (("embedding_model", "embedding_model.ckpt"), ("classifier", "classifier.ckpt"))}}
    write_overlay()
    rng = np.random.default_rng(0)
    wavs = []
    for index in range(2):
        path = tmp_path / f"{'ab'[index]}.wav"
        sf.write(path, (0.1 * rng.standard_normal(24000)).astype(np.float32), 16000)
        wavs.append(str(path))
    command = [sys.executable, "ecapa_tdnn/infer.py", "verify", *wavs, "--pretrained", ECAPA]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert first.returncode == 0, first.stderr[-3000:]
    verdict = json.loads(first.stdout.strip().splitlines()[-1])
    assert verdict["threshold"] == 0.25 and isinstance(verdict["same_speaker"], bool)
    requested = [path for _, path in fake.requests]
    assert any(p.endswith("/resolve/0f99f2d0ebe89ac095bcc5903c4dd8f72b367286/embedding_model.ckpt")
               for p in requested), requested
    cached = os.path.join(os.environ["ZOO_CACHE"], "models", "speechbrain", "spkrec-ecapa-voxceleb", "model.ckpt")
    assert os.path.isfile(cached)
    stamp = os.path.getmtime(cached)

    fake.requests.clear()  # second use, offline: embeddings of both files from the cache, no request
    embed = [sys.executable, "ecapa_tdnn/infer.py", "embed", "--input", str(tmp_path / "a.wav"), "--output_dir",
             str(tmp_path / "emb"), "--pretrained", ECAPA]
    second = subprocess.run(embed, cwd=ROOT, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "ZOO_OFFLINE": "1", "HF_HUB_OFFLINE": "1"})
    assert second.returncode == 0, second.stderr[-3000:]
    assert fake.requests == [] and os.path.getmtime(cached) == stamp

    # the cached model against SpeechBrain itself, from the waveform (its Fbank + sentence mean normalisation)
    from tests.reference import import_reference
    fbank = import_reference("speechbrain.lobes.features").Fbank(n_mels=80).eval()
    normalise = import_reference("speechbrain.processing.features").InputNormalization(
        norm_type="sentence", std_norm=False).eval()
    wave, _ = sf.read(wavs[0], dtype="float32")
    with torch.no_grad():
        expected = model(normalise(fbank(torch.from_numpy(wave)[None]), torch.ones(1)))[0, 0].numpy()
    ours = np.load(tmp_path / "emb" / "a.npy")
    error = float(np.abs(ours - expected).max() / np.abs(expected).max())
    print(f"cached ECAPA-TDNN vs SpeechBrain reference from the waveform: max relative error {error:.2e}")
    assert error < 1e-3  # the converter's waveform tolerance (features in float32)


@pytest.mark.slow
def test_asteroid_hub_model_converts_once_and_matches(hub):
    from dprnn.src.network import DPRNN
    from tests.dprnn.test_convert_asteroid import small_dprnn
    from tests.utils.separation.asteroid_parity import max_relative_errors, save_package
    from utils import pretrained
    fake, _, _ = hub
    reference = small_dprnn(seed=3)
    save_package(reference, fake.add(DPRNN_HUB, "pytorch_model.bin"), sample_rate=8000)
    assert pretrained.status(DPRNN_HUB) == "not cached"
    checkpoint = pretrained.pretrained_checkpoint(DPRNN_HUB, model="dprnn")
    assert pretrained.status(DPRNN_HUB) == "converted"
    record = pretrained.cached_record(checkpoint)
    assert record["files"]["package"]["sha256"] == sha256(fake.add(DPRNN_HUB, "pytorch_model.bin"))
    assert record["converter"][:1] == ["dprnn/convert_asteroid.py"]
    errors = max_relative_errors(reference, checkpoint, DPRNN, lengths=(8000, 12345))
    print("cached DPRNN vs asteroid reference, max relative error:", errors)
    assert max(errors.values()) < 1e-4

    fake.requests.clear()
    assert pretrained.pretrained_checkpoint(DPRNN_HUB, model="dprnn") == checkpoint
    assert fake.requests == []

    # train.py --pretrained: fine-tune from the cached checkpoint, with its architecture and sample rate
    import argparse

    from utils.checkpoint import checkpoint_config
    from utils.config import load_config
    args = argparse.Namespace(pretrained=DPRNN_HUB, init_from=None, resume=None)
    cfg = load_config(os.path.join(ROOT, "dprnn", "config.yaml"))
    pretrained.apply_to_args(args, cfg, os.path.join(ROOT, "dprnn", "train.py"))
    stored = checkpoint_config(checkpoint)
    assert args.init_from == checkpoint and cfg.model.to_dict() == stored["model"]
    assert cfg.data.sample_rate == stored["data"]["sample_rate"] == 8000 and cfg.model.chunk_size == 10
    assert fake.requests == []


def tiny_10x5dr_blocks():
    """NVIDIA's 10x5 DR layout (the registry converts with jasper/config_10x5dr.yaml) with few filters."""
    with open(os.path.join(ROOT, "jasper", "config_10x5dr.yaml"), encoding="utf-8") as handle:
        blocks = yaml.safe_load(handle)["model"]["blocks"]
    return [{**block, "filters": 8 + 4 * (index // 2)} for index, block in enumerate(blocks)]


@pytest.mark.slow
def test_ngc_download_checks_sha256_and_converted_jasper_matches(hub):
    from jasper.src.network import build_network, input_specs
    from torch_references import nvidia_jasper as ref
    from utils import pretrained
    from utils.inference import load_model
    fake, overlay, write_overlay = hub
    blocks = tiny_10x5dr_blocks()
    live, ema = [ref.randomize_(ref.Jasper(64, 29, blocks), torch.Generator().manual_seed(seed)).eval()
                 for seed in (1, 2)]
    url_path = urllib.parse.urlparse(pretrained.registry()[JASPER]["files"]["checkpoint"]["url"]).path
    served = os.path.join(fake.root, url_path.lstrip("/"))
    os.makedirs(os.path.dirname(served), exist_ok=True)
    torch.save({"epoch": 440, "state_dict": live.state_dict(), "ema_state_dict": ema.state_dict()}, served)
    overlay[JASPER] = {"files": {"checkpoint": {"url": fake.url + url_path, "sha256": "0" * 64}}}
    write_overlay()
    with pytest.raises(pretrained.PretrainedError, match=r"checksum mismatch for nvidia_jasper_210205\.pt"):
        pretrained.download(JASPER)
    assert pretrained.status(JASPER) == "not cached"  # the bad file is not kept

    overlay[JASPER]["files"]["checkpoint"]["sha256"] = sha256(served)
    write_overlay()
    checkpoint = pretrained.pretrained_checkpoint(JASPER, model="jasper")
    model = load_model(checkpoint, build_network, input_specs=input_specs(64))
    feats = np.random.default_rng(0).standard_normal((1, 64, 120)).astype(np.float32)
    lengths = np.array([120], np.int32)
    with torch.no_grad():
        expected, expected_lengths = ema(torch.from_numpy(feats), torch.from_numpy(lengths).long())
    log_probs, out_lengths = model(feats, lengths)
    assert int(out_lengths[0]) == int(expected_lengths[0])
    error = float(np.abs(log_probs - expected.numpy()).max() / np.abs(expected.numpy()).max())
    print(f"cached Jasper (EMA weights) vs NVIDIA reference: max relative error {error:.2e}")
    assert error < 1e-4


def test_registry_errors_are_one_clear_line(hub, monkeypatch):
    from utils import pretrained
    fake, _, _ = hub
    with pytest.raises(pretrained.PretrainedError, match="unknown pretrained model 'nobody/nothing'; known: "):
        pretrained.entry("nobody/nothing")
    with pytest.raises(pretrained.PretrainedError, match=r"is a dprnn model; this is ecapa_tdnn/"):
        pretrained.entry(DPRNN_HUB, model="ecapa_tdnn")
    with pytest.raises(pretrained.PretrainedError, match="listed but not supported: asteroid ConvTasNet"):
        pretrained.entry("JorisCos/ConvTasNet_Libri2Mix_sepclean_16k")
    # the file is missing on the hub
    with pytest.raises(pretrained.PretrainedError, match=r"cannot download pytorch_model\.bin from "
                                                         r"julien-c/DPRNNTasNet-ks16_WHAM_sepclean"):
        pretrained.download("julien-c/DPRNNTasNet-ks16_WHAM_sepclean")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(pretrained.PretrainedError, match="is not in the cache .* downloads are off"):
        pretrained.download(DPRNN_HUB)
    assert fake.requests and all("ks16" in path for _, path in fake.requests)
    done = subprocess.run([sys.executable, "-m", "utils.pretrained", "convert", DPRNN_HUB], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith(f"error: {DPRNN_HUB}: ")
    listing = subprocess.run([sys.executable, "-m", "utils.pretrained", "list"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120, env=dict(os.environ))
    assert listing.returncode == 0 and ECAPA in listing.stdout and "unsupported" in listing.stdout
