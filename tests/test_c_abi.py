"""The C ABI described in edgetrain/export/c/abi.py against the real runtime headers.

* Probe: `abi.probe_source` (compile-time checks of every struct's field offsets, sizes and types,
  its sizeof, every enumerator and #define the Python side relies on) compiles warning-free with
  host gcc (64-bit, and -m32 where the multilib is installed) and arm-none-eabi-gcc for Cortex-M4F
  and Cortex-M3; on the host it also runs, checking the file magics.
* The probe catches a mismatch: a description with two fields swapped, a field of the wrong type
  or a wrong constant fails to compile.
* `struct_initializer` renders a designated initializer for every struct that compiles against its
  header, and refuses missing, unknown and repeated fields.
* Scratch: the C ``et_sparse_*_scratch_bytes`` functions, called for many shapes, equal
  `abi.scratch_bytes` and the scratch buffers the exporter's memory plan reserves.
* Storage: a bank written by et_storage_commit parses with `abi.STORAGE_HEADER` (the first commit
  records one erase of bank A).
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device import exchange
from edgetrain.errors import ExportError
from edgetrain.export.c import abi, prepare_model, sparse

from helpers import INC, M3, M4F, ROOT, SRC

HARNESS = ROOT / "firmware_export" / "templates" / "emulate"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
INCLUDES = [f"-I{INC}", f"-I{HARNESS}"]


def compile_only(cc: str, source: Path, flags: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([cc, *STRICT, *flags, *INCLUDES, "-c", str(source), "-o", str(source.with_suffix(".o"))],
                          capture_output=True, text=True)


def host_model(cc: str, extra: list[str] = ()) -> abi.DataModel:
    """The data model of ``cc`` (with ``extra`` flags), read from its predefined macros."""
    out = subprocess.run([cc, *extra, "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True,
                         check=True).stdout
    pointer = int(re.search(r"__SIZEOF_POINTER__ (\d+)", out).group(1))
    short = "__ARM_EABI__" in out and "__linux__" not in out
    return {8: abi.LP64, 4: abi.CORTEX_M if short else abi.ILP32}[pointer]


def m32_works(cc: str, tmp: Path) -> bool:
    src = tmp / "m32.c"
    src.write_text("#include <stdint.h>\nint32_t et_m32(void);\nint32_t et_m32(void) { return 0; }\n")
    return subprocess.run([cc, "-m32", "-c", str(src), "-o", str(tmp / "m32.o")], capture_output=True).returncode == 0


CROSS = {"cortex-m4f": M4F, "cortex-m3": M3}


# ---------------------------------------------------------------- the probe against the headers

def test_probe_compiles_and_runs_on_the_host(host_cc: str, tmp_path: Path) -> None:
    model = host_model(host_cc)
    src = tmp_path / "probe.c"
    src.write_text(abi.probe_source(model))
    main = tmp_path / "main.c"
    main.write_text("int et_abi_probe_strings(void);\nint main(void)\n{\n    return et_abi_probe_strings();\n}\n")
    exe = tmp_path / "probe"
    res = subprocess.run([host_cc, *STRICT, *INCLUDES, str(src), str(main), str(HARNESS / "et_hio_stdio.c"),
                          "-o", str(exe)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    run = subprocess.run([str(exe)], capture_output=True)
    assert run.returncode == 0, f"{run.returncode} file magic(s) differ between et_harness.h and abi.IO_MAGICS"


def test_probe_compiles_with_m32(host_cc: str, tmp_path: Path) -> None:
    if not m32_works(host_cc, tmp_path):
        pytest.skip("gcc -m32 cannot build here (no 32-bit multilib, e.g. Debian gcc-multilib)")
    assert host_model(host_cc, ["-m32"]) == abi.ILP32
    src = tmp_path / "probe32.c"
    src.write_text(abi.probe_source(abi.ILP32))
    res = compile_only(host_cc, src, ["-m32"])
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("cpu", sorted(CROSS))
def test_probe_compiles_for_cortex_m(cpu: str, arm_cc: str, tmp_path: Path) -> None:
    assert host_model(arm_cc, CROSS[cpu]) == abi.CORTEX_M
    src = tmp_path / "probe.c"
    src.write_text(abi.probe_source(abi.CORTEX_M))
    res = compile_only(arm_cc, src, CROSS[cpu])
    assert res.returncode == 0, res.stderr


def _with_fields(ctype: str, fields: list[abi.Field]) -> dict[str, abi.StructABI]:
    structs = dict(abi.STRUCTS)
    structs[ctype] = dataclasses.replace(structs[ctype], fields=tuple(fields))
    return structs


def _swapped(ctype: str, a: str, b: str) -> dict[str, abi.StructABI]:
    fields = list(abi.STRUCTS[ctype].fields)
    i, j = (abi.STRUCTS[ctype].field_names.index(n) for n in (a, b))
    fields[i], fields[j] = fields[j], fields[i]
    return _with_fields(ctype, fields)


def _retyped(ctype: str, name: str, new_type: str) -> dict[str, abi.StructABI]:
    return _with_fields(ctype, [abi.Field(f.name, new_type) if f.name == name else f
                                for f in abi.STRUCTS[ctype].fields])


WRONG = {
    # same types, so only the field names' offsets tell: what a positional initializer misses
    "swapped n_in/n_out": (lambda: _swapped("et_dense_f32_params", "n_in", "n_out"), None,
                           "et_dense_f32_params__n_in__offset"),
    "swapped idx1/values": (lambda: _swapped("et_sparse_weights", "idx1", "values"), None,
                            "et_sparse_weights__idx1__offset"),
    "float act_min as int32_t": (lambda: _retyped("et_dense_f32_params", "act_min", "int32_t"), None,
                                 "distinct pointer types"),
    "ET_SPARSE_CSC = 9": (None, {"ET_SPARSE_CSC": 9}, "et_abi_ET_SPARSE_CSC"),
    "ET_STORAGE_HEADER_BYTES = 28": (None, {"ET_STORAGE_HEADER_BYTES": 28}, "et_abi_ET_STORAGE_HEADER_BYTES"),
    "ET_HIO_EXIT_HARDFAULT = 70": (None, {"ET_HIO_EXIT_HARDFAULT": 70}, "et_abi_ET_HIO_EXIT_HARDFAULT"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_probe_catches_a_wrong_description(case: str, host_cc: str, tmp_path: Path) -> None:
    structs, constants, needle = WRONG[case]
    src = tmp_path / "wrong.c"
    src.write_text(abi.probe_source(host_model(host_cc), structs() if structs else None,
                                    {**abi.probe_constants(), **constants} if constants else None))
    res = compile_only(host_cc, src, [])
    assert res.returncode != 0, f"the probe accepted {case}"
    assert needle in res.stderr, res.stderr


def test_probe_catches_a_swapped_field_for_cortex_m(arm_cc: str, tmp_path: Path) -> None:
    src = tmp_path / "wrong.c"
    src.write_text(abi.probe_source(abi.CORTEX_M, _swapped("et_param_f32", "m", "v")))
    res = compile_only(arm_cc, src, M4F)
    assert res.returncode != 0 and "et_param_f32__m__offset" in res.stderr, res.stderr


def test_every_struct_and_constant_is_probed() -> None:
    text = abi.probe_source()
    for s in abi.STRUCTS.values():
        assert f"sizeof({s.ctype}) ==" in text
        for f in s.fields:
            assert f"offsetof({s.ctype}, {f.name})" in text
    for name in abi.probe_constants():
        assert f"ET_ABI_CHECK({name}," in text
    for name in abi.IO_MAGICS:
        assert f"et_abi_same4({name}," in text


# ---------------------------------------------------------------- designated initializers

def _sample_values(s: abi.StructABI, decls: list[str], k: list[int]) -> dict[str, object]:
    """A value of the right kind for every field; pointer fields name arrays added to ``decls``."""
    values: dict[str, object] = {}
    for f in s.fields:
        k[0] += 1
        if f.ctype in abi.STRUCTS:
            values[f.name] = _sample_values(abi.STRUCTS[f.ctype], decls, k)
        elif f.is_pointer:
            pointee = f.ctype[:-1].strip()
            base = pointee.replace("const ", "")
            base = "uint8_t" if base == "void" else base
            arr = f"et_abi_arr{k[0]}"
            decls.append(f"static {'const ' if 'const' in pointee else ''}{base} {arr}[4];")
            values[f.name] = arr
        elif f.ctype in abi.ENUMS:
            values[f.name] = max(abi.ENUMS[f.ctype].values())
        elif f.ctype == "float":
            values[f.name] = 0.25 * k[0] if k[0] % 3 else "-FLT_MAX"
        else:
            values[f.name] = k[0]
    return values


def test_designated_initializers_compile(host_cc: str, tmp_path: Path) -> None:
    src = tmp_path / "inits.c"
    src.write_text(_initializer_file())
    res = compile_only(host_cc, src, [])
    assert res.returncode == 0, res.stderr + src.read_text()


@pytest.mark.parametrize("cpu", sorted(CROSS))
def test_designated_initializers_compile_for_cortex_m(cpu: str, arm_cc: str, tmp_path: Path) -> None:
    src = tmp_path / "inits.c"
    src.write_text(_initializer_file())
    res = compile_only(arm_cc, src, CROSS[cpu])
    assert res.returncode == 0, res.stderr


def _initializer_file() -> str:
    decls: list[str] = []
    defs: list[str] = []
    counter = [0]  # numbers every value, so array names are unique across structs
    for s in abi.STRUCTS.values():
        values = _sample_values(s, decls, counter)
        defs.append(abi.struct_initializer(s.ctype, f"et_abi_init_{s.ctype}", values))
    # Use every definition (an unused static const is a warning) and every array.
    users = [f"&et_abi_init_{s}" for s in abi.STRUCTS] + [d.split()[-1].split("[")[0] for d in decls]
    return "\n".join(["#include <float.h>", "#include <stddef.h>", "#include <stdint.h>",
                      '#include "et_runtime.h"', "", *decls, "", *defs, "",
                      "const void *et_abi_used[] = {" + ", ".join(f"(const void *){u}" for u in users) + "};",
                      ""])


def test_struct_initializer_renders_designated_fields() -> None:
    text = abi.struct_initializer("et_dense_f32_params", "et_p_fc", {
        "act_max": "FLT_MAX", "batch": 1, "n_in": 64, "n_out": 32, "act_min": 0.0})
    assert text == ("static const et_dense_f32_params et_p_fc = {.batch = 1, .n_in = 64, .n_out = 32, "
                    ".act_min = 0.000000000e+00f, .act_max = FLT_MAX};")
    add = abi.struct_initializer("et_add_s8_params", "a", {f: -2**31 if f == "act_min" else 0
                                                           for f in abi.STRUCTS["et_add_s8_params"].field_names},
                                 storage="")
    assert add.startswith("et_add_s8_params a = {.input1_offset = 0,") and ".act_min = (-2147483647 - 1)" in add
    info = abi.struct_initializer("et_storage_info", "i", {"sequence": 2**32 - 1, "bank": 0, "valid_banks": 1,
                                                           "erase_count_a": 3, "erase_count_b": 2},
                                  storage="static")
    assert info == ("static et_storage_info i = {.sequence = 4294967295u, .bank = 0, .valid_banks = 1, "
                    ".erase_count_a = 3u, .erase_count_b = 2u};")
    opt = abi.struct_initializer("et_optimizer", "o", {
        "kind": 1, "sgd": {"lr": 0.5, "momentum": 0, "weight_decay": 0},
        "adam": "{0}", "step": {"t": 0, "bc1": 0, "bc2": 0, "step_size": 0, "inv_bc2": 0}}, storage="static")
    assert ".kind = ET_OPTIM_ADAM, .sgd = {.lr = 5.000000000e-01f," in opt and ".adam = {0}" in opt
    p = abi.struct_initializer("et_param_f32", "p", {"value": "w", "m": 0, "v": "NULL", "trainable": 1,
                                                     "mask": 0}, storage="static")
    assert p == "static et_param_f32 p = {.value = w, .m = NULL, .v = NULL, .trainable = 1, .mask = NULL};"


@pytest.mark.parametrize("values, message", [
    ({"batch": 1, "n_in": 2, "n_out": 3, "act_min": 0.0}, "missing field(s) act_max"),
    ({"batch": 1, "n_in": 2, "n_out": 3, "act_min": 0.0, "act_max": 1.0, "scale": 2}, "unknown field(s) scale"),
    ([("batch", 1), ("n_in", 2), ("n_in", 2), ("n_out", 3), ("act_min", 0.0), ("act_max", 1.0)],
     "'n_in' is given twice"),
    ({"batch": 1.5, "n_in": 2, "n_out": 3, "act_min": 0.0, "act_max": 1.0}, "needs an integer"),
    ({"batch": 2**31, "n_in": 2, "n_out": 3, "act_min": 0.0, "act_max": 1.0}, "does not fit int32_t"),
    ({"batch": 1, "n_in": 2, "n_out": 3, "act_min": float("nan"), "act_max": 1.0}, "non-finite"),
    ({"batch": None, "n_in": 2, "n_out": 3, "act_min": 0.0, "act_max": 1.0}, "cannot render"),
])
def test_struct_initializer_checks_every_field(values, message: str) -> None:
    with pytest.raises(ExportError, match=re.escape(message)):
        abi.struct_initializer("et_dense_f32_params", "et_p", values)


def test_struct_initializer_rejects_bad_names_and_types() -> None:
    with pytest.raises(ExportError, match="no ABI description"):
        abi.struct_initializer("et_dense_f64_params", "x", {})
    with pytest.raises(ExportError, match="not a C identifier"):
        abi.struct_initializer("et_storage_info", "1x", {"sequence": 0, "bank": 0, "valid_banks": 1})
    with pytest.raises(ExportError, match="pointer field"):
        abi.struct_initializer("et_storage_segment", "s", {"data": 4, "size": 0})
    with pytest.raises(ExportError, match="no et_optim_kind value"):
        abi.struct_initializer("et_optimizer", "o", {"kind": 7, "sgd": "{0}", "adam": "{0}", "step": "{0}"})
    with pytest.raises(ExportError, match="does not fit uint32_t"):
        abi.struct_initializer("et_storage_info", "i", {"sequence": -1, "bank": 0, "valid_banks": 1,
                                                         "erase_count_a": 0, "erase_count_b": 0})


# ---------------------------------------------------------------- sizes and constants Python uses

def test_struct_sizes_on_cortex_m() -> None:
    # Fixed by the headers: int32 / float fields and 4-byte pointers, no padding.
    assert abi.STRUCT_BYTES == {"et_dense_f32_params": 20, "et_dense_s8_params": 44, "et_add_s8_params": 48}
    assert abi.WEIGHTS_STRUCT_BYTES == 36
    # et_optimizer: a one-byte enum (AAPCS short enums) padded to the float fields that follow.
    assert abi.layout("et_optimizer")[:2] == [("kind", 0, 1), ("sgd", 4, 12)]
    assert abi.struct_bytes("et_optimizer") == abi.struct_bytes("et_optimizer", abi.ILP32) == 64
    assert abi.struct_bytes("et_param_f32", abi.LP64) == 40


def test_python_names_come_from_abi() -> None:
    assert sparse.FORMAT_CODE is abi.FORMAT_CODE and sparse.GROUPED_ASM_MAX_ROW == abi.GROUPED_ASM_MAX_ROW
    assert sparse.WEIGHTS_STRUCT_BYTES == abi.WEIGHTS_STRUCT_BYTES
    assert exchange.EXIT_MEANINGS is abi.EXIT_MEANINGS
    from edgetrain.export.c import train_storage

    assert train_storage.HEADER_BYTES == abi.STORAGE_HEADER_BYTES == abi.STORAGE_HEADER.size
    assert sorted(abi.FORMAT_CODE.values()) == list(range(1, 9))


def test_every_harness_status_has_a_meaning() -> None:
    codes = {*abi.HARNESS_STATUS.values(), *abi.FAULT_STATUS.values()}
    assert codes | {abi.RUNTIME_ERROR_STATUS} == set(abi.EXIT_MEANINGS)
    assert set(abi.FINETUNE_STATUS.values()) <= set(abi.FINETUNE_EXIT_MEANINGS)
    assert not set(abi.FINETUNE_STATUS.values()) & codes
    assert exchange.describe_exit(71) == "HardFault on the target"


def test_grouped_kernel_unrolls_to_the_abi_limit() -> None:
    # et_sparse_grouped.c keeps its own name for the limit inside its assembly section.
    text = (SRC / "et_sparse_grouped.c").read_text()
    assert re.search(r"#define ET_GRP_UNROLLED (\d+)", text).group(1) == str(abi.GROUPED_ASM_MAX_ROW)
    assert f"ET_E{abi.GROUPED_ASM_MAX_ROW}(A)" in text and f"ET_E{abi.GROUPED_ASM_MAX_ROW + 1}(A)" not in text


# ---------------------------------------------------------------- scratch: C, abi and the planner

SCRATCH_DRIVER = r"""
#include <stdio.h>

