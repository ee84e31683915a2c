"""The ``ruvector`` command line.

The memory commands, ``mcp`` (the memory as an MCP server) and ``backends`` are the
core's own. Other distributions add commands through the ``ruvector.commands`` entry-point
group (``ruvec-bench`` adds ``bench``, ``ruvec-conformance`` adds ``conformance``): each
entry point names a function that takes the ``typer.Typer`` app and registers its commands
on it.
"""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import entry_points
from typing import Annotated, Any, TextIO

import pydantic
import typer

from ..errors import RuvectorError
from ..memory import StoreRepairedWarning
from .about import COMMANDS_GROUP, version_text
from .backends import backends
from .doctor import doctor
from .learning import adapters, feedback, learn
from .mcp import mcp
from .memory import add, embed, forget, index, query, stats

app = typer.Typer(
    name="ruvector",
    help="AI-agent memory: embeddings, HNSW search and quantization on pluggable backends.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="print ruvector's version and its plugins' and exit",
        ),
    ] = False,
) -> None:
    """AI-agent memory: embeddings, HNSW search and quantization on pluggable backends."""


app.command()(index)
app.command()(add)
app.command()(query)
app.command()(forget)
app.command()(stats)
app.command()(embed)
app.command()(feedback)
app.command()(learn)
app.command()(adapters)
app.command()(backends)
app.command()(mcp)
app.command()(doctor)


def _add_installed_commands() -> None:
    """Register every installed distribution's commands; a broken one is reported, not fatal."""
    for entry_point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            entry_point.load()(app)
        except Exception as exc:  # a broken add-on must not take the memory commands down with it
            typer.echo(f"warning: command {entry_point.name!r} unavailable: {type(exc).__name__}: {exc}", err=True)


def _show_notice(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: Any = None,
) -> None:
    """A store that healed itself says so in one line on stderr; other warnings as usual."""
    if issubclass(category, StoreRepairedWarning):
        typer.echo(f"notice: {message}", err=True)
    else:
        _show_warning(message, category, filename, lineno, file, line)


_show_warning = warnings.showwarning


def main() -> None:
    """Run the CLI; expected failures print one line, not a traceback."""
    warnings.showwarning = _show_notice
    _add_installed_commands()
    try:
        app()  # usage errors are typer's to report; it exits itself
    except (RuvectorError, pydantic.ValidationError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
