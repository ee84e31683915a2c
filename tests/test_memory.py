"""``rv.Memory``: items with metadata and namespaces, filtered, keyword and hybrid recall,
bad input that changes nothing, file indexing, and consistency across processes."""

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
from ruvector_core.memory import Memory, StoreError, index_files
from ruvector_core.memory import storage as storage_module
from ruvector_core.memory.passages import paragraphs
from ruvector_core.memory.storage import Storage

FACTS = [
    ("Ana prefers green tea in the morning.", {"user": "ana", "kind": "preference", "year": 2024}),
    ("Ana's flight to Lisbon leaves on Friday.", {"user": "ana", "kind": "travel", "year": 2025}),
    ("Bo is allergic to peanuts.", {"user": "bo", "kind": "health", "year": 2023}),
    ("Bo plays the cello in an orchestra.", {"user": "bo", "kind": "hobby", "year": 2025}),
    ("The team standup moved to 9:30.", {"user": "team", "kind": "work", "year": 2025, "urgent": True}),
    ("Quarterly report due on the 15th.", {"user": "team", "kind": "work", "year": 2024, "urgent": False}),
]


@pytest.fixture
def memory(tmp_path: Path) -> Memory:
    with Memory.open(tmp_path / "memory", progress=False) as opened:
        opened.add([t for t, _ in FACTS], metadata=[m for _, m in FACTS], ids=[f"f{i}" for i in range(len(FACTS))])
        yield opened


def state(memory: Memory) -> tuple[int, int, list[str]]:
    """What a failed call must leave exactly as it was."""
    return memory.count(), memory._storage.generation, sorted(memory.index.ids())


def test_add_get_count_and_namespaces(memory: Memory) -> None:
    assert memory.count() == 6 and memory.namespaces() == {"default": 6}
    items = memory.get(["f2", "missing", "f0"])
    assert [i.id for i in items] == ["f2", "f0"] and items[0].metadata == FACTS[2][1]
    new = memory.add("A note for later.", namespace="scratch")
    assert len(new) == 1 and len(new[0]) == 32
    assert memory.namespaces() == {"default": 6, "scratch": 1}
    assert memory.get(new, namespace="scratch")[0].text == "A note for later."
    assert memory.count(where={"user": "ana"}) == 2 and memory.count(namespace="scratch") == 1
    assert memory.distinct("user", namespace="default") == {("ana",), ("bo",), ("team",)}
    assert memory.distinct("user", "year", where={"kind": "work"}) == {("team", 2025), ("team", 2024)}


def test_vector_search_filtered_by_metadata_and_namespace(memory: Memory) -> None:
    top = memory.search("what does Ana like to drink?", k=1)[0]
    assert top.id == "f0" and top.namespace == "default" and 0 < top.score <= 1
    bos = memory.search("what does Ana like to drink?", k=5, where={"user": "bo"})
    assert [h.metadata["user"] for h in bos] == ["bo", "bo"], "k hits whenever k items match, only matching ones"
    recent = memory.search(
        "work", k=10, where={"$and": [{"year": {"$gte": 2025}}, {"kind": {"$in": ["work", "hobby"]}}]}
    )
    assert sorted(h.id for h in recent) == ["f3", "f4"]
    memory.add(["Green tea notes from the tasting."], namespace="other")
    assert {h.namespace for h in memory.search("green tea", k=10, namespace="other")} == {"other"}
    assert len(memory.search("green tea", k=10)) == 7, "no namespace: every namespace"


def test_keyword_and_hybrid_modes(memory: Memory) -> None:
    keyword = memory.search("peanuts", k=3, mode="keyword")
    assert [h.id for h in keyword] == ["f2"] and keyword[0].score > 0
    assert memory.search("standup OR report", k=5, mode="keyword", where={"urgent": True})[0].id == "f4"
    assert memory.search("zzzz qqqq", k=5, mode="keyword") == []
    hybrid = memory.search("Lisbon flight", k=3, mode="hybrid")
    assert hybrid[0].id == "f1" and len(hybrid) == 3 and hybrid[0].score > hybrid[1].score
    assert all(
        h.metadata["user"] == "team" for h in memory.search("report", k=3, mode="hybrid", where={"user": "team"})
    )


def test_items_with_vectors_computed_elsewhere(memory: Memory) -> None:
    vectors = memory.embedder.embed_batch(["a red bicycle", "a blue boat"])
    ids = memory.add(["bike", "boat"], vectors=vectors[::-1], namespace="imported")  # stored as given
    assert memory.search("a red bicycle", k=1, namespace="imported")[0].id == ids[1]
    before = state(memory)
    with pytest.raises(rv.DimensionMismatchError):
        memory.add(["x"], vectors=np.ones((1, 5), dtype=np.float32))
    with pytest.raises(rv.InvalidInputError, match="2 vectors for 1 texts"):
        memory.add(["x"], vectors=vectors)
    assert state(memory) == before


