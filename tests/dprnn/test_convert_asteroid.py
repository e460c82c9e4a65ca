"""dprnn/convert_asteroid.py: asteroid DPRNNTasNet weights -> our DPRNN with the same outputs (no PIT: same
source order), from a serialize() package and from a bare state_dict + model_args; clear errors otherwise."""
import json
import os

import numpy as np
import pytest

from dprnn.src.network import DPRNN
from tests.utils.separation.asteroid_parity import (asteroid_models, check_unknown_tensor_rejected, convert_ok,
                                                    max_relative_errors, randomize, read_yaml, resave_state,
                                                    save_bare, save_package)
from utils.config import load_config
from utils.separation.convert_asteroid import convert, read_asteroid_checkpoint

SMALL = dict(n_filters=16, kernel_size=4, stride=2, bn_chan=16, hid_size=16, chunk_size=10, n_repeats=2)


def small_dprnn(seed=0, **overrides):
    import torch
    torch.manual_seed(seed)
    return randomize(asteroid_models().DPRNNTasNet(**{"n_src": 2, **SMALL, **overrides}), seed)


@pytest.mark.slow
def test_serialized_package_matches_asteroid(tmp_path):
    reference = small_dprnn()
    package = save_package(reference, str(tmp_path / "pytorch_model.bin"), sample_rate=16000)
    out = str(tmp_path / "converted")
    convert_ok("dprnn", "--asteroid_ckpt", package, "--output_dir", out)
    config = read_yaml(os.path.join(out, "config.yaml"))
    assert config["data"]["sample_rate"] == 16000
    assert config["model"] == {"n_src": 2, "n_filters": 16, "kernel_size": 4, "stride": 2, "bn_chan": 16,
                               "hid_size": 16, "chunk_size": 10, "n_repeats": 2, "norm": "gLN",
                               "mask_act": "sigmoid", "bidirectional": True, "dropout": 0.0, "encoder_relu": False,
                               "framing": "valid", "chunk_margin": "full"}
    # 8002 samples give 4000 frames, a whole number of chunk hops (asteroid then adds a trailing zero chunk)
    errors = max_relative_errors(reference, os.path.join(out, "model.ckpt"), DPRNN, lengths=(8000, 12345, 8002))
    print("DPRNNTasNet package (gLN, BiLSTM) max rel err:", errors)
    assert max(errors.values()) < 1e-4, errors


@pytest.mark.slow
def test_bare_state_dict_with_model_args_matches_asteroid(tmp_path):
    """Per-frame norm (asteroid "cLN"), causal inter-chunk LSTM, ReLU encoder, 3 sources, relu masks."""
    options = dict(n_src=3, norm_type="cLN", bidirectional=False, encoder_activation="relu", mask_act="relu")
    reference = small_dprnn(seed=1, **options)
    weights, args_file = save_bare(reference, str(tmp_path), {**SMALL, **options})
    out = str(tmp_path / "converted")
    convert_ok("dprnn", "--asteroid_ckpt", weights, "--model_args", args_file, "--output_dir", out)
    model = read_yaml(os.path.join(out, "config.yaml"))["model"]
    assert (model["norm"], model["bidirectional"], model["encoder_relu"], model["n_src"]) == ("chanLN", False, True, 3)
    errors = max_relative_errors(reference, os.path.join(out, "model.ckpt"), DPRNN)
    print("DPRNNTasNet state_dict (chanLN, causal, relu) max rel err:", errors)
    assert max(errors.values()) < 1e-4, errors


@pytest.fixture
def saved_state(tmp_path):
    """(state_dict file, model_args file) of a small asteroid DPRNNTasNet."""
    return save_bare(small_dprnn(), str(tmp_path), {"n_src": 2, **SMALL})


def test_unknown_tensor_is_an_error_naming_it(tmp_path, saved_state):
    check_unknown_tensor_rejected("dprnn", tmp_path, *saved_state, "masker.extra_gate.weight", (4, 4))


def test_wrong_shape_and_missing_tensor_are_errors(tmp_path, saved_state):
    weights, args_file = saved_state
    cfg = load_config("dprnn/config.yaml")
    _, _, state, _ = read_asteroid_checkpoint(weights, args_file)
    state["masker.net.1.inter_linear.weight"] = state["masker.net.1.inter_linear.weight"][:, :8]
    with pytest.raises(ValueError, match=r"masker\.net\.1\.inter_linear\.weight.*\[16, 8\].*"
                                         r"masker\.blocks\.1\.inter_linear\.weight.*\[16, 32\]"):
        convert(resave_state(tmp_path, state), "DPRNNTasNet", DPRNN, cfg, args_file)
    _, _, state, _ = read_asteroid_checkpoint(weights, args_file)
    del state["masker.first_out.0.weight"]
    with pytest.raises(KeyError, match=r"masker\.prelu\.w"):
        convert(resave_state(tmp_path, state), "DPRNNTasNet", DPRNN, cfg, args_file)


def test_unsupported_arguments_and_missing_model_args_are_errors(tmp_path, saved_state):
    weights, args_file = saved_state
    cfg = load_config("dprnn/config.yaml")
    for bad, message in (({"rnn_type": "GRU"}, "rnn_type='GRU'"), ({"hop_size": 3}, "hop_size=3"),
                         ({"mask_act": "softmax"}, "mask_act='softmax'"), ({"fancy_option": 1}, "fancy_option")):
        bad_args = tmp_path / "bad.yaml"
        bad_args.write_text(json.dumps({"n_src": 2, **SMALL, **bad}))
        with pytest.raises(ValueError, match=message):
            convert(weights, "DPRNNTasNet", DPRNN, cfg, str(bad_args))
    with pytest.raises(ValueError, match="--model_args"):
        convert(weights, "DPRNNTasNet", DPRNN, cfg)


@pytest.mark.slow
def test_fine_tune_from_converted_weights(tmp_path, tiny_corpus):
    """train.py --config_path OUT/config.yaml --init_from OUT/model.ckpt starts from the converted weights."""
    from tests.utils.separation.entrypoints import run
    from utils.checkpoint import read_checkpoint
    data_dir = os.path.join(tiny_corpus("librimix"), "Libri2Mix")
    package = save_package(small_dprnn(), str(tmp_path / "pytorch_model.bin"), sample_rate=8000)
    converted = str(tmp_path / "converted")
    convert_ok("dprnn", "--asteroid_ckpt", package, "--output_dir", converted)
    tuned = str(tmp_path / "tuned")
    log = run("dprnn/train.py", "--config_path", os.path.join(converted, "config.yaml"), "--init_from",
              os.path.join(converted, "model.ckpt"), "--data_dir", data_dir, "--output_dir", tuned,
              "--train.max_steps", "1", "--train.batch_size", "2", "--data.segment_seconds", "1.0")
    assert "initialised from" in log
    start, _ = read_checkpoint(os.path.join(converted, "model.ckpt"))
    end, meta = read_checkpoint(os.path.join(tuned, "last.ckpt"))
    assert meta["global_step"] == 1
    moved = {name: float(np.abs(end[name].asnumpy() - value.asnumpy()).max()) for name, value in start.items()}
    # one Adam step (lr 1e-3) moves each weight by about 1e-3; a fresh initialisation would differ by far more
    assert max(moved.values()) < 5e-3 and max(moved.values()) > 0, moved
