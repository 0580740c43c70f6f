"""CQKD (cluster-quantized knowledge distillation) on the digits MLP: accuracy, weight flash, arena and
instructions per inference on an emulated STM32F405 (QEMU), against float32 and plain int8.

1. Digits MLP 64-256-256-10 (`edgetrain.load_data("digits")`), rows: float32 trained with Adam; its
   int8 post-training quantization (per channel); k = 16 k-means of the trained float32 model with
   no further training (`cluster_weights`); CQKD k = 16 with the teacher "same" (`train_cqkd`); SET
   sparse training (`apply_set`, in CQKD's float phase) + CQKD k = 16.
2. The same model at k = 4 (2-bit indices): k-means only, CQKD without KD (teacher none), CQKD with KD.
3. Small data: 300 training samples (30 per class, drawn per seed), student 64-16-10 at k = 8 and
   k = 4, without KD and with KD from a 64-256-10 float32 teacher trained on the same 300 samples;
   against the claim "88.4 % -> 92.0 % with KD".

Accuracy is on the whole digits test split, mean +- sample std over the seeds (the seed sets the
initial weights, the shuffling, the k-means and, in 3., the 300 samples). "float math" is
`et.predict` of the model (clustered weights = their float32 codebook); "int8" is the int8 export
(`quantize_model`, per channel; a clustered layer keeps one scale so that its int8 weights are its
quantized codebook), computed by the numpy int8 reference, which the device output equals bit for
bit (checked by `measure_graph` on the measured samples).

Flash, arena and instructions are of the seed-0 model, exported with `export_c` and measured by
bench/infer_cycles.py's `measure_graph` (QEMU `-icount shift=0`: instruction counts, not cycles;
-O2 -ffp-contract=fast). `measure_graph` takes no storage policy: it is run with `export_c`'s
``sparse_format`` bound (its module's `export_c` replaced for the call), once with "fast" (clustered
layers as packed indices + int8 codebook + the pair table the fast kernel reads; masked layers in
the fastest sparse kernel) and once with the default "auto" (fewest bytes: at 3-4 bits the packed
indices without the pair table, a slower kernel). Weight flash = the sum of the layers' ``weights``
bytes of the export's memory report (index arrays + values: codebook and pair table for a
clustered layer).

    .venv/bin/python bench/cqkd.py             # tables (about 3-4 min on 2 cores)
    .venv/bin/python bench/cqkd.py --json      # machine-readable
    .venv/bin/python bench/cqkd.py --quick     # 1 seed, few epochs: a smoke test
    .venv/bin/python bench/cqkd.py --no-qemu   # host only: no instruction counts
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/infer_cycles.py

import infer_cycles  # noqa: E402

import edgetrain as et  # noqa: E402
from edgetrain.data_split import Split  # noqa: E402
from edgetrain.device import emulator_available  # noqa: E402
from edgetrain.export.c import export_c  # noqa: E402
from edgetrain.quantize.ptq import quantize_model  # noqa: E402
from edgetrain.quantize.reference import int8_reference  # noqa: E402
from edgetrain.techniques.cqkd import ClusterReport, cluster_weights, train_cqkd  # noqa: E402
from edgetrain.techniques.sparse_set import apply_set  # noqa: E402

TARGET = infer_cycles.TARGET
HIDDEN = (256, 256)
OPT: dict[str, Any] = {"optimizer": "adam", "lr": 3e-3, "batch_size": 32}
SET_OPTIONS = {"eps": 5.0, "zeta": 0.3}
CALIB = 256  # calibration samples (the first training samples), as the other benches
QEMU_SAMPLES = 8  # test samples run on QEMU per export (instructions: their mean)
POLICIES = ("fast", "auto")  # export storage policies (export_c sparse_format); "fast" is the main table's
SMALL_N, SMALL_HIDDEN, TEACHER_HIDDEN = 300, 16, 256
SMALL_KS = (8, 4)
CLAIM = (0.884, 0.920)  # the claim to check: no KD -> KD, 300 samples

# The targets (CQKD k = 16 against float32 and plain int8 dense).
GOAL_ACC_DROP = 1.0  # accuracy points below float32, at most
GOAL_FLASH = 0.55  # weight flash / plain int8's, at most
GOAL_INSTR = 1.6  # instructions / plain int8's, at most


class Plan(NamedTuple):
    """Epochs and seeds of one run (a NamedTuple: tests load this file without registering it as a
    module, which a dataclass needs)."""

    epochs: int  # float32 model; CQKD student (float + clustered phases) and its "same" teacher
    float_epochs: int  # CQKD student: float epochs before the first clustering
    small_epochs: int  # small data: teacher, float student and CQKD students (half float, half clustered)
    seeds: int
    quick: bool


FULL = Plan(epochs=30, float_epochs=15, small_epochs=150, seeds=3, quick=False)
QUICK = Plan(epochs=4, float_epochs=2, small_epochs=10, seeds=1, quick=True)

# Rows: key -> (label, note). Digits 64-256-256-10 rows first, then k = 4, then small data.
DIGITS_ROWS = {
    "float32": ("float32 (Adam)", "float32 export (4-byte weights)"),
    "int8": ("int8 PTQ of float32", "per-channel int8, dense"),
    "cl16": ("k=16 k-means, no KD, no training", "cluster_weights on the trained float32 model"),
    "cq16": ("CQKD k=16, teacher same", "train_cqkd"),
    "setcq16": (
        "SET + CQKD k=16, teacher same",
        "masked + clustered: no packed-index kernel; the sparse formats store int8 values (<= 16 distinct) + index",
    ),
}
K4_ROWS = {
    "cl4": ("k=4 k-means, no KD, no training", "cluster_weights on the trained float32 model"),
    "cq4_nokd": ("CQKD k=4, no KD (teacher none)", "train_cqkd, same schedule, cross-entropy only"),
    "cq4_kd": ("CQKD k=4, KD (teacher same)", "train_cqkd"),
}
QUICK_QEMU = ("int8", "cq16", "setcq16", "cq4_kd")  # --quick measures only these on QEMU

_t0 = time.perf_counter()


def log(msg: str) -> None:
    """Progress on stderr, with the seconds since start."""
    print(f"[{time.perf_counter() - _t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


@functools.cache
def digits() -> et.Dataset:
    """The bundled digits set (default split: 60 % train, 10 % val, 30 % test)."""
    return et.load_data("digits")


def mlp(hidden: tuple[int, ...], seed: int, name: str, prefix: str = "dense") -> et.Graph:
    """A relu MLP 64-hidden-10 with layers ``prefix1``, ``prefix2`` ..."""
    sizes = [*hidden, 10]
    layers = [et.Dense(n, "relu" if i < len(hidden) else None, name=f"{prefix}{i + 1}") for i, n in enumerate(sizes)]
    return et.Sequential(layers, input_shape=digits().n_features, seed=seed, name=name)


def int8_accuracy(graph: et.Graph, split: Split) -> float:
    """Test accuracy of ``graph``'s int8 export (per channel; clustered layers per tensor), from the
    numpy int8 reference the device output equals bit for bit."""
    q = quantize_model(graph, digits().train.x[:CALIB], per_channel=True)
    return float((int8_reference(q, split.x).argmax(1) == split.y).mean())


def small_subset(seed: int) -> et.Dataset:
    """Digits with a training split of SMALL_N samples (SMALL_N / 10 per class, drawn with ``seed``);
    val and test unchanged."""
    d = digits()
    rng = np.random.default_rng(seed)
    per = SMALL_N // d.n_classes
    idx = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(d.train.y == c), per, replace=False) for c in range(d.n_classes)])
    )
    return dataclasses.replace(d, train=Split(d.train.x[idx], d.train.y[idx]))


def cqkd(
    graph: et.Graph,
    data: et.Dataset,
    k: int,
    epochs: int,
    float_epochs: int | None,
    teacher: Any,
    seed: int,
    callbacks: tuple[Any, ...] = (),
) -> ClusterReport:
    """`train_cqkd` with the bench's optimizer; returns its clustering report."""
    _, report = train_cqkd(
        graph,
        data,
        clusters=k,
        epochs=epochs,
        float_epochs=float_epochs,
        teacher=teacher,
        seed=seed,
        callbacks=list(callbacks),
        **OPT,
    )
    return report


