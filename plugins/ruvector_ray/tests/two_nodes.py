"""A sharded index on a two-node Ray cluster, losing a node: run in its own process by
``test_two_nodes.py``, which reads the JSON this prints on its last line.

It needs its own process because a driver joins one Ray cluster, and the other tests'
session already joined the single-node one. Both "nodes" run on this machine: a
``ray.cluster_utils.Cluster`` starts a head and a worker raylet, each with its own object
store and workers, bound to 127.0.0.1. The caller's environment must carry
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (else ``ray.init`` rewrites the loopback address to
the machine's external one, where nothing listens) and ``RAY_TMPDIR`` (the cluster's
sessions and its ``ray_current_cluster`` file go there, not into the shared ``/tmp/ray``).

Usage: ``python two_nodes.py FOLDER`` (the index is saved under FOLDER).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import ray
from ray.cluster_utils import Cluster

import ruvector_core as rv
from ruvector_conformance.data import corpus, recall
from ruvector_ray import ShardedIndex
from ruvector_ray._routing import shard_of

CONFIG = rv.HnswConfig(dimensions=384, seed=11)
ROWS = 1_000
LATE = 40  # rows written after the save: the shard on the lost node loses its part of them
LOOPBACK: dict[str, Any] = {"node_ip_address": "127.0.0.1", "include_dashboard": False}


def main(folder: Path) -> dict[str, Any]:
    data = corpus()
    queries = data.queries[:50]
    cluster = Cluster(initialize_head=True, head_node_args={**LOOPBACK, "num_cpus": 2})
    try:
        head = cluster.head_node
        assert head is not None
        worker = cluster.add_node(**LOOPBACK, num_cpus=1)
        ray.init(address=cluster.address, _node_ip_address="127.0.0.1", log_to_driver=False)
        # one CPU per shard, spread: one shard per node; the head keeps a free CPU for a restart
        index = ShardedIndex.create(
            CONFIG, 2, path=folder, actor_options={"num_cpus": 1, "scheduling_strategy": "SPREAD"}
        )
        index.insert_batch(data.ids[:ROWS], data.base[:ROWS])
        index.save()
        found, _ = index.search_batch(queries, 10)
        first = index.search(queries[0], 10)  # through the compiled graph, over both nodes
        compiled_before = index.compiled_search
        truth = data.exact_top_k(10, base=data.base[:ROWS])[:50]
        before = index.statuses()
        saved_ids = [sorted(ids) for _, ids in ray.get([a.ids.remote() for a in index.shard_actors()])]
        late = data.ids[ROWS : ROWS + LATE]
        index.insert_batch(late, data.base[ROWS : ROWS + LATE])
        lost_shard = next(s.shard for s in before if s.node_id == worker.node_id)
        started = time.monotonic()
        cluster.remove_node(worker)  # the worker node's raylet and every process on it stop
        hits = index.search(queries[0], 10)  # waits for Ray to restart the lost shard on the head
        restart_seconds = time.monotonic() - started
        after = index.statuses()
        _, restored_ids = ray.get(index.shard_actors()[lost_shard].ids.remote())
        found_after, _ = index.search_batch(queries, 10)
        index.search(queries[0], 10)  # the graph compiled again, over the two shards now on the head
        compiled_after = index.compiled_search
        kept = list(range(ROWS)) + [ROWS + n for n, i in enumerate(late) if shard_of(i, 2) != lost_shard]
        truth_after = data.exact_top_k(10, base=data.base[kept])[:50]
        report = {
            "node_addresses": sorted(n["NodeManagerAddress"] for n in ray.nodes()),
            "head_node": head.node_id,
            "worker_node": worker.node_id,
            "shard_nodes_before": [s.node_id for s in before],
            "shard_nodes_after": [s.node_id for s in after],
            "recall_before": recall(found, truth, data.ids),
            "recall_after": recall(found_after, truth_after, [data.ids[r] for r in kept]),
            "hits_after_loss": len(hits),
            "first_hits_equal_batch": first.ids == list(found[0]),
            "compiled_before": compiled_before,
            "compiled_after": compiled_after,
            "lost_shard": lost_shard,
            "lost_late_rows": sum(shard_of(i, 2) == lost_shard for i in late),
            "restarts": [vars(r) for r in index.restarts],
            "reconstructed_after": [s.reconstructed for s in after],
            "restored_equals_saved": sorted(restored_ids) == saved_ids[lost_shard],
            "count_after": len(index),
            "restart_seconds": restart_seconds,
        }
        index.close()
        return report
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
