"""Sparse inference on an emulated STM32F405 (QEMU): every storage format vs the dense model.

Model: the digits MLP 64-512-512-10 trained with SET (`apply_set`, eps 5,
zeta 0.3; about 3.5-4% of the weights) and the same MLP trained dense, both with SGD + momentum
(the usual SET recipe) for EPOCHS epochs. Each model is exported with `export_c`
(float32, and int8 per-channel PTQ) with every sparse format forced in turn (`sparse_format`), plus
the two policies ("auto": smallest bytes; "fast": float32 row-grouped CSR on hidden units sorted
by fan-in, int8 input-driven CSC, dense above 50% density), built with production flags (-O2, -ffp-contract=fast) and run on the whole
digits test split under QEMU `-icount shift=0`. Counts are QEMU *instructions* read from TIM2
(deterministic), not silicon cycles. Every run is checked against numpy: int8 bit for bit against
the int8 reference, float32 to 1e-5 of the output magnitude.

Then the SET model's FINE-TUNING firmware (`finetune_on_device`: frozen body, trainable float32
last layer, SGD + momentum, batch 1) against its inference firmware ("auto" formats), float32 and
int8 bodies: the frozen body must stay sparse (its flash bytes equal the inference export's, layer
by layer) and the forward pass must cost what inference costs. The fine-tuning harness counts
`et_train_infer` (body + head forward of one sample, no loss or backward) on the evaluation boot:
that is the forward-only figure; a training step (forward, loss, guard, backward + update) is
reported beside it. The trainable head is necessarily stored dense (RAM copy, float32 initial
values + mask in flash) where inference stores it sparse, so the float32 forward is also compared
with the inference firmware of the same model with its head stored dense.

    .venv/bin/python bench/sparse.py          # table
    .venv/bin/python bench/sparse.py --json   # machine-readable
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import edgetrain as et  # noqa: E402
from edgetrain.device import build_firmware, emulator_available, run_firmware  # noqa: E402
from edgetrain.export.c import export_c  # noqa: E402
from edgetrain.device.finetune import finetune_on_device  # noqa: E402
from edgetrain.quantize.reference import int8_reference  # noqa: E402
from edgetrain.techniques.sparse_set import apply_set  # noqa: E402

TARGET = "stm32f405"
EPOCHS = 20
FORMATS = ("auto", "fast", "grouped", "csr", "csc", "coo", "delta8", "delta4", "bitmap")
DTYPES = ("f32", "int8")
GOAL_F32_CSR_PER_NNZ = 4.0  # instructions per stored weight, float32 CSR (whole inference / nnz)
GOAL_SPEEDUP = 10.0         # dense instructions / sparse instructions at ~3.5% density
GOAL_FT_FORWARD = 0.05      # fine-tuning forward vs inference forward (same storage), relative
FT_STEPS = 4                # fine-tuning steps (step figure = their median; flash and forward do not depend on it)
FT_OPT = dict(optimizer="sgd", lr=0.01, momentum=0.9)  # batch 1: fits 128 KiB RAM beside the banks


@functools.lru_cache(maxsize=None)
def digits() -> et.Dataset:
    return et.load_data("digits")


def mlp(hidden: tuple[int, ...], seed: int, name: str) -> et.Graph:
    layers = [et.Dense(h, "relu") for h in hidden] + [et.Dense(10)]
    return et.Sequential(layers, input_shape=digits().n_features, seed=seed, name=name)


@functools.lru_cache(maxsize=None)
def trained(kind: str, hidden: tuple[int, ...] = (512, 512), epochs: int = EPOCHS, eps: float = 5.0) -> et.Graph:
    """The dense or SET-trained MLP (cached: both dtypes and all formats share one training)."""
    g = mlp(hidden, 0, f"{kind}_64_{'_'.join(map(str, hidden))}_10")
    callbacks = [apply_set(g, eps=eps, zeta=0.3, seed=0)] if kind == "set" else []
    et.fit(g, digits(), epochs=epochs, optimizer=et.SGD(0.05, momentum=0.9, weight_decay=1e-4),
           batch_size=32, seed=0, callbacks=callbacks)
    return g


def stored_weights(g: et.Graph) -> int:
    return sum(int(p.mask.sum()) if p.mask is not None else p.size
               for n in g.nodes if n.op == "dense" for p in [g.params[n.params["weight"]]])


def measure(graph: et.Graph, dtype: str, fmt: str | None, samples: int | None = None,
            inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Export (``fmt``: a forced sparse format, "auto", or None for an unmasked model), build for
    stm32f405, run the test split (first ``samples``; or ``inputs``, then accuracy is 0), check
    against numpy; one table row."""
    d = digits()
    x = np.ascontiguousarray(d.test.x[:samples] if inputs is None else inputs, np.float32)
    y = d.test.y[: len(x)] if inputs is None else np.full(len(x), -1)
    with tempfile.TemporaryDirectory(prefix="edgetrain-bench-sparse-") as tmp:
        res = export_c(graph, TARGET, Path(tmp) / "model", dtype, d.train.x[:256],  # type: ignore[arg-type]
                       per_channel=True, sparse_format=None if fmt in (None, "auto") else fmt)
        fw = build_firmware(TARGET, Path(tmp) / "model", Path(tmp) / "build", parity=False)
        run = run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=300)
    if dtype == "int8":
        ref = int8_reference(res.qmodel, x)
        if not np.array_equal(run.outputs, ref):
            raise AssertionError(f"{graph.name} int8 {fmt}: device output differs from the numpy reference")
        max_err = 0.0
    else:
        ref = et.predict(graph, x)
        err = np.abs(run.outputs - ref)
        max_err = float(err.max())
        if not np.all(err <= 1e-5 * np.maximum(1.0, np.abs(ref))):
            raise AssertionError(f"{graph.name} f32 {fmt}: device output differs from numpy by {max_err:.3g}")
    counts = np.asarray(run.instructions_per_inference, np.int64)
    rep = res.report
    nnz = stored_weights(graph)
    per_inf = float(counts.mean())
    return {
        "model": graph.name, "dtype": dtype, "format": fmt or "dense",
        "layer_formats": {lm.layer: lm.format for lm in rep.layers},
        "layer_data_bytes": {lm.layer: int(lm.weights + lm.bias + lm.quant) for lm in rep.layers},
        "samples": int(len(x)), "stored_weights": nnz,
        "instructions_per_inference": per_inf,
        "instructions_min": int(counts.min()), "instructions_max": int(counts.max()),
        "instructions_per_sample": counts.tolist(),
        "instructions_per_stored_weight": per_inf / nnz,
        "accuracy": float((run.outputs.argmax(1) == y).mean()),
        "max_abs_err": max_err,
        "weight_index_bytes": int(sum(lm.weight_index for lm in rep.layers)),
        "weight_value_bytes": int(sum(lm.weight_values for lm in rep.layers)),
        "fillers": int(sum(lm.fillers for lm in rep.layers)),
        "weight_bytes": int(rep.weight_bytes),
        "model_data_bytes": int(rep.data_bytes),
        "image_flash_bytes": int(run.sizes.flash_bytes),
    }


