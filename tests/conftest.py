"""Test session set-up: the same environment as utils/context.py, before anything imports mindspore."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import utils.context  # noqa: E402,F401  (sets ONEDNN_MAX_CPU_ISA and GLOG_v)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """``tiny_corpus("librispeech")`` -> folder holding that synthetic corpus, built once per session.

    Names: librimix, librispeech, voxceleb, musan, rirs (see utils/tiny_corpora.py). Set
    ZOO_TINY_CORPORA to a folder built with ``python -m utils.tiny_corpora --out DIR`` to reuse it.
    """
    from utils.tiny_corpora import build_corpora
    prebuilt = os.environ.get("ZOO_TINY_CORPORA")
    built = {}

    def get(name):
        if prebuilt:
            return prebuilt
        if name not in built:
            out = tmp_path_factory.mktemp(f"tiny_{name}")
            build_corpora(str(out), seed=0, only=[name], progress=False)
            built[name] = str(out)
        return built[name]
    return get
