"""Data parallel on CPU through msrun with 2 workers: ranks agree, match a single run, shard the data."""
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tests", "utils", "dist_toy_train.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_env(dump_dir):
    env = dict(os.environ, ZOO_DEBUG_DUMP_DIR=str(dump_dir), PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ.get("PATH", ""))
    return env


@pytest.mark.slow
def test_two_workers_equal_single_process(tmp_path):
    msrun = shutil.which("msrun", path=os.path.dirname(sys.executable)) or shutil.which("msrun")
    assert msrun, "msrun comes with mindspore and must be installed"
    subprocess.run([sys.executable, SCRIPT, str(tmp_path / "single"), "6", "2"], cwd=tmp_path, check=True,
                   env=run_env(tmp_path / "dump_single"), timeout=300)
    subprocess.run([msrun, "--worker_num=2", "--local_worker_num=2", f"--master_port={free_port()}",
                    f"--log_dir={tmp_path / 'logs'}", "--join=True", "--cluster_time_out=120",
                    SCRIPT, str(tmp_path / "dist"), "6", "2"], cwd=tmp_path, check=True,
                   env=run_env(tmp_path / "dump_dist"), timeout=600)
    single = np.load(tmp_path / "dump_single" / "rank_0.npz")
    rank0, rank1 = (np.load(tmp_path / "dump_dist" / f"rank_{r}.npz") for r in (0, 1))
    assert int(rank0["group_size"]) == 2 and int(rank0["global_step"]) == int(single["global_step"]) == 2 * 5
    for key in (k for k in single.files if k.startswith("param/")):
        np.testing.assert_array_equal(rank0[key], rank1[key], err_msg=f"ranks differ: {key}")
        np.testing.assert_allclose(rank0[key], single[key], rtol=1e-5, atol=1e-7, err_msg=key)
    for epoch in ("epoch0", "epoch1"):
        shard0, shard1 = set(rank0[epoch].tolist()), set(rank1[epoch].tolist())
        assert not shard0 & shard1 and shard0 | shard1 == set(range(27))
    # only rank 0 wrote checkpoints and logs
    assert sorted(os.listdir(tmp_path / "dist")) == ["best.ckpt", "last.ckpt", "train_log.jsonl"]
    logged = [json.loads(line) for line in open(tmp_path / "dist" / "train_log.jsonl")]
    assert [r["n_valid"] for r in logged] == [9.0, 9.0]  # validation reduced over both shards
