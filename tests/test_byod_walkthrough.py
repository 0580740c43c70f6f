"""The README's "Bring your own sensor data" walkthrough, line by line: every command of the block
between <!-- byod:begin --> and <!-- byod:end --> runs in a fresh folder holding the examples, and
the on-device fine-tuning it ends with improves the accuracy on the turned sensor."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- byod:begin -->\s*```sh\n(.*?)```\s*<!-- byod:end -->", text, re.S).group(1)
    joined = block.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = line.split("  #")[0].strip()
        if line:
            out.append(shlex.split(line))
    return out


def test_the_walkthrough_runs(tmp_path: Path, arm_cc: str, qemu: str) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("*.npz", "*.csv"))
    cmds = commands()
    assert [c[0] for c in cmds].count("edgetrain") == 4 and cmds[-1][1] == "finetune"
    for cmd in cmds:
        argv = [sys.executable, *cmd[1:]] if cmd[0] == "python" else [sys.executable, "-m", "edgetrain", *cmd[1:]]
        if cmd is cmds[-1]:
            argv.append("--json")
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, (cmd, r.stderr[-2000:])
    report = json.loads(r.stdout)
    assert report["accuracy_after"] >= report["accuracy_before"] + 0.3, report
    assert (tmp_path / "out" / "mounted.etm").is_file()
