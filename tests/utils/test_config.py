import pytest

from utils.config import ConfigError, load_config, parse_args, save_config, load_yaml

YAML = """\
device_target: CPU  # CPU | GPU | Ascend
seed: 0  # random seed
model:
  n_src: 2  # number of sources
  bidirectional: true  # BLSTM
  norm: gLN
  layers: [4, 4]
data:
  sample_rate: 8000  # Hz
  segment_seconds: 2.0  # training crop, s
train:
  lr: 1.0e-3  # learning rate
  checkpoint: null
"""


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(YAML)
    return str(path)


def test_overrides_take_the_type_of_the_default(config_file):
    def flags(parser):
        parser.add_argument("--data_dir", required=True)
    args, cfg = parse_args(config_file, "test", flags,
                           ["--data_dir", "D", "--n_src", "3", "--model.bidirectional", "false",
                            "--segment_seconds=4", "--layers", "2,3", "--lr", "5e-4", "--checkpoint", "12"])
    assert args.data_dir == "D"
    assert cfg.model.n_src == 3 and isinstance(cfg.model.n_src, int)
    assert cfg.model.bidirectional is False
    assert cfg.data.segment_seconds == 4.0 and isinstance(cfg.data.segment_seconds, float)
    assert cfg.model.layers == [2, 3]
    assert cfg.train.lr == pytest.approx(5e-4)
    assert cfg.train.checkpoint == 12


def test_unknown_key_lists_valid_keys(config_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(config_file, "test", None, ["--n_srcs", "3"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown config key --n_srcs" in err and "model.n_src" in err and "data.sample_rate" in err


def test_bad_values_are_errors(config_file):
    with pytest.raises(ConfigError, match="cannot read 'three' as int"):
        load_config(config_file, {"n_src": "three"})
    with pytest.raises(ConfigError, match="expected true/false"):
        load_config(config_file, {"bidirectional": "maybe"})


def test_missing_value_and_stray_argument(config_file):
    with pytest.raises(SystemExit):
        parse_args(config_file, "test", None, ["--n_src"])
    with pytest.raises(SystemExit):
        parse_args(config_file, "test", None, ["stray"])


def test_ambiguous_leaf_needs_the_dotted_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("a:\n  lr: 1.0\nb:\n  lr: 2.0\n")
    with pytest.raises(ConfigError, match="ambiguous.*--a.lr.*--b.lr"):
        load_config(str(path), {"lr": "3"})
    assert load_config(str(path), {"b.lr": "3"}).b.lr == 3.0


def test_config_path_and_entry_flags_reach_the_config(config_file, tmp_path):
    other = tmp_path / "paper.yaml"
    other.write_text(YAML.replace("n_src: 2", "n_src: 5"))

    def flags(parser):
        parser.add_argument("--device_target", default=None)
    args, cfg = parse_args(config_file, "test", flags, ["--config_path", str(other), "--device_target", "GPU"])
    assert cfg.model.n_src == 5 and cfg.device_target == "GPU"


def test_help_lists_keys_with_comments(config_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(config_file, "my entry point", None, ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "my entry point" in out and "--model.n_src 2  # number of sources" in out


def test_save_round_trip(config_file, tmp_path):
    cfg = load_config(config_file, {"n_src": "4"})
    save_config(cfg, str(tmp_path / "out" / "config.yaml"))
    assert load_yaml(str(tmp_path / "out" / "config.yaml")) == cfg


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_yaml(str(bad))
