"""Stores that cannot be used say why and what to do; stores that can heal, heal.

Every case runs the ``ruvector`` command in a process of its own, as a user would, and
checks the exit status, the message (no traceback) and the store's files afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from core_support import PLUGIN_BACKENDS

import ruvector_core as rv
from ruvector_core import index_format
from ruvector_core.memory import (
    Memory,
    StoreCorruptError,
    StoreNotFoundError,
    StorePathError,
    StoreReadOnlyError,
    StoreRepairedWarning,
)

TEXTS = [
    "Ana prefers green tea in the morning.",
    "Bo is allergic to peanuts.",
    "The team standup moved to 9:30.",
    "Quarterly report due on the 15th.",
]


def ruvector(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "RUVECTOR_DISABLE": ",".join(PLUGIN_BACKENDS)}
    command = [*prefix, sys.executable, "-m", "ruvector_core.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def failed(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit status 1, one ``error:`` line containing each expected part, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: "), result.stderr
    for part in expected:
        assert part in result.stderr, result.stderr


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of a folder and its digest: what a failed command must leave as it was."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".writer.lock"
    }


def rows(folder: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"{(folder / 'store.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT rowid, id, namespace, text, metadata, vector FROM items ORDER BY rowid").fetchall()
    finally:
        db.close()


def index_files_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("index-*.hnsw"))


def damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def read_only(path: Path) -> tuple[str, ...]:
    """A command prefix under which ``path`` cannot be written, by root as well: permissions
    do not stop root, so as root the command runs in a mount namespace of its own where
    ``path`` is bind-mounted read-only onto itself (gone when the command ends)."""
    if os.geteuid() != 0:
        for p in [path, *path.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return ()
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, text=True)
    assert probe.returncode == 0, f"root without a mount namespace cannot make a read-only store: {probe.stderr}"
    return ("unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(path))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("built") / "store"
    with Memory.open(folder, progress=False) as memory:
        memory.add(TEXTS, metadata=[{"n": i} for i in range(len(TEXTS))], ids=[f"t{i}" for i in range(len(TEXTS))])
    return folder


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of a small healthy store (generation 1)."""
    copy = tmp_path / "store"
    shutil.copytree(built, copy)
    assert index_files_of(copy) == ["index-1.hnsw"]
    return copy


def top_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return str(json.loads(result.stdout)["results"][0]["id"])


# -- failures that are messages ------------------------------------------------------------


def test_a_regular_file_named_as_the_store_is_refused_by_every_command(tmp_path: Path) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("not a store\n")
    (tmp_path / "doc.md").write_text("A paragraph.\n")
    for args in (
        ("query", "tea", "--db", str(plain)),
        ("add", "x", "--db", str(plain)),
        ("index", str(tmp_path / "doc.md"), "--db", str(plain)),
        ("stats", "--db", str(plain)),
        ("forget", "--id", "x", "--db", str(plain)),
        ("doctor", "--db", str(plain)),
    ):
        result = ruvector(*args)
        failed(result, f"{plain} is a file, not a store folder", "name a folder")
        assert "no store" not in result.stderr and "build one first" not in result.stderr
    assert plain.read_text() == "not a store\n"


def test_querying_where_there_is_no_store_creates_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    failed(ruvector("query", "tea", "--db", str(empty)), f"no store in {empty}", "ruvector add")
    failed(ruvector("doctor", "--db", str(empty)), f"no store in {empty}")
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_corrupt_sqlite_file_is_reported_as_such_with_how_to_recover(store: Path, how: str) -> None:
    db = store / "store.sqlite3"
    if how == "garbage":
        db.write_bytes(os.urandom(8192))
    else:
        db.write_bytes(db.read_bytes()[:3000])
    before = snapshot(store)
    for args in (("query", "tea"), ("add", "more"), ("stats",)):
        failed(ruvector(*args, "--db", str(store)), "store.sqlite3 is not a readable SQLite database", "backup")
    doctor = ruvector("doctor", "--db", str(store))
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr
    assert "PROBLEM   sqlite" in doctor.stdout and "not a readable SQLite database" in doctor.stdout
    assert snapshot(store) == before


