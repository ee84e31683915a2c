"""Search CPython's docstrings by meaning, with the best backend installed.

The conformance fixture carries 3,200 real passages and their all-MiniLM-L6-v2 embeddings;
this builds an HNSW index over 3,000 of them, asks it about the other 200, and checks the
answers against exact brute force. (Embedding new text arrives with the embeddings issue.)
"""

from __future__ import annotations

import textwrap
import time

import numpy as np
import ruvector_core as rv
from rich.console import Console
from rich.progress import Progress
from ruvector_conformance.data import QUERY_ROWS, corpus, exact_top_k, passages, recall

console = Console()


def main() -> None:
    rt = rv.Runtime.initialize()
    console.print(f"backends serving: {rt.backends}")
    data, texts = corpus(), passages()
    base_texts = texts[QUERY_ROWS:]
    index = rt.hnsw(rv.HnswConfig(dimensions=384, m=16, ef_construction=100, ef_search=64))
    started = time.perf_counter()
    with Progress(console=console) as progress:
        task = progress.add_task(f"indexing on {index.backend}", total=len(data.base))
        for start in range(0, len(data.base), 100):
            stop = start + 100
            index.insert_batch(data.ids[start:stop], data.base[start:stop])
            progress.update(task, advance=len(data.ids[start:stop]))
    console.print(f"built {len(index)} vectors in {time.perf_counter() - started:.1f} s: {index.stats().nodes_per_level} nodes per layer")

    started = time.perf_counter()
    found, _ = index.search_batch(data.queries, k=10)
    per_query = (time.perf_counter() - started) / len(data.queries)
    measured = recall(found, exact_top_k(data.queries, data.base, 10, "cosine"), data.ids)
    console.print(f"recall@10 against brute force: {measured:.3f}, {per_query * 1e6:.0f} µs per query\n")

    row_of = {id_: row for row, id_ in enumerate(data.ids)}
    for q in (3, 42, 117):
        console.print(f"[bold]query:[/] {textwrap.shorten(texts[q], 110)}")
        for hit in index.search(data.queries[q], k=3):
            console.print(f"  {hit.score:.3f}  {textwrap.shorten(base_texts[row_of[hit.id]], 100)}")
        console.print()
    restored = rt.hnsw_load(index.serialize())
    same = np.array_equal(restored.search_batch(data.queries, k=10)[0], found)
    console.print(f"serialized {len(index.serialize()) / 1e6:.1f} MB; reloaded index gives identical results: {same}")


if __name__ == "__main__":
    main()