#include "et_sparse.h"

typedef struct {
    int32_t kernel; /* index in KERNELS */
    int32_t batch, n_in, n_out, block_rows, block_cols;
} et_shape;

static const et_shape et_shapes[] = {
@SHAPES@
};

@STRUCTS@

int main(void)
{
    size_t i;
    for (i = 0; i < sizeof et_shapes / sizeof et_shapes[0]; ++i) {
        const et_shape *s = &et_shapes[i];
        et_dense_f32_params pf;
        et_dense_s8_params ps = et_any_s8;
        et_sparse_weights w = et_any_weights;
        int32_t n;
        pf.batch = ps.batch = s->batch;
        pf.n_in = ps.n_in = s->n_in;
        pf.n_out = ps.n_out = s->n_out;
        pf.act_min = -1.0f;
        pf.act_max = 1.0f;
        w.block_rows = s->block_rows;
        w.block_cols = s->block_cols;
        if (s->kernel == 0) {
            n = et_sparse_f32_motif_scratch_bytes(&pf, &w);
        } else if (s->kernel == 1) {
            n = et_sparse_s8_motif_scratch_bytes(&ps, &w);
        } else {
            n = et_sparse_s8_csc_scratch_bytes(&ps, &w);
        }
        printf("%ld\n", (long)n);
    }
    /* NULL arguments */
    printf("%ld %ld %ld\n", (long)et_sparse_f32_motif_scratch_bytes(NULL, &et_any_weights),
           (long)et_sparse_s8_motif_scratch_bytes(&et_any_s8, NULL),
           (long)et_sparse_s8_csc_scratch_bytes(&et_any_s8, NULL));
    return 0;
}
"""
KERNELS = ("et_sparse_f32_motif", "et_sparse_s8_motif", "et_sparse_s8_csc")


def c_scratch(cc: str, tmp: Path, shapes: list[tuple[str, dict[str, int]]]) -> list[int]:
    """What the C functions return for each (kernel, dims), from one compiled driver."""
    rows = ",\n".join(f"    {{{KERNELS.index(k)}, {d.get('batch', 1)}, {d['n_in']}, {d['n_out']}, "
                      f"{d.get('block_rows', 1)}, {d.get('block_cols', 1)}}}" for k, d in shapes)
    structs = "\n".join([
        abi.struct_initializer("et_dense_s8_params", "et_any_s8", {
            "batch": 1, "n_in": 1, "n_out": 1, "input_offset": 0, "output_offset": 0, "act_min": -128,
            "act_max": 127, "per_channel": 0, "multipliers": 0, "shifts": 0, "eff_bias": 0}),
        abi.struct_initializer("et_sparse_weights", "et_any_weights", {
            "format": 0, "n_entries": 0, "idx0_bytes": 1, "idx1_bytes": 1, "block_rows": 1, "block_cols": 1,
            "idx0": 0, "idx1": 0, "values": 0})])
    src = tmp / "scratch.c"
    src.write_text(SCRATCH_DRIVER.replace("@SHAPES@", rows).replace("@STRUCTS@", structs))
    exe = tmp / "scratch"
    sources = [SRC / "et_sparse_motif.c", SRC / "et_sparse_csc.c", SRC / "et_status.c"]
    res = subprocess.run([cc, *STRICT, "-O1", f"-I{INC}", str(src), *map(str, sources), "-lm", "-o", str(exe)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert out[-3:] == ["-1", "-1", "-1"]
    return [int(v) for v in out[:-3]]


def python_scratch(kernel: str, dims: dict[str, int]) -> int:
    try:
        return abi.scratch_bytes(kernel, **dims)
    except ExportError:
        return -1


def shape_grid() -> list[tuple[str, dict[str, int]]]:
    shapes = []
    for kernel in KERNELS:
        for n_in in (1, 2, 3, 7, 8, 64, 100, 512, 65792):
            for n_out in (1, 2, 5, 10, 32, 256):
                for br, bc in ((1, 1), (1, 2), (2, 2), (4, 4), (2, 1), (3, 5)):
                    shapes.append((kernel, {"n_in": n_in, "n_out": n_out, "block_rows": br, "block_cols": bc,
                                            "batch": 1 + (n_in + n_out) % 3}))
        # rejected shapes and an int32 overflow of the byte count
        shapes += [(kernel, {"n_in": 0, "n_out": 4}), (kernel, {"n_in": 4, "n_out": -1}),
                   (kernel, {"n_in": 4, "n_out": 4, "batch": 0}), (kernel, {"n_in": 4, "n_out": 4, "block_cols": 0}),
                   (kernel, {"n_in": 2**30, "n_out": 2**30})]
    return shapes


def test_scratch_bytes_equal_the_c_functions(host_cc: str, tmp_path: Path) -> None:
    shapes = shape_grid()
    got = c_scratch(host_cc, tmp_path, shapes)
    want = [python_scratch(k, d) for k, d in shapes]
    wrong = [(k, d, g, w) for (k, d), g, w in zip(shapes, got, want) if g != w]
    assert not wrong, wrong[:10]
    assert sum(v > 0 for v in got) > len(got) // 3 and -1 in got


def test_scratch_bytes_rejects_unknown_kernels_and_dims() -> None:
    assert abi.scratch_bytes("et_sparse_f32_motif", n_in=64, n_out=32, block_rows=2, block_cols=4) == 64
    assert abi.scratch_bytes("et_sparse_s8_csc", n_in=64, n_out=32) == 128
    with pytest.raises(ExportError, match="takes no scratch"):
        abi.scratch_bytes("et_sparse_f32_csc", n_in=4, n_out=4)
    with pytest.raises(ExportError, match="unknown dimension"):
        abi.scratch_bytes("et_sparse_s8_motif", n_in=4, n_out=4, rows=2)
    with pytest.raises(ExportError, match="needs n_out"):
        abi.scratch_bytes("et_sparse_s8_csc", n_in=4)


def _motif_model() -> et.Graph:
    from edgetrain.techniques.motif import apply_motif

    g = et.Sequential([et.Dense(48, "relu"), et.Dense(10)], input_shape=64, seed=1, name="motif")
    apply_motif(g, m=2, eps=4, seed=0)  # block-shared from the start: sizes need no training
    return g


def _set_model() -> et.Graph:
    from edgetrain.techniques.sparse_set import apply_set

    g = et.Sequential([et.Dense(48, "relu"), et.Dense(30, "relu"), et.Dense(10)], input_shape=64, seed=0,
                      name="setmlp")
    apply_set(g, eps=3, seed=0)
    return g


def test_planned_scratch_equals_the_c_functions(host_cc: str, tmp_path: Path) -> None:
    """The memory plan's ``<layer>:scratch`` buffers hold exactly what the kernels ask for."""
    calib = np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32)
    cases = [(_motif_model(), "f32", None), (_motif_model(), "int8", None), (_set_model(), "int8", "csc")]
    planned: list[int] = []
    shapes: list[tuple[str, dict[str, int]]] = []
    for graph, dtype, fmt in cases:
        program, _, _ = prepare_model(graph, "stm32f405", dtype, calib, sparse_format=fmt)
        kind = "f32" if dtype == "f32" else "s8"
        for node in graph.nodes:
            if node.op != "dense":
                continue
            ls = program.storage[node.name]
            kernel = f"et_sparse_{kind}_{ls.format}"
            if kernel not in KERNELS:
                continue
            n_in, n_out = graph.params[node.params["weight"]].value.shape
            shapes.append((kernel, {"n_in": n_in, "n_out": n_out, "block_rows": ls.block[0],
                                    "block_cols": ls.block[1]}))
            planned.append(program.plan.buffers[f"{node.name}:scratch"].size)
    assert {k for k, _ in shapes} == set(KERNELS)
    assert planned == c_scratch(host_cc, tmp_path, shapes)


