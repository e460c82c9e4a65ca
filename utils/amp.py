"""Mixed precision for every model: ``train.amp_level`` / ``train.amp_dtype`` and the fp16 export.

Levels (MindSpore's names). The network's weights stay float32 (master weights, optimizer state and
checkpoints are float32 at every level): a low-precision cell casts its inputs and the weights it reads.

* ``O0``: float32 everywhere; the graph is not touched.
* ``O1``: only the compute-heavy cells (``nn.Conv1d``, ``nn.Dense``, ``nn.LSTM``...) run in low precision;
  their outputs return to float32, everything between them is float32.
* ``O2``: the whole network runs in low precision except the float32 islands below.
* ``O3``: MindSpore's "everything low precision". This zoo keeps the float32 islands at every level, and
  MindSpore's own O2 black list (BatchNorm, LayerNorm) is part of them, so O3 computes what O2 computes.

Float32 islands, whatever the level (a cell is one when it is an instance of ``FP32_CELL_TYPES`` or its
class sets ``amp_fp32 = True``): normalisations (BatchNorm incl. ``SyncBatchNorm``, LayerNorm, gLN / cLN /
chanLN), softmax / log-softmax, statistics pooling, frame-energy normalisation. A cell inside an island is
float32 too; at O2 / O3 an island's outputs return to the low type, as in MindSpore's O2. The loss (SI-SNR
+ PIT, CTC, AAM-softmax + cross entropy): every cell of the loss Cell outside the network runs in float32
and casts the network's output to float32 on entry. Features are computed in NumPy by the data pipelines.
"""
import logging

import numpy as np

import utils.context  # noqa: F401  (environment before mindspore)
import mindspore as ms
from mindspore import nn, ops

LOG = logging.getLogger("zoo.amp")

AMP_LEVELS = ("O0", "O1", "O2", "O3")
AMP_DTYPES = {"float16": ms.float16, "bfloat16": ms.bfloat16}
# the cells whose matmuls / convolutions carry the cost of every model here (O1 runs only these low)
HEAVY_CELL_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv1dTranspose, nn.Dense, nn.LSTM, nn.GRU, nn.RNN)
FP32_CELL_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.Softmax, nn.LogSoftmax)
# loss scaling: "auto" starts at 2^16 and doubles after this many steps without overflow
DEFAULT_INITIAL_SCALE = 2.0 ** 16
DEFAULT_SCALE_WINDOW = 1000


def amp_settings(train_cfg, where="train"):
    """(level, dtype name) from ``train.amp_level`` / ``train.amp_dtype`` (defaults O0 / float16).
    A bad value is a ValueError naming the key."""
    level = str(train_cfg.get("amp_level", "O0") or "O0").upper()
    dtype = str(train_cfg.get("amp_dtype", "float16") or "float16").lower()
    if level not in AMP_LEVELS:
        raise ValueError(f"{where}.amp_level must be one of {', '.join(AMP_LEVELS)}, got {level!r}")
    if dtype not in AMP_DTYPES:
        raise ValueError(f"{where}.amp_dtype must be one of {', '.join(AMP_DTYPES)}, got {dtype!r}")
    return level, dtype


def check_device_supports(dtype, where="train.amp_dtype"):
    """Raise a one-line ValueError when the current device cannot compute in ``dtype`` (bfloat16 on CPU,
    on Ascend 910A, on GPUs before Ampere): found by running one small matmul, before any training."""
    if dtype == "float16":
        return
    probe = nn.Dense(4, 4).to_float(AMP_DTYPES[dtype])
    try:
        probe(ms.Tensor(np.ones((2, 4), np.float32))).asnumpy()
    except (RuntimeError, TypeError, ValueError) as exc:
        device = ms.get_context("device_target")
        raise ValueError(f"{where} {dtype} cannot run on this {device} device "
                         f"({str(exc).strip().splitlines()[0][:120]}): use float16 or amp_level O0") from None


def is_fp32_island(cell):
    return isinstance(cell, FP32_CELL_TYPES) or bool(getattr(type(cell), "amp_fp32", False))


class CastOutputs(nn.Cell):
    """``cell`` with every floating output cast to ``dtype`` (its parameters keep their names)."""

    def __init__(self, cell, dtype=ms.float32):
        super().__init__(auto_prefix=False)
        self.cell = cell
        self.dtype = dtype
        self._get_attr_from_cell(cell)  # pylint: disable=protected-access  (attributes read by the parent)

    def construct(self, *inputs):
        return ops.mixed_precision_cast(self.dtype, self.cell(*inputs))


def Fp32Outputs(cell):  # noqa: N802  (reads like the Cell it returns)
    """``cell`` whose floating outputs are float32."""
    return CastOutputs(cell, ms.float32)