def test_a_vector_query(memory: Memory) -> None:
    vector = memory.embedder.embed("allergies")
    assert memory.search(vector, k=1)[0].id == "f2"
    with pytest.raises(rv.InvalidInputError, match="needs a text query"):
        memory.search(vector, k=1, mode="keyword")


def test_upsert_replaces_and_delete_by_id_and_where(memory: Memory) -> None:
    memory.upsert(["Ana now prefers coffee."], metadata={"user": "ana", "kind": "preference"}, ids=["f0"])
    assert memory.count() == 6 and memory.get(["f0"])[0].text == "Ana now prefers coffee."
    assert memory.search("coffee", k=1)[0].id == "f0"
    assert memory.delete(ids=["f0", "nope"]) == 1
    assert memory.delete(where={"user": "bo"}) == 2
    assert memory.count() == 3 and len(memory.index) == 3
    assert {h.id for h in memory.search("allergic to peanuts", k=10)} == {"f1", "f4", "f5"}


@pytest.mark.parametrize(
    ("call", "complaint"),
    [
        (lambda m: m.add(["again"], ids=["f1"]), "already holds 'f1'"),
        (lambda m: m.add(["a", "b"], ids=["x", "x"]), "distinct"),
        (lambda m: m.add(["a"], ids=["x", "y"]), "2 ids for 1 texts"),
        (lambda m: m.add(["a"], metadata=[{"k": 1}, {"k": 2}]), "2 metadata objects for 1 texts"),
        (lambda m: m.add(["a"], metadata={"when": object()}), "cannot be stored as JSON"),
        (lambda m: m.add(["a"], metadata={"x": float("nan")}), "cannot be stored as JSON"),
        (lambda m: m.add([b"bytes"]), "texts must be strings"),
        (lambda m: m.add(["a"], namespace=""), "namespace must be a non-empty string"),
        (lambda m: m.search("x", where={"year": {"$gtt": 1}}), "gtt"),
        (lambda m: m.search("x", mode="fuzzy"), "mode must be one of"),
        (lambda m: m.search("   "), "query is empty"),
        (lambda m: m.search("x", k=0), "k must be a positive integer"),
        (lambda m: m.delete(), "nothing was deleted"),
        (lambda m: m.delete(where={"$or": []}), "or"),
    ],
)
def test_bad_calls_are_typed_errors_and_change_nothing(memory: Memory, call, complaint: str) -> None:
    before = state(memory)
    with pytest.raises(rv.InvalidInputError, match=complaint):
        call(memory)
    assert state(memory) == before


def test_a_failed_group_of_writes_keeps_nothing(memory: Memory) -> None:
    before = state(memory)
    with pytest.raises(rv.InvalidInputError):
        with memory.writing():
            memory.add(["kept only if the block succeeds"], ids=["new"])
            memory.delete(where={"user": "ana"})
            memory.add(["broken"], metadata={"x": object()})
    assert state(memory) == before and memory.get(["new"]) == []


def test_another_model_and_a_missing_store_are_refused(tmp_path: Path, memory: Memory) -> None:
    with pytest.raises(StoreError, match="built with model 'all-MiniLM-L6-v2'"):
        Storage.open(memory.folder, model="other-model", dimensions=768, runtime=rv.Runtime())
    with pytest.raises(StoreError, match="no store"):
        Memory.open(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_an_embedder_made_elsewhere_is_used_and_left_open(tmp_path: Path) -> None:
    runtime = rv.Runtime.initialize()
    with runtime.embedder(rv.EmbedderConfig(progress=False)) as embedder:
        with Memory.open(tmp_path / "shared", embedder=embedder, progress=False) as memory:
            memory.add(["Ana prefers green tea.", "Bo plays the cello."], ids=["a", "b"])
            assert memory.search("what does Ana drink?", k=1)[0].id == "a"
            with pytest.raises(rv.InvalidInputError, match="differs from the given embedder"):
                Memory.open(tmp_path / "other", embedder=embedder, model="another-model")
            assert not (tmp_path / "other").exists()
        assert embedder.embed("still open").shape == (embedder.dimensions,), "the caller's embedder stays open"
    with Memory.open(tmp_path / "shared", progress=False, create=False) as reopened:  # the model it recorded
        assert reopened.model == embedder.config.model and reopened.count() == 2


def test_a_store_of_the_earlier_schema_is_refused_untouched(tmp_path: Path) -> None:
    import sqlite3

    folder = tmp_path / "old"
    folder.mkdir()
    db = sqlite3.connect(folder / "store.sqlite3")
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); CREATE TABLE passages (id TEXT);")
    db.close()
    before = (folder / "store.sqlite3").read_bytes()
    with pytest.raises(StoreError, match="earlier ruvector"):
        Memory.open(folder)
    assert (folder / "store.sqlite3").read_bytes() == before