def train_digits(seed: int, plan: Plan) -> dict[str, et.Graph]:
    """Every model of sections 1 and 2 for one seed."""
    d = digits()
    out: dict[str, et.Graph] = {}
    g = mlp(HIDDEN, seed, "float32")
    et.fit(g, d, epochs=plan.epochs, seed=seed, **OPT)
    out["float32"] = g
    out["int8"] = g.copy()  # the same model, quantized by its export
    out["int8"].name = "int8"
    log(f"seed {seed}: float32 trained")
    for k in (16, 4):
        c = g.copy()
        c.name = f"cl{k}"
        cluster_weights(c, k, seed=seed)
        out[f"cl{k}"] = c
    log(f"seed {seed}: k-means k=16, k=4 of float32")
    for key, k, teacher in (("cq16", 16, "same"), ("cq4_nokd", 4, None), ("cq4_kd", 4, "same")):
        s = mlp(HIDDEN, seed, key)
        cqkd(s, d, k, plan.epochs, plan.float_epochs, teacher, seed)
        out[key] = s
        log(f"seed {seed}: {key} trained")
    s = mlp(HIDDEN, seed, "setcq16")
    evo = apply_set(s, seed=seed, **SET_OPTIONS)
    cqkd(s, d, 16, plan.epochs, plan.float_epochs, "same", seed, (evo,))
    out["setcq16"] = s
    log(f"seed {seed}: setcq16 trained")
    return out