def count_only(graph: et.Graph, samples: int = 2) -> float:
    """Instructions per inference of a float32 model (outputs checked against numpy, accuracy unused)."""
    x = np.random.default_rng(0).standard_normal((samples, *graph.input_shape)).astype(np.float32)
    return measure(graph, "f32", None, inputs=x)["instructions_per_inference"]


def dense_f32_composed(dense: et.Graph, samples: int = 2) -> dict[str, Any]:
    """The dense float32 64-512-512-10 needs 1.07 MB of weights: it does not fit the STM32F405's
    1 MiB flash, so its count is composed from models that do (the dense kernels' instruction counts
    do not depend on the data): A = 64-512-256-10, B = 512-256, C = 512-10, D = 256-10;
    full = A + B - D + C (one call overhead too many, a few dozen instructions)."""
    def net(n_in: int, layers: list[tuple[int, str | None]], name: str) -> et.Graph:
        return et.Sequential([et.Dense(n, act) for n, act in layers], input_shape=n_in, seed=0, name=name)

    a = count_only(net(64, [(512, "relu"), (256, "relu"), (10, None)], "a"), samples)
    b = count_only(net(512, [(256, "relu")], "b"), samples)
    c = count_only(net(512, [(10, None)], "c"), samples)
    d = count_only(net(256, [(10, None)], "d"), samples)
    x = digits().test
    return {"model": dense.name, "dtype": "f32", "format": "dense", "layer_formats": {},
            "samples": int(len(x.x)), "stored_weights": stored_weights(dense),
            "instructions_per_inference": a + b - d + c, "instructions_min": 0, "instructions_max": 0,
            "instructions_per_sample": [], "instructions_per_stored_weight": (a + b - d + c) / stored_weights(dense),
            "accuracy": float((et.predict(dense, x.x).argmax(1) == x.y).mean()), "max_abs_err": 0.0,
            "weight_index_bytes": 0, "weight_value_bytes": 4 * stored_weights(dense), "fillers": 0,
            "weight_bytes": 4 * stored_weights(dense), "model_data_bytes": 0, "image_flash_bytes": 0,
            "note": "does not fit 1 MiB flash: instructions composed (A+B-D+C), accuracy from numpy"}


