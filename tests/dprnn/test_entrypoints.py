"""DPRNN end to end as a user types it on the tiny Libri2Mix: train -> resume -> eval -> export -> infer."""
import os

import pytest

from dprnn.src.network import DPRNN
from tests.utils.separation.entrypoints import (evaluate_checkpoint, export_and_compare, infer_long_stereo_file,
                                                train_and_resume)

SMALL_MODEL = ["--model.n_filters", "16", "--model.bn_chan", "16", "--model.hid_size", "16", "--model.n_repeats", "1"]


@pytest.mark.slow
def test_dprnn_train_resume_eval_export_infer(tiny_corpus, tmp_path):
    data_dir = os.path.join(tiny_corpus("librimix"), "Libri2Mix")
    out = train_and_resume("dprnn", data_dir, str(tmp_path), SMALL_MODEL)
    evaluate_checkpoint("dprnn", data_dir, out, str(tmp_path))
    mindir = export_and_compare("dprnn", DPRNN, out, str(tmp_path))
    infer_long_stereo_file("dprnn", data_dir, mindir, str(tmp_path))
