"""What ``edgetrain info`` shows about a model, as data: per-layer rows, per-masked-weight storage
rows and the tables built from them. The CLI only renders these (rich tables or JSON)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .formats.packed import BITS as PACKED_BITS
from .formats.packed import MAX_CODEBOOK, index_bits, packed_bytes, pair_table_bytes
from .formats.sparse import ENCODERS, all_encodings
from .graph import BLOCK_SHARED, Graph
from .transforms.reorder import sort_units_by_fan_in


@dataclass(frozen=True)
class Table:
    """A titled table: column headers and rows of cells (numbers or text, never markup)."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


#: Op kinds whose `Op.macs` counts additions (average pools) or comparisons (max pool) per sample,
#: not multiply-accumulates: the report shows that count as ``adds_cmps`` and 0 MACs.
NO_MULTIPLY_OPS = frozenset({"max_pool", "avg_pool", "global_avg_pool"})


def layer_rows(graph: Graph) -> list[dict[str, Any]]:
    """Per node, for one sample:

    - ``output``: the output shape, ``"8x8x16"`` (channels last);
    - ``params`` / ``nonzero``: the node's parameters (weights, bias, batch-norm scale and bias),
      stored and non-zero. Running statistics (`Op.state_roles`: batch norm's mean and var) are
      not parameters; their count is ``state``;
    - ``macs``: multiply-accumulates (conv ``out_h*out_w*C_out*kh*kw*C_in/groups``, dense
      ``in*out``, batch norm one per element: its inference affine map); ``adds_cmps``: the
      additions or comparisons of a pooling node (`NO_MULTIPLY_OPS`), 0 for every other node;
    - ``float_bytes``: float32 bytes of the non-zero parameters plus the running statistics;
    - ``out_bytes_f32`` / ``out_bytes_int8``: bytes of the node's output tensor (4 or 1 per
      element). A view (flatten, reshape) aliases its input in the kernel backends, so its bytes
      are not extra memory;
    - ``trainable``: whether any of its parameters trains (None without parameters).
    """
    from .ops import get_op

    shapes = graph.shapes()
    macs = graph.macs()
    rows = []
    for node in graph.nodes:
        state_roles = getattr(get_op(node.op), "state_roles", ())
        all_params = graph.node_params(node)
        params = {r: p for r, p in all_params.items() if r not in state_roles}
        n = sum(p.size for p in params.values())
        nnz = sum(p.nnz for p in params.values())
        state = sum(p.size for r, p in all_params.items() if r in state_roles)
        pooled = node.op in NO_MULTIPLY_OPS
        elements = math.prod(shapes[node.name])
        rows.append(
            {
                "layer": node.name,
                "op": node.op,
                "output": "x".join(map(str, shapes[node.name])),
                "params": n,
                "nonzero": nnz,
                "state": state,
                "macs": 0 if pooled else macs[node.name],
                "adds_cmps": macs[node.name] if pooled else 0,
                "float_bytes": 4 * (nnz + state),
                "out_bytes_f32": 4 * elements,
                "out_bytes_int8": elements,
                "trainable": any(p.trainable for p in params.values()) if params else None,
            }
        )
    return rows


def _op_labels(graph: Graph) -> dict[str, str]:
    """The op column of the table by node: the op kind, for a grouped conv with its grouping
    (``depthwise`` when every input channel is its own group)."""
    shapes = graph.shapes()
    labels = {}
    for node in graph.nodes:
        groups = int(node.attrs.get("groups", 1))
        label = node.op
        if node.op in ("conv2d", "conv1d") and groups > 1:
            depthwise = groups == shapes[node.inputs[0]][-1]
            label = f"{node.op} depthwise" if depthwise else f"{node.op} groups={groups}"
        labels[node.name] = label
    return labels


