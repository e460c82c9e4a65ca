"""tasnet/convert_asteroid.py: asteroid LSTMTasNet weights -> our TasNet with the same outputs (no PIT: same
source order), BiLSTM from a serialize() package and causal LSTM from a bare state_dict + model_args."""
import json
import os

import pytest

from tasnet.src.network import TasNet
from tests.utils.separation.asteroid_parity import (asteroid_models, check_unknown_tensor_rejected, convert_ok,
                                                    max_relative_errors, randomize, read_yaml, resave_state,
                                                    save_bare, save_package)
from utils.config import load_config
from utils.separation.convert_asteroid import convert, read_asteroid_checkpoint

SMALL = dict(n_filters=16, kernel_size=8, stride=4, hid_size=16, n_layers=2)


def small_lstm_tasnet(seed=0, **overrides):
    import torch
    torch.manual_seed(seed)
    return randomize(asteroid_models().LSTMTasNet(**{"n_src": 2, **SMALL, **overrides}), seed)


@pytest.mark.slow
def test_serialized_package_bidirectional_matches_asteroid(tmp_path):
    reference = small_lstm_tasnet()
    package = save_package(reference, str(tmp_path / "pytorch_model.bin"))
    out = str(tmp_path / "converted")
    convert_ok("tasnet", "--asteroid_ckpt", package, "--output_dir", out)
    config = read_yaml(os.path.join(out, "config.yaml"))
    assert config["data"]["sample_rate"] == 8000  # from model_args: this package has no top-level sample_rate
    assert config["model"] == {"n_src": 2, "n_filters": 16, "frame_length": 8, "stride": 4, "hidden_size": 16,
                               "n_layers": 2, "bidirectional": True, "norm": "gLN", "mask_act": "sigmoid",
                               "dropout": 0.3, "frame_norm": False, "encoder_bias": False, "lstm_skip": False,
                               "framing": "valid"}
    errors = max_relative_errors(reference, os.path.join(out, "model.ckpt"), TasNet)
    print("LSTMTasNet package (BiLSTM, gLN) max rel err:", errors)
    assert max(errors.values()) < 1e-4, errors


@pytest.mark.slow
def test_bare_state_dict_unidirectional_matches_asteroid(tmp_path):
    """Causal asteroid LSTMTasNet (cumulative norm), 3 layers, relu masks, 3 sources, JSON model_args."""
    options = dict(n_src=3, bidirectional=False, n_layers=3, mask_act="relu", sample_rate=16000)
    reference = small_lstm_tasnet(seed=1, **options)
    weights, _ = save_bare(reference, str(tmp_path), {})
    args_file = tmp_path / "model_args.json"
    args_file.write_text(json.dumps({**SMALL, **options}))
    out = str(tmp_path / "converted")
    convert_ok("tasnet", "--asteroid_ckpt", weights, "--model_args", str(args_file), "--output_dir", out)
    config = read_yaml(os.path.join(out, "config.yaml"))
    assert config["data"]["sample_rate"] == 16000
    assert (config["model"]["norm"], config["model"]["bidirectional"], config["model"]["n_layers"]) == ("cLN", False, 3)
    errors = max_relative_errors(reference, os.path.join(out, "model.ckpt"), TasNet)
    print("LSTMTasNet state_dict (causal LSTM, cumulative LN) max rel err:", errors)
    assert max(errors.values()) < 1e-4, errors


@pytest.fixture
def saved_state(tmp_path):
    """(state_dict file, model_args file) of a small asteroid LSTMTasNet."""
    return save_bare(small_lstm_tasnet(), str(tmp_path), {"n_src": 2, **SMALL})


def test_unknown_tensor_is_an_error_naming_it(tmp_path, saved_state):
    check_unknown_tensor_rejected("tasnet", tmp_path, *saved_state, "masker.skip.weight", (16, 16))


def test_wrong_shape_alias_and_wrong_model_are_errors(tmp_path, saved_state):
    weights, args_file = saved_state
    cfg = load_config("tasnet/config.yaml")
    _, _, state, _ = read_asteroid_checkpoint(weights, args_file)
    state["masker.masker.1.weight"] = state["masker.masker.1.weight"][:16]
    with pytest.raises(ValueError, match=r"masker\.masker\.1\.weight \[16, 32\].*masker\.to_masks\.weight is \[32, 32\]"):
        convert(resave_state(tmp_path, state), "LSTMTasNet", TasNet, cfg, args_file)
    # the second reference to the ReLU branch's filters must really be the same tensor
    _, _, state, _ = read_asteroid_checkpoint(weights, args_file)
    state["encoder.filterbank._filters"] = state["encoder.filterbank._filters"] + 1.0
    with pytest.raises(ValueError, match=r"encoder\.filterbank\._filters should be the same tensor"):
        convert(resave_state(tmp_path, state), "LSTMTasNet", TasNet, cfg, args_file)
    # a DPRNNTasNet package given to the TasNet converter
    dprnn = asteroid_models().DPRNNTasNet(n_src=2, n_filters=8, bn_chan=8, hid_size=4, chunk_size=4, n_repeats=1)
    package = save_package(dprnn, str(tmp_path / "dprnn.bin"))
    with pytest.raises(ValueError, match="DPRNNTasNet; this converter takes LSTMTasNet"):
        convert(package, "LSTMTasNet", TasNet, cfg)


def test_unsupported_arguments_are_errors(tmp_path, saved_state):
    weights, _ = saved_state
    cfg = load_config("tasnet/config.yaml")
    for bad, message in (({"rnn_type": "gru"}, "rnn_type='gru'"), ({"fb_name": "stft"}, "fb_name='stft'"),
                         ({"encoder_activation": "tanh"}, "encoder_activation='tanh'"),
                         ({"kernel_size": 8, "stride": 3}, "not a multiple of stride=3")):
        bad_args = tmp_path / "bad.json"
        bad_args.write_text(json.dumps({"n_src": 2, **SMALL, **bad}))
        with pytest.raises(ValueError, match=message):
            convert(weights, "LSTMTasNet", TasNet, cfg, str(bad_args))
