"""The model file (.etm): graph + parameters + attachments + metadata in one versioned zip.

Layout: ``edgetrain.json`` (format name, version, graph structure, per-parameter metadata) and one
``.npy`` entry per array. A zip is used because it is self-describing, checksummed (CRC per entry,
so truncation and corruption are detected) and readable with standard tools.
"""

from __future__ import annotations

import io
import json
import urllib.parse
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import InvalidModelError, ModelFileError
from ..graph import BLOCK_SHARED, Graph, Node, Param, QParams
from ..outputs import write_file
from . import modelfile_checks as checks

FORMAT_NAME = "edgetrain-model"
FORMAT_VERSION = 1
DESCRIPTION = "edgetrain.json"
_ARRAYS = checks.ARRAY_KINDS


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def _entry_name(param: str, array: str) -> str:
    """Zip entry of a parameter's array. zipfile cuts names at NUL, so a name holding one is
    percent-encoded (and the entry recorded in the description, see `graph_to_dict`)."""
    if "\x00" in param:
        return f"arrays/%/{urllib.parse.quote(param, safe='')}/{array}.npy"
    return f"arrays/{param}/{array}.npy"


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The JSON-ready description of ``graph`` (nodes, parameters, meta) without the arrays."""
    params = []
    for p in graph.params.values():
        entry: dict[str, Any] = {
            "name": p.name,
            "trainable": p.trainable,
            "meta": p.meta,
            "arrays": [a for a in _ARRAYS if getattr(p, a) is not None],
        }
        if "\x00" in p.name:
            entry["entries"] = {a: _entry_name(p.name, a) for a in entry["arrays"]}
        if p.qparams is not None:
            q = p.qparams
            entry["qparams"] = {
                "scale": q.scale.tolist(),
                "zero_point": q.zero_point.tolist(),
                "bits": q.bits,
                "axis": q.axis,
            }
        params.append(entry)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": graph.name,
        "inputs": {k: list(v) for k, v in graph.inputs.items()},
        "outputs": graph.outputs,
        "nodes": [
            {"name": n.name, "op": n.op, "inputs": n.inputs, "params": n.params, "attrs": n.attrs} for n in graph.nodes
        ],
        "params": params,
        "meta": graph.meta,
    }


def save_model(graph: Graph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` atomically (`edgetrain.outputs.write_file`: a temporary file in
    the same folder, fsynced, then renamed; mode from the umask). A directory at ``path`` is
    refused with a ConfigError; on any error an existing file is left as it was."""
    path = Path(path)
    doc = json.dumps(graph_to_dict(graph), default=_jsonable, indent=1)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(DESCRIPTION, doc)
            for p in graph.params.values():
                for a in _ARRAYS:
                    arr = getattr(p, a)
                    if arr is not None:
                        buf = io.BytesIO()
                        np.save(buf, arr, allow_pickle=False)
                        z.writestr(_entry_name(p.name, a), buf.getvalue())

    write_file(path, write)
    return path


def load_model(path: str | Path) -> Graph:
    """Read a model file written by `save_model`.

    Contract: a malformed file raises `ModelFileError` (one line naming the file and the fault,
    with a hint), never another exception, and is refused before the graph is built and before
    anything large is allocated: member sizes are checked from the zip directory, array shapes
    from their .npy headers, against `edgetrain.limits`. The checks, in order, are in
    `modelfile_checks`; the graph's own structural checks (`Graph.validate`) run last, inside
    the same error handling, their InvalidModelError turned into a ModelFileError naming the file.
    """
    path = Path(path)
    checks.check_path(path)
    try:
        with zipfile.ZipFile(path) as z:
            members = checks.check_members(z, path)
            if DESCRIPTION not in members:
                raise checks.fail(path, f"has no {DESCRIPTION} description; not an edgetrain model file")
            doc = checks.parse_document(checks.read_member(z, members[DESCRIPTION], path), path)
            _check_header(doc, path)
            checks.check_document(doc, path)
            arrays = _read_arrays(z, members, doc, path)
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, NotImplementedError, ValueError) as e:
        # zipfile's own refusals: not a zip, truncated, CRC mismatch, corrupt deflate stream,
        # an unsupported compression method, a malformed header field.
        raise ModelFileError(
            f"{checks.show(str(path), 200)} is not a readable edgetrain model "
            f"({type(e).__name__}: {checks.show(str(e), 100)})",
            hint="the file may be truncated or not an .etm model; re-export it",
        ) from None
    return _graph_from_dict(doc, arrays, path)


def _check_header(doc: Any, path: Path) -> None:
    checks.check_header(doc, path, FORMAT_NAME, FORMAT_VERSION)