def train_small(seed: int, plan: Plan) -> dict[str, et.Graph]:
    """Every model of section 3 for one seed: the teacher (float32 and clustered per k), the float32
    student and the CQKD students without KD, with KD from the clustered teacher and from the float one."""
    data = small_subset(seed)
    e = plan.small_epochs
    # Layers named teacher1, teacher2: train_cqkd clusters a given teacher only on layers named like
    # the student's, so this teacher stays float32 unless clustered here.
    teacher = mlp((TEACHER_HIDDEN,), seed, "teacher", prefix="teacher")
    et.fit(teacher, data, epochs=e, seed=seed, **OPT)
    student = mlp((SMALL_HIDDEN,), seed, "student_float32")
    et.fit(student, data, epochs=e, seed=seed, **OPT)
    out = {"teacher": teacher, "student_float32": student}
    for k in SMALL_KS:
        tk = teacher.copy()
        cluster_weights(tk, k, seed=seed)  # what train_cqkd does to a teacher named like its student
        out[f"teacher_k{k}"] = tk
        for key, t in ((f"s{k}_nokd", None), (f"s{k}_kd", tk), (f"s{k}_kd_float", teacher)):
            s = mlp((SMALL_HIDDEN,), seed, key)
            cqkd(s, data, k, e, None, t, seed)
            out[key] = s
    log(f"seed {seed}: small-data models trained")
    return out


