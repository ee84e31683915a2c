"""``ruvector bench``: the performance suite on real embeddings, every installed
backend beside hnswlib, FAISS, USearch and bare ONNX Runtime, in one run."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from . import BenchOptions, output, report, runner, targets, threadlimits
from .context import Progress
from .options import SECTIONS
from .timing import format_seconds


def bench(
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="5,000 base rows of the cached corpus (3,000 of the conformance fixture while the corpus "
            "is not cached), 200 queries, ef 16/50/128, fewer samples; targets are not judged. "
            "About a minute on 2 cores (58 s with the fixture)",
        ),
    ] = False,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help=f"sections to run: repeat it or give a list ({', '.join(SECTIONS)}; default all)",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            exists=True,
            dir_okay=False,
            help="a .npy of embeddings (rows x dimensions, any float type) instead of the stdlib corpus; "
            "the first --queries rows are the queries",
        ),
    ] = None,
    size: Annotated[int | None, typer.Option(min=10, help="base rows (default: every row after the queries)")] = None,
    queries: Annotated[int | None, typer.Option(min=1, help="held-out query rows (default 1000, quick 200)")] = None,
    ef: Annotated[
        list[str] | None,
        typer.Option("--ef", help="ef values of the recall/QPS sweep: repeat it or give a list (--ef 16,50,128)"),
    ] = None,
    threads: Annotated[
        int, typer.Option(min=1, help="threads for builds, embeddings, batch calls and BLAS; single searches use one")
    ] = 1,
    backend: Annotated[
        list[str] | None, typer.Option("--backend", help="ruvector backend to measure (repeatable; default all usable)")
    ] = None,
    peers: Annotated[bool, typer.Option(help="also measure hnswlib, FAISS, USearch, bare ORT where installed")] = True,
    repeats: Annotated[int | None, typer.Option(min=1, help="timed passes per ef and builds per engine")] = None,
    out: Annotated[
        Path, typer.Option("--out", help="folder for results.json, recall_qps.json/.png, results.md")
    ] = Path("bench-results"),
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Time embeddings, vector ops, HNSW (build, search, batch search, insert), pattern matching,
    index memory and start-up on real data, every backend beside its peers.

    A full run judges the absolute targets and exits 1 when a backend misses one; --quick
    does not judge them."""
    os.environ.update(threadlimits.variables(threads))  # before any backend's thread pool starts
    try:
        options = BenchOptions.preset(
            quick,
            data=data,
            sections=_listed(only) if only else None,
            size=size,
            queries=queries,
            efs=_efs(ef),
            threads=threads,
            backends=tuple(backend or ()),
            peers=peers,
            passes=repeats,
            build_repeats=repeats,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console = Console()
    command = shlex.join(["ruvector", *sys.argv[1:]]) if sys.argv[1:2] == ["bench"] else "ruvector bench"
    with _RichProgress(console, enabled=progress) as bar:
        results = runner.run(options, bar, command=command)
    written = output.write(results, out)
    for part in report.rich_tables(results, console.width):
        console.print(part)
    rows = results["data"]
    console.print(
        f"{rows['description']}: {rows['queries']:,} queries vs {rows['base']:,} x {rows['dimensions']}; "
        f"threads {threads}; finished in {format_seconds(results['elapsed_seconds'])}",
        markup=False,
    )
    console.print("wrote " + ", ".join(str(p) for p in written.values()), markup=False)
    missed = targets.misses(results)
    if missed:
        console.print("missed targets:", style="red")
        for line in missed:
            console.print(f"  {line}", markup=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``bench`` to the ``ruvector`` command line (the ``ruvector.commands`` entry point)."""
    app.command()(bench)


def _listed(values: list[str]) -> list[str]:
    """``--x a --x b,c`` -> [a, b, c]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _efs(values: list[str] | None) -> tuple[int, ...] | None:
    if not values:
        return None
    try:
        efs = sorted({int(part) for part in _listed(values)})
    except ValueError:
        raise typer.BadParameter("--ef takes integers, e.g. --ef 16,50,128") from None
    if not efs or efs[0] < 1:
        raise typer.BadParameter("--ef values must be >= 1")
    return tuple(efs)


class _RichProgress(Progress):
    """One bar for the run (its total grows as each section announces its steps), one for
    embedding the corpus when that happens."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self._bar = RichProgress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._corpus: TaskID | None = None
        self._run: TaskID | None = None

    def __enter__(self) -> _RichProgress:
        self._bar.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._bar.__exit__(kind, error, traceback)

    def data(self, total: int) -> None:
        self._corpus = self._bar.add_task("embedding the stdlib corpus (first run only)", total=total)

    def data_advance(self, rows: int) -> None:
        if self._corpus is not None:
            self._bar.advance(self._corpus, rows)

    def expect(self, steps: int) -> None:
        if self._run is None:
            self._run = self._bar.add_task("benchmarking", total=steps)
        else:
            self._bar.update(self._run, total=(self._task(self._run).total or 0) + steps)

    def step(self, description: str) -> None:
        if self._run is not None:
            self._bar.update(self._run, advance=1, description=description)

    def finish(self) -> None:
        if self._run is not None:
            self._bar.update(self._run, completed=self._task(self._run).total, description="done")

    def _task(self, task: TaskID) -> Task:
        return next(t for t in self._bar.tasks if t.id == task)