def grouped_layers_alone(graph: et.Graph, fast: dict[str, Any]) -> dict[str, Any]:
    """Instructions of the "fast" export's row-grouped layers alone: the whole inference minus its
    other layers, each measured as a one-layer model with the same weights run by the same dense
    kernel (dense counts do not depend on the data). The rest is call overhead of a few dozen."""
    rest = 0.0
    for layer, fmt in fast["layer_formats"].items():
        if fmt == "grouped":
            continue
        if fmt != "dense":
            raise ValueError(f"{layer}: only dense layers are measured alone, not {fmt}")
        node = graph.node(layer)
        w, b = (graph.params[node.params[r]].effective() for r in ("weight", "bias"))
        act = "relu" if any(c.op == "relu" for c in graph.consumers(layer)) else None
        one = et.Sequential([et.Dense(w.shape[1], act)], input_shape=w.shape[0], seed=0, name=f"{layer}_alone")
        one.params["dense1.weight"].value, one.params["dense1.bias"].value = w, b
        rest += count_only(one)
    nnz = sum(int(graph.params[graph.node(layer).params["weight"]].nnz)
              for layer, fmt in fast["layer_formats"].items() if fmt == "grouped")
    total = fast["instructions_per_inference"] - rest
    return {"layers": [k for k, f in fast["layer_formats"].items() if f == "grouped"], "instructions": total,
            "stored_weights": nnz, "instructions_per_stored_weight": total / nnz}


def dense_head(graph: et.Graph) -> et.Graph:
    """A copy of ``graph`` whose last dense layer stores every weight (its mask folded into the
    values): what a fine-tuning firmware must keep of a trainable head."""
    g = graph.copy()
    g.name = f"{graph.name}_dense_head"
    head = [n for n in g.nodes if n.op == "dense"][-1]
    p = g.params[head.params["weight"]]
    p.value, p.mask = p.effective().copy(), None
    p.meta.pop("sparse", None)
    return g


