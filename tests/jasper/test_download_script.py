"""scripts/download_librispeech.sh: argument handling and --dry_run (the machine has no internet)."""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "download_librispeech.sh")
SUBSETS = ["train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean",
           "test-other"]


def run(*args, env=None):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_bad_arguments_print_usage_and_exit_2(tmp_path):
    for args in (["--bogus"], [str(tmp_path), "train-clean-101"]):
        done = run(*args)
        assert done.returncode == 2 and "usage" not in done.stdout
        assert "download_librispeech.sh [--dry_run] [DEST] [SUBSET ...]" in done.stderr
    assert "unknown subset 'train-clean-101'" in run(str(tmp_path), "train-clean-101").stderr
    assert run("--help").returncode == 2


def test_dry_run_plans_every_subset_without_touching_the_disk(tmp_path):
    dest = tmp_path / "data"
    done = run("--dry_run", str(dest), env={"LIBRISPEECH_MIRROR": "http://mirror.invalid/12"})
    assert done.returncode == 0, done.stderr
    downloads = re.findall(r"http://mirror\.invalid/12/([\w-]+)\.tar\.gz", done.stdout)
    assert downloads == SUBSETS
    md5s = dict(re.findall(r"([\w-]+): checking md5 ([0-9a-f]+)", done.stdout))
    assert set(md5s) == set(SUBSETS) and all(len(v) == 32 for v in md5s.values()) and len(set(md5s.values())) == 7
    assert md5s["dev-clean"] == "42e2234ba48799c1f50f24a7926300a1"
    assert done.stdout.count("+ tar -xzf") == 7 and ("wget -c" in done.stdout or "curl -fL -C -" in done.stdout)
    assert not dest.exists()


def test_extracted_subsets_are_skipped(tmp_path):
    marker = tmp_path / "LibriSpeech" / "dev-clean" / ".extracted"
    marker.parent.mkdir(parents=True)
    marker.touch()
    done = run("--dry_run", str(tmp_path), "dev-clean", "test-clean")
    assert done.returncode == 0
    assert "dev-clean: already extracted" in done.stdout
    assert "dev-clean.tar.gz" not in done.stdout and "test-clean.tar.gz" in done.stdout