def stats(values: list[float]) -> dict[str, Any]:
    """Mean, sample std (0 for one value) and the values."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "per_seed": v.tolist()}


def export_and_measure(graph: et.Graph, dtype: str, policy: str, qemu: bool) -> dict[str, Any]:
    """Export ``graph`` (``dtype``, storage policy ``policy``) as `measure_graph` does; with ``qemu``,
    through `measure_graph` itself (build, run QEMU_SAMPLES test samples, check against numpy, count).
    Returns the memory report's figures (per layer and totals) and the instruction counts."""
    d = digits()
    reports: list[Any] = []

    def export(*args: Any, **kw: Any) -> Any:
        res = export_c(*args, **{**kw, "sparse_format": policy})
        reports.append(res.report)
        return res

    calib = d.train.x[:CALIB]
    measured = None
    if qemu:
        saved: Callable[..., Any] = infer_cycles.export_c
        infer_cycles.export_c = export  # measure_graph takes no sparse_format
        try:
            measured = infer_cycles.measure_graph(
                graph.name, graph, calib, d.test.x, "bench/cqkd.py", dtype, QEMU_SAMPLES
            )
        finally:
            infer_cycles.export_c = saved
    else:
        with tempfile.TemporaryDirectory(prefix="edgetrain-bench-cqkd-") as tmp:
            export(
                graph,
                TARGET,
                Path(tmp) / "model",
                dtype=dtype,
                calib_x=calib if dtype == "int8" else None,
                per_channel=True,
            )
    rep = reports[-1]
    out: dict[str, Any] = {
        "dtype": dtype,
        "policy": policy,
        "layers": [
            {
                "layer": lm.layer,
                "format": lm.format,
                "weight_index": int(lm.weight_index),
                "weight_values": int(lm.weight_values),
                "weights": int(lm.weights),
                "nnz": int(lm.nnz),
            }
            for lm in rep.layers
        ],
        "weight_flash_bytes": int(sum(lm.weights for lm in rep.layers)),
        "model_data_bytes": int(rep.data_bytes),
        "arena_bytes": int(rep.arena_bytes),
        "instructions_per_inference": None,
        "instructions_min": None,
        "instructions_max": None,
        "image_flash_bytes": None,
        "qemu_samples": 0,
    }
    if measured is not None:
        if measured["weight_bytes"] != out["weight_flash_bytes"] or measured["arena_bytes"] != out["arena_bytes"]:
            raise AssertionError(f"{graph.name} {policy}: measure_graph's report differs from the export's")
        out.update(
            instructions_per_inference=measured["instructions_per_inference"],
            instructions_min=measured["instructions_min"],
            instructions_max=measured["instructions_max"],
            image_flash_bytes=measured["image_flash_bytes"],
            qemu_samples=measured["samples"],
        )
    return out


def measure_policies(graph: et.Graph, dtype: str, qemu: bool) -> dict[str, dict[str, Any]]:
    """`export_and_measure` under every policy of POLICIES; an export whose per-layer storage equals
    an already measured policy's is the same C code: its counts are reused, not rebuilt."""
    out: dict[str, dict[str, Any]] = {}
    for policy in POLICIES:
        host = export_and_measure(graph, dtype, policy, qemu=False)
        same = next((p for p, m in out.items() if m["layers"] == host["layers"]), None)
        if same is not None or not qemu:
            m = dict(out[same]) if same is not None else host
            m["policy"] = policy
            if same is not None:
                m["same_storage_as"] = same
            out[policy] = m
        else:
            out[policy] = export_and_measure(graph, dtype, policy, qemu=True)
            log(f"  {graph.name} {dtype} {policy}: {out[policy]['instructions_per_inference']:,.0f} instructions")
    return out


def index_bits_of(graph: et.Graph) -> str:
    """Index bits of the clustered layers ("4" when all the same), or the stored value width."""
    bits = sorted({int(p.meta["cluster"]["bits"]) for p in graph.params.values() if "cluster" in p.meta})
    return ",".join(map(str, bits)) if bits else ""


