"""Small helpers about MindSpore Cells shared by every model."""


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
