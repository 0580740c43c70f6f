"""Memory report (per-layer flash, arena, stack, totals vs the target) and the budget check.

Flash = the model's const data (exact: array and argument-struct bytes) + an estimate of the
runtime code it links (per-kernel .text measured with arm-none-eabi-gcc 12 -O2, the larger of the
Cortex-M3 and Cortex-M4F builds). RAM = arena (exact, from the memory plan) + the caller's input
and output buffers + the stack. The stack estimate is the deepest call chain from
``et_model_infer`` through the kernels it calls, using frame sizes measured with gcc's
``-fstack-usage`` (largest of host x86-64, Cortex-M3 and Cortex-M4F), plus libm's expf for
softmax; it excludes interrupt handlers. The RAM check reserves the larger of this estimate and
the target's own stack reservation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ...errors import BudgetExceededError
from ...targets import Target
from . import raw_input
from .program import Program
from .rules import KERNEL_SOURCES

# .text bytes per runtime source (arm-none-eabi-gcc 12.2 -O2, max of M3 and M4F); a test compiles
# every source and keeps this table within a few percent of the truth.
CODE_BYTES = {
    "et_dense_s8.c": 4460,
    "et_dense_s8_ref.c": 480,
    "et_dense_f32.c": 1056,
    "et_dense_f32_ref.c": 288,
    "et_add.c": 1024,
    "et_relu.c": 336,
    "et_softmax.c": 172,
    "et_status.c": 438,
    # sparse sources hold the float32 and int8 kernels of their format family
    "et_sparse_csr.c": 2984,
    "et_sparse_delta.c": 1448,
    "et_sparse_bitmap.c": 1164,
    "et_sparse_motif.c": 2032,
    "et_sparse_ref.c": 3000,
    "et_sparse_csc.c": 2660,
    "et_sparse_grouped.c": 9508,  # M4F: a two-row assembly ReLU loop per row length 0..24
    "et_activation_f32.c": 420,
    "et_lut_s8.c": 52,
    # shared-weight forward and fused backward + update (the training head's clustered layers)
    "et_dense_f32_shared.c": 3200,
    "et_dense_f32_shared_ref.c": 1760,
    # clustered weights read as packed indices (et_cluster.h): the fast int8 source holds a
    # Cortex-M4 path per index width
    "et_dense_f32_cluster.c": 6600,
    "et_dense_f32_cluster_ref.c": 840,
    "et_dense_s8_cluster.c": 12800,
    "et_dense_s8_cluster_ref.c": 920,
    # convolutions and pools (et_conv_f32.c holds the grouped and the depthwise fast kernels;
    # et_conv_geom.c the argument checks every conv and pool kernel calls)
    "et_conv_f32.c": 4090,
    "et_conv_f32_ref.c": 1444,
    "et_conv_geom.c": 784,
    "et_pool_f32.c": 1340,
    "et_conv_s8.c": 9400,
    "et_conv_s8_ref.c": 1530,
    "et_pool_s8.c": 1910,
}
# Runtime functions a kernel calls in other sources, linked with it (code size; their frames are in
# the kernel's KERNEL_STACK figure).
KERNEL_CALLEES = {
    "et_conv_f32": ("et_dense_f32", "et_conv_geom_check"),
    "et_conv_f32_ref": ("et_conv_geom_check",),
    "et_depthwise_conv_f32": ("et_conv_geom_check",),
    "et_depthwise_conv_f32_ref": ("et_conv_geom_check",),
    "et_max_pool_f32": ("et_conv_geom_check",),
    "et_avg_pool_f32": ("et_conv_geom_check",),
    "et_conv_s8": ("et_dense_s8", "et_conv_geom_check"),
    "et_conv_s8_ref": ("et_conv_geom_check",),
    "et_depthwise_conv_s8": ("et_conv_geom_check",),
    "et_depthwise_conv_s8_ref": ("et_conv_geom_check",),
    "et_max_pool_s8": ("et_conv_geom_check",),
    "et_avg_pool_s8": ("et_conv_geom_check",),
}
# newlib functions some kernels call (bytes rounded up; tanhf brings its own expm1f).
LIBM_BYTES = {"expf": 1024, "tanhf": 1024}
LIBM_CALLS = {"et_softmax_f32": ("expf",), "et_sigmoid_f32": ("expf",), "et_tanh_f32": ("tanhf",)}
MODEL_CODE_BYTES_PER_CALL = 24  # argument set-up, call and status test in et_model_infer
# Deepest stack per kernel (bytes, -fstack-usage, max over host/M3/M4F, callees included).
KERNEL_STACK = {
    "et_dense_s8": 216 + 72,  # et_dense_s8 -> et_block4
    "et_dense_s8_ref": 56,
    "et_dense_f32": 176,
    "et_dense_f32_ref": 96,
    "et_dense_f32_cluster": 32 + 208,  # -> et_clf_layerN
    "et_dense_f32_cluster_ref": 104,
    "et_dense_s8_cluster": 216 + 80 + 56 + 96,  # -> et_cl8_block4 -> row kernel / lookup
    "et_dense_s8_cluster_ref": 80,
    "et_add_s8": 56,
    # Float kernels on the Cortex-M3 call libgcc's soft-float helpers: +16 B for their frames.
    "et_add_f32": 32 + 16,
    "et_relu_f32": 24 + 16,
    "et_relu6_f32": 32 + 16,
    "et_relu_s8": 16,
    "et_relu6_s8": 16,
    "et_softmax_f32": 80 + 96,  # + newlib expf
    # sparse kernels: own frame (max host/M3/M4F) + 32 for the argument check if not inlined
    "et_sparse_f32_ref": 224 + 32 + 24,
    "et_sparse_s8_ref": 192 + 32 + 24,  # + et_sp_next_pos
    "et_sparse_f32_csr": 120 + 32,
    "et_sparse_f32_coo": 120 + 32,
    "et_sparse_f32_delta": 120 + 32,
    "et_sparse_f32_bitmap": 136 + 32,
    "et_sparse_f32_motif": 168 + 32,
    "et_sparse_s8_csr": 88 + 32,
    "et_sparse_s8_coo": 88 + 32,
    "et_sparse_s8_delta": 112 + 32,
    "et_sparse_s8_bitmap": 128 + 32,
    "et_sparse_s8_motif": 152 + 32,
    "et_sparse_f32_csc": 128 + 36 + 32,
    "et_sparse_s8_csc": 88 + 32,  # f32: + the M4F column loop (36 B)
    "et_sparse_f32_grouped": 168 + 32,
    "et_sparse_s8_grouped": 152 + 32,
    "et_sigmoid_f32": 32 + 96,
    "et_tanh_f32": 32 + 96,  # + newlib expf / tanhf
    "et_leaky_relu_f32": 32 + 16,
    "et_hard_swish_f32": 40 + 16,
    "et_lut_s8": 8,
    "et_dense_f32_shared": 176 + 16,
    "et_dense_f32_shared_ref": 104 + 16,
    # conv / pool: own frame (max host/M3/M4F) + the deeper of its callees (the argument check
    # et_conv_f32_check 24 -> et_conv_geom_check 72 -> et_axis_check 24 = 120, or et_dense_f32's
    # 176 for the fast conv) + 16 for the M3's soft-float helpers
    "et_conv_f32": 528 + 176 + 16,
    "et_conv_f32_ref": 272 + 120 + 16,
    "et_depthwise_conv_f32": 288 + 120 + 16,
    "et_depthwise_conv_f32_ref": 256 + 120 + 16,
    "et_max_pool_f32": 8 + 208 + 96 + 16,
    "et_avg_pool_f32": 8 + 208 + 96 + 16,  # -> et_pool_f32 -> check
    "et_global_avg_pool_f32": 72 + 16,
    # int8: no soft-float helpers; the fast conv's deeper callee is et_dense_s8 (216 + 72)
    "et_conv_s8": 1504 + 288,
    "et_conv_s8_ref": 192 + 120,
    "et_depthwise_conv_s8": 1264 + 40 + 120,
    "et_depthwise_conv_s8_ref": 160 + 120,
    "et_max_pool_s8": 80 + 16 + 96,
    "et_avg_pool_s8": 144 + 16 + 96,  # -> et_pool_s8_check -> geom check
    "et_global_avg_pool_s8": 128,
}
INFER_FRAME = 48  # et_model_infer's own frame (saved registers, status)
SOURCE_OF = KERNEL_SOURCES  # runtime function -> source file, from the C rule table


@dataclass
class LayerMemory:
    """``weights`` = ``weight_index`` + ``weight_values``: a sparse layer's index arrays (row
    pointers, columns, gaps, bitmap) and its stored values, delta-offset fillers included (their
    count is ``fillers``). ``format`` is the storage of the weight ("dense" when not sparse)."""

    layer: str
    op: str
    weights: int = 0
    format: str = ""
    weight_index: int = 0
    weight_values: int = 0
    fillers: int = 0
    nnz: int = 0
    bias: int = 0
    quant: int = 0  # multipliers + shifts
    args: int = 0  # static const argument struct
    activation: int = 0  # bytes of the tensor the layer writes
    scratch: int = 0  # bytes of its kernel's scratch buffer (a conv's im2col window)
    live: int = 0  # arena bytes in use while it runs: its input, output, scratch and kept tensors
    macs: int = 0

    @property
    def flash(self) -> int:
        """The layer's const data in flash: weights, bias, requantization arrays and argument struct."""
        return self.weights + self.bias + self.quant + self.args