def sparse_rows(graph: Graph) -> list[dict[str, Any]]:
    """Per masked 2-D weight: density and the bytes of every storage format (float32 values), and
    the format an int8 export would choose.

    Sizes come from the encoders the C generator emits (`formats.sparse`), which take C layout
    [n_out][n_in], hence the transposes. ``grouped`` is sized on the model with hidden units sorted
    by fan-in, as the export does before using it (fewer, longer runs). Byte counts depend only on
    the mask and the value width, so the int8 sizes need no quantization. A block-shared weight
    (``meta["block_shared"]``) also reports its shared (unique) weights and the smallest encoding of
    its block grid (one value per block: what a block-sharing kernel reads).
    """

    def smallest(encs: dict) -> Any:
        return min(encs.values(), key=lambda e: e.nbytes.total)  # same rule as choose_format

    sorted_graph = sort_units_by_fan_in(graph)
    rows = []
    for node in graph.nodes:
        for role, p in graph.node_params(node).items():
            if p.mask is None or p.value.ndim != 2:
                continue
            encs = all_encodings(p.effective().T, p.mask.T, np.float32)
            chosen = smallest(encs)  # what the "auto" export picks (it does not sort units)
            sp = sorted_graph.params[p.name]
            assert sp.mask is not None  # sorting units keeps the mask
            encs["grouped"] = ENCODERS["grouped"](sp.effective().T, sp.mask.T, np.float32)
            int8 = smallest(all_encodings(np.zeros(p.mask.T.shape), p.mask.T, np.int8))
            row = {
                "layer": node.name,
                "param": role,
                "shape": "x".join(map(str, p.shape)),
                "density": p.nnz / p.size,
                "format": chosen.format,
                "bytes": chosen.nbytes.total,
                "index_bytes": chosen.nbytes.index,
                "value_bytes": chosen.nbytes.value,
                "alternatives": {name: e.nbytes.total for name, e in encs.items()},
                "int8_format": int8.format,
                "int8_bytes": int8.nbytes.total,
            }
            if BLOCK_SHARED in p.meta:
                bi, bo = p.meta[BLOCK_SHARED]
                row["block_shared"] = f"{bi}x{bo}"
                blocks = p.mask[::bi, ::bo]
                row["unique_weights"] = int(blocks.sum())
                grid = smallest(all_encodings(p.effective()[::bi, ::bo].T, blocks.T, np.float32))
                row["block_format"], row["block_bytes"] = grid.format, grid.nbytes.total
            rows.append(row)
    return rows


def cluster_rows(graph: Graph) -> list[dict[str, Any]]:
    """Per clustered weight (a one-dimensional codebook of 2..256 entries): k, the clusters its
    indices use (k-means can leave some empty), index bits, and its bytes stored as packed indices
    plus a float32 or an int8 codebook (`formats.packed`, the C export's layout; int8 adds the
    kernel's pair table) against the dense float32 and int8 tensor. A conv, a masked or a more
    than 16-entry weight has no packed C kernel: its ``packed_bytes`` are None."""
    rows = []
    for node in graph.nodes:
        for role, p in graph.node_params(node).items():
            cb = p.codebook
            if cb is None or cb.ndim != 1 or not 2 <= cb.size <= MAX_CODEBOOK:
                continue  # not clustered by value
            if BLOCK_SHARED in p.meta:
                continue  # shared blocks: a motif weight, which the sparse table shows
            k = int(cb.size)
            idx = p.attachment("indices")
            bits = index_bits(k)
            packed = table = None  # no packed C kernel: a conv weight, a masked one, more than 16 entries
            if node.op == "dense" and bits <= max(PACKED_BITS) and p.mask is None:
                n_in, n_out = p.shape
                packed, table = packed_bytes(n_out, n_in, bits), pair_table_bytes(bits)
            rows.append(
                {
                    "layer": node.name,
                    "param": role,
                    "shape": "x".join(map(str, p.shape)),
                    "clusters": k,
                    "used": int(np.unique(idx[p.mask] if p.mask is not None else idx).size),
                    "bits": bits,
                    "packed_bytes": packed,
                    "f32_bytes": None if packed is None else packed + 4 * k,
                    "int8_bytes": None if packed is None or table is None else packed + k + table,
                    "dense_f32_bytes": 4 * p.size,
                    "dense_int8_bytes": p.size,
                }
            )
    return rows


def info_dict(graph: Graph) -> dict[str, Any]:
    """Everything ``edgetrain info --json`` prints."""
    return {
        "model": graph.name,
        "input": graph.input_shape,
        "layers": layer_rows(graph),
        "sparse": sparse_rows(graph),
        "clustered": cluster_rows(graph),
        "meta": graph.meta,
    }


