"""infer.py helpers: input listing, the missing-microphone message, output levels, streamed writing."""
import sys

import numpy as np
import pytest
import soundfile

from utils.separation.infer import list_audio, mixture_gains, record_microphone, separate_file


def test_list_audio_walks_folders_and_keeps_relative_names(tmp_path):
    for name in ("b/two.flac", "a/one.wav", "notes.txt"):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
    found = list_audio(str(tmp_path))
    assert [name for _, name in found] == ["a/one", "b/two"]
    assert list_audio(str(tmp_path / "a" / "one.wav")) == [(str(tmp_path / "a" / "one.wav"), "one")]
    with pytest.raises(FileNotFoundError, match="no such file"):
        list_audio(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no audio files"):
        list_audio(str(tmp_path / "empty"))


def test_record_without_sounddevice_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # makes `import sounddevice` raise ImportError
    with pytest.raises(SystemExit, match="pip install sounddevice"):
        record_microphone(1.0, 8000, str(tmp_path / "rec.wav"))


def test_mixture_gains_make_the_sources_add_up_to_the_mixture():
    rng = np.random.default_rng(0)
    sources = rng.standard_normal((2, 4000)).astype(np.float32)
    gains = mixture_gains(sources * np.array([[0.1], [-5.0]], np.float32), sources.sum(0))
    np.testing.assert_allclose(gains, [10.0, -0.2], rtol=1e-4)


def test_separate_file_streams_every_sample_in_order(tmp_path):
    """A fake separator (scaled copies of the chunk) through 3 chunks: the files hold the whole signal."""
    mixture = np.sin(np.arange(20000) / 30.0).astype(np.float32) * 0.5
    paths = [str(tmp_path / f"s{k}.wav") for k in (1, 2)]
    separate_file(lambda batch: np.stack([batch * 0.25, batch * 0.75], axis=1), mixture, 8000, paths,
                  chunk=8000, overlap=1000)
    written = np.stack([soundfile.read(path)[0] for path in paths])
    assert written.shape == (2, 20000)
    np.testing.assert_allclose(written.sum(0), mixture, atol=2e-4)  # gains: sources add up to the mixture
