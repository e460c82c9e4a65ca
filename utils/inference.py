"""Load a trained model for inference from a checkpoint or an exported MINDIR, the same way.

``load_model(path, build_network)`` returns a ``LoadedModel``: call it with NumPy arrays, get NumPy
arrays back. A ``.ckpt`` is rebuilt from the config stored inside it (``build_network(config)``) and
run as a graph-mode Cell; a ``.mindir`` runs through ``nn.GraphCell`` and its config comes from the
``NAME.json`` written beside it by ``utils.export``.
"""
import json
import os

import numpy as np

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn

from utils.checkpoint import load_network, read_checkpoint


class LoadedModel:
    """A network ready for inference. ``config``: the model's full config (dict)."""

    def __init__(self, cell, config, source):
        self.cell, self.config, self.source = cell, config, source

    def __call__(self, *arrays):
        out = self.cell(*[ms.Tensor(np.ascontiguousarray(a)) for a in arrays])
        if isinstance(out, (tuple, list)):
            return tuple(o.asnumpy() for o in out)
        return out.asnumpy()


def load_model(path, build_network, use_ema=False, input_specs=None):
    """``path``: a .ckpt written by the trainer (or export's network checkpoint) or a .mindir.

    build_network: ``fn(config dict) -> Cell`` (the model's constructor from its config).
    input_specs: dynamic-shape placeholders so a checkpoint's Cell compiles once for all lengths.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if path.endswith(".mindir"):
        sidecar = os.path.splitext(path)[0] + ".json"
        config = {}
        if os.path.isfile(sidecar):
            with open(sidecar, encoding="utf-8") as handle:
                config = json.load(handle).get("config", {})
        return LoadedModel(nn.GraphCell(ms.load(path)), config, path)
    _, meta = read_checkpoint(path)
    config = meta.get("config")
    if not config:
        raise ValueError(f"{path} stores no config: it was not written by this zoo's trainer or export")
    network = build_network(config)
    load_network(path, network, use_ema=use_ema)
    network.set_train(False)
    if input_specs:
        network.set_inputs(*input_specs)
    return LoadedModel(network, config, path)
