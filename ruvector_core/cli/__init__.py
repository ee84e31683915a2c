"""The ``ruvector`` command line."""

from __future__ import annotations

import typer

from .backends import backends
from .conformance import conformance

app = typer.Typer(
    name="ruvector",
    help="AI-agent memory: embeddings, HNSW search and quantization on pluggable backends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(backends)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(conformance)


def main() -> None:
    app()
