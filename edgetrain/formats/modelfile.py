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
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ModelFileError
from ..graph import BLOCK_SHARED, Graph, Node, Param, QParams
from ..outputs import write_file

FORMAT_NAME = "edgetrain-model"
FORMAT_VERSION = 1
_ARRAYS = ("value", "mask", "codebook", "indices")


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
    params = []
    for p in graph.params.values():
        entry: dict[str, Any] = {"name": p.name, "trainable": p.trainable, "meta": p.meta,
                                 "arrays": [a for a in _ARRAYS if getattr(p, a) is not None]}
        if "\x00" in p.name:
            entry["entries"] = {a: _entry_name(p.name, a) for a in entry["arrays"]}
        if p.qparams is not None:
            q = p.qparams
            entry["qparams"] = {"scale": q.scale.tolist(), "zero_point": q.zero_point.tolist(), "bits": q.bits,
                                "axis": q.axis}
        params.append(entry)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "name": graph.name,
        "inputs": {k: list(v) for k, v in graph.inputs.items()},
        "outputs": graph.outputs,
        "nodes": [{"name": n.name, "op": n.op, "inputs": n.inputs, "params": n.params, "attrs": n.attrs}
                  for n in graph.nodes],
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
            z.writestr("edgetrain.json", doc)
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
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                raise ModelFileError(f"{path}: corrupt entry {bad!r} (CRC mismatch)")
            doc = json.loads(z.read("edgetrain.json"))
            _check_header(doc, path)
            arrays = {name: np.load(io.BytesIO(z.read(name)), allow_pickle=False)
                      for name in z.namelist() if name.startswith("arrays/")}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, OSError) as e:
        raise ModelFileError(f"{path} is not a readable edgetrain model ({type(e).__name__}: {e})",
                             hint="the file may be truncated or not an .etm model; re-export it") from None
    return _graph_from_dict(doc, arrays, path)


def _check_header(doc: Any, path: Path) -> None:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an edgetrain model file")
    version = doc.get("version")
    if not isinstance(version, int):
        raise ModelFileError(f"{path}: missing format version")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path} uses model format version {version}; this edgetrain reads up to {FORMAT_VERSION}",
                             hint="upgrade edgetrain to load this model")


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
    try:
        params = []
        for e in doc["params"]:
            entries = e.get("entries") or {}
            if not isinstance(entries, dict):
                raise TypeError("'entries' must map array kinds to zip entries")
            kw = {a: arrays[entries.get(a, f"arrays/{e['name']}/{a}.npy")] for a in e["arrays"]}
            q = e.get("qparams")
            params.append(Param(e["name"], kw.pop("value"), e["trainable"], meta=_param_meta(e.get("meta", {})),
                                qparams=QParams(q["scale"], q["zero_point"], q["bits"], q["axis"]) if q else None,
                                **kw))
        nodes = [Node(n["name"], n["op"], n["inputs"], n["params"], n["attrs"]) for n in doc["nodes"]]
        graph = Graph({k: tuple(v) for k, v in doc["inputs"].items()}, nodes, params, doc["outputs"],
                      doc.get("name", "model"), doc.get("meta", {}))
    except (KeyError, TypeError) as e:
        raise ModelFileError(f"{path}: model description is incomplete ({e})") from None
    graph.validate()
    return graph
