"""The permanent bad-input corpus (`bad_inputs.corpus`) through the CLI's entry point.

Every case must end as a user error: exit status 2, exactly one ``error:`` line followed by a
``hint:`` line on stderr, no traceback, and no file left behind (in the case's directory, the
shared inputs' directory or the current directory).

The commands run in-process through `edgetrain.cli.main` (what the ``edgetrain`` script calls),
so an exception escaping it is exactly the traceback a user would see. Building firmware, running
an emulator and starting ONNX Runtime are replaced by a stub that raises `Accepted`: a case that
gets that far has passed every check, which is the silent acceptance this corpus exists to catch,
and the corpus stays fast. A few cases also run as a real subprocess (`test_subprocess_subset`).

``python tests/test_bad_input_corpus.py`` prints the figures (cases, tracebacks, wrong exit
statuses, silent acceptances) without pytest.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import corpus, make_base  # noqa: E402

CASES = corpus()

# A case that runs away (a size check missing again) fails after this many seconds instead of
# holding the suite; every case takes well under a second when the checks work.
CASE_SECONDS = 60


class RanAway(Exception):
    """Raised by the per-case alarm: the command was still running after CASE_SECONDS."""


@contextlib.contextmanager
def alarm(seconds: int):
    def ring(_signum: int, _frame: Any) -> None:
        raise RanAway(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Accepted(Exception):
    """Raised by the stubs: the input reached the build/emulate/ORT stage unchallenged."""


def _stub(*_a: Any, **_k: Any) -> None:
    raise Accepted()


def _ort_module() -> Any:
    for name in ("edgetrain.interop.onnx.ort_training", "edgetrain.export.onnx.ort_training"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("ort_training module not found")


@contextlib.contextmanager
def stubs():
    import edgetrain.device.finetune as ft
    import edgetrain.device.verify as verify

    ort = _ort_module()
    saved = [(verify, "emulate", verify.emulate), (ft, "build_firmware", ft.build_firmware),
             (ort, "load_ort_training", ort.load_ort_training)]
    try:
        for mod, name, _ in saved:
            setattr(mod, name, _stub)
        yield
    finally:
        for mod, name, old in saved:
            setattr(mod, name, old)


def snapshot(*roots: Path) -> set[str]:
    seen = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                seen.add(os.path.join(dirpath, n))
    return seen


def run_case(case_id: str, base: Path, d: Path) -> dict[str, Any]:
    """Build and run one case in directory ``d``; classify the outcome."""
    from edgetrain.cli import main

    argv = CASES[case_id](d, base)
    before = snapshot(d, base)
    out, err = io.StringIO(), io.StringIO()
    outcome: Any = 0
    detail = ""
    cwd = os.getcwd()
    os.chdir(d)
    try:
        with alarm(CASE_SECONDS), stubs(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as e:
                outcome = e.code if isinstance(e.code, int) else 1
            except Accepted:
                outcome = "accepted"
            except BaseException as e:  # noqa: BLE001 - what a user would see as a traceback
                import traceback

                outcome, detail = "traceback", "".join(traceback.format_exception(e))
    finally:
        os.chdir(cwd)
    left = sorted(snapshot(d, base) - before)
    return {"argv": argv, "outcome": outcome, "stderr": err.getvalue(), "stdout": out.getvalue(),
            "left": left, "detail": detail}


def problems(res: dict[str, Any]) -> list[str]:
    """What is wrong with a case's outcome (empty: a proper user error)."""
    found = []
    if res["outcome"] == "traceback":
        return ["traceback:\n" + res["detail"]]
    if res["outcome"] in (0, "accepted"):
        return [f"silently accepted (exit {res['outcome']})"]
    if res["outcome"] != 2:
        found.append(f"exit status {res['outcome']}, not 2")
    lines = [ln for ln in res["stderr"].strip().splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if ln.startswith("error: ")]
    if "Traceback" in res["stderr"]:
        found.append("traceback text on stderr")
    if len(errors) != 1:
        found.append(f"{len(errors)} error lines")
    elif errors[0] + 2 != len(lines) or not lines[-1].startswith("hint: "):
        found.append("the error line is not followed by exactly one hint line")
    if res["left"]:
        found.append(f"left behind: {res['left']}")
    return found


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = tmp_path_factory.mktemp("corpus_base")
    make_base(b)
    return b


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_bad_input(case_id: str, base: Path, tmp_path: Path) -> None:
    res = run_case(case_id, base, tmp_path)
    found = problems(res)
    assert not found, (res["argv"], found, res["stderr"])


SUBPROCESS_SUBSET = ("data-npz_bomb-eval", "model-nan_weight-export_c", "toml-unknown_train_key_epoch",
                     "onnx-dims_lie", "option-finetune_steps_1e11", "data-csv_latin1-train")


@pytest.mark.parametrize("case_id", SUBPROCESS_SUBSET)
def test_subprocess_subset(case_id: str, base: Path, tmp_path: Path) -> None:
    """The same cases through a real ``python -m edgetrain``: the in-process run is faithful."""
    argv = CASES[case_id](tmp_path, base)
    before = snapshot(tmp_path, base)
    r = subprocess.run([sys.executable, "-m", "edgetrain", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-2].startswith("error: ") and lines[-1].startswith("hint: "), r.stderr
    assert snapshot(tmp_path, base) == before


def main() -> None:
    """Print the figures of the whole corpus."""
    from collections import Counter

    with tempfile.TemporaryDirectory() as tmp:
        b = Path(tmp) / "base"
        b.mkdir()
        make_base(b)
        tally: Counter[str] = Counter()
        for i, case_id in enumerate(sorted(CASES)):
            d = Path(tmp) / f"case{i}"
            d.mkdir()
            res = run_case(case_id, b, d)
            found = problems(res)
            kind = ("traceback" if res["outcome"] == "traceback" else "accepted" if res["outcome"] in (0, "accepted")
                    else "wrong exit" if res["outcome"] != 2 else "format" if found else "ok")
            tally[kind] += 1
            if found:
                last = found[0].splitlines()[-1] if kind == "traceback" else "; ".join(found)
                print(f"{kind:10s} {case_id}: {last[:200]}")
        print(f"cases {len(CASES)}: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))


if __name__ == "__main__":
    main()
