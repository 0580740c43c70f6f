"""`edgetrain emulate` as a CI gate: --min-accuracy and --max-disagreements exit 3 after printing
the report; a parity build fails on any disagreement by default; bad thresholds are usage errors."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import edgetrain as et
from edgetrain.cli.commands_emulate import check_report
from edgetrain.device.verify import EmulationReport
from edgetrain.errors import CheckFailedError

from codegen_models import mlp_64_32_10


def run(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgetrain", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return et.save_model(mlp_64_32_10(), tmp_path_factory.mktemp("gate") / "mlp.etm")


def test_min_accuracy_gates_with_exit_3_after_the_report(model_file: Path, host_cc: str) -> None:
    common = ("emulate", model_file, "-t", "host", "--data", "digits:test", "--limit", "100", "--json")
    ok = run(*common, "--min-accuracy", "0.5")
    assert ok.returncode == 0, ok.stderr
    acc = json.loads(ok.stdout)["device_accuracy"]
    assert 0.5 < acc < 1.0
    bad = run(*common, "--min-accuracy", "1")
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["device_accuracy"] == acc  # the report still came out
    lines = [ln for ln in bad.stderr.splitlines() if ln.startswith("error:")]
    assert lines == [f"error: check failed: device accuracy {acc:.2%} is below 100.00%"]
    assert "Traceback" not in bad.stderr


def test_bad_thresholds_are_usage_errors(model_file: Path) -> None:
    for flag, value in (("--min-accuracy", "1.5"), ("--min-accuracy", "nan"), ("--max-disagreements", "-1")):
        r = run("emulate", model_file, "-t", "host", flag, value)
        assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr, (flag, value)


def report(**changes: object) -> EmulationReport:
    base = EmulationReport(model="m", target="host", ran_on="host", fallback_reason=None, dtype="int8", samples=50,
                           device_accuracy=0.9,
                           numpy_accuracy=0.9, float_accuracy=0.9, disagreements=0, max_abs_diff=0.0,
                           instructions_per_inference=None, instructions_min=None, instructions_max=None,
                           text_bytes=0, data_bytes=0, bss_bytes=0, arena_bytes=0, model_flash_bytes=0)
    return replace(base, **changes)


def test_check_report_names_every_failed_gate() -> None:
    check_report(report(), 0, 0.9)  # at the thresholds: passes
    with pytest.raises(CheckFailedError) as err:
        check_report(report(disagreements=2, device_accuracy=0.8), 1, 0.85)
    assert err.value.exit_code == 3
    assert str(err.value) == ("check failed: 2 of 50 samples disagree with numpy (at most 1 allowed); "
                              "device accuracy 80.00% is below 85.00%")
    check_report(report(disagreements=5), None, None)  # no gate asked for (a production build)
    with pytest.raises(CheckFailedError, match="needs labelled data"):
        check_report(report(device_accuracy=None), None, 0.5)
