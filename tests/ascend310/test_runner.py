"""The Python runner (python -m utils.infer310) on an exported toy Cell with a dynamic length axis."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from utils import infer310
from utils.export import export_network


class ToyEncoder(nn.Cell):
    """[B, T] float32 audio, [1] float32 gain -> ([B, 4, T] features * gain, [B, 4] sums over time)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 5, pad_mode="same", has_bias=True)

    def construct(self, audio, gain):
        features = ops.tanh(self.conv(ops.expand_dims(audio, 1))) * gain
        return features, ops.reduce_sum(features, -1)


def _toy_inputs(batch, length, seed=0):
    rng = np.random.default_rng(seed + length)
    return [rng.standard_normal((batch, length)).astype(np.float32), np.array([1.5], np.float32)]


@pytest.fixture(scope="module")
def toy_export(tmp_path_factory):
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    network = ToyEncoder()
    folder = tmp_path_factory.mktemp("toy_export")
    specs = [ms.Tensor(shape=[None, None], dtype=ms.float32), ms.Tensor(shape=[1], dtype=ms.float32)]
    dynamic, _ = export_network(network, specs, str(folder / "toy"), make_inputs=_toy_inputs)
    fixed, _ = export_network(network, specs, str(folder / "toy_fixed"), make_inputs=_toy_inputs, fixed_length=50)
    return network, dynamic, fixed


def test_python_runner_matches_the_cell_for_two_lengths(tmp_path, toy_export):
    network, mindir, _ = toy_export
    items = {"short": _toy_inputs(1, 40), "long": _toy_inputs(1, 173)}
    for item, arrays in items.items():
        infer310.write_inputs(str(tmp_path / "in"), item, arrays)
    status = infer310.main(["--mindir_path", mindir, "--input_path", str(tmp_path / "in"),
                            "--output_path", str(tmp_path / "out")])
    assert status == 0
    outputs = infer310.read_outputs(str(tmp_path / "out"))
    assert list(outputs) == ["short", "long"]
    for item, arrays in items.items():
        expected = [o.asnumpy() for o in network(*[ms.Tensor(a) for a in arrays])]
        assert [o.shape for o in outputs[item]] == [e.shape for e in expected]
        for got, want in zip(outputs[item], expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert outputs["long"][0].shape == (1, 4, 173)
    summary = infer310.read_summary(str(tmp_path / "out"))
    assert summary["runner"] == "python" and summary["items"] == 2 and summary["mean_ms"] > 0


def test_fixed_shape_model_rejects_an_item_of_another_length(tmp_path, toy_export, capsys):
    _, _, fixed = toy_export
    infer310.write_inputs(str(tmp_path / "in"), "fits", _toy_inputs(1, 50))
    infer310.write_inputs(str(tmp_path / "in"), "too_long", _toy_inputs(1, 60))
    status = infer310.main(["--mindir_path", fixed, "--input_path", str(tmp_path / "in"),
                            "--output_path", str(tmp_path / "out")])
    assert status == 1
    assert "item 'too_long' input 0 has shape (1, 60)" in capsys.readouterr().err
    assert list(infer310.read_outputs(str(tmp_path / "out"))) == ["fits"]  # items before the bad one are kept


def test_missing_mindir_is_a_clear_error(tmp_path, capsys):
    infer310.write_inputs(str(tmp_path / "in"), "a", [np.zeros(3, np.float32)])
    assert infer310.main(["--mindir_path", str(tmp_path / "nope.mindir"), "--input_path", str(tmp_path / "in"),
                          "--output_path", str(tmp_path / "out")]) == 1
    assert "nope.mindir not found" in capsys.readouterr().err
