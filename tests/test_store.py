"""The memory store and its CLI: indexing, re-indexing, queries, and crash safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import corpus
from ruvector_core.store import MemoryStore, StoreError, index_files, split_passages


@pytest.fixture(scope="module")
def embedder() -> rv.Embedder:
    return rv.Runtime().embedder()


def _write(folder: Path, name: str, *paragraphs: str) -> Path:
    path = folder / name
    path.write_text("\n\n".join(paragraphs), "utf-8")
    return path


def test_split_passages() -> None:
    text = "First  line\nsame paragraph.\n\n  \n\nSecond.\n\t\n\nThird"
    assert split_passages(text) == ["First line same paragraph.", "Second.", "Third"]
    assert split_passages("   \n\n ") == []


def test_index_query_and_reindex(tmp_path: Path, embedder: rv.Embedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    pets = _write(docs, "pets.txt", "Dogs are loyal companions.", "Cats sleep most of the day.")
    _write(docs, "finance.md", "The central bank raised interest rates.", "Stocks fell sharply.")
    _write(docs, "ignored.bin", "not a text file")
    db = tmp_path / "store"
    with MemoryStore.open(db, model="all-MiniLM-L6-v2", dimensions=384) as store:
        report = index_files(store, embedder, [docs], progress=False)
        assert (report.files_indexed, report.passages_added) == (2, 4) and len(store) == 4
        top = store.search(embedder.embed("a faithful pet dog"), k=1)[0]
        assert top.passage.text == "Dogs are loyal companions." and top.passage.source == str(pets.resolve())

        again = index_files(store, embedder, [docs], progress=False)
        assert (again.files_indexed, again.files_unchanged) == (0, 2)

        _write(docs, "pets.txt", "Parrots can imitate speech.")  # changed: replaces its passages
        changed = index_files(store, embedder, [docs], progress=False)
        assert (changed.files_indexed, changed.passages_added, changed.passages_removed) == (1, 1, 2)
        assert len(store) == 3 and len(store.index) == 3
        texts = [h.passage.text for h in store.search(embedder.embed("dogs and cats"), k=10)]
        assert "Dogs are loyal companions." not in texts and "Parrots can imitate speech." in texts

        (docs / "finance.md").unlink()  # gone from an indexed folder: dropped
        dropped = index_files(store, embedder, [docs], progress=False)
        assert dropped.files_removed == 1 and len(store) == 1 and len(store.index) == 1
        generation = store.generation

    with MemoryStore.open(db) as reopened:  # persisted
        assert reopened.generation == generation and len(reopened) == 1
        assert [p.name for p in db.glob("index-*.hnsw")] == [f"index-{generation}.hnsw"]


def test_model_mismatch_and_missing_store(tmp_path: Path) -> None:
    with MemoryStore.open(tmp_path / "s", model="all-MiniLM-L6-v2", dimensions=384):
        pass
    with pytest.raises(StoreError, match="built with model 'all-MiniLM-L6-v2'"):
        MemoryStore.open(tmp_path / "s", model="other-model", dimensions=768)
    with pytest.raises(StoreError, match="no store"):
        MemoryStore.open(tmp_path / "nothing")


def test_failed_write_keeps_everything(tmp_path: Path) -> None:
    data = corpus()
    with MemoryStore.open(tmp_path, model="m", dimensions=384) as store:
        with store.writing() as batch:
            batch.replace_source("a", "1", ["x", "y"], data.base[:2])
        before = (len(store), store.index.ids(), store.generation)
        with pytest.raises(rv.DimensionMismatchError):
            with store.writing() as batch:
                batch.replace_source("b", "2", ["z"], data.base[2:3])
                batch.replace_source("c", "3", ["w"], np.ones((1, 5), dtype=np.float32))
        assert (len(store), store.index.ids(), store.generation) == before


def test_rewrites_compact_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing a source leaves tombstones; once they outnumber the live passages the
    index is rebuilt from the vectors kept in the database."""
    from ruvector_core.store import memory_store

    monkeypatch.setattr(memory_store, "COMPACT_MIN_DELETED", 40)
    base = corpus().base
    with MemoryStore.open(tmp_path, model="m", dimensions=384) as store:
        tombstones = []
        for round_ in range(4):
            rows = base[round_ * 30 : round_ * 30 + 30]
            with store.writing() as batch:
                batch.replace_source("doc", str(round_), [f"text {round_}/{i}" for i in range(30)], rows)
            tombstones.append(store.index.stats().deleted)
        assert tombstones == [0, 30, 0, 30]  # 60 >= max(40, 30 live): rebuilt in round 2
        assert store.index.stats().count == 30 and len(store) == 30
        hits = store.search(base[95], k=1)
        assert hits[0].passage.text == "text 3/5" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    with MemoryStore.open(tmp_path) as reopened:
        assert reopened.index.stats().deleted == 30 and len(reopened.index) == 30
        assert reopened.search(base[95], k=1)[0].passage.text == "text 3/5"


WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from ruvector_core.store import MemoryStore
    from ruvector_conformance.data import corpus
    base = corpus().base
    store = MemoryStore.open(sys.argv[1], model="m", dimensions=384)
    print("ready", flush=True)
    round_ = 0
    while True:  # rewrite sources over and over: most of the time goes to saves
        source = f"src-{round_ % 40}"
        rows = base[(round_ * 37) % 2900 : (round_ * 37) % 2900 + 25]
        with store.writing() as batch:
            batch.replace_source(source, str(round_), [f"{source}/{i}/{round_}" for i in range(len(rows))], rows)
        round_ += 1
    """
)


def test_killed_writer_leaves_a_loadable_consistent_store(tmp_path: Path) -> None:
    """SIGKILL a process that saves continuously, many times: every time the store opens,
    its index and its passages agree, and the writes keep going from there."""
    rng = np.random.default_rng(1)
    db = tmp_path / "store"
    generations = []
    for attempt in range(8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.2, 1.2)))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        with MemoryStore.open(db) as store:
            ids = store.index.ids()
            assert len(ids) == len(store), f"attempt {attempt}: index and database disagree"
            assert set(store.passages(ids)) == set(ids)
            generations.append(store.generation)
    assert generations[-1] > generations[0] > 0, "the writer made progress between kills"


def test_cli_round_trip(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _write(docs, "notes.txt", "Bring an umbrella when it rains.", "Tea is best brewed with fresh water.")
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "ruvector_core.cli", *args], capture_output=True, text=True, timeout=300
    )
    indexed = run("index", str(docs), "--db", str(tmp_path / "db"), "--no-progress")
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed 1 files (2 passages)" in indexed.stdout
    answer = run("query", "weather and rain", "--db", str(tmp_path / "db"), "-k", "1", "--json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["results"][0]["text"] == "Bring an umbrella when it rains."
    assert result["served_by"] == {"embeddings": "onnx", "hnsw": rv.Runtime().backends["hnsw"]}
    vector = json.loads(run("embed", "hello").stdout)
    assert len(vector) == 384 and abs(np.linalg.norm(vector) - 1) < 1e-5
    missing = run("query", "x", "--db", str(tmp_path / "none"))
    assert missing.returncode == 1 and "no store" in missing.stderr and "Traceback" not in missing.stderr
