"""TasNet in mixed precision: 32 steps at O2 follow the O0 run; the O2 checkpoint is evaluated by eval.py in
float32 and exported by export.py --precision fp16 (error vs fp32 measured and checked)."""
import json
import os

import numpy as np
import pytest

from tests.utils import amp_models
from tests.utils.separation.entrypoints import run


@pytest.mark.slow
def test_tasnet_trains_at_o2_like_o0_then_evaluates_and_exports_fp16(tiny_corpus, tmp_path):
    build = amp_models.tasnet()
    amp_models.check_amp_training_matches_fp32(build, amp_models.separation_batch(tiny_corpus()), tmp_path, lr=5e-3)
    ckpt = str(tmp_path / "O2" / "last.ckpt")
    data_dir = os.path.join(tiny_corpus(), "Libri2Mix")
    run("tasnet/eval.py", "--data_dir", data_dir, "--ckpt_path", ckpt, "--output_dir", str(tmp_path / "eval"),
        "--max_items", "4")
    metrics = json.load(open(tmp_path / "eval" / "metrics.json"))
    assert metrics["n_utterances"] == 4 and np.isfinite(metrics["si_snri"])
    printed = run("tasnet/export.py", "--ckpt_path", ckpt, "--file_name", str(tmp_path / "tasnet_fp16"),
                  "--precision", "fp16")
    description = json.load(open(tmp_path / "tasnet_fp16.json"))
    error = description["fp16_max_relative_error"]
    assert description["precision"] == "fp16" and f"fp16 max relative error vs fp32: {error:.3g}" in printed
    assert [d["dtype"] for d in description["inputs"] + description["outputs"]] == ["Float32", "Float32"]
    assert 0 < error < 1e-2
    with pytest.raises(AssertionError, match="--precision fp16 is for MINDIR"):
        run("tasnet/export.py", "--ckpt_path", ckpt, "--file_name", str(tmp_path / "t"), "--file_format", "ONNX",
            "--precision", "fp16")