@pytest.mark.parametrize(
    ("harm", "message"),
    [
        ("UPDATE meta SET value = 'seven' WHERE key = 'generation'", "damaged generation ('seven'"),
        ("UPDATE meta SET value = '{not json' WHERE key = 'hnsw'", "damaged index settings"),
        ("DROP TABLE items", "lost its items table"),
    ],
)
def test_damaged_metadata_and_lost_tables_are_reported_not_recreated(store: Path, harm: str, message: str) -> None:
    db = sqlite3.connect(store / "store.sqlite3")
    with db:
        db.execute(harm)
    db.close()
    before = snapshot(store)
    for args in (("query", "tea"), ("add", "more"), ("stats",)):
        failed(ruvector(*args, "--db", str(store)), message, "backup")
    assert snapshot(store) == before
    with pytest.raises(StoreCorruptError, match="backup"):
        Memory.open(store, progress=False, create=False)


def test_a_read_only_store_answers_queries_and_refuses_writes(store: Path) -> None:
    before = snapshot(store)
    prefix = read_only(store)
    assert top_id(ruvector("query", "what does Ana drink?", "--json", "--db", str(store), prefix=prefix)) == "t0"
    for args in (("add", "more"), ("forget", "--id", "t0")):
        failed(ruvector(*args, "--db", str(store), prefix=prefix), f"store {store} is read-only here", "writable")
    stats = ruvector("stats", "--json", "--db", str(store), prefix=prefix)
    assert stats.returncode == 0 and json.loads(stats.stdout)["items"] == len(TEXTS)
    assert snapshot(store) == before


