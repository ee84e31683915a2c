"""``ruvector doctor``: a store's health, checked end to end, repaired where it can be."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ..memory.doctor import examine
from ..runtime import Runtime

_MARK = {"ok": "ok", "repaired": "REPAIRED", "problem": "PROBLEM", "not checked": "skipped"}


def doctor(
    db: Annotated[Path, typer.Option("--db", help="folder holding the store")],
    check_only: Annotated[
        bool, typer.Option("--check-only", help="report only; change nothing (the default repairs)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Check the store at --db end to end (SQLite integrity, the index file, every item in the
    index and found by its own vector, the keyword index) and rebuild what is derived and
    wrong. Exits 1 while a problem remains."""
    report = examine(db, Runtime.initialize(), repair=not check_only)
    if as_json:
        findings = [asdict(f) for f in report.findings]
        typer.echo(json.dumps({"store": str(db), "healthy": report.healthy, "findings": findings}, indent=2))
    else:
        typer.echo(f"store {db}")
        for finding in report.findings:
            typer.echo(f"  {_MARK[finding.status]:<9} {finding.check}: {finding.detail}")
        repaired = sum(f.status == "repaired" for f in report.findings)
        problems = sum(f.status == "problem" for f in report.findings)
        if problems:
            typer.echo(f"{problems} problem(s) remain" + (f", {repaired} repaired" if repaired else ""))
        else:
            typer.echo("healthy" + (f" after {repaired} repair(s)" if repaired else ""))
    if not report.healthy:
        raise typer.Exit(1)
