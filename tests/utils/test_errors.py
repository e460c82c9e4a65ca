"""The one error path of the entry points (utils.cli.run, utils.errors) and the batch runner (utils.batch)."""
import os
import sys

import numpy as np
import pytest
import soundfile

from utils import batch as batch_module
from utils import cli, errors
from utils.audio import AudioError, list_audio, read_audio, screen_training_files
from utils.batch import Batch, atomic_outputs
from utils.config import ConfigError, set_value, Config


def _raise_from_numpy():
    np.reshape(np.zeros(3), (2, 2))  # ValueError inside NumPy: a bug of the caller, not a user message


def test_expected_errors_are_ours_and_bugs_are_not():
    with pytest.raises(AudioError) as audio:
        read_audio("/no/such/file.wav")
    with pytest.raises(ConfigError) as config:
        set_value(Config({"a": {"b": 1}}), "c", "2")
    with pytest.raises(ValueError) as numpy_error:
        _raise_from_numpy()
    with pytest.raises(ModuleNotFoundError) as missing:
        import zoo_no_such_package  # noqa: F401
    assert errors.is_expected(audio.value) and errors.exit_code(audio.value) == 2
    assert errors.is_expected(config.value) and "unknown config key --c" in errors.message(config.value)
    assert not errors.is_expected(numpy_error.value)
    assert errors.is_expected(missing.value) and errors.exit_code(missing.value) == 1
    assert "missing dependency" in errors.message(missing.value)
    assert not errors.is_expected(TypeError("bug")) and not errors.is_expected(ZeroDivisionError())
    assert errors.message(KeyError("x.ckpt lacks 2 parameters")) == "x.ckpt lacks 2 parameters"
    assert errors.message(ValueError("line one\n  line two")) == "line one line two"


def _run(main, argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tasnet/infer.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        cli.run(os.path.join(errors.REPO_ROOT, "tasnet", "infer.py"), main)
    return exit_.value.code, capsys.readouterr().err


def test_run_prints_one_line_and_exits_2_or_1(monkeypatch, capsys):
    def bad_audio():
        read_audio("/data/missing.wav")

    code, err = _run(bad_audio, [], monkeypatch, capsys)
    assert code == 2 and err == "tasnet/infer.py: error: /data/missing.wav: audio file not found\n"
    code, err = _run(lambda: (_ for _ in ()).throw(SystemExit("tasnet/infer.py: give --input")), [], monkeypatch,
                     capsys)
    assert code == 2 and err == "tasnet/infer.py: error: give --input\n"
    code, err = _run(lambda: (_ for _ in ()).throw(errors.MissingDependency("pip install x")), [], monkeypatch,
                     capsys)
    assert code == 1 and err == "tasnet/infer.py: error: pip install x\n"
    assert _run(lambda: 1, [], monkeypatch, capsys)[0] == 1  # a returned status (some items failed)
    assert _run(lambda: {"metrics": 1}, [], monkeypatch, capsys)[0] == 0
    # --debug (or ZOO_DEBUG=1) shows the traceback; a bug always does
    monkeypatch.setattr(sys, "argv", ["prog", "--debug"])
    with pytest.raises(AudioError):
        cli.run(__file__, bad_audio)
    monkeypatch.setattr(sys, "argv", ["prog"])
    with pytest.raises(ValueError, match="reshape"):
        cli.run(__file__, _raise_from_numpy)


def test_batch_reports_each_bad_item_and_keeps_going(tmp_path, capsys):
    good = tmp_path / "good.wav"
    soundfile.write(str(good), np.zeros(160, np.float32), 16000)
    (tmp_path / "bad.wav").write_text("not audio")
    failures = tmp_path / "out" / "failures.tsv"
    run = Batch("x.py", str(failures))
    results = [run.attempt(path, read_audio, path) for path in (str(tmp_path / "bad.wav"), str(good),
                                                                  str(tmp_path / "gone.wav"))]
    assert [ok for ok, _ in results] == [False, True, False] and results[1][1][1] == 16000
    assert run.finish() == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"x.py: skipped {tmp_path / 'bad.wav'}: unreadable or unsupported audio format")
    assert err[1] == f"x.py: skipped {tmp_path / 'gone.wav'}: audio file not found"
    assert err[2] == f"x.py: 1 done, 2 failed (listed in {failures})"
    rows = failures.read_text().splitlines()
    assert rows[0] == "file\treason" and rows[2] == f"{tmp_path / 'gone.wav'}\taudio file not found"
    with pytest.raises(ZeroDivisionError):  # a bug is never swallowed
        run.attempt("item", lambda: 1 / 0)
    clean = Batch("x.py", str(failures))
    assert clean.attempt("a", lambda: 3) == (True, 3) and clean.finish() == 0
    assert not failures.exists()  # no stale list from the previous run
    with pytest.raises(AudioError, match="gone.wav"):
        Batch("x.py", strict=True).attempt("gone", read_audio, str(tmp_path / "gone.wav"))


def test_atomic_outputs_appear_together_or_not_at_all(tmp_path):
    targets = [str(tmp_path / "sub" / "a_s1.wav"), str(tmp_path / "sub" / "a_s2.wav")]
    with pytest.raises(RuntimeError):
        with atomic_outputs(targets) as temporaries:
            assert all(t.endswith(".wav") and os.path.basename(t).startswith(".") for t in temporaries)
            soundfile.write(temporaries[0], np.zeros(8, np.float32), 8000)
            raise RuntimeError("killed half-way")
    assert os.listdir(tmp_path / "sub") == []
    with atomic_outputs(targets) as temporaries:
        for temporary in temporaries:
            soundfile.write(temporary, np.zeros(8, np.float32), 8000)
    assert sorted(os.listdir(tmp_path / "sub")) == ["a_s1.wav", "a_s2.wav"]
    assert batch_module.temporary_name("/o/x.npy").endswith(".npy")


def test_list_file_input_and_training_screen(tmp_path):
    soundfile.write(str(tmp_path / "a.wav"), np.zeros(16, np.float32), 16000)
    soundfile.write(str(tmp_path / "empty.wav"), np.zeros(0, np.float32), 16000)
    (tmp_path / "list.txt").write_text("# my files\na.wav\n\nsub/missing.flac\n")
    assert list_audio(str(tmp_path / "list.txt")) == [(str(tmp_path / "a.wav"), "a"),
                                                      (str(tmp_path / "sub" / "missing.flac"), "sub/missing")]
    paths = [str(tmp_path / name) for name in ("a.wav", "empty.wav", "nothing.wav")]
    with pytest.raises(AudioError, match=r"^2 of 3 training audio files cannot be used: .*empty.wav: audio file is "
                                         r"empty.*nothing.wav: audio file not found.*--skip_bad_files"):
        screen_training_files(paths, skip_bad_files=False)
    assert screen_training_files(paths, skip_bad_files=True) == set(paths[1:])
    assert screen_training_files(paths[:1], skip_bad_files=False) == set()
