"""utils/torch_checkpoint.py reads torch.save files into numpy, with torch absent."""
import argparse
import collections
import subprocess
import sys

import numpy as np
import pytest

from utils.torch_checkpoint import UnpickledObject, load_torch_checkpoint, state_dict_of

torch = pytest.importorskip("torch", reason="torch is needed to WRITE the test checkpoints "
                                            "(bash scripts/setup.sh --test installs it)")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 5), torch.nn.BatchNorm1d(4))
    base = torch.randn(5, 7)
    package = {"state_dict": net.state_dict(), "views": {"transposed": base.t(), "offset": base[1:, 2:]},
               "optimizer": torch.optim.Adam(net.parameters()).state_dict(), "args": argparse.Namespace(lr=0.1),
               "half": torch.randn(3).half(), "bf16": torch.randn(4).bfloat16(), "long": torch.arange(5),
               "bool": torch.tensor([True, False]), "scalar": torch.tensor(3.5), "epoch": 3,
               "array": np.arange(3.0)}
    path = tmp_path_factory.mktemp("ckpt") / "package.pt"
    torch.save(package, path)
    return path, package


def test_every_tensor_is_read_exactly(saved):
    path, package = saved
    loaded = load_torch_checkpoint(str(path))
    assert isinstance(loaded["state_dict"], collections.OrderedDict)
    assert list(loaded["state_dict"]) == list(package["state_dict"])
    for name, tensor in package["state_dict"].items():
        assert loaded["state_dict"][name].dtype == tensor.numpy().dtype
        np.testing.assert_array_equal(loaded["state_dict"][name], tensor.numpy(), err_msg=name)
    # non-contiguous views and storage offsets
    np.testing.assert_array_equal(loaded["views"]["transposed"], package["views"]["transposed"].numpy())
    np.testing.assert_array_equal(loaded["views"]["offset"], package["views"]["offset"].numpy())
    np.testing.assert_array_equal(loaded["half"], package["half"].numpy())
    np.testing.assert_array_equal(loaded["bf16"], package["bf16"].float().numpy())
    assert loaded["long"].dtype == np.int64 and loaded["bool"].tolist() == [True, False]
    assert loaded["scalar"].shape == () and float(loaded["scalar"]) == 3.5 and loaded["epoch"] == 3
    np.testing.assert_array_equal(loaded["array"], np.arange(3.0))
    # classes are never built from the file: they come back inert
    assert isinstance(loaded["args"], UnpickledObject) and loaded["args"].qualified_name == "argparse.Namespace"


def test_reads_without_torch_installed(saved):
    path, package = saved
    script = ("import sys; sys.modules['torch'] = None\n"
              "from utils.torch_checkpoint import load_torch_checkpoint\n"
              f"weights = load_torch_checkpoint({str(path)!r})['state_dict']\n"
              "print(float(weights['0.weight'].sum()))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=__file__.rsplit("/tests/", 1)[0])
    assert float(result.stdout) == pytest.approx(float(package["state_dict"]["0.weight"].sum()), rel=1e-6)


def test_state_dict_of_finds_the_weights(saved, tmp_path):
    path, package = saved
    loaded = load_torch_checkpoint(str(path))
    assert set(state_dict_of(loaded, path)) == set(package["state_dict"])
    with pytest.raises(ValueError, match=r"no state dict under \['ema_state_dict'\].*top-level keys"):
        state_dict_of(loaded, path, preferred=("ema_state_dict",))
    bare = tmp_path / "bare.pt"
    torch.save(package["state_dict"], bare)
    assert set(state_dict_of(load_torch_checkpoint(str(bare)), bare)) == set(package["state_dict"])


def test_legacy_format_and_bad_files(saved, tmp_path):
    _, package = saved
    legacy = tmp_path / "legacy.pt"
    torch.save(package["state_dict"], legacy, _use_new_zipfile_serialization=False)
    np.testing.assert_array_equal(load_torch_checkpoint(str(legacy))["1.running_var"],
                                  package["state_dict"]["1.running_var"].numpy())
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_torch_checkpoint(str(tmp_path / "missing.pt"))
