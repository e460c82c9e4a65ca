"""The bash launchers: usage errors, the rank-table launcher's per-rank environment, msrun failures."""
import json
import os
import subprocess
import sys

import pytest

from utils.hccl_tools import make_rank_table

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = "ecapa_tdnn"  # any model folder with a train.py


def launch(script, *args, env=None, timeout=120, cwd=None):
    full_env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
                    **(env or {}))
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", script), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd or ROOT)


@pytest.mark.parametrize("script, args, message", [
    ("run_standalone_train.sh", [], "usage: bash scripts/run_standalone_train.sh MODEL"),
    ("run_standalone_train.sh", ["nomodel", "CPU"], "unknown MODEL 'nomodel'"),
    ("run_standalone_train.sh", [MODEL, "TPU"], "DEVICE_TARGET must be CPU, GPU or Ascend"),
    ("run_standalone_train.sh", [MODEL, "CPU", "x1"], "DEVICE_ID must be a non-negative integer"),
    ("run_distribute_train.sh", [MODEL], "usage: bash scripts/run_distribute_train.sh MODEL RANK_TABLE_FILE"),
    ("run_distribute_train.sh", [MODEL, "/nonexistent/table.json"], "rank table '/nonexistent/table.json' not found"),
    ("run_distribute_train_msrun.sh", [MODEL], "usage: bash scripts/run_distribute_train_msrun.sh MODEL WORKER_NUM"),
    ("run_distribute_train_msrun.sh", [MODEL, "two"], "WORKER_NUM must be a non-negative integer"),
    ("run_distribute_train_msrun.sh", [MODEL, "2", "CPU", "--master_port"], "usage:"),
    ("run_eval.sh", [MODEL, "CPU"], "usage: bash scripts/run_eval.sh MODEL DEVICE_TARGET CKPT_PATH"),
    ("run_eval.sh", [MODEL, "CPU", "/nonexistent.ckpt"], "CKPT_PATH '/nonexistent.ckpt' not found"),
])
def test_usage_errors_exit_2(script, args, message, tmp_path):
    result = launch(script, *args, env={"ZOO_RUNS": str(tmp_path / "runs")})
    assert result.returncode == 2, result.stdout + result.stderr
    if message:
        assert message in result.stderr
    assert not (tmp_path / "runs").exists(), "a usage error must not create a run folder"


def write_table(path, devices):
    table = make_rank_table(devices, {d: f"192.98.{d}.10" for d in devices}, "10.0.0.1")
    path.write_text(json.dumps(table))
    return str(path)


def test_rank_table_dry_run_prints_each_rank(tmp_path):
    table = write_table(tmp_path / "rank_table.json", [0, 1, 2, 3])
    (tmp_path / "manifests").mkdir()
    result = launch("run_distribute_train.sh", MODEL, table, "2", "4", "--dry_run", "--data_dir",
                    "manifests", "--epochs", "3", env={"ZOO_RUNS": str(tmp_path / "runs")}, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("rank ")]
    assert len(lines) == 2
    for rank, line in enumerate(lines):
        assert f"RANK_TABLE_FILE={table}" in line and "RANK_SIZE=2" in line
        assert f"RANK_ID={rank}" in line and f"DEVICE_ID={4 + rank}" in line
        assert f"--data_dir {tmp_path}/manifests" in line  # relative paths made absolute
        assert "--epochs 3" in line and "--device_target Ascend" in line and "--output_dir" in line
    assert "started" not in result.stdout


def test_rank_table_errors(tmp_path):
    table = write_table(tmp_path / "t.json", [0, 1])
    result = launch("run_distribute_train.sh", MODEL, table, "4", "--dry_run", env={"ZOO_RUNS": str(tmp_path)})
    assert result.returncode == 2 and "RANK_SIZE 4 must be between 1 and the rank table's 2 devices" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.0"}')
    result = launch("run_distribute_train.sh", MODEL, str(broken), "--dry_run", env={"ZOO_RUNS": str(tmp_path)})
    assert result.returncode == 2 and "invalid rank table" in result.stderr


@pytest.mark.slow
def test_msrun_failure_exits_nonzero_with_the_error_shown(tmp_path):
    """A worker that fails (here: an unknown config key) ends the job quickly, its error printed."""
    result = launch("run_distribute_train_msrun.sh", MODEL, "2", "CPU", "--timeout", "60",
                    "--data_dir", "nowhere", "--no_such_key", "1",
                    env={"ZOO_RUNS": str(tmp_path / "runs")}, timeout=300)
    assert result.returncode != 0
    assert "unknown config key --no_such_key" in result.stderr
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 1 and os.path.isdir(tmp_path / "runs" / runs[0] / "logs")
