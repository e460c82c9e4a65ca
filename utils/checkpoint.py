"""Checkpoints that hold everything a run needs to continue bit-identically.

A training checkpoint is one MindSpore ``.ckpt`` file with
* the network's parameters (BatchNorm statistics included),
* the optimizer's state (moments, beta powers, global step, learning rate),
* EMA weights when the trainer keeps them (names prefixed ``ema.``),
* ``meta``: a JSON string with the epoch, step, best metric, early-stop counter, LR factor, data
  order position and the resolved config (see ``TrainState``).

Writes are atomic (temporary file + rename), so an interrupted save never leaves a truncated
``last.ckpt`` behind. ``load_network`` restores only the network (for eval/export/infer) and fails
loudly when a network parameter is missing from the file.
"""
import json
import os
from dataclasses import asdict, dataclass, field

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms

META_KEY = "meta"


@dataclass
class TrainState:
    """Training progress stored beside the weights.

    epoch: epochs completed.
    step_in_epoch: batches of the current (incomplete) epoch already trained (0 at epoch ends).
    global_step: optimizer steps taken in total.
    best_metric: best validation value so far (None before the first validation).
    epochs_without_improvement: early-stop / LR-halving counter.
    lr_factor: multiplier on the scheduled LR (halved on plateaus).
    config: the resolved config of the run (plain dict).
    history: one dict of metrics per finished epoch.
    """
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float = None
    epochs_without_improvement: int = 0
    lr_factor: float = 1.0
    config: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


def _atomic_save(save_obj, path, meta):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp{os.getpid()}.ckpt")
    ms.save_checkpoint(save_obj, tmp, append_dict={META_KEY: json.dumps(meta)} if meta is not None else None)
    os.replace(tmp, path)


def save_training_checkpoint(path, cells, state):
    """Save the parameters of ``cells`` (network, optimizer, EMA...) and ``state`` atomically.

    cells: a list of Cells; a parameter shared by several is written once.
    """
    params, seen = [], set()
    for cell in cells:
        for param in cell.get_parameters():
            if param.name not in seen:
                seen.add(param.name)
                params.append({"name": param.name, "data": param})
    _atomic_save(params, path, asdict(state))


def save_network(path, network, config=None):
    """Save only the network's parameters (+ its config as metadata), atomically."""
    _atomic_save(network, path, {"config": config} if config is not None else None)


def read_checkpoint(path):
    """Return ``(param_dict, meta dict)``; a clear error names a missing or unreadable file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        params = ms.load_checkpoint(path)
    except Exception as exc:  # MindSpore raises ValueError/RuntimeError on corrupt files
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
    meta = json.loads(params.pop(META_KEY)) if META_KEY in params else {}
    return params, meta


def checkpoint_config(path):
    """The config stored in a checkpoint (or {} when it has none)."""
    return read_checkpoint(path)[1].get("config") or {}


def load_into(cells, param_dict, path="checkpoint", strict=True):
    """Load ``param_dict`` into every cell; with ``strict`` every parameter must be present. A parameter
    whose stored shape differs is a ValueError naming it and both shapes."""
    for cell in cells:
        params = list(cell.get_parameters())
        missing = [p.name for p in params if p.name not in param_dict]
        if strict and missing:
            raise KeyError(f"{path} lacks {len(missing)} parameter(s) of {type(cell).__name__}: "
                           f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
        for param in params:
            stored = param_dict.get(param.name)
            if stored is not None and tuple(stored.shape) != tuple(param.shape):
                raise ValueError(f"{path}: {param.name} has shape {tuple(stored.shape)}, the network built from "
                                 f"this config needs {tuple(param.shape)}: use the config the checkpoint was made "
                                 "with (e.g. the config.yaml a converter wrote beside it)")
        ms.load_param_into_net(cell, {k: v for k, v in param_dict.items() if k in {p.name for p in params}})


def read_weights(path, use_ema=False):
    """``read_checkpoint`` with, for ``use_ema``, the ``ema.``-prefixed copies in place of the live
    weights (error when the checkpoint has none). BN statistics are not averaged: they stay live."""
    params, meta = read_checkpoint(path)
    if use_ema:
        ema = {k[len("ema."):]: v for k, v in params.items() if k.startswith("ema.")}
        if not ema:
            raise KeyError(f"{path} holds no EMA weights (train with ema_decay > 0, or use the live weights)")
        params = {**params, **ema}
    return params, meta


def load_network(path, network, use_ema=False):
    """Load a network's weights from a training or network-only checkpoint (see ``read_weights``).
    Returns the checkpoint's meta dict."""
    params, meta = read_weights(path, use_ema)
    load_into([network], params, path)
    return meta


def load_training_checkpoint(path, cells, optional_cells=()):
    """Restore every cell's parameters and return the ``TrainState``. ``optional_cells`` (e.g. the loss-scale
    state) take what the file has of theirs and keep their values for the rest."""
    params, meta = read_checkpoint(path)
    load_into(cells, params, path)
    load_into(optional_cells, params, path, strict=False)
    known = set(TrainState.__dataclass_fields__)
    return TrainState(**{k: v for k, v in meta.items() if k in known})
