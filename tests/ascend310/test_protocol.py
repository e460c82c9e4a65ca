"""The Ascend 310 file protocol: Python round trips, errors, and agreement with the C++ reader/writer."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from utils import infer310

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(ROOT, "ascend310_infer", "src")


def _mixed_items():
    """Two items with different lengths, every kind of dtype, a 0-d array and a big-endian input."""
    rng = np.random.default_rng(3)
    return {
        "utt-1.a": [rng.standard_normal((1, 7)).astype(np.float32), np.array(7, np.int64),
                    rng.standard_normal((2, 3)).astype(np.float16), np.array([True, False, True])],
        "utt_2": [rng.standard_normal((1, 13)).astype(">f4"), np.array(13, np.int64),
                  rng.standard_normal((2, 3)).astype(np.float16), np.array([False])],
    }


def _assert_same(expected, actual):
    assert list(actual) == list(expected)
    for item, arrays in expected.items():
        assert len(actual[item]) == len(arrays)
        for want, got in zip(arrays, actual[item]):
            assert got.shape == want.shape and got.dtype == want.dtype.newbyteorder("=")
            np.testing.assert_array_equal(got, want)


def test_inputs_round_trip_with_per_item_shapes(tmp_path):
    items = _mixed_items()
    for item, arrays in items.items():
        infer310.write_inputs(str(tmp_path), item, arrays, names=["audio", "length", "extra", "mask"])
    _assert_same(items, infer310.read_inputs(str(tmp_path)))
    assert infer310.input_names(str(tmp_path)) == ["audio", "length", "extra", "mask"]
    lines = (tmp_path / "shapes.txt").read_text().splitlines()
    assert lines[:2] == ["utt-1.a 0 float32 1,7", "utt-1.a 1 int64 -"]
    assert lines[4] == "utt_2 0 float32 1,13"  # big-endian input stored little-endian as plain float32
    assert (tmp_path / "audio" / "utt_2.bin").stat().st_size == 13 * 4


def test_rewriting_an_item_replaces_it_and_keeps_the_order(tmp_path):
    infer310.write_inputs(str(tmp_path), "b", [np.zeros(4, np.float32)])
    infer310.write_inputs(str(tmp_path), "a", [np.ones(2, np.float32)])
    infer310.write_inputs(str(tmp_path), "b", [np.full(6, 2.5, np.float32)])
    read = infer310.read_inputs(str(tmp_path))
    assert list(read) == ["b", "a"]
    np.testing.assert_array_equal(read["b"][0], np.full(6, 2.5, np.float32))


def test_outputs_and_latency_round_trip(tmp_path):
    infer310.write_outputs(str(tmp_path), "x", [np.arange(6, dtype=np.int32).reshape(2, 3), np.float64(1.5)])
    summary = infer310.write_latency(str(tmp_path), {"x": 2.0, "y": 4.5}, "python", 12.0)
    out = infer310.read_outputs(str(tmp_path))
    np.testing.assert_array_equal(out["x"][0], np.arange(6).reshape(2, 3))
    assert out["x"][1].shape == () and out["x"][1] == 1.5
    assert summary["mean_ms"] == pytest.approx(3.25)
    assert infer310.read_summary(str(tmp_path)) == {"runner": "python", "items": 2.0, "mean_ms": 3.25,
                                                    "total_ms": 6.5, "load_ms": 12.0}


@pytest.mark.parametrize("line, message", [
    ("a 0 float32", "expected 'item index dtype shape'"),
    ("a 0 complex64 3", "bad item name, index or dtype"),
    ("a/b 0 float32 3", "bad item name"),
    ("a 0 float32 3,0", "shape must be positive integers"),
])
def test_bad_shapes_lines_name_the_file_and_line(tmp_path, line, message):
    infer310.write_inputs(str(tmp_path), "a", [np.zeros(3, np.float32)])
    with open(tmp_path / "shapes.txt", "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    with pytest.raises(ValueError, match=message) as error:
        infer310.read_inputs(str(tmp_path))
    assert "shapes.txt:2" in str(error.value)


def test_bad_input_is_rejected_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="must match"):
        infer310.write_inputs(str(tmp_path), "has space", [np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="complex64 is not one of"):
        infer310.write_inputs(str(tmp_path), "c", [np.zeros(2, np.complex64)])
    infer310.write_inputs(str(tmp_path), "a", [np.zeros(3, np.float32)])
    with pytest.raises(ValueError, match="lists inputs"):
        infer310.write_inputs(str(tmp_path), "b", [np.zeros(3, np.float32), np.zeros(1, np.int32)])
    (tmp_path / "input_0" / "a.bin").write_bytes(b"\0" * 8)  # truncated: 2 floats instead of 3
    with pytest.raises(ValueError, match=r"holds 2 float32 values.*\(3,\)"):
        infer310.read_inputs(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="shapes.txt"):
        infer310.read_outputs(str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def protocol_echo(tmp_path_factory):
    """The C++ protocol code (utils.cc) compiled into protocol_echo, without MindSpore."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the C++ side of the protocol cannot be built")
    binary = str(tmp_path_factory.mktemp("echo") / "protocol_echo")
    subprocess.run(["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-o", binary,
                    os.path.join(SRC, "protocol_echo.cc"), os.path.join(SRC, "utils.cc")], check=True)
    return binary


def test_cpp_reader_and_writer_agree_with_python_byte_for_byte(tmp_path, protocol_echo):
    items = _mixed_items()
    for item, arrays in items.items():
        infer310.write_inputs(str(tmp_path / "in"), item, arrays)
    infer310.write_inputs(str(tmp_path / "in"), "utt_2", items["utt_2"])  # duplicate lines: the last one wins
    done = subprocess.run([protocol_echo, "--input_path", str(tmp_path / "in"),
                           "--output_path", str(tmp_path / "out" / "nested")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _assert_same(items, infer310.read_outputs(str(tmp_path / "out" / "nested")))
    summary = infer310.read_summary(str(tmp_path / "out" / "nested"))
    assert summary["runner"] == "echo" and summary["items"] == 2
    latency = (tmp_path / "out" / "nested" / "latency.txt").read_text().split()
    assert latency[0::2] == ["utt-1.a", "utt_2"] and all(float(ms) >= 0 for ms in latency[1::2])


def test_cpp_reader_reports_bad_files_and_flags(tmp_path, protocol_echo):
    infer310.write_inputs(str(tmp_path / "in"), "a", [np.zeros(3, np.float32)])
    with open(tmp_path / "in" / "shapes.txt", "a", encoding="utf-8") as handle:
        handle.write("b 0 float32 3,x\n")
    bad_shape = subprocess.run([protocol_echo, "--input_path", str(tmp_path / "in"), "--output_path",
                                str(tmp_path / "out")], capture_output=True, text=True)
    assert bad_shape.returncode == 1 and "shapes.txt:2: bad shape '3,x'" in bad_shape.stderr
    (tmp_path / "in" / "shapes.txt").write_text("a 0 float32 4\n")  # the file holds 3 values
    short = subprocess.run([protocol_echo, "--input_path", str(tmp_path / "in"), "--output_path",
                            str(tmp_path / "out")], capture_output=True, text=True)
    assert short.returncode == 1 and "a.bin holds 12 bytes, shapes.txt implies 16" in short.stderr
    unknown = subprocess.run([protocol_echo, "--input_path", "x", "--colour", "red"], capture_output=True, text=True)
    assert unknown.returncode == 1 and "unknown flag --colour" in unknown.stderr
