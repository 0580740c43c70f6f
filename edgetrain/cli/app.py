"""The click command group and the sub-groups other command modules attach to."""

from __future__ import annotations

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgetrain")
def cli() -> None:
    """Train small networks with edge techniques and ship them to microcontrollers."""


@cli.group("export")
def export_group() -> None:
    """Export a trained model (ONNX, TFLite, C firmware)."""


@cli.group("import")
def import_group() -> None:
    """Import a model from another framework's file."""
