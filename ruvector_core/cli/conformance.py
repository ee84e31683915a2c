"""``ruvector conformance``: run the conformance suite against backends by name."""

from __future__ import annotations

from typing import Annotated

import typer


def conformance(
    ctx: typer.Context,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", "-b", help="backend to check (repeatable); default: all installed")
    ] = None,
    report: Annotated[str | None, typer.Option(help="also write the matrix as JSON to this path")] = None,
) -> None:
    """Check backends against the suite and print the backend x check matrix.

    Extra arguments go to pytest (e.g. -x, -k recall)."""
    try:
        from ruvector_conformance import run
    except ImportError:
        typer.echo("the conformance suite is not installed: pip install ruvector-conformance", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(run(backend or [], report, ctx.args))
