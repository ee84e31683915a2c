"""Figures for docs/scale-out.md, measured on the machine this runs on (a local Ray cluster).

    python plugins/ruvector_ray/benchmarks/measure.py embed --texts 3000
    python plugins/ruvector_ray/benchmarks/measure.py search --shards 2 --queries 500

``embed``: texts per second of ``map_batches(EmbedBatch)`` with 1 and with 2 actors, each
running one ONNX thread, from the start of the pipeline to the last row (actor start and
model load included), beside one process's ``embed_batch`` with one thread, and the same
class as 1 and 2 plain actors already loaded (the embedding alone, without Ray Data).
``search``: p50/p99 of a sharded search over the conformance base, and of the slowest
shard's own search (its saved file loaded into this process, same backend), per query.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import ray

import ruvector_core as rv
from ruvector_conformance.data import corpus
from ruvector_core.corpus import stdlib_passages
from ruvector_ray import EmbedBatch, ShardedIndex


def embed(texts: int, batch_size: int) -> None:
    passages = [text for _, text in itertools.islice(stdlib_passages(), texts)]
    config = rv.EmbedderConfig(threads=1, progress=False)
    embedder = rv.Runtime.initialize().embedder(config)
    embedder.embed_batch(passages[:64])  # warm
    start = time.perf_counter()
    embedder.embed_batch(passages)
    single = time.perf_counter() - start
    print(f"one process, embed_batch, 1 thread: {len(passages) / single:.0f} texts/s ({single:.1f} s)")
    for actors in (1, 2):
        ds = ray.data.from_items([{"text": t} for t in passages], override_num_blocks=8)
        start = time.perf_counter()
        done = ds.map_batches(
            EmbedBatch, concurrency=actors, batch_size=batch_size, batch_format="numpy", num_cpus=1
        ).count()
        took = time.perf_counter() - start
        print(f"map_batches, {actors} actor(s): {done / took:.0f} texts/s ({done} texts in {took:.1f} s)")
    for actors in (1, 2):  # the same class as plain actors, model loaded before the clock starts
        pool = [ray.remote(num_cpus=1)(EmbedBatch).remote() for _ in range(actors)]
        ray.get([a.__call__.remote({"text": np.array(passages[:32])}) for a in pool])
        chunks = [passages[i : i + batch_size] for i in range(0, len(passages), batch_size)]
        start = time.perf_counter()
        ray.get([pool[i % actors].__call__.remote({"text": np.array(c)}) for i, c in enumerate(chunks)])
        took = time.perf_counter() - start
        print(f"warm actors, {actors}: {len(passages) / took:.0f} texts/s ({took:.1f} s)")
        for actor in pool:
            ray.kill(actor)


def search(shards: int, queries: int) -> None:
    data = corpus()
    config = rv.HnswConfig(dimensions=384)
    with tempfile.TemporaryDirectory() as folder:
        index = ShardedIndex.create(config, shards, path=folder)
        index.insert_batch(data.ids, data.base)
        manifest = index.save()
        stats = index.stats()
        local = [rv.Runtime.initialize().hnsw_load((Path(folder) / s.file).read_bytes()) for s in manifest.shards]
        rng = np.random.default_rng(0)
        picks = data.queries[rng.integers(0, len(data.queries), size=queries)]
        for q in picks[:50]:  # warm both paths
            index.search(q, 10)
        sharded, slowest = [], []
        for q in picks:
            start = time.perf_counter()
            index.search(q, 10)
            sharded.append(time.perf_counter() - start)
            own = []
            for shard in local:
                start = time.perf_counter()
                shard.search(q, 10)
                own.append(time.perf_counter() - start)
            slowest.append(max(own))
        index.close()
    s, o = np.array(sharded) * 1e3, np.array(slowest) * 1e3
    print(f"{shards} shards over {len(data.ids)} vectors, {queries} queries, k=10, backend {local[0].backend}")
    per_vector = stats.memory_bytes / stats.count
    print(f"memory_bytes {stats.memory_bytes} for {stats.count} vectors: {per_vector:.0f} per vector")
    print(f"sharded search      p50 {np.median(s):.3f} ms  p99 {np.percentile(s, 99):.3f} ms")
    print(f"slowest shard alone p50 {np.median(o):.3f} ms  p99 {np.percentile(o, 99):.3f} ms")
    print(f"added by the fan-out p50 {np.median(s - o):.3f} ms  p99 {np.percentile(s - o, 99):.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    e = sub.add_parser("embed")
    e.add_argument("--texts", type=int, default=3000)
    e.add_argument("--batch-size", type=int, default=64)
    s = sub.add_parser("search")
    s.add_argument("--shards", type=int, default=2)
    s.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        if args.what == "embed":
            embed(args.texts, args.batch_size)
        else:
            search(args.shards, args.queries)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