def info_tables(graph: Graph) -> list[Table]:
    """The tables ``edgetrain info`` prints: layers, then sparse storage when a weight is masked and
    clustered storage when one is clustered."""
    rows = layer_rows(graph)
    labels = _op_labels(graph)
    pools = any(n.op in NO_MULTIPLY_OPS for n in graph.nodes)  # the adds/cmps column only then

    def pooled(*cells: Any) -> list[Any]:
        return list(cells) if pools else []

    legend = (
        "per sample; MACs = multiply-accumulates"
        + ("; adds/cmps = additions or comparisons of pooling" if pools else "")
        + "; stored B = float32 bytes of the non-zero parameters and running statistics (state, not "
        "parameters); out B = bytes of the output tensor"
    )
    trains = {True: "yes", False: "no", None: ""}
    tables = [
        Table(
            f"{graph.name}: input {graph.input_shape}, output {graph.outputs}\n{legend}",
            [
                "layer",
                "op",
                "output",
                "params",
                "nonzero",
                "MACs",
                *pooled("adds/cmps"),
                "stored B",
                "out B f32",
                "out B int8",
                "trainable",
            ],
            [
                [
                    r["layer"],
                    labels[r["layer"]],
                    r["output"],
                    r["params"],
                    r["nonzero"],
                    r["macs"],
                    *pooled(r["adds_cmps"]),
                    r["float_bytes"],
                    r["out_bytes_f32"],
                    r["out_bytes_int8"],
                    trains[r["trainable"]],
                ]
                for r in rows
            ]
            # Output bytes have no total: what is live at once depends on the memory plan (`export c`).
            + [
                [
                    "total",
                    "",
                    "",
                    sum(r["params"] for r in rows),
                    sum(r["nonzero"] for r in rows),
                    sum(r["macs"] for r in rows),
                    *pooled(sum(r["adds_cmps"] for r in rows)),
                    sum(r["float_bytes"] for r in rows),
                    "",
                    "",
                    "",
                ]
            ],
        )
    ]
    sparse = sparse_rows(graph)
    if sparse:
        formats = list(sparse[0]["alternatives"])
        shared = any("block_shared" in r for r in sparse)
        tables.append(
            Table(
                "sparse storage (float32 values; bytes per format, chosen = smallest; grouped on units sorted "
                "by fan-in; int8: the smallest with int8 values)",
                [
                    "layer",
                    "shape",
                    "density",
                    "chosen",
                    "bytes",
                    *formats,
                    "int8 chosen",
                    *(["block shared: block, shared w, block storage"] if shared else []),
                ],
                [
                    [
                        r["layer"],
                        r["shape"],
                        f"{100 * r['density']:.2f}%",
                        r["format"],
                        r["bytes"],
                        *[r["alternatives"][f] for f in formats],
                        f"{r['int8_format']} {r['int8_bytes']:,}",
                        *(
                            [
                                f"{r['block_shared']} {r['unique_weights']:,} {r['block_format']} {r['block_bytes']:,}"
                                if "block_shared" in r
                                else ""
                            ]
                            if shared
                            else []
                        ),
                    ]
                    for r in sparse
                ],
            )
        )
    clustered = cluster_rows(graph)
    if clustered:

        def size(n: int | None, dense: int) -> str:
            return "-" if n is None else f"{n:,} ({n / dense:.2f}x)"

        tables.append(
            Table(
                "clustered weights (k = codebook entries, used = entries the indices use; bytes stored as "
                "packed indices + codebook, int8 with the kernel's pair table (export c keeps the smallest of "
                "that, no table and dense); ratio to the dense matrix of the same dtype; '-': no packed kernel)",
                ["layer", "shape", "k", "used", "index bits", "index B", "f32 B", "int8 B"],
                [
                    [
                        r["layer"],
                        r["shape"],
                        r["clusters"],
                        r["used"],
                        r["bits"],
                        "-" if r["packed_bytes"] is None else r["packed_bytes"],
                        size(r["f32_bytes"], r["dense_f32_bytes"]),
                        size(r["int8_bytes"], r["dense_int8_bytes"]),
                    ]
                    for r in clustered
                ],
            )
        )
    return tables


__all__ = ["NO_MULTIPLY_OPS", "Table", "cluster_rows", "info_dict", "info_tables", "layer_rows", "sparse_rows"]
