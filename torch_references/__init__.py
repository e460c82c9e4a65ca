"""The PyTorch implementations this zoo is compared with: parity tests and ``bench/peers.py`` import them from here.

* asteroid (LSTMTasNet, DPRNNTasNet) and SpeechBrain (ECAPA_TDNN) are installed by
  ``bash scripts/setup.sh --test`` (``requirements-reference.txt``, ``--no-deps``); ``import_reference``
  imports them;
* ``nvidia_jasper``: NVIDIA DeepLearningExamples' Jasper rebuilt in PyTorch (its code is not on PyPI).

The zoo's models never import this package.
"""
import importlib
import sys
import types

MISSING_HINT = "bash scripts/setup.sh --test installs torch and the reference packages"


class ReferenceUnavailable(ImportError):
    """torch or a reference package cannot be imported here; the message says which and how to get it."""


def import_reference(module_name):
    """``importlib.import_module(module_name)`` with a stand-in ``torchaudio`` when the real one is missing.

    asteroid and speechbrain import torchaudio at import time, but no torchaudio build fits the CPU torch
    pinned in requirements-test.txt and their model code does not use it, so an empty module is enough.
    Raises ReferenceUnavailable naming the missing package.
    """
    try:
        import torch  # noqa: F401
    except ImportError as error:
        raise ReferenceUnavailable(f"torch is not installed ({MISSING_HINT})") from error
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__version__ = "0.0.0+stand-in"
        sys.modules["torchaudio"] = stand_in
    root = module_name.split(".")[0]
    try:
        importlib.import_module(root)
    except ImportError as error:
        raise ReferenceUnavailable(f"{root} is not installed ({MISSING_HINT})") from error
    return importlib.import_module(module_name)