def _array_entries(entry: dict[str, Any]) -> dict[str, str]:
    """Array kind -> zip entry of one (checked) parameter description."""
    entries = entry.get("entries") or {}
    return {a: entries.get(a, f"arrays/{entry['name']}/{a}.npy") for a in entry["arrays"]}


def _read_arrays(
    z: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], doc: dict[str, Any], path: Path
) -> dict[str, np.ndarray]:
    """The arrays the description names, by zip entry, checked. Every header is parsed and
    checked (dtype, shape, limits) before any array is built; then values are checked for NaN
    and infinity. Members nobody names are still read once, so a CRC error anywhere is found
    (as `ZipFile.testzip` did), but in bounded chunks and not kept."""
    roles = {pname: role for n in doc["nodes"] for role, pname in n["params"].items()}
    wanted: dict[str, tuple[str, str]] = {}  # entry -> (array kind, message label)
    for e in doc["params"]:
        for kind, member in _array_entries(e).items():
            if member not in members:
                raise checks.fail(
                    path, f"missing array entry {checks.show(member)} ({kind} of parameter {checks.show(e['name'])})"
                )
            # One entry, one array: each is checked for the kind it is used as.
            if member == DESCRIPTION or member in wanted:
                raise checks.fail(path, f"entry {checks.show(member)} is named for more than one array")
            label = (
                f"{roles.get(e['name'], 'parameter')} {checks.show(e['name'])}"
                if kind == "value"
                else f"{kind} of {checks.show(e['name'])}"
            )
            wanted[member] = (kind, label)
    raw: dict[str, bytearray] = {}
    headers: dict[str, checks.NpyHeader] = {}
    for name, info in members.items():
        if name == DESCRIPTION:
            continue
        buf = checks.read_member(z, info, path)
        if name not in wanted:
            continue  # read for its CRC only
        kind, label = wanted[name]
        h = checks.read_npy_header(buf, f"array {checks.show(name)}", path)
        checks.check_array_header(h, kind, f"array {checks.show(name)}", path)
        raw[name], headers[name] = buf, h
    checks.check_array_totals({e["name"]: headers[_array_entries(e)["value"]] for e in doc["params"]}, path)
    arrays: dict[str, np.ndarray] = {}
    for name, buf in raw.items():
        kind, label = wanted[name]
        arrays[name] = checks.build_array(buf, headers[name], f"array {checks.show(name)}", path)
        checks.check_array_values(arrays[name], kind, label, path)
    for e in doc["params"]:
        mine = {kind: arrays[member] for kind, member in _array_entries(e).items()}
        checks.check_attachments(e["name"], mine, path)
        if e.get("qparams") is not None:
            checks.check_qparams(e["qparams"], mine["value"].shape, e["name"], path)
    return arrays


# Parameter metadata keys of older files -> their current name.
RENAMED_META = {"motif": BLOCK_SHARED}  # the block-sharing hint, once named after its first technique


def _param_meta(meta: Any) -> Any:
    """A parameter's metadata with the keys of older files renamed (a current key wins)."""
    if not isinstance(meta, dict):
        return meta
    out = dict(meta)
    for old, new in RENAMED_META.items():
        if old in out:
            out.setdefault(new, out.pop(old))
    return out


def _graph_from_dict(doc: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> Graph:
    """Build and validate the graph of a checked description (see `load_model`'s contract)."""
    try:
        params = []
        for e in doc["params"]:
            kw = {a: arrays[member] for a, member in _array_entries(e).items()}
            q = e.get("qparams")
            params.append(
                Param(
                    e["name"],
                    kw.pop("value"),
                    e["trainable"],
                    meta=_param_meta(e.get("meta", {})),
                    qparams=QParams(q["scale"], q["zero_point"], q["bits"], q["axis"]) if q else None,
                    **kw,
                )
            )
        nodes = [Node(n["name"], n["op"], n["inputs"], n["params"], n["attrs"]) for n in doc["nodes"]]
        graph = Graph(
            {k: tuple(v) for k, v in doc["inputs"].items()},
            nodes,
            params,
            doc["outputs"],
            doc.get("name", "model"),
            doc.get("meta", {}),
        )
        graph.validate()
    except ModelFileError:
        raise
    except InvalidModelError as e:
        # The graph's own checks (wiring, shapes against op rules): the fault is in the file.
        hint = e.hint if e.hint != type(e).default_hint else None
        raise checks.fail(path, e.message, hint=hint) from None
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError) as e:
        # A safety net: the checks above are meant to leave nothing for it (the fuzz tests count
        # on this message to find what they missed).
        raise checks.fail(
            path, f"the model description is inconsistent ({type(e).__name__}: {checks.show(str(e), 100)})"
        ) from None
    return graph
