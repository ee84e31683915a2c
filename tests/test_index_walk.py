"""``ruvector index`` walking folders as they are found on disks: names that are not UTF-8,
folders nested deeper than Python's recursion limit, and symbolic links."""

from __future__ import annotations

import json
import os
from pathlib import Path

from test_memory import run_cli

from ruvector_core.memory import Memory, index_files


def test_a_name_that_is_not_utf8_is_indexed_and_shown_escaped(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plain.txt").write_text("Tea is best brewed with fresh water.", "utf-8")
    raw = os.fsencode(docs) + b"/caf\xe9-notes.txt"  # Latin-1 bytes: not UTF-8
    with open(raw, "wb") as handle:
        handle.write(b"The espresso machine needs descaling every month.")
    db = str(tmp_path / "db")
    indexed = run_cli("index", str(docs), "--db", db, "--no-progress")
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed 2 files (2 passages)" in indexed.stdout
    answer = run_cli("query", "descale the coffee machine", "--db", db, "-k", "1", "--json")
    hit = json.loads(answer.stdout)["results"][0]
    assert hit["metadata"]["source"] == f"{docs.resolve()}/caf\\xe9-notes.txt"
    table = run_cli("query", "descale the coffee machine", "--db", db, "-k", "1")
    assert table.returncode == 0 and "caf\\xe9-notes.txt" in table.stdout, table.stderr
    os.remove(raw)  # gone: its passage goes on the next run
    again = run_cli("index", str(docs), "--db", db, "--no-progress")
    assert again.returncode == 0 and "1 removed" in again.stdout, again.stdout + again.stderr


def test_folders_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    docs = deep = tmp_path / "docs"
    docs.mkdir()
    chain = []
    try:
        for _ in range(1_200):  # one level at a time: Path.mkdir(parents=True) recurses too
            deep = deep / "d"
            deep.mkdir()
            chain.append(deep)
        (deep / "bottom.txt").write_text("The deepest note of all.", "utf-8")
        (docs / "top.txt").write_text("A note at the top.", "utf-8")
        with Memory.open(tmp_path / "store", progress=False) as memory:
            report = index_files(memory, [docs])
            assert (report.files_indexed, report.passages_added) == (2, 2)
            assert memory.search("the deepest note", k=1)[0].metadata["source"] == str(deep.resolve() / "bottom.txt")
    finally:  # bottom up: shutil.rmtree (and so pytest's clean-up of old runs) recurses
        (deep / "bottom.txt").unlink(missing_ok=True)
        for folder in reversed(chain):
            folder.rmdir()


def test_links_out_of_the_folder_are_skipped_unless_followed(tmp_path: Path) -> None:
    notes, outside = tmp_path / "notes", tmp_path / "outside"
    notes.mkdir()
    outside.mkdir()
    (notes / "own.txt").write_text("Water the plants on Fridays.", "utf-8")
    (outside / "secret.txt").write_text("The vault code is 4711.", "utf-8")
    (outside / "more").mkdir()
    (outside / "more" / "deep.txt").write_text("Another private note.", "utf-8")
    (notes / "link.txt").symlink_to(outside / "secret.txt")
    (notes / "folder").symlink_to(outside)
    (notes / "same.txt").symlink_to(notes / "own.txt")  # inside the folder: the same file, taken once
    (notes / "loop").symlink_to(notes)  # a link back up: never walked twice
    with Memory.open(tmp_path / "store", progress=False) as memory:
        kept = index_files(memory, [notes])
        sources = {source for source, _, _ in memory.distinct("source", "sha256", "split", namespace="files")}
        assert sources == {str(notes.resolve() / "own.txt")}
        assert kept.files_indexed == 1
        reasons = {s.path.name: s.detail for s in kept.skipped}
        assert (
            reasons["link.txt"].startswith("links out of the indexed folder")
            and "--follow-symlinks" in reasons["folder"]
        )
        assert reasons["loop"].startswith("symbolic link loop")

        followed = index_files(memory, [notes], follow_symlinks=True)
        sources = {source for source, _, _ in memory.distinct("source", "sha256", "split", namespace="files")}
        assert sources == {str(notes.resolve() / "own.txt"), *(str(p.resolve()) for p in outside.rglob("*.txt"))}
        assert followed.files_indexed == 2  # secret.txt (through link.txt, then folder/) and more/deep.txt

        (notes / "folder").unlink()  # followed links removed: the files reached only through them go
        (notes / "link.txt").unlink()
        dropped = index_files(memory, [notes], follow_symlinks=True)
        assert dropped.files_removed == 2  # reached from notes before, not any more
