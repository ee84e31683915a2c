"""``ruvector backends``: which backends were found, whether each can run here and why not,
and which one serves each capability, as tables.

Why a backend cannot run is often a fix to copy (``pip install 'ruvec[embeddings]'``), so
reasons are printed below the table, whole and exactly as ``--json`` has them: in a table
cell they would be folded to the column's width, and rich would read ``[embeddings]`` as
markup and drop it."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..models import BackendInfo
from ..runtime import Runtime


def backends(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON list instead of a table")] = False,
) -> None:
    """Probe every installed backend and show its status and what it serves."""
    runtime = Runtime.initialize()
    infos = runtime.info()
    serving = runtime.backends
    if as_json:
        rows = [
            {**info.model_dump(), "serves": [cap for cap, name in serving.items() if name == info.name]}
            for info in infos
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    render(infos, serving, Console())


def render(infos: list[BackendInfo], serving: dict[str, str | None], console: Console) -> None:
    """The backends table, each unusable backend's reason in full below it, and what serves what."""
    table = Table(title="ruvector backends", title_justify="left")
    for column in ("name", "version", "priority", "capabilities", "status"):
        table.add_column(column, overflow="fold")
    for info in infos:
        status = "[green]usable[/]" if info.usable else "[red]unusable[/] (why: below)"
        table.add_row(
            escape(info.name), escape(info.version), str(info.priority), escape(", ".join(info.capabilities)), status
        )
    console.print(table)
    reasons = [info for info in infos if info.reason]
    if reasons:
        console.print("why unusable:")
        for info in reasons:
            console.print(f"  {info.name}: {info.reason}", markup=False, highlight=False, soft_wrap=True)
    served = Table(title="serving", title_justify="left")
    served.add_column("capability")
    served.add_column("backend")
    for capability, name in serving.items():
        served.add_row(capability, escape(name) if name else "[yellow]none installed[/]")
    console.print(served)
