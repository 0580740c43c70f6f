"""`edgetrain targets`: the boards edgetrain can build for, and whether each can be emulated here."""

from __future__ import annotations

from typing import TypedDict

import click

from ..device import emulator_available
from ..targets import load_all_targets
from .app import cli
from .output import emit_json, table


class _TargetRow(TypedDict):
    """One board as `edgetrain targets --json` prints it."""

    name: str
    cpu: str
    fpu: str
    flash_bytes: int | None
    ram_bytes: int | None
    emulator: str | None
    runs_here: bool
    reason: str
    counts_instructions: bool
    description: str


def _kib(n: int | None) -> str:
    return "-" if n is None else f"{n // 1024} KiB"


@cli.command("targets")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def targets_cmd(as_json: bool) -> None:
    """List the target boards: CPU, flash/RAM budget, emulator and whether it runs here."""
    rows: list[_TargetRow] = []
    for t in load_all_targets():
        ok, why = emulator_available(t)
        rows.append(
            {
                "name": t.name,
                "cpu": t.cpu,
                "fpu": t.fpu,
                "flash_bytes": t.flash_bytes,
                "ram_bytes": t.ram_bytes,
                "emulator": t.emulator.machine if t.emulator else ("native" if t.is_host else None),
                "runs_here": ok,
                "reason": why,
                "counts_instructions": t.counts_instructions,
                "description": t.description,
            }
        )
    if as_json:
        emit_json("targets", {"targets": rows})
        return
    table(
        "targets",
        ["name", "cpu", "flash", "RAM", "emulator", "runs here", "instr. counts"],
        [
            [
                r["name"],
                r["cpu"],
                _kib(r["flash_bytes"]),
                _kib(r["ram_bytes"]),
                r["emulator"] or "build only",
                "yes" if r["runs_here"] else "no",
                "yes" if r["counts_instructions"] else "no",
            ]
            for r in rows
        ],
    )
    for r in rows:
        if not r["runs_here"]:
            click.echo(f"{r['name']}: {r['reason']}")