@dataclass
class MemoryReport:
    """The flash and RAM a model needs on one target, per layer and in total, with the target's
    budgets (None: the target sets no budget); built by `memory_report`."""

    model: str
    target: str
    dtype: str
    layers: list[LayerMemory]
    raw_weight_bytes: int  # parameters x element size, no padding: the floor for weight flash
    data_bytes: int
    code_bytes_estimate: int
    arena_bytes: int
    arena_lower_bound: int
    io_bytes: int
    stack_estimate: int
    stack_reserved: int
    flash_budget: int | None
    ram_budget: int | None
    notes: list[str] = field(default_factory=list)
    # et_model_input_from_raw's statistics (mean, std): flash when the firmware calls it.
    raw_input_bytes: int = 0

    @property
    def weight_bytes(self) -> int:
        """The weight bytes of all layers, sparse index arrays included."""
        return sum(layer.weights for layer in self.layers)

    @property
    def flash_bytes(self) -> int:
        """Total flash: model data, the input statistics and the estimated runtime code."""
        return self.data_bytes + self.raw_input_bytes + self.code_bytes_estimate

    @property
    def ram_bytes(self) -> int:
        """Total RAM: the arena, the caller's input and output buffers and the reserved stack."""
        return self.arena_bytes + self.io_bytes + self.stack_reserved

    @property
    def fits(self) -> bool:
        """Whether flash and RAM are both within the target's budgets."""
        return not self.overshoot()

    def overshoot(self) -> dict[str, int]:
        """Bytes over budget, keyed "flash" and/or "ram"; empty when the model fits."""
        over = {}
        if self.flash_budget is not None and self.flash_bytes > self.flash_budget:
            over["flash"] = self.flash_bytes - self.flash_budget
        if self.ram_budget is not None and self.ram_bytes > self.ram_budget:
            over["ram"] = self.ram_bytes - self.ram_budget
        return over

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (memory_report.json): every field, each layer's flash and the
        derived totals, ``fits`` and ``overshoot``."""
        d = asdict(self)
        for row, layer in zip(d["layers"], self.layers):
            row["flash"] = layer.flash
        d.update(
            weight_bytes=self.weight_bytes,
            flash_bytes=self.flash_bytes,
            ram_bytes=self.ram_bytes,
            fits=self.fits,
            overshoot=self.overshoot(),
        )
        return d

    def table_rows(self) -> list[list[Any]]:
        """One row per layer in `TABLE_COLUMNS` order, then an "all layers" row of the byte totals."""
        rows: list[list[Any]] = [
            [
                lm.layer,
                lm.op,
                lm.format,
                lm.weight_index,
                lm.weight_values,
                lm.weights,
                lm.bias,
                lm.quant,
                lm.args,
                lm.flash,
                lm.activation,
                lm.scratch,
                lm.live,
            ]
            for lm in self.layers
        ]
        rows.append(
            [
                "all layers",
                "",
                "",
                sum(lm.weight_index for lm in self.layers),
                sum(lm.weight_values for lm in self.layers),
                self.weight_bytes,
                sum(lm.bias for lm in self.layers),
                sum(lm.quant for lm in self.layers),
                sum(lm.args for lm in self.layers),
                self.data_bytes,
                "",
                "",
                "",
            ]
        )
        return rows

    TABLE_COLUMNS = (
        "layer",
        "op",
        "format",
        "index B",
        "values B",
        "weights B",
        "bias B",
        "quant B",
        "args B",
        "flash B",
        "out B",
        "scratch B",
        "live B",
    )
    TABLE_LEGEND = (
        "flash B = weights + bias + quant (requantization) + args (argument struct); out B = the "
        "tensor a layer writes; live B = arena bytes in use while it runs (input, output, scratch "
        "and tensors kept for later layers)"
    )

    def summary_rows(self) -> list[list[Any]]:
        """The flash and RAM totals as [item, bytes, budget or note] rows ("-": no budget)."""

        def budget(v: int | None) -> str:
            return "-" if v is None else f"{v:,}"

        return [
            ["flash: model data", f"{self.data_bytes:,}", ""],
            ["flash: input standardisation (et_model_input_from_raw)", f"{self.raw_input_bytes:,}", ""],
            ["flash: runtime code (estimate)", f"{self.code_bytes_estimate:,}", ""],
            ["flash total", f"{self.flash_bytes:,}", budget(self.flash_budget)],
            ["RAM: arena (planned)", f"{self.arena_bytes:,}", f"live peak {self.arena_lower_bound:,}"],
            ["RAM: input + output buffers", f"{self.io_bytes:,}", ""],
            [f"RAM: stack (estimate {self.stack_estimate:,})", f"{self.stack_reserved:,}", ""],
            ["RAM total", f"{self.ram_bytes:,}", budget(self.ram_budget)],
        ]


def memory_report(p: Program, target: Target) -> MemoryReport:
    """The memory report of ``p`` on ``target``: per-layer flash and RAM, the arena plan, exact data
    bytes and estimated code size and stack, against the target's budgets."""
    layers: dict[str, LayerMemory] = {}
    for step, c in enumerate(p.calls):  # one call per kernel step, numbered as the memory plan's
        lm = layers.setdefault(c.layer, LayerMemory(c.layer, c.op, macs=p.macs.get(c.layer, 0)))
        lm.args += c.struct_bytes
        lm.activation = p.lowered.size(c.output) * p.elem_bytes
        scratch = p.plan.buffers.get(f"{c.layer}:scratch")
        lm.scratch = scratch.size if scratch is not None else 0
        lm.live = sum(b.size for b in p.plan.buffers.values() if b.first <= step <= b.last)
    for name, ls in p.storage.items():
        lm = layers[name]
        lm.format, lm.nnz, lm.fillers = ls.format, ls.nnz, ls.nbytes.fillers
    for a in p.arrays:
        if a.condition is not None and not p.force_ref:
            continue  # not compiled into the default build
        lm = layers[a.layer]
        if a.role in ("weights", "codebook", "pairs"):  # a clustered layer's values: codebook, pair table
            lm.weights += a.nbytes
            lm.weight_values += a.nbytes
        elif a.role.startswith("idx_"):
            lm.weights += a.nbytes
            lm.weight_index += a.nbytes
        elif a.role in ("bias", "eff_bias"):
            lm.bias += a.nbytes
        else:
            lm.quant += a.nbytes
    raw = sum(
        p.lowered.graph.params[s.node.params["weight"]].size * p.elem_bytes
        for s in p.lowered.steps
        if s.kind in ("dense", "conv2d", "conv1d")
    )
    # Each call names its fast kernel first and its reference last: a build links one of them
    # (and what that one calls in other sources).
    kernels = {c.kernels[-1] if p.force_ref else c.kernels[0] for c in p.calls}
    linked = kernels | {k for kernel in kernels for k in KERNEL_CALLEES.get(kernel, ())}
    sources = {"et_status.c"} | {SOURCE_OF[k] for k in linked}
    input_check = 1 if p.qmodel is None else 0  # float models call et_check_finite_f32 first
    code = sum(CODE_BYTES[s] for s in sources) + MODEL_CODE_BYTES_PER_CALL * (len(p.calls) + input_check)
    code += sum(LIBM_BYTES[f] for f in {f for k in kernels for f in LIBM_CALLS.get(k, ())})
    stack = INFER_FRAME + max((KERNEL_STACK[k] for k in kernels), default=0)
    rows = list(layers.values())
    return MemoryReport(
        model=p.name,
        target=target.name,
        dtype=p.dtype,
        layers=rows,
        raw_weight_bytes=raw,
        data_bytes=sum(r.flash for r in rows),
        code_bytes_estimate=code,
        arena_bytes=p.plan.arena_bytes,
        arena_lower_bound=p.plan.peak_live_bytes(),
        io_bytes=p.input_bytes + p.output_bytes,
        stack_estimate=stack,
        stack_reserved=max(stack, target.stack_bytes),
        flash_budget=target.flash_bytes,
        ram_budget=target.ram_bytes,
        notes=["code size and stack are estimates (see edgetrain/export/c/report.py); data and arena bytes are exact"],
        raw_input_bytes=raw_input.flash_bytes(p.standardisation),
    )


