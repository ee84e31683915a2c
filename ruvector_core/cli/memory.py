"""The memory from the shell: ``index``, ``add``, ``query``, ``forget``, ``stats`` and ``embed``.

Every command is a thin layer on ``rv.Memory``; ``--json`` prints what a script needs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import InvalidInputError
from ..memory import Memory, MemoryHit, index_files
from ..memory.items import DEFAULT_NAMESPACE, SEARCH_MODES
from ..memory.walk import check_paths
from ..models import EmbedderConfig
from ..runtime import Runtime
from .display import PREVIEW_CHARS, TITLE_CHARS, plural, shorten

DbOption = Annotated[Path, typer.Option("--db", help="folder holding the store")]
ModelOption = Annotated[str | None, typer.Option(help="model name, folder, .onnx file or URL")]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON")]
NamespaceOption = Annotated[str | None, typer.Option("--namespace", "-n", help="only this namespace")]
WhereOption = Annotated[
    str | None,
    typer.Option("--where", help='a metadata filter as JSON, e.g. \'{"user": "ana", "year": {"$gte": 2024}}\''),
]
DEFAULT_MODEL = EmbedderConfig.model_fields["model"].default


def index(
    paths: Annotated[
        list[Path], typer.Argument(help="text files, or folders (their .txt .md .rst .text files); binary is skipped")
    ],
    db: DbOption,
    model: ModelOption = None,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list every file skipped and why")] = False,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="also index links whose targets lie outside the folder")
    ] = False,
) -> None:
    """Embed the text files in PATHS into the store at --db (namespace "files").

    Each paragraph is a passage; a long one is cut into overlapping windows the model reads
    whole. Files that are not text (by their content) are skipped and counted."""
    check_paths(paths)  # before the store is opened: a wrong path leaves nothing behind
    with Memory.open(db, model=model, progress=progress) as memory:
        report = index_files(memory, paths, follow_symlinks=follow_symlinks)
        total = memory.count()
        served = f"embeddings: {memory.embedder.backend}, hnsw: {memory.index.backend}"
    typer.echo(
        f"indexed {plural(report.files_indexed, 'file')} ({plural(report.passages_added, 'passage')}), "
        f"{report.files_unchanged} unchanged, {report.files_removed} removed, "
        f"{plural(report.passages_removed, 'old passage')} replaced; {plural(total, 'item')} in {db} "
        f"[{report.seconds:.1f} s, {served}]"
    )
    if report.skipped:
        counts = ", ".join(f"{n} {reason}" for reason, n in report.skipped_counts().items())
        hint = "" if verbose else " (--verbose lists them)"
        typer.echo(f"skipped {plural(len(report.skipped), 'path')}: {counts}{hint}")
    if verbose:
        for skipped in report.skipped:
            detail = f": {skipped.detail}" if skipped.detail else ""
            typer.echo(f"  skipped {skipped.path}: {skipped.reason}{detail}")


def add(
    texts: Annotated[list[str], typer.Argument(help="texts to remember, one item each")],
    db: DbOption,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="key=value metadata for every item (value read as JSON if it is)")
    ] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="namespace of the items")] = DEFAULT_NAMESPACE,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="the items' ids, one per text (default: random)")
    ] = None,
    replace: Annotated[bool, typer.Option(help="replace items whose ids exist (upsert)")] = False,
    model: ModelOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remember TEXTS, with metadata, in a namespace."""
    metadata = _key_values(meta or [])
    with Memory.open(db, model=model, progress=False) as memory:
        write = memory.upsert if replace else memory.add
        added = write(texts, metadata=metadata, ids=ids, namespace=namespace)
    typer.echo(json.dumps({"ids": added, "namespace": namespace}) if as_json else "\n".join(added))


