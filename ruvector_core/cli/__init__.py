"""The ``ruvector`` command line."""

from __future__ import annotations

import sys

import pydantic
import typer

from ..errors import RuvectorError

from .backends import backends
from .bench import bench
from .conformance import conformance
from .memory import embed, index, query

app = typer.Typer(
    name="ruvector",
    help="AI-agent memory: embeddings, HNSW search and quantization on pluggable backends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(index)
app.command()(query)
app.command()(embed)
app.command()(backends)
app.command()(bench)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(conformance)


def main() -> None:
    """Run the CLI; expected failures print one line, not a traceback."""
    try:
        app()  # usage errors are typer's to report; it exits itself
    except (RuvectorError, pydantic.ValidationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