def digits_rows(models: list[dict[str, et.Graph]], qemu: bool, plan: Plan) -> list[dict[str, Any]]:
    """Rows of sections 1 and 2: accuracies over the seeds, storage and counts of seed 0."""
    test = digits().test
    rows = []
    for section, table in (("digits", DIGITS_ROWS), ("k4", K4_ROWS)):
        for key, (label, note) in table.items():
            g0 = models[0][key]
            float_math = key != "int8"
            int8_acc = key != "float32"
            row: dict[str, Any] = {
                "section": section,
                "key": key,
                "label": label,
                "note": note,
                "accuracy_float_math": stats([et.accuracy(m[key], test) for m in models]) if float_math else None,
                "accuracy_int8": stats([int8_accuracy(m[key], test) for m in models]) if int8_acc else None,
                "index_bits": {"float32": "32 (float)", "int8": "8 (int8)"}.get(key, index_bits_of(g0)),
            }
            masked = [p for p in g0.params.values() if p.mask is not None]
            if masked:
                kept = sum(int(p.mask.sum()) for p in masked)
                row["density"] = kept / sum(p.size for p in masked)
                row["note"] += f"; SET density {100 * row['density']:.1f}% of the masked layers"
            row["clustering"] = g0.meta.get("clustering")
            on_qemu = qemu and (not plan.quick or key in QUICK_QEMU)
            log(f"export {key}" + (" + QEMU" if on_qemu else " (host)"))
            row["export"] = measure_policies(g0, "f32" if key == "float32" else "int8", on_qemu)
            rows.append(row)
    base = next(r for r in rows if r["key"] == "int8")["export"]
    for r in rows:
        for policy, m in r["export"].items():
            b = base[policy]
            m["flash_ratio_vs_int8"] = m["weight_flash_bytes"] / b["weight_flash_bytes"]
            m["instructions_ratio_vs_int8"] = (
                m["instructions_per_inference"] / b["instructions_per_inference"]
                if m["instructions_per_inference"] and b["instructions_per_inference"]
                else None
            )
    return rows


SMALL_ROWS = {
    "teacher": f"teacher 64-{TEACHER_HIDDEN}-10 float32",
    **{f"teacher_k{k}": f"teacher clustered k={k} (distilled by 'KD, clustered teacher')" for k in SMALL_KS},
    "student_float32": f"student 64-{SMALL_HIDDEN}-10 float32",
    **{
        key: label
        for k in SMALL_KS
        for key, label in (
            (f"s{k}_nokd", f"student CQKD k={k}, no KD"),
            (f"s{k}_kd", f"student CQKD k={k}, KD, clustered teacher"),
            (f"s{k}_kd_float", f"student CQKD k={k}, KD, float32 teacher"),
        )
    },
}


def small_rows(models: list[dict[str, et.Graph]]) -> list[dict[str, Any]]:
    """Rows of section 3, with the KD rows' gain over no KD (paired by seed)."""
    test = digits().test
    acc = {key: [et.accuracy(m[key], test) for m in models] for key in SMALL_ROWS}
    rows = []
    for key, label in SMALL_ROWS.items():
        row: dict[str, Any] = {
            "section": "small",
            "key": key,
            "label": label,
            "accuracy_float_math": stats(acc[key]),
            "accuracy_int8": stats([int8_accuracy(m[key], test) for m in models]),
        }
        if "_kd" in key:
            base = key.split("_kd")[0] + "_nokd"
            row["kd_gain"] = stats([a - b for a, b in zip(acc[key], acc[base])])
        rows.append(row)
    return rows


