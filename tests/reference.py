"""Import the PyTorch reference implementations used by the parity tests (asteroid, speechbrain).

They are installed without their dependencies (requirements-reference.txt), because both import
``torchaudio`` at import time and no torchaudio build fits the CPU torch 2.13.0 used here. Their model
definitions do not use it, so a minimal stand-in module is enough to import them.
"""
import importlib
import sys
import types

import pytest


def import_reference(module_name):
    """``importlib.import_module(module_name)`` after skipping (visibly) without torch and providing a
    stand-in ``torchaudio`` when the real one is missing."""
    pytest.importorskip("torch", reason="torch is not installed: bash scripts/setup.sh --test installs the "
                                        "reference packages of the parity tests")
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("torchaudio")
        stand_in.__version__ = "0.0.0+stand-in"
        sys.modules["torchaudio"] = stand_in
    root = module_name.split(".")[0]
    pytest.importorskip(root, reason=f"{root} is not installed: bash scripts/setup.sh --test installs it")
    return importlib.import_module(module_name)