def query(
    text: Annotated[str, typer.Argument(help="what to look for")],
    db: DbOption,
    k: Annotated[int, typer.Option("-k", min=1, help="how many items")] = 5,
    where: WhereOption = None,
    namespace: NamespaceOption = None,
    mode: Annotated[str, typer.Option(help="vector (meaning), keyword (BM25) or hybrid (both)")] = "vector",
    model: Annotated[
        str | None, typer.Option(help="model name, folder, .onnx file or URL (default: the store's own)")
    ] = None,
    adapt: Annotated[bool, typer.Option(help="apply the adapter learned from feedback, if one is active")] = True,
    as_json: JsonOption = False,
) -> None:
    """Print the items of the store that best match TEXT.

    The table shows the start of each text; --json has all of it."""
    if mode not in SEARCH_MODES:
        raise InvalidInputError(f"--mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    if not text.strip():
        raise InvalidInputError("the query is empty: give the text to look for")
    with Memory.open(db, model=model, progress=False, create=False) as memory:
        if mode != "keyword":
            _note_beyond_window(text, memory)
        started = time.perf_counter()
        hits = memory.search(text, k=k, where=_where(where), namespace=namespace, mode=mode, adapt=adapt)
        seconds = time.perf_counter() - started
        served = {"embeddings": memory.embedder.backend, "hnsw": memory.index.backend}
        size = memory.count()
    if as_json:
        results = [hit.model_dump() for hit in hits]
        typer.echo(json.dumps({"results": results, "served_by": served, "search_ms": seconds * 1e3}, indent=2))
        return
    _print_hits(text, hits)
    Console().print(
        f"{mode} search {seconds * 1e3:.1f} ms (embeddings: {served['embeddings']}, hnsw: {served['hnsw']}),"
        f" {plural(size, 'item')}",
        markup=False,
    )


def _note_beyond_window(text: str, memory: Memory) -> None:
    """Say on stderr when the model reads only the start of the query."""
    embedder = memory.embedder
    tokens = embedder.token_count(text)
    if tokens is not None and embedder.max_tokens is not None and tokens > embedder.max_tokens:
        (spans,) = embedder.token_spans([text])
        read = int(spans[embedder.max_tokens - 1, 1])
        typer.echo(
            f"note: the query is {tokens:,} tokens long and the model reads {embedder.max_tokens}: "
            f"only its first {read:,} of {len(text):,} characters count (keyword search reads all of it)",
            err=True,
        )


def forget(
    db: DbOption,
    ids: Annotated[list[str] | None, typer.Option("--id", help="an item id to remove (repeatable)")] = None,
    where: WhereOption = None,
    namespace: NamespaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove items by id or by metadata filter."""
    if not ids and where is None:
        raise InvalidInputError("forget needs --id or --where; nothing was removed")
    with Memory.open(db, progress=False, create=False) as memory:
        removed = memory.delete(ids=ids or None, where=_where(where), namespace=namespace)
    typer.echo(json.dumps({"removed": removed}) if as_json else f"removed {plural(removed, 'item')}")


def stats(db: DbOption, as_json: JsonOption = False) -> None:
    """How many items the store holds, per namespace, and what serves it."""
    with Memory.open(db, progress=False, create=False) as memory:
        namespaces = memory.namespaces()
        items = memory.count()
        report = {
            "items": items,
            "namespaces": namespaces,
            "model": memory.model,
            "served_by": {"embeddings": memory.embedder.backend, "hnsw": memory.index.backend},
            "index": memory.index.stats().model_dump(),
        }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(f"{plural(items, 'item')} in {db} (model {report['model']})")
    for name, count in sorted(namespaces.items()):
        typer.echo(f"  {name}: {count}")


def embed(
    text: Annotated[str, typer.Argument(help="the text to embed")],
    model: Annotated[str, typer.Option(help="model name, folder, .onnx file or URL")] = DEFAULT_MODEL,
) -> None:
    """Print TEXT's embedding as a JSON list."""
    with Runtime.initialize().embedder(EmbedderConfig(model=model)) as embedder:
        typer.echo(json.dumps(embedder.embed(text).tolist()))


def _where(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        where = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--where is not JSON: {exc}") from None
    if not isinstance(where, dict):
        raise InvalidInputError("--where must be a JSON object")
    return where


def _key_values(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value that parses as JSON (a number, true, a list) is that."""
    metadata: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--meta takes key=value, got {pair!r}")
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            metadata[key] = value
    return metadata


def _print_hits(text: str, hits: list[MemoryHit]) -> None:
    console = Console()
    console.print(repr(shorten(text, TITLE_CHARS)), markup=False, highlight=False, soft_wrap=True)
    table = Table(show_lines=False)
    table.add_column("score", justify="right")
    table.add_column("item", overflow="fold")
    table.add_column("text", overflow="fold")
    for hit in hits:
        preview = shorten(hit.text, PREVIEW_CHARS)
        table.add_row(f"{hit.score:.3f}", escape(f"{hit.namespace}/{_label(hit)}"), escape(preview))
    console.print(table)


def _label(hit: MemoryHit) -> str:
    """An indexed file's passage as ``name #n`` (n as in its id and ``passage``), else the id."""
    source, passage = hit.metadata.get("source"), hit.metadata.get("passage")
    return f"{Path(source).name} #{passage}" if isinstance(source, str) and isinstance(passage, int) else hit.id