def claim_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claim (no KD -> KD, 300 samples) against each measured pair: reproduced when the mean gain
    is at least half the claimed one and every seed gains; refuted when the mean gain is <= 0."""
    by = {r["key"]: r for r in rows}
    claimed = CLAIM[1] - CLAIM[0]
    out = []
    for k in SMALL_KS:
        for suffix, teacher in (("kd", "clustered teacher"), ("kd_float", "float32 teacher")):
            r, base = by[f"s{k}_{suffix}"], by[f"s{k}_nokd"]
            gain = r["kd_gain"]
            if gain["mean"] >= claimed / 2 and min(gain["per_seed"]) > 0:
                verdict = "reproduced"
            elif gain["mean"] <= 0:
                verdict = "refuted"
            else:
                verdict = "smaller gain than claimed"
            out.append(
                {
                    "k": k,
                    "teacher": teacher,
                    "no_kd": base["accuracy_float_math"]["mean"],
                    "kd": r["accuracy_float_math"]["mean"],
                    "gain": gain["mean"],
                    "gain_std": gain["std"],
                    "claimed_no_kd": CLAIM[0],
                    "claimed_kd": CLAIM[1],
                    "claimed_gain": claimed,
                    "verdict": verdict,
                }
            )
    return out


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for CQKD k = 16 (float math and int8 accuracy; flash, arena and
    instructions under each storage policy). ``met`` is None when not measured."""
    by = {r["key"]: r for r in rows}
    cq, fl = by["cq16"], by["float32"]
    out = []

    def add(what: str, value: float | None, limit: float, relation: str, fmt: str) -> None:
        met = None if value is None else (value <= limit if relation == "<=" else value == limit)
        out.append(
            {
                "goal": what,
                "value": value,
                "limit": limit,
                "relation": relation,
                "met": met,
                "display": "not measured" if value is None else format(value, fmt),
            }
        )

    f_mean = fl["accuracy_float_math"]["mean"]
    add(
        "CQKD k=16 accuracy (float math): points below float32",
        100 * (f_mean - cq["accuracy_float_math"]["mean"]),
        GOAL_ACC_DROP,
        "<=",
        ".2f",
    )
    add(
        "CQKD k=16 accuracy (int8 export): points below float32",
        100 * (f_mean - cq["accuracy_int8"]["mean"]),
        GOAL_ACC_DROP,
        "<=",
        ".2f",
    )
    for policy in POLICIES:
        m, base = cq["export"][policy], by["int8"]["export"][policy]
        tag = {"fast": "pair table ('fast')", "auto": "default export ('auto')"}[policy]
        add(f"CQKD k=16 weight flash / int8, {tag}", m["flash_ratio_vs_int8"], GOAL_FLASH, "<=", ".3f")
        add(
            f"CQKD k=16 arena B = int8's ({base['arena_bytes']:,}), {tag}",
            m["arena_bytes"],
            base["arena_bytes"],
            "==",
            ",",
        )
        add(f"CQKD k=16 instructions / int8, {tag}", m["instructions_ratio_vs_int8"], GOAL_INSTR, "<=", ".3f")
    return out


