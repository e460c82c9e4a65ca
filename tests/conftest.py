"""Test session set-up: the same environment as utils/context.py, before anything imports mindspore."""
import atexit
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import utils.context  # noqa: E402,F401  (sets ONEDNN_MAX_CPU_ISA and GLOG_v)

# Tests (and the entry points they start, which inherit it) neither read nor fill the user's $ZOO_CACHE
# (pretrained models, the training-data screen's verdicts): a fresh one per session.
os.environ["ZOO_CACHE"] = tempfile.mkdtemp(prefix="zoo_cache_")
atexit.register(shutil.rmtree, os.environ["ZOO_CACHE"], True)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_corpora_build(tmp_path_factory):
    """(root, summary, build seconds) of every tiny corpus, built once per test session.

    Set ZOO_TINY_CORPORA to a folder built with ``python -m utils.tiny_corpora --out DIR`` to reuse it.
    """
    import json
    import time
    from utils.tiny_corpora import build_corpora
    prebuilt = os.environ.get("ZOO_TINY_CORPORA")
    if prebuilt:
        with open(os.path.join(prebuilt, "summary.json"), encoding="utf-8") as handle:
            return prebuilt, json.load(handle), 0.0
    root = str(tmp_path_factory.mktemp("tiny_corpora"))
    started = time.time()
    summary = build_corpora(root, seed=0, progress=False)
    return root, summary, time.time() - started


@pytest.fixture(scope="session")
def tiny_corpus(tiny_corpora_build):
    """``tiny_corpus("librispeech")`` -> the root folder holding that synthetic corpus (all corpora
    share one root: Libri2Mix/, LibriSpeech/, VoxCeleb1/, musan/, RIRS_NOISES/)."""
    root = tiny_corpora_build[0]
    return lambda name=None: root
