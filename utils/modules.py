"""Small helpers about MindSpore Cells shared by every model."""
import utils.context  # noqa: F401  (must precede mindspore)
import mindspore as ms
from mindspore import ops


def count_parameters(network):
    """Number of trainable scalars of a Cell (BatchNorm running statistics excluded)."""
    return sum(int(p.size) for p in network.trainable_params())


class OnnxSwitchable:
    """Mixin of a Cell whose fastest formulation does not survive MindSpore's ONNX exporter (a kernel it lacks
    or writes wrongly). ``onnx_compatible()`` switches the cell in place, for good, to ops the exporter writes
    correctly: same parameters, same results, possibly slower. utils/export.export_network calls it on every
    such cell of the network before an ONNX export; nothing else should."""

    def onnx_compatible(self):
        raise NotImplementedError(f"{type(self).__name__} must define onnx_compatible()")


def squared_norm(tensor):
    """sum(tensor ** 2) as a float32 scalar, computed as a [1, N] x [N, 1] dot product: MindSpore's CPU ReduceSum
    over a whole tensor is ~3.5x slower than that MatMul ([1024, 1024]: 5.1 vs 1.4 ms)."""
    flat = ops.cast(tensor, ms.float32).reshape(1, -1)
    return ops.matmul(flat, flat.T).reshape(())


def broadcast_like(values, target):
    """``values`` broadcast to ``target``'s shape as a tensor of its own (e.g. [B, 1, F, N] -> [B, S, F, N]).

    For an elementwise op between a full tensor and one with size-1 axes: MindSpore 2.10's CPU Mul / Div
    broadcast a size-1 axis several times slower than they run on two equal shapes, so materialising the
    operand first is faster in total (a [1, 2, 10001, 64] * [1, 1, 10001, 64] product 8.6 ms, with the
    broadcast done first 1.6 ms; [32, 256, 201] * [32, 1, 201] 10.3 vs 1.6 ms)."""
    return ops.broadcast_to(values, target.shape)