def pct(s: dict[str, Any] | None) -> str:
    """``mean +- std`` in percent."""
    return "-" if s is None else f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def print_tables(result: dict[str, Any]) -> None:
    """The tables of a run (rich)."""
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 200))
    s = result["settings"]
    n = s["seeds"]
    rows = result["rows"]

    def count(m: dict[str, Any], key: str, fmt: str) -> str:
        v = m[key]
        return "-" if v is None else format(v, fmt)

    def storage(m: dict[str, Any]) -> str:
        formats = [layer["format"] for layer in m["layers"]]
        return f"{formats[0]} (all)" if len(set(formats)) == 1 else ", ".join(formats)

    titles = {
        "digits": f"Digits MLP 64-256-256-10 on {TARGET}: {n} seed(s); flash, arena, instructions of seed 0, "
        "int8 export, storage 'fast' (clustered: packed indices + codebook + pair table)",
        "k4": "Same model, k=4 (2-bit indices); storage 'fast' (at 2 bits 'auto' stores the same)",
    }
    for section, title in titles.items():
        t = Table(title=title)
        for c in (
            "model",
            "acc % float math",
            "acc % int8",
            "index bits",
            "storage per layer",
            "weight flash B",
            "arena B",
            "instr/inference",
            "flash / int8",
            "instr / int8",
        ):
            t.add_column(c, justify="left" if c in ("model", "storage per layer") else "right")
        for r in (r for r in rows if r["section"] == section):
            m = r["export"]["fast"]
            t.add_row(
                r["label"],
                pct(r["accuracy_float_math"]),
                pct(r["accuracy_int8"]),
                r["index_bits"],
                storage(m),
                f"{m['weight_flash_bytes']:,}",
                f"{m['arena_bytes']:,}",
                count(m, "instructions_per_inference", ",.0f"),
                f"{m['flash_ratio_vs_int8']:.3f}",
                count(m, "instructions_ratio_vs_int8", ".3f"),
            )
        con.print(t)
    t = Table(
        title="Storage policy: default export 'auto' (fewest bytes) vs 'fast' (pair table / fastest kernel), "
        "int8 rows, seed 0"
    )
    for c in (
        "model",
        "policy",
        "storage per layer",
        "index B",
        "values B",
        "weight flash B",
        "arena B",
        "instr/inference",
        "flash / int8",
        "instr / int8",
    ):
        t.add_column(c, justify="left" if c in ("model", "policy", "storage per layer") else "right")
    for r in rows:
        if r["key"] == "float32" or "export" not in r:
            continue
        for policy, m in r["export"].items():
            same = f" (= {m['same_storage_as']})" if "same_storage_as" in m else ""
            t.add_row(
                r["label"],
                policy + same,
                storage(m),
                f"{sum(x['weight_index'] for x in m['layers']):,}",
                f"{sum(x['weight_values'] for x in m['layers']):,}",
                f"{m['weight_flash_bytes']:,}",
                f"{m['arena_bytes']:,}",
                count(m, "instructions_per_inference", ",.0f"),
                f"{m['flash_ratio_vs_int8']:.3f}",
                count(m, "instructions_ratio_vs_int8", ".3f"),
            )
    con.print(t)
    t = Table(
        title=f"Small data: {SMALL_N} training samples ({SMALL_N // 10} per class, drawn per seed), "
        f"{n} seed(s), {s['small_epochs']} epochs"
    )
    for c in ("model", "acc % float math", "acc % int8", "per seed % (float math)", "KD gain, points"):
        t.add_column(c, justify="left" if c == "model" else "right")
    for r in (r for r in rows if r["section"] == "small"):
        g = r.get("kd_gain")
        t.add_row(
            r["label"],
            pct(r["accuracy_float_math"]),
            pct(r["accuracy_int8"]),
            " ".join(f"{100 * v:.1f}" for v in r["accuracy_float_math"]["per_seed"]),
            "-" if g is None else f"{100 * g['mean']:+.2f} ± {100 * g['std']:.2f}",
        )
    con.print(t)
    t = Table(
        title=f"Claim: {100 * CLAIM[0]:.1f} % -> {100 * CLAIM[1]:.1f} % with KD for {SMALL_N} samples "
        "(reproduced: mean gain >= half the claimed one and every seed gains; refuted: no gain)"
    )
    for c in ("k", "teacher", "no KD %", "KD %", "gain (points)", "claimed gain", "verdict"):
        t.add_column(c)
    for c in result["claim"]:
        t.add_row(
            str(c["k"]),
            c["teacher"],
            f"{100 * c['no_kd']:.2f}",
            f"{100 * c['kd']:.2f}",
            f"{100 * c['gain']:+.2f} ± {100 * c['gain_std']:.2f}",
            f"{100 * c['claimed_gain']:+.1f}",
            c["verdict"],
        )
    con.print(t)
    t = Table(title="Targets (CQKD k=16 vs float32 and plain int8 dense)")
    for c in ("target", "measured", "limit", "met"):
        t.add_column(c)
    for g in result["goals"]:
        met = "-" if g["met"] is None else ("[green]pass[/]" if g["met"] else "[red]FAIL[/]")
        t.add_row(g["goal"], g["display"], f"{g['relation']} {g['limit']:,}", met)
    con.print(t)
    for line in result["notes"]:
        con.print(line)