# ---------------------------------------------------------------- storage bank header

STORAGE_DRIVER = r"""
#include <stdio.h>

#include "et_runtime.h"

static unsigned char et_mem[2 * 256];

int main(void)
{
    et_ram_storage ram;
    et_storage s;
    float payload[5] = {1.0f, -2.5f, 3.25f, 0.0f, 1e-3f};
    et_storage_segment seg;
    size_t i;
    seg.data = payload;
    seg.size = (uint32_t)sizeof payload;
    if (et_ram_storage_init(&ram, et_mem, sizeof et_mem, 64u, 4u) != ET_OK ||
        et_ram_storage_interface(&ram, 256u, &s) != ET_OK ||
        et_storage_commit(&s, 0xC0FFEE01u, &seg, 1, NULL) != ET_OK) {
        return 1;
    }
    for (i = 0; i < 256u; ++i) {
        printf("%02x", et_mem[i]);
    }
    printf("\n");
    return 0;
}
"""


def test_storage_bank_header_parses_with_the_abi_layout(host_cc: str, tmp_path: Path) -> None:
    src = tmp_path / "storage.c"
    src.write_text(STORAGE_DRIVER)
    exe = tmp_path / "storage"
    sources = [SRC / f for f in ("et_storage.c", "et_storage_ram.c", "et_crc32.c", "et_status.c")]
    res = subprocess.run([host_cc, *STRICT, f"-I{INC}", str(src), *map(str, sources), "-o", str(exe)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    bank = bytes.fromhex(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.strip())
    header = dict(zip(abi.STORAGE_HEADER_FIELDS, abi.STORAGE_HEADER.unpack_from(bank)))
    payload = np.array([1.0, -2.5, 3.25, 0.0, 1e-3], "<f4").tobytes()
    assert header == {"magic": abi.STORAGE_MAGIC, "version": abi.STORAGE_VERSION,
                      "header_bytes": abi.STORAGE_HEADER_BYTES, "sequence": header["sequence"],
                      "payload_len": len(payload), "layout_tag": 0xC0FFEE01, "erase_count_a": 1, "erase_count_b": 0,
                      "crc": zlib.crc32(payload, zlib.crc32(bank[:abi.STORAGE_CRC_OFFSET]))}
    assert bank[abi.STORAGE_HEADER_BYTES:abi.STORAGE_HEADER_BYTES + len(payload)] == payload


# ---------------------------------------------------------------- kernel selection header

def test_generated_code_selects_kernels_through_et_kernels_h() -> None:
    """model.c and train_model.c take their ET_DENSE_* / ET_SPARSE_* macros from the runtime's
    et_kernels.h (after model_data.h, which may define ET_FORCE_REF) and ship that header."""
    from edgetrain.export.c import emit, train_emit
    from edgetrain.export.c.train_plan import prepare_training
    from edgetrain.export.c.train_program import DeviceTrainConfig
    from edgetrain.resources import firmware_dir

    program, _, _ = prepare_model(_set_model(), "stm32f405", "f32")
    model_c = emit.render_model_c(program)
    assert "#define ET_DENSE" not in model_c and "#define ET_SPARSE" not in model_c
    assert model_c.index('#include "model_data.h"') < model_c.index('#include "et_kernels.h"')
    assert firmware_dir() / "include" / "et_kernels.h" in emit.runtime_files(program, firmware_dir())
    tp, _, _ = prepare_training(_set_model().copy(), "stm32f405", DeviceTrainConfig())
    train_c = train_emit.render_train_c(tp)
    assert "#define ET_DENSE" not in train_c and '#include "et_kernels.h"' in train_c
    assert any(f.name == "et_kernels.h" for f in train_emit.runtime_files(tp))
    header = (INC / "et_kernels.h").read_text()
    for macro in ("ET_DENSE_F32", "ET_DENSE_S8", "ET_SPARSE_F32", "ET_SPARSE_F32_MOTIF", "ET_SPARSE_S8",
                  "ET_SPARSE_S8_MOTIF", "ET_SPARSE_S8_CSC", "ET_DENSE_BWD"):
        assert header.count(f"#define {macro}(") + header.count(f"#define {macro} ") == 2, macro


def test_shared_scratch_bytes_equal_the_c_function(host_cc: str, tmp_path: Path) -> None:
    """abi.shared_scratch_bytes (what the training program reserves for a shared weight's slot
    gradients) equals et_dense_f32_shared_scratch_bytes, including the rejected sizes."""
    slots = (-1, 0, 1, 2, 7, 240, 65534, 65535, 65536, 1 << 20)
    src = tmp_path / "shared_scratch.c"
    src.write_text('#include <stdio.h>\n#include "et_shared.h"\nint main(void)\n{\n    static const int32_t n[] = {'
                   + ", ".join(map(str, slots)) + '};\n    size_t i;\n    for (i = 0; i < sizeof n / sizeof n[0]; ++i) {\n'
                   '        printf("%ld\\n", (long)et_dense_f32_shared_scratch_bytes(n[i]));\n    }\n    return 0;\n}\n')
    exe = tmp_path / "shared_scratch"
    sources = [SRC / "et_dense_f32_shared.c", SRC / "et_dense_f32_shared_ref.c", SRC / "et_optim.c",
               SRC / "et_status.c"]
    res = subprocess.run([host_cc, *STRICT, "-O1", f"-I{INC}", str(src), *map(str, sources), "-lm", "-o", str(exe)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]

    def python(n: int) -> int:
        try:
            return abi.shared_scratch_bytes(n)
        except ExportError:
            return -1

    assert got == [python(n) for n in slots]
    assert got[3] == 8 and got[-2] == -1


def test_every_file_copied_into_users_firmware_carries_its_licence() -> None:
    """The runtime, the templates, the start-up code and the linker scripts edgetrain copies into a
    user's firmware start with an SPDX licence line (the project is Apache-2.0, LICENSE)."""
    root = Path(__file__).resolve().parent.parent
    files = [p for d in ("firmware_export", "targets") for p in (root / d).rglob("*")
             if p.suffix in (".c", ".h", ".ld", ".s", ".S") and p.is_file()]
    assert len(files) > 70
    missing = [str(p.relative_to(root)) for p in files
               if not p.read_text().startswith("/* SPDX-License-Identifier: Apache-2.0 */")]
    assert not missing, missing
