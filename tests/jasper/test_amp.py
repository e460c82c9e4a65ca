"""Jasper in mixed precision: 32 steps at O2 and at O1 follow the O0 run; the O2 checkpoint exports to an fp16
MINDIR."""
import pytest

from tests.utils import amp_models


@pytest.mark.slow
def test_jasper_trains_at_o1_and_o2_like_o0_and_exports_fp16(tiny_corpus, tmp_path):
    build = amp_models.jasper()
    amp_models.check_amp_training_matches_fp32(build, amp_models.jasper_batch(tiny_corpus()), tmp_path, lr=3e-3,
                                               levels=("O2", "O1"))
    error, _ = amp_models.fp16_export_error(build, amp_models.jasper_export(), str(tmp_path / "O2" / "last.ckpt"),
                                            tmp_path)
    print(f"fp16 MINDIR max relative error {error:.2e}")
    assert 0 < error < 1e-2
