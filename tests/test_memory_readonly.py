"""``Memory.open(path, read_only=True)``: reads through a read-only SQLite connection, see
what a writer commits later, and refuse every write without changing the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from ruvector_core.memory import Memory, StoreError


def test_a_read_only_memory_reads_and_refuses_writes(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    with Memory.open(folder, progress=False) as writer:
        writer.add(["Ana prefers green tea.", "Bo is allergic to peanuts."], metadata=[{"u": "ana"}, {"u": "bo"}])
        with Memory.open(folder, progress=False, read_only=True) as reader:
            assert reader.search("who has an allergy?", k=1)[0].metadata == {"u": "bo"}
            generation = reader._storage.generation
            for write in (
                lambda: reader.add("Cy likes chess."),
                lambda: reader.upsert("Ana now prefers coffee.", ids=["x"]),
                lambda: reader.delete(where={"u": "bo"}),
                lambda: reader.feedback("who has an allergy?", reader.search("peanuts", k=1)[0].id, 1.0),
                lambda: reader.activate(None),
            ):
                with pytest.raises(StoreError, match="was opened read-only: it can be queried but not changed"):
                    write()
            assert reader.count() == 2 and reader._storage.generation == generation
            writer.add("Cy likes chess.", metadata={"u": "cy"})
            assert reader.count() == 3, "a later commit of another writer is seen"
            assert reader.search("board games", k=1, where={"u": "cy"})[0].text == "Cy likes chess."


def test_read_only_never_creates_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store in"):
        Memory.open(tmp_path / "none", progress=False, read_only=True)
    assert not (tmp_path / "none").exists()
