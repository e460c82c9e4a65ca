"""Import the PyTorch reference implementations of the parity tests, skipping visibly where they are missing.

The importing itself (with the ``torchaudio`` stand-in asteroid and speechbrain need) lives in
``torch_references``, shared with ``bench/peers.py``.
"""
import pytest

from torch_references import ReferenceUnavailable
from torch_references import import_reference as _import


def import_reference(module_name):
    """``importlib.import_module(module_name)``, or a visible skip when torch or the package is missing."""
    try:
        return _import(module_name)
    except ReferenceUnavailable as error:
        pytest.skip(str(error))
