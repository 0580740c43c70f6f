"""The backend-coverage contract (`edgetrain.coverage`): every op kind x attachment x backend
either agrees with numpy on a tiny model or refuses with an edgetrain error carrying a hint.

The matrix runs once per session (module fixture). Cells needing a tool (host gcc for the C
backends, onnxruntime-training for ORT artifacts) skip with the reason here and fail in CI
(`CI` set). The README's "Supported" coverage table must be what the generator writes.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from edgetrain import coverage

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def matrix():
    return coverage.run_matrix()


def _skips(rows):
    skipped = [r for r in rows if r.status == "skipped"]
    if skipped:
        reasons = sorted({f"{r.backend}: {r.detail}" for r in skipped})
        msg = f"{len(skipped)} coverage cells could not run: " + "; ".join(reasons)
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every coverage cell but {msg}")
        pytest.skip(msg)


def test_matrix_lists_every_registered_op_attachment_and_backend(matrix):
    from edgetrain.ops import OPS

    assert {(r.op, r.attachment, r.backend) for r in matrix} == {
        (op, a, b) for op in OPS for a in coverage.ATTACHMENTS for b in coverage.BACKENDS}
    assert len(matrix) == len(OPS) * len(coverage.ATTACHMENTS) * len(coverage.BACKENDS)


@pytest.mark.parametrize("backend", [b for b in coverage.BACKENDS if b not in coverage.C_BACKENDS])
def test_python_backends_agree_or_refuse(matrix, backend):
    rows = [r for r in matrix if r.backend == backend]
    bad = [f"{r.op}/{r.attachment}: {r.status}: {r.detail}" for r in rows if r.status not in coverage.OK_STATUSES]
    assert not bad, "\n".join(bad)
    _skips(rows)


@pytest.mark.parametrize("backend", coverage.C_BACKENDS)
def test_c_backends_agree_or_refuse_on_host_gcc(matrix, backend):
    """The C-build part: host gcc only (no cross compiler, no QEMU), so it runs in CI."""
    rows = [r for r in matrix if r.backend == backend]
    bad = [f"{r.op}/{r.attachment}: {r.status}: {r.detail}" for r in rows if r.status not in coverage.OK_STATUSES]
    assert not bad, "\n".join(bad)
    _skips(rows)


# The channels-last op kinds (convolutions, pooling, batch_norm, reshape) and the ONNX backends.
CHANNELS_LAST = {"conv2d", "conv1d", "max_pool", "avg_pool", "global_avg_pool", "batch_norm", "reshape"}


def test_reference_and_onnx_inference_cover_every_op(matrix):
    """numpy and ONNX inference run every op kind on the plain model (no refusals)."""
    for r in matrix:
        if r.attachment == "none" and r.backend in ("numpy", "onnx_inference"):
            assert r.status in ("agrees", "skipped"), r


def test_onnx_training_backends_cover_the_channels_last_ops(matrix):
    """The standard-op train step and ORT artifacts train every channels-last op as numpy does
    (batch_norm with batch statistics, its running statistics updated: fed back by the train
    step, applied by ort_train from the artifacts' batch-statistic outputs)."""
    for r in matrix:
        if r.op in CHANNELS_LAST and r.attachment != "qparams" and r.backend in ("onnx_train_step", "ort_artifacts"):
            assert r.status in ("agrees", "skipped"), r


def test_c_training_covers_the_conv_pool_and_reshape_ops(matrix):
    """The generated on-device training code trains every conv and pool op kind and reshape as
    numpy does, in the trainable part (C train head: their backward kernels, et_conv_train.h) and
    in the frozen body; batch_norm is folded first, so only a trainable or unfoldable one is
    refused."""
    for r in matrix:
        if r.op in CHANNELS_LAST - {"batch_norm"} and r.backend in ("c_train_head", "c_train_body"):
            assert r.status in ("agrees", "skipped"), r


def test_refusals_are_edgetrain_errors_with_text(matrix):
    for r in matrix:
        if r.status == "refuses":
            assert r.detail and "Error" in r.detail.split(":")[0], r


def test_readme_supported_section_is_generated(matrix):
    _skips(matrix)
    text = README.read_text()
    assert coverage.README_BEGIN in text and coverage.README_END in text
    want = coverage.readme_with(text, matrix)
    assert text == want, "README coverage section is stale: run `python -m edgetrain.coverage --readme`"


def test_classify_rules():
    from edgetrain.errors import ToolchainError, UnsupportedOpError

    assert coverage.classify(UnsupportedOpError("no", hint="use x"))[0] == "refuses"
    assert coverage.classify(UnsupportedOpError("no", hint=""))[0] == "error"
    assert coverage.classify(ToolchainError("gcc failed", hint="see log"))[0] == "error"
    assert coverage.classify(KeyError("boom"))[0] == "error"
    assert coverage.classify(coverage.Disagrees("off by 1"))[0] == "disagrees"


@pytest.mark.skipif(not shutil.which("gcc"), reason="host gcc not found")
def test_compile_cache_front_end_builds_like_gcc(tmp_path):
    """`edgetrain.device.cc_cache` (the C cells' compiler): a unit seen before is not compiled
    again, the linked program is the one gcc builds, a changed header is a new unit, and a
    warning under -Werror fails the build every time (a failed unit is never cached)."""
    import subprocess
    import sys

    from edgetrain.device import cc_cache

    cache = tmp_path / "objects"
    cache.mkdir()
    (tmp_path / "k.h").write_text("#define K 3\n")
    (tmp_path / "lib.c").write_text('#include "k.h"\nint twice(int v) { return K * v - v; }\n')
    (tmp_path / "main.c").write_text("int twice(int v);\nint main(void) { return twice(21) == 42 ? 0 : 1; }\n")
    flags = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", f"-I{tmp_path}"]

    def build(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, cc_cache.__file__, str(cache), "gcc", *flags, *extra,
               str(tmp_path / "main.c"), str(tmp_path / "lib.c"), "-o", str(tmp_path / "prog"), "-lm"]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    assert build().returncode == 0 and subprocess.run([tmp_path / "prog"], check=False).returncode == 0
    objects = sorted(cache.glob("*.o"))
    assert len(objects) == 2
    assert build().returncode == 0 and sorted(cache.glob("*.o")) == objects  # all hits
    (tmp_path / "k.h").write_text("#define K 2\n")
    assert build().returncode == 0 and len(list(cache.glob("*.o"))) == 3
    assert subprocess.run([tmp_path / "prog"], check=False).returncode == 1  # the new header took effect
    (tmp_path / "lib.c").write_text('#include "k.h"\nint twice(int v) { int unused; return K * v; }\n')
    for _ in range(2):
        failed = build()
        assert failed.returncode != 0 and "unused" in failed.stderr
    assert cc_cache.split_command(["-c", "a.c", "-o", "a.o"]) is None  # not a compile-and-link: as given
