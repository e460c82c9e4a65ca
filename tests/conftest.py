"""Test session set-up: the same environment as utils/context.py, before anything imports mindspore."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import utils.context  # noqa: E402,F401  (sets ONEDNN_MAX_CPU_ISA and GLOG_v)
