"""An input standardisation at the front of an ONNX model, imported as the model's preprocessing.

`export onnx` writes models that take raw values (``<input>_raw``) and standardise them first:
``Div(Sub(raw, mean), std)`` with constant per-value ``mean`` and ``std``. Exporters of other
tools write the same (a normalisation layer inside the model). Importing those two nodes as layers
would lose what they are; instead `split_input_standardisation` takes them off the graph and
returns the statistics, which the importer stores as ``meta["preprocess"]`` (what a model trained
by edgetrain carries): every edgetrain command then standardises raw inputs with them, in float32
as the ONNX model did, and every export carries them again. Any other front is left as it is.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def split_input_standardisation(model: onnx.ModelProto) -> tuple[onnx.ModelProto, np.ndarray, np.ndarray] | None:
    """(the model without the standardisation, mean, std shaped like one ONNX sample) when the
    model's one data input feeds only ``Sub(input, mean)`` and that only ``Div(., std)``, with
    constant, finite statistics of one sample's shape (or a broadcast of it) and std > 0; else None.
    The model passed in is not modified."""
    g = model.graph
    consts = {t.name: t for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or not inputs[0].type.HasField("tensor_type"):
        return None
    x = inputs[0].name
    sub = _only_consumer(g, x)
    if sub is None or sub.op_type != "Sub" or list(sub.input)[:1] != [x] or len(sub.input) != 2:
        return None
    div = _only_consumer(g, sub.output[0])
    if div is None or div.op_type != "Div" or list(div.input) != [sub.output[0], div.input[1]]:
        return None
    if sub.input[1] not in consts or div.input[1] not in consts or x in (o.name for o in g.output):
        return None
    sample = tuple(d.dim_value for d in inputs[0].type.tensor_type.shape.dim[1:])
    if not sample or any(d <= 0 for d in sample):
        return None
    stats = []
    for name in (sub.input[1], div.input[1]):
        value = numpy_helper.to_array(consts[name]).astype(np.float32)
        try:
            value = np.broadcast_to(value, (1, *sample)).reshape(sample)
        except ValueError:
            return None
        if not np.isfinite(value).all():
            return None
        stats.append(np.array(value))
    mean, std = stats
    if not (std > 0).all():
        return None
    drop = {i for i, n in enumerate(g.node) if n is sub or n is div}
    out = onnx.ModelProto()
    out.CopyFrom(model)
    og = out.graph
    keep = [n for i, n in enumerate(og.node) if i not in drop]
    del og.node[:]
    og.node.extend(keep)
    used = {t for n in og.node for t in n.input}
    unused = [t for t in og.initializer if t.name in (sub.input[1], div.input[1]) and t.name not in used]
    for t in unused:
        og.initializer.remove(t)
    for i in og.input:
        if i.name == x:
            i.name = div.output[0]  # the rest of the graph reads the standardised tensor
    return out, mean, std


def _only_consumer(g: onnx.GraphProto, tensor: str) -> onnx.NodeProto | None:
    users = [n for n in g.node if tensor in n.input]
    return users[0] if len(users) == 1 else None