def finetune_vs_inference(graph: et.Graph, dtype: str, inference: dict[str, Any],
                          dense_head_inference: dict[str, Any] | None = None,
                          samples: int | None = None) -> dict[str, Any]:
    """The fine-tuning firmware of ``graph`` (frozen ``dtype`` body, trainable float32 last layer)
    against ``inference``, the "auto" row of `measure` for the same model, dtype and samples (and,
    float32, ``dense_head_inference``: the row of `dense_head(graph)`)."""
    d = digits()
    x_eval = np.ascontiguousarray(d.test.x[:samples], np.float32)
    if len(x_eval) != inference["samples"]:
        raise ValueError("the inference row was measured on other samples")
    rep = finetune_on_device(graph, TARGET, d.train.x[:FT_STEPS], d.train.y[:FT_STEPS], steps=FT_STEPS, batch=1,
                             trainable="last:1", body=dtype, x_eval=x_eval, y_eval=d.test.y[: len(x_eval)],
                             calib_x=d.train.x[:256], parity=False, shuffle=False, **FT_OPT)  # type: ignore[arg-type]
    prog = rep.program
    assert prog is not None and rep.eval_instructions_per_sample is not None and rep.instructions_per_step
    head = prog.split.head
    head_layers = {n.name for n in head.nodes if n.op == "dense"}
    ft_layer_bytes: dict[str, int] = {}
    for a in prog.arrays:
        if a.condition is None:
            ft_layer_bytes[a.layer] = ft_layer_bytes.get(a.layer, 0) + int(a.values.nbytes)
    body_layers = [k for k in inference["layer_formats"] if k not in head_layers]
    inf_body = sum(inference["layer_data_bytes"][k] for k in body_layers)
    ft_body = sum(ft_layer_bytes.get(k, 0) for k in body_layers)
    ft_forward = float(rep.eval_instructions_per_sample)
    row: dict[str, Any] = {
        "model": graph.name, "dtype": dtype, "samples": int(len(x_eval)), "trainable": rep.trainable,
        "optimizer": {**FT_OPT, "batch": 1},
        "body_layers": body_layers, "body_formats": {k: inference["layer_formats"][k] for k in body_layers},
        "inference_flash_bytes": inference["image_flash_bytes"],
        "finetune_flash_bytes": int(rep.image.flash_bytes),
        "flash_ratio": rep.image.flash_bytes / inference["image_flash_bytes"],
        "inference_body_data_bytes": int(inf_body), "finetune_body_data_bytes": int(ft_body),
        "finetune_const_data_bytes": int(rep.memory.const_data_bytes),
        "inference_model_data_bytes": inference["model_data_bytes"],
        "finetune_static_ram_bytes": int(rep.image.static_ram_bytes),
        "inference_instructions_per_inference": inference["instructions_per_inference"],
        "finetune_forward_instructions": ft_forward,
        "forward_ratio": ft_forward / inference["instructions_per_inference"],
        "finetune_step_instructions": int(np.median(rep.instructions_per_step)),
        "finetune_accuracy_after": rep.accuracy_after,
        "inference_accuracy": inference["accuracy"],
    }
    if dense_head_inference is not None:
        row["dense_head_inference_flash_bytes"] = dense_head_inference["image_flash_bytes"]
        row["dense_head_inference_instructions"] = dense_head_inference["instructions_per_inference"]
        row["forward_ratio_dense_head"] = ft_forward / dense_head_inference["instructions_per_inference"]
    return row


