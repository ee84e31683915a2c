"""A store shared by a writer process and readers in this one: opening during the writer's
saves never reports damage, and a long-lived reader's scores belong to the texts it
returns, even while the writer keeps replacing items and SQLite reuses their row ids."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.memory import Memory
from ruvector_core.memory.errors import StoreRepairedWarning

TOPICS = [
    "cats purr when they are content",
    "the tax return is due in April",
    "a sourdough starter needs daily feeding",
    "the bridge was closed for repairs",
    "jupiter has dozens of moons",
    "the violin needs new strings",
]

#: replaces one source's passages again and again, the way re-indexing a changed file does:
#: its old passages deleted, new ones added under the same ids ``source#ordinal``, so the
#: largest row ids are freed and handed out again to different text
WRITER = textwrap.dedent(
    """
    import sys
    from ruvector_core.memory import Memory
    topics = sys.argv[2:]
    memory = Memory.open(sys.argv[1], progress=False)
    print("ready", flush=True)
    round_ = 0
    while True:
        texts = [topics[(round_ + i) % len(topics)] + f" (version {round_})" for i in range(2)]
        with memory.writing():
            memory.delete(where={"source": "notes.txt"})
            memory.add(texts, ids=[f"notes.txt#{i}" for i in range(2)], metadata={"source": "notes.txt"})
        round_ += 1
    """
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    with Memory.open(folder, progress=False) as memory:
        memory.add(TOPICS, ids=[f"fixed-{i}" for i in range(len(TOPICS))], metadata={"source": "fixed"})
    return folder


@pytest.fixture
def writer(store: Path) -> Iterator[subprocess.Popen[str]]:
    running = subprocess.Popen([sys.executable, "-c", WRITER, str(store), *TOPICS], stdout=subprocess.PIPE, text=True)
    assert running.stdout is not None and running.stdout.readline().strip() == "ready"
    yield running
    running.kill()
    running.wait()
    assert running.returncode == -9, "the writer ran until stopped"


def _generation(store: Path) -> int:
    with Memory.open(store, progress=False, read_only=True) as memory:
        return memory._storage.generation


def test_opening_during_a_writers_saves_never_reports_damage(store: Path, writer: subprocess.Popen[str]) -> None:
    runtime = rv.Runtime.initialize()
    embedder = runtime.embedder()
    first = _generation(store)
    opens, seen = 0, first
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreRepairedWarning)  # a "rebuilt the index" notice fails the test
        # at least 300 opens, and on until they have raced 50 saves (a loaded machine slows the writer)
        while (opens < 300 or seen <= first + 50) and opens < 3000:
            with Memory.open(store, runtime=runtime, embedder=embedder, progress=False) as memory:
                assert memory.search("cats", k=3), "every open answers"
                seen = memory._storage.generation
            opens += 1
    assert writer.poll() is None, "the writer kept running throughout"
    assert seen > first + 50, f"the opens raced many saves ({opens} opens saw {seen - first})"


def test_a_long_lived_readers_scores_belong_to_the_texts_it_returns(store: Path, writer: subprocess.Popen[str]) -> None:
    first = _generation(store)
    with Memory.open(store, progress=False) as reader:
        queries = {topic: reader.embedder.embed(topic) for topic in TOPICS}
        mismatched: list[str] = []
        checked = 0
        for round_ in range(150):
            query = TOPICS[round_ % len(TOPICS)]
            for hit in reader.search(query, k=4):
                expected = float(np.dot(queries[query], reader.embedder.embed(hit.text)))
                checked += 1
                if abs(hit.score - expected) > 1e-3:
                    mismatched.append(f"{query!r} -> {hit.text!r}: score {hit.score:.4f}, its text {expected:.4f}")
        assert not mismatched, f"{len(mismatched)} of {checked} hits paired a score with another text: {mismatched[:3]}"
        assert checked >= 150 * 4
        assert _generation(store) > first + 10, "the reads raced many of the writer's saves"
