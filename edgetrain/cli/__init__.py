"""Command line: thin commands over the Python API.

Every command module registers itself on import. A user mistake (`EdgetrainError`) prints one line
and a hint on stderr and exits with status 2 — never a traceback. A failed result check the user
asked for (`CheckFailedError`) exits with 3, after the command's report.
"""

from __future__ import annotations

import sys

import click

from ..errors import EdgetrainError

# Command modules: each attaches its commands to `cli` (or a sub-group) when imported.
from . import (
    commands_c,  # noqa: F401
    commands_core,  # noqa: F401
    commands_emulate,  # noqa: F401
    commands_finetune,  # noqa: F401
    commands_onnx,  # noqa: F401
    commands_report,  # noqa: F401
    commands_targets,  # noqa: F401
    commands_tflite,  # noqa: F401
)
from .app import cli


def main(argv: list[str] | None = None) -> None:
    """The ``edgetrain`` console entry point: runs the command line ``argv`` (default: sys.argv) and
    turns an EdgetrainError, a usage error or an interrupt into an ``error:`` line, a hint and the
    matching exit status instead of a traceback."""
    try:
        cli.main(args=argv, prog_name="edgetrain", standalone_mode=False)
    except EdgetrainError as e:
        click.echo(f"error: {e.message}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        # A wrong option or argument: the same one error line and hint as every user error.
        command = e.ctx.command_path if e.ctx is not None else "edgetrain"
        click.echo(f"error: {e.format_message()}", err=True)
        click.echo(f"hint: see {command} --help", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