def finetune_goals(ft_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in ft_rows:
        same = r["finetune_body_data_bytes"] == r["inference_body_data_bytes"]
        out.append({"goal": f"{r['dtype']} fine-tuning firmware: frozen body bytes = inference body bytes "
                            f"({', '.join(f'{k} {f}' for k, f in r['body_formats'].items())})",
                    "value": r["finetune_body_data_bytes"], "limit": r["inference_body_data_bytes"], "met": same,
                    "display": f"{r['finetune_body_data_bytes']:,}", "relation": "=="})
        if "forward_ratio_dense_head" in r:
            v = r["forward_ratio_dense_head"]
            out.append({"goal": f"{r['dtype']} fine-tuning forward / inference forward (head stored dense in both)",
                        "value": v, "limit": 1.0, "met": abs(v - 1) <= GOAL_FT_FORWARD,
                        "display": f"{v:.3f}", "relation": f"within {100 * GOAL_FT_FORWARD:g}% of"})
    return out


def goals(rows: list[dict[str, Any]], alone: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    by = {(r["model"].split("_")[0], r["dtype"], r["format"]): r for r in rows}
    out = []

    def add(what: str, value: float | None, limit: float, higher_is_better: bool, fmt: str) -> None:
        met = value is not None and (value >= limit if higher_is_better else value <= limit)
        out.append({"goal": what, "value": value, "limit": limit, "met": met,
                    "display": "-" if value is None else format(value, fmt),
                    "relation": ">=" if higher_is_better else "<="})

    if alone is not None:
        add(f"float32 row-grouped kernel alone ({', '.join(alone['layers'])}): instructions per stored weight",
            alone["instructions_per_stored_weight"], GOAL_F32_CSR_PER_NNZ, False, ".2f")
    for fmt in ("fast", "grouped", "csr", "csc"):
        r = by.get(("set", "f32", fmt))
        label = {"csr": "CSR", "csc": "CSC", "grouped": "row-grouped CSR (every layer)",
                 "fast": "fast (row-grouped CSR, dense above 50%)"}[fmt]
        add(f"float32 {label}: instructions per stored weight", r and r["instructions_per_stored_weight"],
            GOAL_F32_CSR_PER_NNZ, False, ".2f")
    for dtype in DTYPES:
        dense = by.get(("dense", dtype, "dense"))
        for fmt in ("fast", "grouped", "csr", "csc", "auto"):
            r = by.get(("set", dtype, fmt))
            ratio = dense["instructions_per_inference"] / r["instructions_per_inference"] if dense and r else None
            add(f"{dtype} {fmt}: dense / sparse instructions", ratio, GOAL_SPEEDUP, True, ".2f")
    return out


def print_table(rows: list[dict[str, Any]], checks: list[dict[str, Any]], seconds: float,
                ft_rows: list[dict[str, Any]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=max(Console().width, 180))
    t = Table(title=f"Sparse MLP 64-512-512-10 on {TARGET} under QEMU: instruction counts "
                    "(-icount shift=0, TIM2), not cycles; -O2 -ffp-contract=fast")
    cols = ("model", "dtype", "format", "stored w", "instr/inference", "instr/stored w", "x fewer than dense",
            "index B", "values B (fillers)", "model data B", "image flash B", "accuracy")
    for c in cols:
        t.add_column(c, justify="left" if c in ("model", "dtype", "format") else "right")
    dense = {r["dtype"]: r["instructions_per_inference"] for r in rows if r["format"] == "dense"}
    for r in rows:
        fmt = r["format"]
        if fmt == "auto":
            fmt = "auto: " + ",".join(r["layer_formats"].values())
        speed = f"{dense[r['dtype']] / r['instructions_per_inference']:.2f}" if r["dtype"] in dense else "-"
        t.add_row(r["model"], r["dtype"], fmt, f"{r['stored_weights']:,}", f"{r['instructions_per_inference']:,.0f}",
                  f"{r['instructions_per_stored_weight']:.2f}", speed, f"{r['weight_index_bytes']:,}",
                  f"{r['weight_value_bytes']:,} ({r['fillers']})", f"{r['model_data_bytes']:,}",
                  f"{r['image_flash_bytes']:,}" if r["image_flash_bytes"] else "does not fit",
                  f"{100 * r['accuracy']:.2f}%")
    con.print(t)
    g = Table(title="Goals")
    for c in ("goal", "measured", "goal value", "met"):
        g.add_column(c)
    for c in checks:
        g.add_row(c["goal"], c["display"], f"{c['relation']} {c['limit']:g}",
                  "[green]met[/]" if c["met"] else "[red]not met[/]")
    con.print(g)
    for r in rows:
        if "note" in r:
            con.print(f"{r['model']} {r['dtype']}: {r['note']}")
    if ft_rows:
        f = Table(title="SET model: fine-tuning firmware (frozen sparse body, trainable float32 last layer, "
                        "SGD+momentum, batch 1) vs inference firmware (auto formats)")
        for c in ("body", "flash B inference", "flash B fine-tuning", "ratio", "body data B inf / ft",
                  "forward instr inference", "forward instr fine-tuning", "ratio", "head-dense inference instr",
                  "ratio", "step instr"):
            f.add_column(c, justify="left" if c == "body" else "right")
        for r in ft_rows:
            hd = "dense_head_inference_instructions" in r
            f.add_row(f"{r['dtype']} ({', '.join(r['body_formats'].values())})", f"{r['inference_flash_bytes']:,}",
                      f"{r['finetune_flash_bytes']:,}", f"{r['flash_ratio']:.3f}",
                      f"{r['inference_body_data_bytes']:,} / {r['finetune_body_data_bytes']:,}",
                      f"{r['inference_instructions_per_inference']:,.0f}", f"{r['finetune_forward_instructions']:,.0f}",
                      f"{r['forward_ratio']:.3f}",
                      f"{r['dense_head_inference_instructions']:,.0f}" if hd else "-",
                      f"{r['forward_ratio_dense_head']:.3f}" if hd else "-", f"{r['finetune_step_instructions']:,}")
        con.print(f)
        con.print("Fine-tuning forward = et_train_infer on the evaluation boot (body + head, one sample, no loss or "
                  "backward); step = forward, loss, guard, backward + update. The fine-tuning image adds the "
                  "training, optimizer, guard and bank-storage code and keeps the trainable head dense "
                  "(float32 initial values + mask) where inference stores it sparse.")
    con.print(f"SET and dense trained {EPOCHS} epochs (SGD 0.05, momentum 0.9, wd 1e-4, batch 32); accuracy "
              f"is measured on the device over {rows[0]['samples']} test samples (int8 outputs equal the numpy "
              "reference bit for bit, float32 within 1e-5). 'instr/stored w' = whole inference / stored "
              f"weights (biases, clamps and call overhead included). Took {seconds:.0f} s.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--samples", type=int, default=None, help="test samples (default: the whole split)")
    ap.add_argument("--no-finetune", action="store_true",
                    help="skip the fine-tuning firmware vs inference firmware comparison")
    args = ap.parse_args(argv)
    ok, why = emulator_available(TARGET)
    if not ok:
        print(f"cannot run {TARGET} here: {why}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    dense, sparse = trained("dense"), trained("set")
    rows = []
    for dtype in DTYPES:
        rows.append(measure(dense, dtype, None, args.samples) if dtype == "int8" else dense_f32_composed(dense))
        rows += [measure(sparse, dtype, fmt, args.samples) for fmt in FORMATS]
    fast = next(r for r in rows if r["dtype"] == "f32" and r["format"] == "fast")
    alone = grouped_layers_alone(sparse, fast)
    checks = goals(rows, alone)
    ft_rows = []
    if not args.no_finetune:
        auto = {r["dtype"]: r for r in rows if r["model"] == sparse.name and r["format"] == "auto"}
        head_dense = measure(dense_head(sparse), "f32", "auto", args.samples)
        ft_rows = [finetune_vs_inference(sparse, dtype, auto[dtype], head_dense if dtype == "f32" else None,
                                         args.samples) for dtype in DTYPES]
        checks += finetune_goals(ft_rows)
    seconds = time.perf_counter() - t0
    if args.json:
        print(json.dumps({"target": TARGET, "unit": "QEMU instructions (not cycles)", "rows": rows,
                          "grouped_layers_alone": alone, "finetune_vs_inference": ft_rows, "goals": checks,
                          "seconds": round(seconds, 1)}, indent=2))
    else:
        print_table(rows, checks, seconds, ft_rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
