"""ECAPA-TDNN in mixed precision: 32 steps at O2 follow the O0 run (the fp16 export is tested with TasNet and
Jasper)."""
import pytest

from tests.utils import amp_models


@pytest.mark.slow
def test_ecapa_trains_at_o2_like_o0(tiny_corpus, tmp_path):
    # dynamic shapes, as train.py compiles: a float16 ECAPA-TDNN whose float32 parts handed float32 on failed
    # to compile there (mixed types meeting in the backward pass)
    amp_models.check_amp_training_matches_fp32(amp_models.ecapa(), amp_models.ecapa_batch(tiny_corpus()), tmp_path,
                                               lr=5e-4, dynamic=True)
