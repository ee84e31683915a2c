"""Teaching the memory from the shell: ``feedback``, ``learn`` and ``adapters``.

Thin layers on ``Memory.feedback``, ``Memory.learn`` and the adapter versions; ``--json``
prints what a script needs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidInputError
from ..memory import LearnReport, Memory
from ..memory.items import DEFAULT_NAMESPACE
from .memory import DbOption, JsonOption


def feedback(
    query: Annotated[str, typer.Argument(help="the query the item was recalled for")],
    item: Annotated[str, typer.Argument(help="the id of the item")],
    db: DbOption,
    reward: Annotated[float | None, typer.Option(help="how well it answered, from -1 to 1")] = None,
    success: Annotated[
        bool | None, typer.Option("--success/--failure", help="it answered (reward 1) or did not (-1)")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="the item's namespace")] = DEFAULT_NAMESPACE,
    as_json: JsonOption = False,
) -> None:
    """Record how well ITEM answered QUERY; `ruvector learn` turns feedback into recall."""
    with Memory.open(db, progress=False, create=False) as memory:
        seq = memory.feedback(query, item, reward, success=success, namespace=namespace)
    typer.echo(json.dumps({"event": seq}) if as_json else f"recorded feedback event {seq}")


def learn(db: DbOption, as_json: JsonOption = False) -> None:
    """Train an adapter from the feedback since the active one; activate it if it helps."""
    with Memory.open(db, progress=False, create=False) as memory:
        report = memory.learn()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_report(report)


def adapters(
    db: DbOption,
    activate: Annotated[int | None, typer.Option(help="make this adapter version the active one")] = None,
    deactivate: Annotated[bool, typer.Option(help="apply no adapter from now on")] = False,
    rollback: Annotated[bool, typer.Option(help="go back to the adapter active before the current one")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the adapter versions learned from feedback; activate one or roll back."""
    if sum([activate is not None, deactivate, rollback]) > 1:
        raise InvalidInputError("give at most one of --activate, --deactivate and --rollback; nothing changed")
    with Memory.open(db, progress=False, create=False) as memory:
        if activate is not None or deactivate:
            memory.activate(activate)
        elif rollback:
            memory.rollback()
        versions = memory.adapters()
    if as_json:
        typer.echo(json.dumps([v.model_dump() for v in versions], indent=2))
        return
    if not versions:
        typer.echo(f"no adapters in {db}: record feedback, then run `ruvector learn`")
        return
    table = Table(title=escape(f"adapters in {db}"))
    for column in ("version", "active", "trajectories", "held back", "recall@1 before → after", "note"):
        table.add_column(column)
    for info in versions:
        report = LearnReport.model_validate(info.report) if info.report else None
        table.add_row(
            str(info.version),
            "yes" if info.active else "",
            str(report.trajectories) if report else "",
            str(report.held_out) if report else "",
            _recall_change(report) if report else "",
            escape(report.reason.split(":")[0]) if report else "",
        )
    Console().print(table)


def _recall_change(report: LearnReport) -> str:
    if report.before is None or report.after is None:
        return "not measured"
    return f"{report.before.recall_at_1:.3f} → {report.after.recall_at_1:.3f}"


def _print_report(report: LearnReport) -> None:
    typer.echo(report.reason)
    typer.echo(
        f"  {report.trajectories} trajectories trained on, {report.held_out} held back; "
        f"objective {report.objective}; {report.patterns} patterns; {report.seconds:.1f} s"
    )
    if report.losses:
        typer.echo(f"  loss by epoch: {report.losses[0]:.4f} → {report.losses[-1]:.4f} ({len(report.losses)} epochs)")
    if report.before is not None and report.after is not None:
        typer.echo(
            f"  held-back recall@1 {report.before.recall_at_1:.3f} → {report.after.recall_at_1:.3f}, "
            f"recall@10 {report.before.recall_at_10:.3f} → {report.after.recall_at_10:.3f}"
        )
