"""``ruvector backends``: which backends were found, whether each can run here and why not,
and which one serves each capability, as a table."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

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
    table = Table(title="ruvector backends", title_justify="left")
    for column in ("name", "version", "priority", "capabilities", "status", "reason"):
        table.add_column(column, overflow="fold")
    for info in infos:
        status = "[green]usable[/]" if info.usable else "[red]unusable[/]"
        # names, versions and reasons come from plugins (a reason quotes an exception): data, not markup
        table.add_row(
            escape(info.name),
            escape(info.version),
            str(info.priority),
            escape(", ".join(info.capabilities)),
            status,
            escape(info.reason or ""),
        )
    console = Console()
    console.print(table)
    served = Table(title="serving", title_justify="left")
    served.add_column("capability")
    served.add_column("backend")
    for capability, name in serving.items():
        served.add_row(capability, escape(name) if name else "[yellow]none installed[/]")
    console.print(served)