def notes(plan: Plan, qemu: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The footnotes of the tables (also in the JSON)."""
    out = [
        f"Training: Adam lr {OPT['lr']}, batch {OPT['batch_size']}. float32: {plan.epochs} epochs. CQKD: "
        f"{plan.epochs} epochs ({plan.float_epochs} float, then {plan.epochs - plan.float_epochs} clustered: "
        f"centroids and biases train); teacher 'same' = a float32 copy trained {plan.epochs} epochs with the "
        f"student's seed, then clustered with the student's k (alpha 0.8, T 4). SET: eps {SET_OPTIONS['eps']:g}, "
        f"zeta {SET_OPTIONS['zeta']:g}, evolving in CQKD's float phase only (masks fixed once clustered). "
        f"Small data: {plan.small_epochs} epochs for the teacher, the float32 student and the CQKD students "
        f"(half float, half clustered). Seeds 0..{plan.seeds - 1}" + (" (--quick)." if plan.quick else "."),
        "acc: whole test split, mean ± sample std over the seeds. float math = et.predict (clustered weights = "
        "float32 codebook); int8 = the int8 export by the numpy reference (bit-exact with the device, checked on "
        "the QEMU samples). The float32 row's storage, flash and instructions are of its float32 export.",
        "SET + CQKD: a masked clustered layer is not stored as packed indices (no kernel for it): the sparse "
        "formats store its int8 values (at most 16 distinct) and their index; its 'index bits' are the "
        "model's, not the export's.",
        "Small-data KD: train_cqkd clusters a given teacher with the student's k only on layers named like the "
        "student's; the teacher here has other layer names, so 'KD, clustered teacher' passes it clustered "
        "(cluster_weights, the same k-means train_cqkd would run) and 'KD, float32 teacher' passes it as trained.",
    ]
    if qemu["ran"]:
        out.append(
            f"Instructions: QEMU -icount shift=0 on {TARGET} (TIM2), not cycles; mean over "
            f"{QEMU_SAMPLES} test samples of seed 0's model; -O2 -ffp-contract=fast; measured by "
            "bench/infer_cycles.py's measure_graph."
            + (f" --quick: only {', '.join(QUICK_QEMU)} on QEMU." if plan.quick else "")
        )
    else:
        out.append(f"Instructions not measured: {qemu['why']}. Flash and arena are the host export's.")
    out.append(f"Took {time.perf_counter() - _t0:.0f} s.")
    return out


def main(argv: list[str] | None = None) -> int:
    """Train, export, measure and print (tables or --json)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--quick", action="store_true", help="1 seed, few epochs (smoke test)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per row (default 3; 1 with --quick)")
    ap.add_argument("--no-qemu", action="store_true", help="host only: no instruction counts")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.seeds is not None:
        if args.seeds < 1:
            ap.error("--seeds must be at least 1")
        plan = plan._replace(seeds=args.seeds)
    if args.no_qemu:
        qemu = {"ran": False, "why": "--no-qemu"}
    else:
        ok, why = emulator_available(TARGET)
        qemu = {"ran": ok, "why": why}
        if not ok:
            log(f"cannot run {TARGET} here ({why}): instruction counts skipped, host export only")
    log(f"plan: {plan}; QEMU: {'yes' if qemu['ran'] else 'no'}")
    models = [train_digits(seed, plan) for seed in range(plan.seeds)]
    rows = digits_rows(models, qemu["ran"], plan)
    small = [train_small(seed, plan) for seed in range(plan.seeds)]
    rows += small_rows(small)
    result: dict[str, Any] = {
        "target": TARGET,
        "unit": "QEMU instructions (not cycles)",
        "settings": {
            **plan._asdict(),
            "optimizer": OPT,
            "set": SET_OPTIONS,
            "small_n": SMALL_N,
            "qemu_samples": QEMU_SAMPLES,
            "policies": POLICIES,
        },
        "qemu": qemu,
        "rows": rows,
        "claim": claim_checks(rows),
        "goals": goals(rows),
    }
    result["notes"] = notes(plan, qemu, rows)
    result["seconds"] = round(time.perf_counter() - _t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_tables(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
