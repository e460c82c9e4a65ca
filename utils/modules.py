"""Small helpers about MindSpore Cells shared by every model."""


def count_parameters(network):
    """Number of trainable scalars of a Cell (BatchNorm running statistics excluded)."""
    return sum(int(p.size) for p in network.trainable_params())
