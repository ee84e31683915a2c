"""The scale-out section: Ray Data batch embedding and the sharded index, on a local Ray
cluster of this machine's two cores (``ray.init(num_cpus=2)``, bound to 127.0.0.1).

- ``ray_embed``: texts per second of ``Dataset.map_batches(EmbedBatch)`` with 1 and 2
  actors, one ONNX thread each, from the start of the pipeline to the last row (actor start
  and model load included), beside the same class as 1 and 2 plain actors already loaded
  (the embedding alone) and one process's ``embed_batch`` on one thread.
- ``ray_search``: a ``ShardedIndex`` of 2 shards over the base rows, per query, beside the
  slowest shard's own search of the same query (its saved file loaded in this process, on
  the same backend): the difference is what the fan-out and merge cost (median and p99).

Needs ``ruvec-ray`` (the ``[ray]`` extra).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ruvector_core.models import EmbedderConfig, HnswConfig
from ruvector_core.runtime import Runtime

from .context import Context
from .timing import Stat

TEXTS = {False: 3_000, True: 1_000}  # by options.quick
SEARCHES = {False: 500, True: 200}
SHARDS = 2
BATCH = 64
LABELS = {
    "ray_embed": "Ray Data batch embedding, per text (2 cores)",
    "ray_search": f"ShardedIndex search, k=10, {SHARDS} shards on one machine",
}


def section(context: Context) -> None:
    # under `uv run`, Ray would rebuild the workspace's core (without ray) for each worker
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray

        from ruvector_ray import EmbedBatch, ShardedIndex
    except ImportError as exc:
        for case, label in LABELS.items():
            context.record.skip(case, label, f"needs ruvec-ray (the [ray] extra): {exc}")
        return
    if context.data.texts is None or not context.selection.embeddings:
        for case, label in LABELS.items():
            context.record.skip(case, label, "needs the corpus texts and a backend serving `embeddings`")
        return
    context.progress.expect(3)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        texts = context.data.texts[: TEXTS[context.options.quick]]
        context.progress.step(f"Ray Data: embedding {len(texts):,} texts with 1 and 2 actors")
        _embedding(context, ray, EmbedBatch, texts)
        context.progress.step(f"a sharded index of {len(context.split.base):,} rows, {SHARDS} shards")
        _search(context, ShardedIndex)
    finally:
        ray.shutdown()


def _embedding(context: Context, ray: Any, embed_batch: Any, texts: list[str]) -> None:
    record = context.record
    embedder = Runtime.initialize().embedder(EmbedderConfig(threads=1, progress=False))
    embedder.embed_batch(texts[:64])  # warm
    started = time.perf_counter()
    embedder.embed_batch(texts)
    alone = time.perf_counter() - started
    record.figure(
        "ray_embed",
        LABELS["ray_embed"],
        "embed_batch, one process",
        "floor",
        Stat.of([alone / len(texts)]),
        f"{len(texts) / alone:,.0f} texts/s",
    )
    for actors in (1, 2):
        dataset = ray.data.from_items([{"text": t} for t in texts], override_num_blocks=8)
        started = time.perf_counter()
        done = dataset.map_batches(
            embed_batch, concurrency=actors, batch_size=BATCH, batch_format="numpy", num_cpus=1
        ).count()
        took = time.perf_counter() - started
        record.figure(
            "ray_embed",
            LABELS["ray_embed"],
            f"map_batches, {actors} actor(s)",
            "ruvector",
            Stat.of([took / done]),
            f"{done / took:,.0f} texts/s, actor start and model load included",
        )
    for actors in (1, 2):
        pool = [ray.remote(num_cpus=1)(embed_batch).remote() for _ in range(actors)]
        ray.get([actor.__call__.remote({"text": np.array(texts[:32])}) for actor in pool])
        chunks = [texts[i : i + BATCH] for i in range(0, len(texts), BATCH)]
        started = time.perf_counter()
        ray.get([pool[i % actors].__call__.remote({"text": np.array(c)}) for i, c in enumerate(chunks)])
        took = time.perf_counter() - started
        record.figure(
            "ray_embed",
            LABELS["ray_embed"],
            f"warm actors, {actors}",
            "ruvector",
            Stat.of([took / len(texts)]),
            f"{len(texts) / took:,.0f} texts/s",
        )
        for actor in pool:
            ray.kill(actor)


def _search(context: Context, sharded_index: Any) -> None:
    split, options = context.split, context.options
    ids = [str(i) for i in range(len(split.base))]
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-ray-") as folder:
        index = sharded_index.create(HnswConfig(dimensions=split.base.shape[1]), SHARDS, path=folder)
        try:
            index.insert_batch(ids, split.base)
            manifest = index.save()
            runtime = Runtime.initialize()
            shards = [runtime.hnsw_load((Path(folder) / shard.file).read_bytes()) for shard in manifest.shards]
            queries = split.queries[: SEARCHES[options.quick]]
            for query in queries[:50]:  # warm both paths
                index.search(query, 10)
            whole, slowest = [], []
            for query in queries:
                started = time.perf_counter()
                index.search(query, 10)
                whole.append(time.perf_counter() - started)
                own = []
                for shard in shards:
                    started = time.perf_counter()
                    shard.search(query, 10)
                    own.append(time.perf_counter() - started)
                slowest.append(max(own))
        finally:
            index.close()
    overhead = np.array(whole) - np.array(slowest)
    added, added_p99, whole_p99 = np.median(overhead), np.percentile(overhead, 99), np.percentile(whole, 99)
    engine = f"ShardedIndex ({shards[0].backend})"
    context.record.figure(
        "ray_search",
        LABELS["ray_search"],
        engine,
        "ruvector",
        Stat.of(whole),
        f"the fan-out and merge add {added * 1e3:.2f} ms (median; p99 {added_p99 * 1e3:.2f} ms) to the slowest"
        f" shard's search; p99 of the whole search {whole_p99 * 1e3:.2f} ms",
    )
    context.record.figure("ray_search", LABELS["ray_search"], "slowest shard alone", "floor", Stat.of(slowest))
