"""Saving, loading, refusing damaged saves, and a killed shard coming back from the last save."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import ray

import ruvector_core as rv
from ruvector_conformance.data import corpus
from ruvector_ray import ShardedIndex
from ruvector_ray._routing import shard_of

CONFIG = rv.HnswConfig(dimensions=384, seed=5)
ROWS = 600


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[np.ndarray, np.ndarray]]:
    """A two-shard index saved once (each test works on a copy), and its answers before the save."""
    folder = tmp_path_factory.mktemp("saved")
    data = corpus()
    index = ShardedIndex.create(CONFIG, 2, path=folder)
    index.insert_batch(data.ids[:ROWS], data.base[:ROWS])
    index.delete(data.ids[0])
    index.save()
    answers = index.search_batch(data.queries[:20], 10)
    index.close()
    return folder, answers


def _copy(saved: tuple[Path, object], tmp_path: Path) -> Path:
    return Path(shutil.copytree(saved[0], tmp_path / "index"))


def test_save_and_load_round_trip(saved: tuple[Path, tuple[np.ndarray, np.ndarray]], tmp_path: Path) -> None:
    data = corpus()
    tmp_path = _copy(saved, tmp_path)
    before = saved[1]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["generation"] == 1 and sum(s["count"] for s in manifest["shards"]) == ROWS - 1
    # each actor's runtime picks its backend: here the numpy reference, whatever saved the files
    numpy_nodes = {"runtime_env": {"env_vars": {"RUVECTOR_BACKEND": "numpy"}}}
    loaded = ShardedIndex.load(tmp_path, actor_options=numpy_nodes)
    try:
        assert len(loaded) == ROWS - 1 and data.ids[0] not in loaded
        assert loaded.stats().backend == "numpy"
        after = loaded.search_batch(data.queries[:20], 10)
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(after[0], before[0], strict=True)])
        assert overlap >= 0.99  # the same graph, searched by another backend's arithmetic
        np.testing.assert_allclose(after[1], before[1], atol=1e-5)
        loaded.insert("extra", data.queries[0])  # a second save replaces the first's files
        assert loaded.save().generation == 2
        assert sorted(p.name for p in tmp_path.glob("*.hnsw")) == ["shard-0000.g2.hnsw", "shard-0001.g2.hnsw"]
    finally:
        loaded.close()


def test_a_shard_file_loads_in_another_backend(saved: tuple[Path, object]) -> None:
    tmp_path = saved[0]
    entry = json.loads((tmp_path / "manifest.json").read_text())["shards"][1]
    reference = rv.Runtime(backend="numpy").hnsw_load((tmp_path / entry["file"]).read_bytes())
    assert reference.backend == "numpy" and len(reference) == entry["count"]
    assert all(shard_of(i, 2) == 1 for i in reference.ids())


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "remove", "manifest not json", "manifest field"])
def test_a_damaged_save_is_refused(saved: tuple[Path, object], tmp_path: Path, damage: str) -> None:
    tmp_path = _copy(saved, tmp_path)
    manifest = tmp_path / "manifest.json"
    shard_file = tmp_path / json.loads(manifest.read_text())["shards"][1]["file"]
    if damage == "flip a byte":
        data = bytearray(shard_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard_file.write_bytes(bytes(data))
    elif damage == "truncate":
        shard_file.write_bytes(shard_file.read_bytes()[:-10])
    elif damage == "remove":
        shard_file.unlink()
    elif damage == "manifest not json":
        manifest.write_text("{ not json")
    else:
        text = json.loads(manifest.read_text())
        text["shards"][0]["sha256"] = "xyz"
        manifest.write_text(json.dumps(text))
    with pytest.raises(rv.CorruptIndexError):
        ShardedIndex.load(tmp_path)


def test_nothing_to_load_and_nothing_to_overwrite(saved: tuple[Path, object], tmp_path: Path) -> None:
    with pytest.raises(rv.CorruptIndexError, match="no manifest"):
        ShardedIndex.load(tmp_path)
    with pytest.raises(rv.InvalidInputError, match="already holds"):
        ShardedIndex.create(CONFIG, 2, path=saved[0])


def test_a_killed_shard_restarts_from_the_last_save_and_says_what_was_lost(
    saved: tuple[Path, object], tmp_path: Path
) -> None:
    data = corpus()
    index = ShardedIndex.load(_copy(saved, tmp_path))
    try:
        saved_ids = {
            s: sorted(ids) for s, (_, ids) in enumerate(ray.get([a.ids.remote() for a in index.shard_actors()]))
        }
        late = data.ids[ROWS : ROWS + 50]  # written after the save: lost on the shard that dies
        index.insert_batch(late, data.base[ROWS : ROWS + 50])
        lost_on_0 = sum(shard_of(i, 2) == 0 for i in late)
        index.search(data.queries[1], 10)
        assert index.compiled_search  # the shards serve a compiled graph when one dies
        ray.kill(index.shard_actors()[0], no_restart=False)
        time.sleep(0.5)
        hits = index.search(data.queries[0], 10)  # keeps answering, once Ray has restarted the actor
        assert len(hits) == 10
        assert index.search(data.queries[0], 10) == hits and index.compiled_search  # the graph is rebuilt
        assert index.restarts and index.restarts[0].shard == 0
        restart = index.restarts[0]
        assert restart.restored_generation == 1 and restart.lost_writes == lost_on_0
        assert restart.restored_count == len(saved_ids[0])
        status = index.statuses()[0]
        assert status.reconstructed and status.restored_generation == 1
        _, shard0 = ray.get(index.shard_actors()[0].ids.remote())
        assert sorted(shard0) == saved_ids[0]  # the last save's contents, nothing written after it
        _, shard1 = ray.get(index.shard_actors()[1].ids.remote())
        assert len(shard1) == len(saved_ids[1]) + len(late) - lost_on_0  # the other shard lost nothing
        assert len(index.restarts) == 1
    finally:
        index.close()


def test_a_shard_without_a_save_restarts_empty_and_counts_every_write_lost() -> None:
    data = corpus()
    index = ShardedIndex.create(CONFIG, 2)
    try:
        index.insert_batch(data.ids[:100], data.base[:100])
        on_1 = sum(shard_of(i, 2) == 1 for i in data.ids[:100])
        ray.kill(index.shard_actors()[1], no_restart=False)
        time.sleep(0.5)
        assert len(index) == 100 - on_1
        (restart,) = index.restarts
        assert (restart.shard, restart.restored_generation, restart.restored_count, restart.lost_writes) == (
            1,
            None,
            0,
            on_1,
        )
    finally:
        index.close()
