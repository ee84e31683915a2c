"""A sharded index over a two-node Ray cluster answers, and survives losing a node.

The cluster (``ray.cluster_utils.Cluster``: a head and a worker raylet on this machine,
both bound to 127.0.0.1) runs in a child process, ``two_nodes.py``: a driver joins one
cluster, and this session's driver already joined the single-node one. The child's Ray
files go to a private temporary folder, removed afterwards, so no other Ray user on this
machine sees its ``ray_current_cluster``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("two_nodes.py")
TIMEOUT_SECONDS = 180


def _run_on_two_nodes() -> tuple[dict[str, Any], Path]:
    # a short folder: Ray's socket paths live under it and must stay under 108 bytes
    with tempfile.TemporaryDirectory(prefix="rvray-", ignore_cleanup_errors=True) as folder:
        env = {
            **os.environ,
            "RAY_TMPDIR": folder,
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep 127.0.0.1 as the node address
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        env.pop("RAY_ADDRESS", None)
        child = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(Path(folder) / "index")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a hung run is stopped whole
        )
        try:
            out, err = child.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise
        assert child.returncode == 0, err[-4000:]
        ray_files = Path(folder) / "ray"
        assert ray_files.is_dir()  # the cluster kept its files in the private folder
        return json.loads(out.strip().splitlines()[-1]), ray_files


def test_a_sharded_index_spans_two_nodes_and_survives_losing_one() -> None:
    report, ray_files = _run_on_two_nodes()
    assert not ray_files.exists()  # removed with its folder
    assert report["node_addresses"] == ["127.0.0.1", "127.0.0.1"]
    head, worker = report["head_node"], report["worker_node"]
    assert sorted(report["shard_nodes_before"]) == sorted([head, worker])  # one shard per node
    assert report["recall_before"] >= 0.95
    assert report["compiled_before"] and report["first_hits_equal_batch"]  # a compiled graph spans the nodes
    # the worker node is gone: its shard came back on the head, from the last save
    assert report["shard_nodes_after"] == [head, head]
    lost = report["lost_shard"]
    assert report["reconstructed_after"][lost] and not report["reconstructed_after"][1 - lost]
    assert report["hits_after_loss"] == 10 and report["restored_equals_saved"]
    (restart,) = report["restarts"]
    assert restart["shard"] == lost and restart["restored_generation"] == 1
    assert restart["lost_writes"] == report["lost_late_rows"] > 0
    assert report["count_after"] == 1_000 + 40 - report["lost_late_rows"]
    assert report["recall_after"] >= 0.95
    assert report["compiled_after"]  # the graph broke with the node and was compiled again
