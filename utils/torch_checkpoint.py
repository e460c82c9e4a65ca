"""Read PyTorch checkpoints (files written by ``torch.save``) into numpy, without needing torch.

Users converting public PyTorch weights for Ascend rarely have torch installed next to MindSpore, so the
converters read the zip format torch has written since 1.6 directly: ``<prefix>/data.pkl`` is a pickle
whose tensors point, through persistent ids, at raw little-endian storages ``<prefix>/data/<key>``.
Unpickling here never imports or runs code from the file: torch's tensor rebuild functions are replaced
by numpy ones, a short list of harmless containers is allowed, and any other class becomes an inert
``UnpickledObject`` that only records its name and state (optimizer or argparse objects in training
checkpoints load without error; their content is rarely needed).

The legacy (pre-1.6, non-zip) format needs torch itself: it is read with ``torch.load`` when torch is
importable, else a clear error says how to re-save the file.
"""
import codecs
import collections
import io
import os
import pickle
import zipfile

import numpy as np

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16", "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "slice"): slice,
    ("builtins", "complex"): complex, ("builtins", "bytearray"): bytearray,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles store bytes (numpy arrays)
}


class UnpickledObject:
    """Stand-in for a class the reader does not build (never executes the file's code): ``args`` are the
    constructor arguments and ``state`` the pickled state; ``qualified_name`` names the original class."""
    qualified_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"UnpickledObject({self.qualified_name})"


def _unknown_class(module, name):
    return type(name, (UnpickledObject,), {"qualified_name": f"{module}.{name}"})


class _Storage:
    def __init__(self, data, dtype):
        self.data, self.dtype = data, dtype


def _bfloat16_to_float32(raw):
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


def _storage_array(storage):
    if storage.dtype == "bfloat16":
        return _bfloat16_to_float32(storage.data)
    return np.frombuffer(storage.data, dtype=np.dtype(storage.dtype).newbyteorder("<"))


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """numpy view of ``storage`` with torch's element offset / size / stride, copied to an owned array."""
    flat = _storage_array(storage)
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(flat[offset]).astype(flat.dtype.newbyteorder("="))
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=[s * itemsize for s in stride])
    return np.ascontiguousarray(view).astype(flat.dtype.newbyteorder("="), copy=False)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad, hooks, dtype, *unused):
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


def _reconstruct_numpy(module, name):
    import numpy.core.multiarray as multiarray  # numpy arrays pickled inside a checkpoint (e.g. metadata)
    allowed = {("numpy.core.multiarray", "_reconstruct"): multiarray._reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): multiarray._reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("numpy.core.multiarray", "scalar"): multiarray.scalar,
               ("numpy._core.multiarray", "scalar"): multiarray.scalar}
    return allowed.get((module, name))


class _ZipUnpickler(pickle.Unpickler):
    def __init__(self, handle, archive, prefix):
        super().__init__(handle)
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        if module == "torch._utils":
            rebuild = {"_rebuild_tensor_v2": _rebuild_tensor, "_rebuild_tensor": _rebuild_tensor,
                       "_rebuild_tensor_v3": _rebuild_tensor_v3, "_rebuild_parameter": _rebuild_parameter,
                       "_rebuild_parameter_with_state": _rebuild_parameter}.get(name)
            if rebuild is not None:
                return rebuild
        if module == "torch" and name == "Size":
            return tuple
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        return _reconstruct_numpy(module, name) or _unknown_class(module, name)

    def persistent_load(self, pid):
        kind, storage_type, key = pid[0], pid[1], str(pid[2])
        if kind != "storage":
            raise pickle.UnpicklingError(f"unsupported persistent id kind {kind!r}")
        if key not in self.storages:
            if not any(storage_type is dtype for dtype in STORAGE_DTYPES.values()):
                raise pickle.UnpicklingError(f"unsupported storage type in persistent id {pid!r}")
            self.storages[key] = _Storage(self.archive.read(f"{self.prefix}data/{key}"), storage_type)
        return self.storages[key]


def _load_zip(path):
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
        if not pickles:
            raise ValueError(f"{path}: a zip file without <prefix>/data.pkl is not a torch.save checkpoint")
        prefix = pickles[0][:-len("data.pkl")]
        order = f"{prefix}byteorder"
        if order in archive.namelist() and archive.read(order).decode().strip() != "little":
            raise ValueError(f"{path}: big-endian checkpoints are not supported")
        return _ZipUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix).load()


def _to_numpy(value):
    """Tensors (from torch.load) -> numpy, containers kept."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        tensor = value.detach().cpu()
        return tensor.float().numpy() if str(tensor.dtype) == "torch.bfloat16" else tensor.numpy()
    if isinstance(value, dict):
        return type(value)((k, _to_numpy(v)) for k, v in value.items()) if isinstance(
            value, collections.OrderedDict) else {k: _to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(v) for v in value)
    return value


def load_torch_checkpoint(path):
    """Everything ``torch.save`` wrote to ``path``, with every tensor as a numpy array (same dtype and shape;
    bfloat16 becomes float32) and dicts / OrderedDicts / lists kept as saved."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PyTorch checkpoint not found: {path}")
    if zipfile.is_zipfile(path):
        try:
            return _load_zip(path)
        except (pickle.UnpicklingError, KeyError, EOFError) as error:
            raise ValueError(f"{path}: cannot read this torch.save checkpoint: {error}") from error
    try:
        import torch
    except ImportError:
        raise ValueError(f"{path} is in PyTorch's legacy (pre-1.6) format, which needs torch to read: install "
                         "torch, or re-save it once with torch.save(torch.load(path), path)") from None
    return _to_numpy(torch.load(path, map_location="cpu", weights_only=False))


def _is_state_dict(value):
    return isinstance(value, dict) and bool(value) and all(isinstance(v, np.ndarray) for v in value.values())


def state_dict_of(checkpoint, path, preferred=("state_dict",)):
    """The flat ``{name: array}`` weights inside a loaded checkpoint.

    checkpoint: what ``load_torch_checkpoint`` returned; path: its file (for messages); preferred: keys tried
    in order when the checkpoint is a package (e.g. ``("ema_state_dict",)`` or ``("state_dict", "model")``).
    """
    if _is_state_dict(checkpoint):
        return dict(checkpoint)
    if isinstance(checkpoint, dict):
        for key in preferred:
            if key in checkpoint and _is_state_dict(checkpoint[key]):
                return dict(checkpoint[key])
        raise ValueError(f"{path}: no state dict under {list(preferred)}; top-level keys: {sorted(map(str, checkpoint))}")
    raise ValueError(f"{path}: expected a dict of tensors or a package holding one, got {type(checkpoint).__name__}")
