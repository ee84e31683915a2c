"""``ruvector conformance``: run the conformance suite against backends by name.

``register`` is this distribution's ``ruvector.commands`` entry point, so the ``ruvector``
command offers ``conformance`` exactly when the suite is installed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .runner import run


def conformance(
    ctx: typer.Context,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", "-b", help="backend to check (repeatable); default: all installed")
    ] = None,
    report: Annotated[str | None, typer.Option(help="also write the matrix as JSON to this path")] = None,
) -> None:
    """Check backends against the suite and print the backend x check matrix.

    Extra arguments go to pytest (e.g. -x, -k recall)."""
    raise typer.Exit(run(backend or [], report, ctx.args))


def register(app: typer.Typer) -> None:
    """Add ``conformance`` to the ``ruvector`` command line (the ``ruvector.commands`` entry point)."""
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(conformance)