def _replace_child(parent, name, new):
    parent._cells[name] = new  # pylint: disable=protected-access  (what ms.amp does for its black list)
    if isinstance(parent, nn.SequentialCell):
        parent.cell_list = list(parent.cells())


def _mark_islands(cell, dtype):
    """Below ``cell`` (already flagged low precision): every island computes in float32 and hands ``dtype``
    back, as MindSpore's O2 does for its black list. Tensors between cells then all have one type: a float32
    tensor meeting a float16 one in the backward pass fails to compile with dynamic shapes (MindSpore 2.10)."""
    for name, child in list(cell.name_cells().items()):
        if is_fp32_island(child):
            # the wrapper flagged float32 too: unflagged, a training-mode BatchNorm inside crashes MindSpore 2.10's
            # compiler with dynamic shapes (so does ms.amp O2)
            _replace_child(cell, name, CastOutputs(child, dtype).to_float(ms.float32))
        else:
            _mark_islands(child, dtype)


def _lower_heavy_cells(cell, dtype):
    """O1: heavy cells outside islands run in ``dtype`` and hand float32 to their users."""
    for name, child in list(cell.name_cells().items()):
        if is_fp32_island(child):
            continue
        if isinstance(child, HEAVY_CELL_TYPES):
            child.to_float(dtype)
            _replace_child(cell, name, Fp32Outputs(child))
        else:
            _lower_heavy_cells(child, dtype)


def apply_amp(network, level, dtype="float16"):
    """Set ``network`` (in place: same object, same parameters and names) to compute at ``level``.
    Returns the network. O0 leaves it untouched."""
    if level == "O0":
        return network
    low = AMP_DTYPES[dtype]
    if level == "O1":
        network.to_float(ms.float32)
        _lower_heavy_cells(network, low)
    else:
        network.to_float(low)
        _mark_islands(network, low)
    network.amp_level = level
    return network


def apply_amp_for_training(net_with_loss, network, level, dtype="float16"):
    """The loss Cell in float32 (it casts the network's output to float32 where it reads it) around a
    ``network`` set to ``level``."""
    if level == "O0":
        return net_with_loss
    net_with_loss.to_float(ms.float32)
    apply_amp(network, level, dtype)
    return net_with_loss


def fp32_output_view(network):
    """A Cell running ``network`` (same parameters) whose outputs are float32, with the network's dynamic
    input placeholders: what validation and export comparisons read."""
    view = Fp32Outputs(network)
    inputs = network.get_inputs()
    if inputs:
        view.set_inputs(*inputs)
    return view


def store_low_precision(network, dtype="float16"):
    """Export: turn the float32 weights of the low-precision cells into ``dtype`` tensors, so a MINDIR stores
    them at half size (islands keep float32 weights). Call after ``apply_amp``; not for training."""
    low = AMP_DTYPES[dtype]
    islands = set()
    for _, cell in network.cells_and_names():
        if is_fp32_island(cell):
            islands.update(id(p) for p in cell.get_parameters())
    converted = 0
    for param in network.get_parameters():
        if id(param) not in islands and param.dtype == ms.float32:
            param.set_dtype(low)
            converted += 1
    return converted


# ---- loss scale ----------------------------------------------------------------------------------
def loss_scale_settings(train_cfg, level):
    """``train.loss_scale`` -> (kind, initial scale, window).

    kind: "none" (0 or off), "fixed" (a number > 0: the loss is always multiplied by it; an overflow step
    is skipped), "dynamic" ("auto" when low precision is on, or "dynamic": starts at ``loss_scale_init``,
    x2 after ``loss_scale_window`` good steps, /2 and the update skipped on overflow). "auto" at O0 is "none".
    """
    value = train_cfg.get("loss_scale", "auto")
    initial = float(train_cfg.get("loss_scale_init", DEFAULT_INITIAL_SCALE))
    window = int(train_cfg.get("loss_scale_window", DEFAULT_SCALE_WINDOW))
    text = str(value).strip().lower()
    if text in ("auto", "dynamic"):
        if text == "auto" and level == "O0":
            return "none", 1.0, window
        if initial <= 0 or window < 1:
            raise ValueError(f"train.loss_scale_init must be > 0 and train.loss_scale_window >= 1, "
                             f"got {initial} and {window}")
        return "dynamic", initial, window
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"train.loss_scale must be auto, dynamic, a number > 0 (fixed) or 0 (off), "
                         f"got {value!r}") from None
    if number < 0 or not np.isfinite(number):
        raise ValueError(f"train.loss_scale must be auto, dynamic, a number > 0 (fixed) or 0 (off), got {value!r}")
    return ("fixed", number, window) if number > 0 else ("none", 1.0, window)