def test_replacements_compact_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upserts leave tombstones; once they outnumber the live items the index is rebuilt
    from the vectors kept in SQLite."""
    monkeypatch.setattr(storage_module, "COMPACT_MIN_DELETED", 40)
    texts = [f"note number {i} about topic {i % 7}" for i in range(30)]
    ids = [f"n{i}" for i in range(30)]
    with Memory.open(tmp_path / "m", progress=False) as memory:
        tombstones = []
        for round_ in range(4):
            memory.upsert([f"{t} (round {round_})" for t in texts], ids=ids)
            tombstones.append(memory.index.stats().deleted)
        assert tombstones == [0, 30, 0, 30]  # 60 >= max(40, 30 live): rebuilt in round 2
        assert memory.search("note number 5 about topic 5 (round 3)", k=1)[0].id == "n5"
    with Memory.open(tmp_path / "m", progress=False) as reopened:
        assert reopened.index.stats().deleted == 30 and len(reopened.index) == 30 == reopened.count()


def _write(folder: Path, name: str, *paragraphs: str) -> Path:
    path = folder / name
    path.write_text("\n\n".join(paragraphs), "utf-8")
    return path


def test_paragraphs() -> None:
    text = "First  line\nsame paragraph.\n\n  \n\nSecond.\n\t\n\nThird"
    assert paragraphs(text) == ["First line same paragraph.", "Second.", "Third"]
    assert paragraphs("   \n\n ") == []


def test_index_files_is_a_client_of_the_memory(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    pets = _write(docs, "pets.txt", "Dogs are loyal companions.", "Cats sleep most of the day.")
    _write(docs, "finance.md", "The central bank raised interest rates.", "Stocks fell sharply.")
    _write(docs, "ignored.bin", "not a text file")
    with Memory.open(tmp_path / "store", progress=False) as memory:
        report = index_files(memory, [docs])
        assert (report.files_indexed, report.passages_added) == (2, 4) and memory.count(namespace="files") == 4
        top = memory.search("a faithful pet dog", k=1)[0]
        assert top.text == "Dogs are loyal companions." and top.metadata["source"] == str(pets.resolve())
        assert top.metadata["paragraph"] == top.metadata["passage"] == 1 and top.id == f"{pets.resolve()}#1"
        assert memory.count(where={"source": str(pets.resolve())}) == 2

        again = index_files(memory, [docs])
        assert (again.files_indexed, again.files_unchanged) == (0, 2)

        _write(docs, "pets.txt", "Parrots can imitate speech.")  # changed: replaces its passages
        changed = index_files(memory, [docs])
        assert (changed.files_indexed, changed.passages_added, changed.passages_removed) == (1, 1, 2)
        assert memory.count() == 3 and len(memory.index) == 3

        (docs / "finance.md").unlink()  # gone from an indexed folder: dropped
        dropped = index_files(memory, [docs])
        assert dropped.files_removed == 1 and memory.count() == 1 and len(memory.index) == 1


WRITER = textwrap.dedent(
    """
    import sys
    from ruvector_core.memory import Memory
    memory = Memory.open(sys.argv[1], progress=False)
    print("ready", flush=True)
    round_ = 0
    while True:  # five items a round (a restarted writer replaces its earlier rounds' items)
        ids = [f"round-{round_}-{i}" for i in range(5)]
        texts = [f"round {round_} note {i} about the weather" for i in range(5)]
        memory.upsert(texts, ids=ids, metadata={"round": round_})
        print(round_, flush=True)
        round_ += 1
    """
)


def _writer(db: Path) -> subprocess.Popen[str]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    return writer


def test_a_reader_sees_each_committed_write_without_reopening(tmp_path: Path) -> None:
    """A writer in another process keeps adding; a reader that stays open sees every round
    the writer reported committed before the read began, and never a half-written one."""
    db = tmp_path / "store"
    with Memory.open(db, progress=False) as reader:
        writer = _writer(db)
        try:
            assert writer.stdout is not None
            for _ in range(6):
                committed = int(writer.stdout.readline())
                rounds = {r for (r,) in reader.distinct("round")}
                assert committed in rounds, f"round {committed} was committed before this read"
                hits = reader.search("weather", k=5, where={"round": committed})
                assert len(hits) == min(5, reader.count(where={"round": committed}))
                assert len(reader.index) == reader.count(), "index and items of one generation"
        finally:
            writer.kill()
            writer.wait()


def test_killed_writer_leaves_a_consistent_store(tmp_path: Path) -> None:
    """SIGKILL a process that writes continuously, several times: every time the store
    opens, its index and its items agree, and nothing committed is lost."""
    db = tmp_path / "store"
    last_committed = -1
    for attempt in range(4):
        writer = _writer(db)
        assert writer.stdout is not None
        committed = [int(writer.stdout.readline()) for _ in range(2)]
        time.sleep(0.05 * attempt)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        with Memory.open(db, progress=False) as memory:
            assert sorted(memory.index.ids()) == sorted(str(r) for r in _rowids(memory)), "index and items agree"
            rounds = {r for (r,) in memory.distinct("round")}
            assert set(committed) <= rounds, "a committed write was lost"
            assert all(memory.count(where={"round": r}) == 5 for r in committed), "a write is half there"
            last_committed = max(last_committed, committed[-1])
    assert last_committed >= 1, "the writer made progress"


def _rowids(memory: Memory) -> list[int]:
    return [r for (r,) in memory._storage.db.execute("SELECT rowid FROM items")]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "ruvector_core.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_cli_add_query_forget_stats(tmp_path: Path) -> None:
    db = str(tmp_path / "db")
    added = run_cli("add", "Bring an umbrella when it rains.", "--db", db, "--meta", "user=ana", "--meta", "year=2025")
    assert added.returncode == 0, added.stderr
    run_cli(
        "add", "Tea is best brewed with fresh water.", "--db", db, "--meta", "user=bo", "-n", "kitchen", "--id", "t1"
    )
    answer = run_cli("query", "weather and rain", "--db", db, "-k", "1", "--json")
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    hit = result["results"][0]
    assert hit["text"] == "Bring an umbrella when it rains." and hit["metadata"] == {"user": "ana", "year": 2025}
    assert result["served_by"] == {"embeddings": "onnx", "hnsw": rv.Runtime().backends["hnsw"]}
    filtered = json.loads(run_cli("query", "weather", "--db", db, "--where", '{"user": "bo"}', "--json").stdout)
    assert [h["id"] for h in filtered["results"]] == ["t1"]
    hybrid = run_cli("query", "tea water", "--db", db, "--mode", "hybrid", "-n", "kitchen", "--json")
    assert json.loads(hybrid.stdout)["results"][0]["namespace"] == "kitchen"
    stats = json.loads(run_cli("stats", "--db", db, "--json").stdout)
    assert stats["items"] == 2 and stats["namespaces"] == {"default": 1, "kitchen": 1}
    forgotten = run_cli("forget", "--db", db, "--where", '{"user": "ana"}', "--json")
    assert json.loads(forgotten.stdout) == {"removed": 1}
    for bad, message in [
        (("query", "x", "--db", db, "--where", "{not json"), "--where is not JSON"),
        (("query", "x", "--db", db, "--where", '{"a": {"$bad": 1}}'), "$bad"),
        (("query", "x", "--db", str(tmp_path / "none")), "no store"),
        (("forget", "--db", db), "needs --id or --where"),
        (("add", "x", "--db", db, "--meta", "novalue"), "key=value"),
    ]:
        failed = run_cli(*bad)
        assert failed.returncode == 1 and message in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert not (tmp_path / "none").exists()


def test_cli_index_then_query(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    _write(docs, "notes.txt", "Bring an umbrella when it rains.", "Tea is best brewed with fresh water.")
    indexed = run_cli("index", str(docs), "--db", str(tmp_path / "db"), "--no-progress")
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed 1 file (2 passages)" in indexed.stdout
    answer = run_cli("query", "weather and rain", "--db", str(tmp_path / "db"), "-k", "1")
    assert answer.returncode == 0 and "notes.txt #1" in answer.stdout
    vector = json.loads(run_cli("embed", "hello").stdout)
    assert len(vector) == 384


def test_cli_query_prints_markup_in_passages_as_text(tmp_path: Path) -> None:
    """Stored text is data: rich markup in a passage, an id or the query is shown verbatim."""
    db = str(tmp_path / "db")
    text = "Use [/bold] to close a [red]tag[/red] in rich markup."
    added = run_cli("add", text, "--db", db, "--id", "[/italic]")
    assert added.returncode == 0, added.stderr
    answer = run_cli("query", "close a [/b] tag", "--db", db, "-k", "1")
    assert answer.returncode == 0, answer.stderr
    assert "[/bold]" in answer.stdout and "[red]tag[/red]" in answer.stdout and "[/italic]" in answer.stdout
    assert "[/b]" in answer.stdout
