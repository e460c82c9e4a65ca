"""Turn fixed-length ONNX exports of one network into one ONNX file that takes any length.

MindSpore 2.10 traces ``mindspore.onnx.export`` with concrete shapes: every size derived from the input
length (frame counts in Reshape targets, Slice ends, LSTM state shapes, index and mask tensors) is frozen
into an initializer or Constant node. ``dynamic_length_model`` exports the network at several lengths,
checks that the graphs have the same nodes, and replaces each tensor that differs between them by a small
subgraph computing it from ``Shape(input)[axis]``:

* integer (or integer-valued float) tensors of fixed shape: each element is fitted as
  ``A * floor((L + B) / D) + C`` (strides, chunk hops and paddings compose to that form) on all the exports;
* tensors whose shape changes: a constant fill (``ConstantOfShape``), an arithmetic progression along the
  length axis (``Range``, e.g. frame indices for masks) or a reflect-padding index (``|j - p|``, optionally
  folded back at the far end); each of their changing dimensions is fitted as above.

A floor boundary that falls between two export lengths leaves B ambiguous: one more export right at the
middle candidate halves the range (``AmbiguousFit``), until every fit is unique.
Anything else (a float tensor with other values, a change in the graph's nodes) is a ``DynamicExportError``
naming the tensor: such a model stays fixed-length. The batch axis stays 1 (the exports are batch 1).
The fit is checked on every export; ``utils.export`` then also compares onnxruntime with the network.
"""
import numpy as np

MAX_DIVISOR = 1024  # largest D tried: samples per chunk hop of DPRNN (asteroid's: 125 or 400) stay below it


class DynamicExportError(ValueError):
    """The exports cannot be merged into one dynamic-length graph; the message names the tensor."""


class AmbiguousFit(DynamicExportError):
    """Several offsets B fit the exports so far; an export at ``length`` tells them apart."""

    def __init__(self, message, length):
        super().__init__(message)
        self.length = int(length)


