"""DPRNN in mixed precision: 32 steps at O2 follow the O0 run (the fp16 export is tested with TasNet and Jasper)."""
import pytest

from tests.utils import amp_models


@pytest.mark.slow
def test_dprnn_trains_at_o2_like_o0(tiny_corpus, tmp_path):
    amp_models.check_amp_training_matches_fp32(amp_models.dprnn(), amp_models.separation_batch(tiny_corpus()),
                                               tmp_path, lr=5e-3)
