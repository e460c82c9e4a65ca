"""TasNet end to end as a user types it on the tiny Libri2Mix: train -> resume -> eval -> export -> infer."""
import os

import pytest

from tasnet.src.network import TasNet
from tests.utils.separation.entrypoints import (evaluate_checkpoint, export_and_compare, infer_long_stereo_file,
                                                train_and_resume)

SMALL_MODEL = ["--model.n_filters", "32", "--model.hidden_size", "16", "--model.n_layers", "1"]


@pytest.mark.slow
def test_tasnet_train_resume_eval_export_infer(tiny_corpus, tmp_path):
    data_dir = os.path.join(tiny_corpus("librimix"), "Libri2Mix")
    out = train_and_resume("tasnet", data_dir, str(tmp_path), SMALL_MODEL)
    evaluate_checkpoint("tasnet", data_dir, out, str(tmp_path))
    mindir = export_and_compare("tasnet", TasNet, out, str(tmp_path))
    infer_long_stereo_file("tasnet", data_dir, mindir, str(tmp_path))