def check_budget(report: MemoryReport) -> None:
    """Raise BudgetExceededError naming the target, each overshoot and the largest layers."""
    over = report.overshoot()
    if not over:
        return
    parts = []
    if "flash" in over:
        big = sorted(report.layers, key=lambda lm: -lm.flash)[:3]
        parts.append(
            f"flash needs {report.flash_bytes:,} B of {report.flash_budget:,} B "
            f"(over by {over['flash']:,} B); largest layers: " + ", ".join(f"{lm.layer} {lm.flash:,} B" for lm in big)
        )
    if "ram" in over:
        big = sorted(report.layers, key=lambda lm: -lm.activation)[:3]
        peak = max(report.layers, key=lambda lm: lm.live)
        parts.append(
            f"RAM needs {report.ram_bytes:,} B of {report.ram_budget:,} B "
            f"(over by {over['ram']:,} B: arena {report.arena_bytes:,} B, I/O "
            f"{report.io_bytes:,} B, stack {report.stack_reserved:,} B); layer {peak.layer} needs "
            f"{peak.live:,} B of arena while it runs; largest "
            "activations: " + ", ".join(f"{lm.layer} {lm.activation:,} B" for lm in big)
        )
    hint = (
        "use int8 (--dtype int8), narrower layers, or a bigger target"
        if report.dtype == "f32"
        else "use narrower layers or a bigger target"
    )
    raise BudgetExceededError(f"model {report.model!r} does not fit {report.target}: " + "; ".join(parts), hint=hint)