def _candidates(lengths, values, limit=256):
    """Every (A, B, D, C), 0 <= B < D <= MAX_DIVISOR, with values == A * ((lengths + B) // D) + C (at most
    ``limit``)."""
    found = []
    for divisor in range(1, MAX_DIVISOR + 1):
        offsets = np.arange(divisor)
        floors = (lengths[:, None] + offsets[None, :]) // divisor  # [n, D]
        span = floors[-1] - floors[0]
        good = span != 0
        if not good.any():
            continue
        safe_span = np.where(good, span, 1)
        slope = np.where(good, (values[-1] - values[0]) // safe_span, 0)
        exact = (values[-1] - values[0]) % safe_span == 0
        intercept = values[0] - slope * floors[0]
        ok = good & exact & np.all(slope[None, :] * floors + intercept[None, :] == values[:, None], axis=0)
        found += [(int(slope[b]), int(b), divisor, int(intercept[b])) for b in np.flatnonzero(ok)]
        if len(found) >= limit:
            break
    return found


def fit_floor_affine(lengths, values, dropped=()):
    """(A, B, D, C) with ``values == A * ((lengths + B) // D) + C`` for every sample, or None when no such
    formula exists. When several formulas fit but predict different values for some length near the samples,
    ``AmbiguousFit`` names the length whose export splits them most evenly. ``dropped``: lengths whose export
    has this tensor empty (MindSpore drops a Slice that keeps everything): no use exporting them again; when
    the formulas differ only there, the one predicting the largest values (a Slice end past the axis keeps
    everything, as the dropped Slice did) is taken."""
    lengths, values = np.asarray(lengths, np.int64), np.asarray(values, np.int64)
    if np.all(values == values[0]):
        return 0, 0, 1, int(values[0])
    order = np.argsort(lengths)
    lengths, values = lengths[order], values[order]
    found = _candidates(lengths, values)
    if len(found) <= 1:
        return found[0] if found else None
    grid = np.arange(max(1, int(lengths[0]) - MAX_DIVISOR), int(lengths[-1]) + 2 * MAX_DIVISOR)
    predictions = np.stack([a * ((grid + b) // d) + c for a, b, d, c in found])  # [candidates, grid]
    distinct = np.unique(predictions, axis=0, return_index=True)[1]
    if len(distinct) == 1:  # the same function written differently
        return found[0]
    predictions = predictions[np.sort(distinct)]
    majority = np.array([np.unique(column, return_counts=True)[1].max() for column in predictions.T])
    at_dropped = np.isin(grid, np.asarray(list(dropped), np.int64))
    majority[np.isin(grid, lengths) | at_dropped] = len(predictions)
    if majority.min() == len(predictions) or np.any(np.ptp(predictions[:, at_dropped], axis=0) > 0):
        # they differ only, or also, where the Slice was dropped: the disagreement is about no-op lengths
        return found[int(np.argmax(np.stack([a * ((grid[at_dropped] + b) // d) + c for a, b, d, c in found])
                                   .sum(axis=1)))]
    suggestion = int(grid[int(np.argmin(majority))])
    raise AmbiguousFit(f"{len(predictions)} different floor formulas fit lengths {lengths.tolist()}", suggestion)


def _reflect_index(size, pad):
    """Index of each position of a reflect-padded sequence: |j - pad| folded back at the far end."""
    length = size - 2 * pad
    distance = np.abs(np.arange(size) - pad)
    return np.minimum(distance, 2 * (length - 1) - distance)


class _Builder:
    """New nodes and initializers computing tensors from the symbolic length ``L`` ([1] int64)."""

    def __init__(self, graph, input_name, axis):
        from onnx import helper
        self.helper, self.graph, self.nodes, self.initializers, self.count = helper, graph, [], [], 0
        shape = self.name("shape")
        self.nodes.append(helper.make_node("Shape", [input_name], [shape]))
        self.length = self.name("length")
        self.nodes.append(helper.make_node("Gather", [shape, self.const([axis])], [self.length], axis=0))
        self.cache = {}

    def name(self, hint):
        self.count += 1
        return f"dynamic_length/{hint}_{self.count}"

    def const(self, values, dtype=np.int64):
        from onnx import numpy_helper
        name = self.name("const")
        self.initializers.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    def op(self, op_type, inputs, hint, **attributes):
        name = self.name(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [name], **attributes))
        return name

    def formula(self, fit):
        """[1] int64 tensor ``A * floor((L + B) / D) + C``."""
        slope, offset, divisor, intercept = fit
        if slope == 0:
            return self.const([intercept])
        if fit not in self.cache:
            value = self.length
            if offset:
                value = self.op("Add", [value, self.const([offset])], "add")
            if divisor != 1:
                value = self.op("Div", [value, self.const([divisor])], "div")  # >= 0: floor division
            if slope != 1:
                value = self.op("Mul", [value, self.const([slope])], "mul")
            if intercept:
                value = self.op("Add", [value, self.const([intercept])], "add")
            self.cache[fit] = value
        return self.cache[fit]

    def vector(self, fits):
        parts = [self.formula(fit) for fit in fits]
        return parts[0] if len(parts) == 1 else self.op("Concat", parts, "concat", axis=0)

    def scalar(self, fit):
        return self.op("Reshape", [self.formula(fit), self.const([], np.int64)], "scalar")  # opset-11 safe

    def finish(self, value, dtype, output):
        """Cast ``value`` to ``dtype`` under the name ``output``."""
        from onnx import helper
        self.nodes.append(helper.make_node("Cast", [value], [output], to=helper.np_dtype_to_tensor_dtype(
            np.dtype(dtype))))


_FIT_CACHE = {}


def _fits(lengths, arrays, what, dropped=()):
    """Per element fits of same-shape integer-valued arrays; raises naming ``what``."""
    stacked = np.stack([np.asarray(a, np.float64).ravel() for a in arrays])
    if not np.array_equal(stacked, np.round(stacked)):
        raise DynamicExportError(f"{what}: non-integer values change with the length; cannot express them")
    fits = []
    for column in stacked.T.astype(np.int64):
        key = (tuple(lengths), tuple(column.tolist()), tuple(dropped))
        if key not in _FIT_CACHE:  # many tensors hold the same frame / chunk counts
            _FIT_CACHE[key] = fit_floor_affine(lengths, column, dropped)
        fit = _FIT_CACHE[key]
        if fit is None:
            raise DynamicExportError(f"{what}: values {column.tolist()} at lengths {list(lengths)} fit no "
                                     "A * floor((L + B) / D) + C")
        fits.append(fit)
    return fits


def _replace(builder, name, lengths, arrays, dropped=()):
    """Add nodes computing tensor ``name`` (one array per length) to ``builder``."""
    reference = arrays[0]
    shapes = [a.shape for a in arrays]
    if all(shape == reference.shape for shape in shapes):
        fits = _fits(lengths, arrays, name, dropped)
        value = builder.vector(fits)
        if reference.ndim != 1:
            value = builder.op("Reshape", [value, builder.const(list(reference.shape) or [])], "reshape")
        builder.finish(value, reference.dtype, name)
        return
    if len({len(shape) for shape in shapes}) != 1:
        raise DynamicExportError(f"{name}: its rank changes with the length")
    dims = [_fits(lengths, [np.array([s[k]]) for s in shapes], f"{name} dimension {k}")[0]
            for k in range(reference.ndim)]
    shape_vector = builder.vector(dims)
    flat = [np.asarray(a).ravel() for a in arrays]
    if all(np.all(f == f[0]) for f in flat) and len({f[0] for f in flat}) == 1:
        from onnx import numpy_helper
        fill = numpy_helper.from_array(np.asarray([flat[0][0]], reference.dtype))
        builder.nodes.append(builder.helper.make_node("ConstantOfShape", [shape_vector], [name], value=fill))
        return
    changing = [k for k in range(reference.ndim) if len({s[k] for s in shapes}) > 1]
    if len(changing) != 1 or any(s[k] != 1 for s in shapes for k in range(reference.ndim) if k != changing[0]):
        raise DynamicExportError(f"{name}: shape {reference.shape} changes in several axes with varying values")
    size_fit = dims[changing[0]]
    start, step = float(flat[0][0]), float(flat[0][1] - flat[0][0]) if flat[0].size > 1 else 1.0
    if all(np.array_equal(f, start + step * np.arange(f.size)) for f in flat):
        count = builder.formula(size_fit)
        limit = builder.op("Add", [builder.op("Mul", [builder.op("Cast", [count], "float", to=1),
                                                     builder.const([step], np.float32)], "mul"),
                                   builder.const([start], np.float32)], "limit")
        progression = builder.op("Range", [builder.const(start, np.float32),
                                           builder.op("Reshape", [limit, builder.const([], np.int64)], "scalar"),
                                           builder.const(step, np.float32)], "range")
        builder.finish(builder.op("Reshape", [progression, shape_vector], "reshape"), reference.dtype, name)
        return
    pad = int(flat[0][0])
    folds = all(np.array_equal(f, _reflect_index(f.size, pad)) for f in flat)
    if folds or all(np.array_equal(f, np.abs(np.arange(f.size) - pad)) for f in flat):
        count = builder.op("Cast", [builder.scalar(size_fit)], "float", to=1)
        positions = builder.op("Range", [builder.const(0.0, np.float32), count, builder.const(1.0, np.float32)],
                               "range")
        distance = builder.op("Abs", [builder.op("Sub", [positions, builder.const(float(pad), np.float32)], "sub")],
                              "abs")
        if not folds:  # |j - pad| only (the far end is handled by the graph at run time)
            builder.finish(builder.op("Reshape", [distance, shape_vector], "reshape"), reference.dtype, name)
            return
        # far end: 2 (T - 1) - distance, T = size - 2 pad
        folded = builder.op("Sub", [builder.op("Sub", [builder.op("Mul", [count, builder.const(2.0, np.float32)],
                                                                   "mul"),
                                                        builder.const(float(4 * pad + 2), np.float32)], "sub"),
                                    distance], "sub")
        index = builder.op("Min", [distance, folded], "min")
        builder.finish(builder.op("Reshape", [index, shape_vector], "reshape"), reference.dtype, name)
        return
    raise DynamicExportError(f"{name}: a {reference.dtype} tensor of shape {reference.shape} whose values change "
                             "with the length in a way not handled (not a fill, progression or reflect index)")


def _tensors(graph):
    """{name: np.ndarray} of the initializers and Constant nodes (value attribute) of ``graph``."""
    from onnx import numpy_helper
    tensors = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            tensors[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return tensors


def dynamic_length_model(models, lengths, input_name, axis, dim_names):
    """Merge ONNX ModelProtos exported at ``lengths`` (batch 1) into one with a symbolic length axis.

    input_name / axis: the graph input and axis holding the length. dim_names: {graph input/output name:
    name for its length-dependent axis}. Returns (model, number of tensors replaced).
    """
    import onnx
    signatures = [[(node.op_type, len(node.input)) for node in model.graph.node] for model in models]
    if any(signature != signatures[0] for signature in signatures):
        raise DynamicExportError("the exported graphs differ in their nodes between lengths "
                                 f"{lengths}: the network branches on the length while tracing")
    per_model = [_tensors(model.graph) for model in models]
    # the export whose tensors are the least often empty is the template (MindSpore drops no-op slices)
    template = max(range(len(models)), key=lambda i: sum(a.size > 0 for a in per_model[i].values()))
    model = onnx.ModelProto()
    model.CopyFrom(models[template])
    graph = model.graph
    builder = _Builder(graph, input_name, axis)
    replaced = set()
    for name, array in per_model[template].items():
        arrays = [tensors.get(name) for tensors in per_model]
        if any(a is None for a in arrays):
            raise DynamicExportError(f"{name} exists in some exports only")
        if all(a.shape == array.shape and np.array_equal(a, array) for a in arrays):
            continue
        usable = [i for i, a in enumerate(arrays) if a.size or not array.size]  # skip dropped no-op slices
        values = [arrays[i] for i in usable]
        if len(usable) < 3 and not all(v.shape == array.shape and np.array_equal(v, array) for v in values):
            # a Slice MindSpore dropped at most lengths: export next to the lengths that kept it
            nearby = [lengths[i] + step for i in usable for step in (1, 2, 3, 5, 8, 13, 21)
                      if lengths[i] + step not in lengths]
            if not nearby:
                raise DynamicExportError(f"{name}: present in {len(usable)} exports only, too few to fit")
            raise AmbiguousFit(f"{name}: present in {len(usable)} exports only", nearby[0])
        _replace(builder, name, [lengths[i] for i in usable], [arrays[i] for i in usable],
                 [lengths[i] for i in range(len(arrays)) if i not in usable])
        replaced.add(name)
    kept = [init for init in graph.initializer if init.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept + builder.initializers)
    nodes = [node for node in graph.node if not (node.op_type == "Constant" and node.output[0] in replaced)]
    del graph.node[:]
    graph.node.extend(builder.nodes + nodes)
    del graph.value_info[:]  # shapes traced at one length
    for value in list(graph.input) + list(graph.output):
        shapes = [next(v for v in list(m.graph.input) + list(m.graph.output) if v.name == value.name)
                  .type.tensor_type.shape.dim for m in models]
        for index, dim in enumerate(value.type.tensor_type.shape.dim):
            if len({s[index].dim_value for s in shapes}) > 1:
                dim.Clear()
                dim.dim_param = dim_names.get(value.name, "length")
    onnx.checker.check_model(model)
    return model, len(replaced)


LENGTH_OFFSETS = (0, 1, 10, 211, 1019)  # export lengths: base + these (floor boundaries of many strides)
MAX_EXTRA_EXPORTS = 12  # bisection exports for floor boundaries the first lengths leave ambiguous
CHECK_OFFSET = 523  # a length outside the fit set at which onnxruntime must reproduce the network


def export_dynamic_onnx(network, make_inputs, path, input_names, output_names, base_length,
                        offsets=LENGTH_OFFSETS, max_relative_error=1e-4):
    """Export ``network`` (Cell, eval mode) to ``path`` as ONNX with a dynamic length (last axis of input 0).

    make_inputs(batch, length) -> numpy inputs. Exports batch 1 at ``base_length + offsets``, merges them
    (``dynamic_length_model``) and, when onnxruntime is installed, checks the result at another length
    against the network. Returns (path, {"replaced": n, "lengths": [...], "check": {...}}); raises
    DynamicExportError when a tensor cannot be expressed or the check fails.
    """
    import os
    import tempfile

    import mindspore as ms
    import onnx

    from utils.export import _FreshOutputs

    lengths = [int(base_length) + int(offset) for offset in offsets]
    models = []
    axis = len(make_inputs(1, lengths[0])[0].shape) - 1
    dim_names = {input_names[0]: "length", **{name: f"{name}_length" for name in output_names}}
    with tempfile.TemporaryDirectory() as folder:
        while True:
            for length in lengths[len(models):]:
                file_name = os.path.join(folder, f"length_{length}.onnx")
                # a fresh wrapper per length: re-exporting one Cell at a new shape fails inside MindSpore 2.10
                ms.onnx.export(_FreshOutputs(network), *[ms.Tensor(a) for a in make_inputs(1, length)],
                               file_name=file_name,
                               input_names=list(input_names), output_names=list(output_names))
                models.append(onnx.load(file_name))
            try:
                model, replaced = dynamic_length_model(models, lengths, input_names[0], axis, dim_names)
                break
            except AmbiguousFit as exc:  # bisect the floor boundary with one more export
                if len(lengths) >= len(offsets) + MAX_EXTRA_EXPORTS:
                    raise DynamicExportError(f"still ambiguous after {len(lengths)} exports: {exc}") from None
                lengths.append(exc.length)
    onnx.save(model, path)
    report = {"replaced": replaced, "lengths": lengths}
    try:
        import onnxruntime
    except ImportError:
        return path, report
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    check_length = lengths[0] + CHECK_OFFSET
    inputs = make_inputs(1, check_length)
    got = session.run(None, dict(zip(input_names, inputs)))
    expected = network(*[ms.Tensor(a) for a in inputs])
    expected = [e.asnumpy() for e in (expected if isinstance(expected, (tuple, list)) else [expected])]
    errors = []
    for name, actual, wanted in zip(output_names, got, expected):
        if actual.shape != wanted.shape:
            raise DynamicExportError(f"at length {check_length} output {name} has shape {actual.shape}, the "
                                     f"network's {wanted.shape}")
        scale = float(np.abs(wanted).max()) or 1.0
        errors.append(float(np.abs(actual.astype(np.float64) - wanted).max()) / scale)
    if max(errors) > max_relative_error:
        raise DynamicExportError(f"at length {check_length} onnxruntime differs from the network by "
                                 f"{max(errors):.2e} (relative)")
    report["check"] = {"length": check_length, "max_relative_error": max(errors)}
    return path, report
