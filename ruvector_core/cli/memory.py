"""``ruvector index``, ``ruvector query`` and ``ruvector embed``: the memory from the shell."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..models import EmbedderConfig
from ..runtime import Runtime
from ..store import MemoryStore, index_files

DbOption = Annotated[Path, typer.Option("--db", help="folder holding the store")]
ModelOption = Annotated[str, typer.Option(help="model name, folder, .onnx file or URL")]
DEFAULT_MODEL = EmbedderConfig.model_fields["model"].default


def index(
    paths: Annotated[list[Path], typer.Argument(help="text files or folders (.txt .md .rst .text)")],
    db: DbOption,
    model: ModelOption = DEFAULT_MODEL,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
) -> None:
    """Embed text files, one passage per paragraph, into the store at --db."""
    runtime = Runtime.initialize()
    with runtime.embedder(EmbedderConfig(model=model, progress=progress)) as embedder:
        with MemoryStore.open(db, model=model, dimensions=embedder.dimensions, runtime=runtime) as store:
            report = index_files(store, embedder, paths, progress=progress)
            typer.echo(
                f"indexed {report.files_indexed} files ({report.passages_added} passages), "
                f"{report.files_unchanged} unchanged, {report.files_removed} removed, "
                f"{report.passages_removed} old passages replaced; {len(store)} passages in {db} "
                f"[{report.seconds:.1f} s, embeddings: {embedder.backend}, hnsw: {store.index.backend}]"
            )


def query(
    text: Annotated[str, typer.Argument(help="what to look for")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", min=1, help="how many passages")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the passages of the store closest in meaning to TEXT."""
    runtime = Runtime.initialize()
    with MemoryStore.open(db, runtime=runtime) as store:
        with runtime.embedder(EmbedderConfig(model=store.model)) as embedder:
            started = time.perf_counter()
            vector = embedder.embed(text)
            embedded = time.perf_counter()
            hits = store.search(vector, k=k)
            searched = time.perf_counter()
            size = len(store)
    timing = {"embed_ms": (embedded - started) * 1e3, "search_ms": (searched - embedded) * 1e3}
    served = {"embeddings": embedder.backend, "hnsw": store.index.backend}
    if as_json:
        results = [
            {"score": h.score, "source": h.passage.source, "paragraph": h.passage.ordinal, "text": h.passage.text}
            for h in hits
        ]
        typer.echo(json.dumps({"results": results, "served_by": served, **timing}, indent=2))
        return
    table = Table(title=f"{text!r}", title_justify="left", show_lines=False)
    table.add_column("score", justify="right")
    table.add_column("source")
    table.add_column("passage", overflow="fold")
    for hit in hits:
        table.add_row(
            f"{hit.score:.3f}", f"{Path(hit.passage.source).name} ¶{hit.passage.ordinal + 1}", hit.passage.text
        )
    console = Console()
    console.print(table)
    console.print(
        f"embed {timing['embed_ms']:.1f} ms ({served['embeddings']}), "
        f"search {timing['search_ms']:.2f} ms (hnsw: {served['hnsw']}), {size} passages"
    )


def embed(
    text: Annotated[str, typer.Argument(help="the text to embed")],
    model: ModelOption = DEFAULT_MODEL,
) -> None:
    """Print TEXT's embedding as a JSON list."""
    with Runtime.initialize().embedder(EmbedderConfig(model=model)) as embedder:
        typer.echo(json.dumps(embedder.embed(text).tolist()))