def test_a_store_cannot_be_created_in_a_folder_that_is_not_writable(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    failed(
        ruvector("add", "hello", "--db", str(parent / "new"), prefix=read_only(parent)),
        f"cannot create a store in {parent / 'new'}",
        "choose a folder you can write",
    )
    assert list(parent.iterdir()) == []


def test_a_full_disk_is_a_message_and_the_store_is_unchanged(store: Path, tmp_path: Path) -> None:
    """The store is copied onto a small tmpfs (in a mount namespace of its own, as root) that
    a filler file leaves 8 kB of; the new item cannot be written."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (a tmpfs mount in a mount namespace)")
    script = (
        'mount -t tmpfs -o size=400k tmpfs "$1" && cp -r "$2"/. "$1"/ '
        '&& head -c $(( $(df --output=avail -B1 "$1" | tail -1) - 8192 )) /dev/zero > "$1"/filler '
        '&& "$3" -m ruvector_core.cli add "$4" --db "$1"; status=$?; cp "$1"/store.sqlite3 "$5"; exit $status'
    )
    target = tmp_path / "mounted"
    target.mkdir()
    long_text = " ".join(f"word{i}" for i in range(8_000))
    after = tmp_path / "after.sqlite3"
    env = {**os.environ, "RUVECTOR_DISABLE": ",".join(PLUGIN_BACKENDS)}
    command = ["unshare", "--mount", "sh", "-c", script, "sh", str(target), str(store), sys.executable, long_text]
    result = subprocess.run([*command, str(after)], capture_output=True, text=True, env=env, timeout=120)
    failed(result, "is the disk full or failing?", "Nothing was changed")
    shutil.copy(after, store / "store.sqlite3")
    assert [r[1] for r in rows(store)] == [f"t{i}" for i in range(len(TEXTS))]


# -- healing -------------------------------------------------------------------------------


@pytest.mark.parametrize("harm", ["damaged", "missing"])
def test_query_rebuilds_a_damaged_or_missing_index_from_sqlite(store: Path, harm: str) -> None:
    items = rows(store)
    if harm == "damaged":
        damage(store / "index-1.hnsw")
    else:
        (store / "index-1.hnsw").unlink()
    result = ruvector("query", "what does Ana drink?", "--json", "--db", str(store))
    assert top_id(result) == "t0"
    assert f"notice: store {store}: index-1.hnsw is {harm}" in result.stderr, result.stderr
    assert "saved it as index-2.hnsw" in result.stderr and "Traceback" not in result.stderr
    assert index_files_of(store) == ["index-2.hnsw"] and rows(store) == items
    again = ruvector("query", "peanuts", "--json", "--db", str(store))
    assert top_id(again) == "t1" and "notice" not in again.stderr  # healed for good


def test_concurrent_queries_heal_a_damaged_index_once(store: Path) -> None:
    """The rebuild is a save under the writer lock: a second process that waited for the
    lock finds the new generation and loads it instead of rebuilding again."""
    damage(store / "index-1.hnsw")
    env = {**os.environ, "RUVECTOR_DISABLE": ",".join(PLUGIN_BACKENDS)}
    command = [sys.executable, "-m", "ruvector_core.cli", "query", "peanuts", "--json", "--db", str(store)]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)]
    running.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    outputs = [process.communicate(timeout=120) for process in running]
    for (stdout, stderr), process in zip(outputs, running, strict=True):
        assert process.returncode == 0, stderr
        assert json.loads(stdout)["results"][0]["id"] == "t1"
    notices = [stderr for _, stderr in outputs if "saved it as" in stderr]
    assert len(notices) == 1 and "index-2.hnsw" in notices[0], outputs
    assert index_files_of(store) == ["index-2.hnsw"]


def test_index_command_heals_before_it_adds(store: Path, tmp_path: Path) -> None:
    damage(store / "index-1.hnsw")
    doc = tmp_path / "cello.md"
    doc.write_text("Bo plays the cello in an orchestra.\n")
    result = ruvector("index", str(doc), "--db", str(store))
    assert result.returncode == 0, result.stderr
    assert "index-1.hnsw is damaged" in result.stderr and "rebuilt the index from the 4 vectors" in result.stderr
    found = ruvector("query", "which instrument does Bo play?", "--json", "--db", str(store))
    assert json.loads(found.stdout)["results"][0]["text"] == "Bo plays the cello in an orchestra."
    assert len(rows(store)) == len(TEXTS) + 1 and ruvector("doctor", "--db", str(store)).returncode == 0


def test_memory_open_heals_with_a_warning(store: Path) -> None:
    damage(store / "index-1.hnsw")
    with pytest.warns(StoreRepairedWarning, match="index-1.hnsw is damaged"):
        memory = Memory.open(store, progress=False)
    with memory:
        assert memory.search("peanuts", k=1)[0].id == "t1" and len(memory.index) == len(TEXTS)
    assert index_files_of(store) == ["index-2.hnsw"]


def test_a_read_only_store_with_a_damaged_index_rebuilds_in_memory_only(store: Path) -> None:
    damage(store / "index-1.hnsw")
    before = snapshot(store)
    result = ruvector("query", "peanuts", "--json", "--db", str(store), prefix=read_only(store))
    assert top_id(result) == "t1"
    assert "in memory only: the store is read-only here" in result.stderr and f"doctor --db {store}" in result.stderr
    assert snapshot(store) == before


# -- doctor --------------------------------------------------------------------------------


def test_doctor_passes_a_healthy_store(store: Path) -> None:
    before = snapshot(store)
    result = ruvector("doctor", "--db", str(store))
    assert result.returncode == 0, result.stdout + result.stderr
    for line in ("ok        sqlite", "ok        index file", "ok        items in index", "ok        search"):
        assert line in result.stdout
    assert "ok        keyword index" in result.stdout and result.stdout.rstrip().endswith("healthy")
    assert snapshot(store) == before


def test_doctor_check_only_reports_and_changes_nothing_then_repairs(store: Path) -> None:
    damage(store / "index-1.hnsw")
    before = snapshot(store)
    check = ruvector("doctor", "--db", str(store), "--check-only")
    assert check.returncode == 1 and "PROBLEM   index file: index-1.hnsw is damaged" in check.stdout
    assert snapshot(store) == before
    fix = ruvector("doctor", "--db", str(store), "--json")
    assert fix.returncode == 0, fix.stdout + fix.stderr
    report = json.loads(fix.stdout)
    statuses = {f["check"]: f["status"] for f in report["findings"]}
    assert report["healthy"] and statuses["index file"] == "repaired" and statuses["search"] == "ok"
    assert index_files_of(store) == ["index-2.hnsw"]


def test_doctor_finds_a_valid_index_that_does_not_hold_the_items(store: Path) -> None:
    """An index file that passes its checksum but is another generation's (a restored
    backup, a copied file): only comparing it with the items shows it is wrong."""
    old = (store / "index-1.hnsw").read_bytes()
    with Memory.open(store, progress=False) as memory:
        memory.add("Bo plays the cello in an orchestra.", ids=["t4"])
    (store / "index-2.hnsw").write_bytes(old)  # generation 2 now names the 4-item index
    check = ruvector("doctor", "--db", str(store), "--check-only")
    assert check.returncode == 1
    assert "PROBLEM   items in index: 5 items in SQLite, 4 in the index (1 missing from it" in check.stdout
    fix = ruvector("doctor", "--db", str(store))
    assert fix.returncode == 0 and "REPAIRED  items in index" in fix.stdout, fix.stdout
    assert top_id(ruvector("query", "cello", "--json", "--db", str(store))) == "t4"


def unlink_node(path: Path) -> str:
    """Rewrite an index file (valid checksum and all) so that no link leads to one node:
    the graph walk can never reach it. Returns the node's key (the item's row id)."""
    graph = index_format.decode(path.read_bytes())
    target = next(n for n in range(len(graph.ids)) if n != graph.entry_point)
    sizes, links, start = [], [], 0
    for size in graph.list_sizes:
        kept = [link for link in graph.links[start : start + size] if link != target]
        sizes.append(len(kept))
        links += kept
        start += size
    rewired = dataclasses.replace(
        graph, list_sizes=np.array(sizes, dtype=np.uint32), links=np.array(links, dtype=np.uint32)
    )
    path.write_bytes(index_format.encode(rewired))
    return graph.ids[target]


def test_doctor_finds_an_item_no_search_can_reach(store: Path) -> None:
    key = unlink_node(store / "index-1.hnsw")
    (item_id,) = [item_id for row, item_id, *_ in rows(store) if str(row) == key]
    check = ruvector("doctor", "--db", str(store), "--check-only")
    assert check.returncode == 1, check.stdout + check.stderr
    assert "ok        index file" in check.stdout and "ok        items in index" in check.stdout
    expected = f"PROBLEM   search: 1 items are not found by a search for their own vector (e.g. '{item_id}')"
    assert expected in check.stdout
    fix = ruvector("doctor", "--db", str(store))
    assert fix.returncode == 0 and "REPAIRED  search" in fix.stdout, fix.stdout
    assert ruvector("doctor", "--db", str(store), "--check-only").returncode == 0


def test_doctor_rebuilds_a_keyword_index_out_of_step(store: Path) -> None:
    db = sqlite3.connect(store / "store.sqlite3")
    db.execute("INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', 2, ?)", (TEXTS[1],))
    db.commit()
    db.close()
    assert ruvector("query", "peanuts", "--mode", "keyword", "--json", "--db", str(store)).stdout.count('"id"') == 0
    check = ruvector("doctor", "--db", str(store), "--check-only")
    assert check.returncode == 1 and "PROBLEM   keyword index" in check.stdout
    fix = ruvector("doctor", "--db", str(store))
    assert fix.returncode == 0 and "REPAIRED  keyword index" in fix.stdout, fix.stdout
    assert top_id(ruvector("query", "peanuts", "--mode", "keyword", "--json", "--db", str(store))) == "t1"


def test_doctor_on_a_read_only_store_checks_and_says_it_cannot_repair(store: Path) -> None:
    before = snapshot(store)
    healthy = ruvector("doctor", "--db", str(store), prefix=read_only(store))
    assert healthy.returncode == 0 and "ok        search" in healthy.stdout, healthy.stdout + healthy.stderr
    assert "skipped   keyword index: FTS5's check needs write access" in healthy.stdout
    assert snapshot(store) == before
    damage(store / "index-1.hnsw")
    before = snapshot(store)
    result = ruvector("doctor", "--db", str(store), prefix=read_only(store))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "PROBLEM   index file: index-1.hnsw is damaged" in result.stdout
    assert "the store is read-only here: `ruvector doctor` run by a user who can write it rebuilds it" in result.stdout
    assert snapshot(store) == before


# -- the Python API: the same messages, as types ---------------------------------------------


def test_the_api_raises_typed_store_errors(store: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(StorePathError, match="is a file, not a store folder") as info:
        Memory.open(plain, progress=False)
    assert isinstance(info.value, NotADirectoryError) and isinstance(info.value, rv.RuvectorError)
    with pytest.raises(StoreNotFoundError, match="no store in") as missing:
        Memory.open(tmp_path / "nothing", create=False, progress=False)
    assert isinstance(missing.value, FileNotFoundError) and not (tmp_path / "nothing").exists()
    (store / "store.sqlite3").write_bytes(b"\0" * 4096)
    with pytest.raises(StoreCorruptError, match="not a readable SQLite database"):
        Memory.open(store, progress=False)


def test_the_api_opens_a_store_read_only_on_request_and_refuses_writes(store: Path) -> None:
    from ruvector_core.memory.storage import Storage

    storage = Storage.open(store, model=None, dimensions=None, runtime=rv.Runtime(), create=False, read_only=True)
    try:
        assert storage.read_only and len(storage.index) == len(TEXTS)
        with pytest.raises(StoreReadOnlyError, match="was opened read-only"):
            with storage.writing():
                pass
    finally:
        storage.close()
