"""``ruvector mcp`` driven by the MCP SDK's own client, over streamable HTTP (one server
for the module, behind a bearer token on 127.0.0.1) and over stdio (the client spawns
the command): every tool, structured results, read-only mode, the token, and hostile
arguments that must come back as tool errors and leave the store as it was."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from ruvector_core.mcp import check_binding, is_loopback
from ruvector_core.mcp.schema import MAX_K, MAX_TEXT
from ruvector_core.mcp.server import WRITING_TOOLS
from ruvector_core.memory import Memory

RUVECTOR = str(Path(sys.executable).with_name("ruvector"))
TOKEN = "test-token-0123456789abcdef"
FACTS = [
    ("Ana prefers green tea in the morning.", {"user": "ana", "year": 2024}),
    ("Bo is allergic to peanuts.", {"user": "bo", "year": 2023}),
    ("Bo plays the cello in an orchestra.", {"user": "bo", "year": 2025}),
    ("The team standup moved to 9:30.", {"user": "team", "year": 2025}),
]
ALL_TOOLS = {"remember", "recall", "forget", "feedback", "stats"}


def make_store(folder: Path) -> Path:
    with Memory.open(folder, progress=False) as memory:
        memory.add([t for t, _ in FACTS], metadata=[m for _, m in FACTS], ids=[f"f{i}" for i in range(len(FACTS))])
    return folder


def snapshot(folder: Path) -> tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The committed generation, every item and every feedback event, read straight from SQLite."""
    db = sqlite3.connect(f"file:{folder / 'store.sqlite3'}?mode=ro", uri=True)
    try:
        (generation,) = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        rows = db.execute("SELECT namespace, id, text, metadata FROM items ORDER BY namespace, id").fetchall()
        events = db.execute("SELECT seq, namespace, item_id, query, reward FROM feedback ORDER BY seq").fetchall()
    finally:
        db.close()
    return generation, rows, events


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One HTTP server for the module: its URL and its store folder."""
    folder = make_store(tmp_path_factory.mktemp("http") / "store")
    port = free_port()
    process = subprocess.Popen(
        [RUVECTOR, "mcp", "--db", str(folder), "--transport", "http", "--port", str(port)],
        env={**os.environ, "RUVECTOR_MCP_TOKEN": TOKEN},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp", folder
    finally:
        process.terminate()
        _, log = process.communicate(timeout=30)
    assert f"serving {folder} at http://127.0.0.1:{port}/mcp with a bearer token" in log
    assert "Traceback" not in log


@asynccontextmanager
async def http_client(url: str, token: str | None = TOKEN) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def stdio_client(*args: str) -> Client:
    return Client(StdioServerParameters(command=RUVECTOR, args=["mcp", *args]))


def text_json(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    (content,) = result.content
    return json.loads(content.text)  # type: ignore[union-attr]


def error_text(result: CallToolResult) -> str:
    assert result.is_error, result
    return " ".join(c.text for c in result.content)  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_tools_are_listed_with_schemas_from_the_models(http_server: tuple[str, Path]) -> None:
    url, _ = http_server
    async with http_client(url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == ALL_TOOLS
    recall = tools["recall"]
    assert recall.input_schema["required"] == ["query"]
    assert recall.input_schema["properties"]["k"]["maximum"] == MAX_K
    assert recall.output_schema is not None and "hits" in recall.output_schema["properties"]
    assert set(tools["remember"].input_schema["properties"]) == {"text", "metadata", "namespace"}
    assert tools["remember"].input_schema["properties"]["text"]["maxLength"] == MAX_TEXT
    assert recall.annotations is not None and recall.annotations.read_only_hint
    assert tools["forget"].annotations is not None and tools["forget"].annotations.destructive_hint


@pytest.mark.asyncio
async def test_remember_recall_forget_and_stats_over_http(http_server: tuple[str, Path]) -> None:
    url, folder = http_server
    async with http_client(url) as client:
        stored = await client.call_tool(
            "remember", {"text": "Cy moved to Porto in May.", "metadata": {"user": "cy"}, "namespace": "people"}
        )
        assert stored.structured_content == text_json(stored)
        new_id = stored.structured_content["id"]
        assert stored.structured_content["namespace"] == "people" and len(new_id) == 32

        found = await client.call_tool("recall", {"query": "who cannot eat nuts?", "k": 2, "where": {"user": "bo"}})
        hits = found.structured_content["hits"]
        assert text_json(found) == found.structured_content, "text content and structured content agree"
        assert [h["id"] for h in hits] == ["f1", "f2"]
        assert hits[0] == {**hits[0], "text": FACTS[1][0], "metadata": FACTS[1][1], "namespace": "default"}
        assert hits[0]["score"] > hits[1]["score"]
        keyword = await client.call_tool("recall", {"query": "Porto", "mode": "keyword", "namespace": "people"})
        assert [h["id"] for h in keyword.structured_content["hits"]] == [new_id]

        stats = (await client.call_tool("stats", {})).structured_content
        assert stats["namespaces"] == {"default": 4, "people": 1} and stats["items"] == 5
        assert stats["model"] == "all-MiniLM-L6-v2" and stats["read_only"] is False
        assert stats["index"]["count"] == 5 and set(stats["served_by"]) == {"embeddings", "hnsw"}

        liked = await client.call_tool("feedback", {"query": "who cannot eat nuts?", "id": "f1", "reward": 0.8})
        assert text_json(liked) == liked.structured_content
        assert liked.structured_content == {**liked.structured_content, "id": "f1", "namespace": "default"}
        disliked = await client.call_tool(
            "feedback", {"query": "where does Cy live?", "id": new_id, "success": False, "namespace": "people"}
        )
        assert disliked.structured_content["seq"] == liked.structured_content["seq"] + 1

        forgotten = await client.call_tool("forget", {"ids": [new_id], "namespace": "people"})
        assert forgotten.structured_content == {"removed": 1}
        assert (await client.call_tool("forget", {"where": {"user": "cy"}})).structured_content == {"removed": 0}
    _, items, events = snapshot(folder)
    assert len(items) == 4
    assert [(e[2], e[4]) for e in events[-2:]] == [("f1", 0.8), (new_id, -1.0)], "feedback is durable"


def nested(where: dict[str, Any], depth: int) -> dict[str, Any]:
    for _ in range(depth):
        where = {"$not": where}
    return where


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("recall", {"query": "tea", "k": "many"}, "valid integer"),
    ("recall", {"query": "tea", "k": 10**12}, "less than or equal to 100"),
    ("recall", {"query": "tea", "k": 0}, "greater than or equal to 1"),
    ("recall", {"query": "tea", "k": 2.5}, "valid integer"),
    ("recall", {"query": 42}, "valid string"),
    ("recall", {"query": ""}, "at least 1 character"),
    ("recall", {"query": "   "}, "the query is empty"),
    ("recall", {"query": "x" * 1_000_000}, "at most 16384 characters"),
    ("recall", {}, "query"),
    ("recall", {"query": "tea", "namespace": "../../etc/passwd"}, "should match pattern"),
    ("recall", {"query": "tea", "namespace": "a/b"}, "should match pattern"),
    ("recall", {"query": "tea", "namespace": ""}, "should match pattern"),
    ("recall", {"query": "tea", "where": {"user": {"$regex": "a.*"}}}, "unknown operator '$regex'"),
    ("recall", {"query": "tea", "where": {"$where": "1 = 1"}}, "$where"),
    ("recall", {"query": "tea", "where": {"year": {"$gt": [1, 2]}}}, "$gt"),
    ("recall", {"query": "tea", "where": "DROP TABLE items"}, "valid dictionary"),
    ("recall", {"query": "tea", "where": {"year": 10**30}}, "64 bits"),
    ("recall", {"query": "tea", "where": nested({"year": 1}, 60)}, "$not"),
    ("recall", {"query": "tea", "where": {"user": {"$in": ["x" * 100] * 1000}}}, "at most 65536"),
    ("recall", {"query": "tea", "mode": "semantic"}, "'vector', 'keyword' or 'hybrid'"),
    ("remember", {"text": "x" * 1_000_000}, "at most 16384 characters"),
    ("remember", {"text": ""}, "at least 1 character"),
    ("remember", {"text": ["a", "b"]}, "valid string"),
    ("remember", {"text": "fine", "namespace": "../outside"}, "should match pattern"),
    ("remember", {"text": "fine", "namespace": "x" * 65}, "should match pattern"),
    ("remember", {"text": "fine", "metadata": [1, 2]}, "valid dictionary"),
    ("remember", {"text": "fine", "metadata": "user=ana"}, "valid dictionary"),
    ("remember", {"text": "fine", "metadata": {"blob": "x" * 1_000_000}}, "at most 65536"),
    ("forget", {}, "give ids or where"),
    ("forget", {"namespace": "default"}, "give ids or where"),
    ("forget", {"ids": "f1"}, "valid list"),
    ("forget", {"ids": [""]}, "at least 1 character"),
    ("forget", {"ids": [f"i{n}" for n in range(1001)]}, "at most 1000 items"),
    ("forget", {"where": {"user": {"$nope": 1}}}, "unknown operator '$nope'"),
    ("forget", {"ids": ["f1"], "namespace": "/etc"}, "should match pattern"),
    ("feedback", {"query": "tea", "id": "f0", "reward": 5}, "less than or equal to 1"),
    ("feedback", {"query": "tea", "id": "f0", "reward": "great"}, "valid number"),
    ("feedback", {"query": "tea", "id": "f0"}, "give either reward"),
    ("feedback", {"query": "tea", "id": "f0", "reward": 1, "success": True}, "give either reward"),
    ("feedback", {"query": "tea", "id": "nobody", "reward": 1}, "holds no item 'nobody'"),
    ("feedback", {"query": "tea", "id": "f0", "reward": 1, "namespace": "../x"}, "should match pattern"),
    ("feedback", {"query": "", "id": "f0", "reward": 1}, "at least 1 character"),
    ("drop_everything", {}, "Unknown tool"),
]


@pytest.mark.asyncio
async def test_hostile_arguments_are_tool_errors_and_change_nothing(http_server: tuple[str, Path]) -> None:
    url, folder = http_server
    before = snapshot(folder)
    async with http_client(url) as client:
        for tool, arguments, message in HOSTILE:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            assert message in error_text(result), (tool, arguments, error_text(result))
        assert snapshot(folder) == before, "no hostile call wrote anything"
        alive = await client.call_tool("recall", {"query": "peanut allergy", "k": 1})
        assert alive.structured_content["hits"][0]["id"] == "f1", "the server still serves"


@pytest.mark.asyncio
async def test_concurrent_clients_are_all_served(http_server: tuple[str, Path]) -> None:
    url, folder = http_server
    async with http_client(url) as writer, http_client(url) as reader:
        writes = [writer.call_tool("remember", {"text": f"burst note {i}", "namespace": "burst"}) for i in range(8)]
        reads = [
            reader.call_tool("recall", {"query": "peanut allergy", "k": 1, "namespace": "default"}) for _ in range(16)
        ]
        results = await asyncio.gather(*writes, *reads)
        assert not any(r.is_error for r in results)
        assert len({r.structured_content["id"] for r in results[:8]}) == 8
        assert all(r.structured_content["hits"][0]["id"] == "f1" for r in results[8:])
        cleared = await writer.call_tool("forget", {"where": {}, "namespace": "burst"})
        assert cleared.structured_content == {"removed": 8}
    assert {ns for ns, *_ in snapshot(folder)[1]} == {"default"}


def test_http_requests_without_the_right_token_get_401(http_server: tuple[str, Path]) -> None:
    url, _ = http_server
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    for header in (None, "Bearer wrong-token-0123456789", f"Bearer {TOKEN}x", f"bearer {TOKEN}", TOKEN):
        request = urllib.request.Request(url, data=body, method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json, text/event-stream")
        if header is not None:
            request.add_header("Authorization", header)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401, header
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.asyncio
async def test_the_sdk_client_without_the_token_is_refused(http_server: tuple[str, Path]) -> None:
    url, _ = http_server
    with pytest.raises(BaseExceptionGroup) as refused:  # the SDK raises inside its task group
        async with http_client(url, token="not-the-token-0123456789") as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, match="error response")


def test_binding_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.10")
    assert not is_loopback("example.org"), "a host name may resolve to any interface"
    check_binding("127.0.0.1", None)
    check_binding("0.0.0.0", TOKEN)
    with pytest.raises(ValueError, match="--token or RUVECTOR_MCP_TOKEN"):
        check_binding("0.0.0.0", None)
    with pytest.raises(ValueError, match="at least 16 characters"):
        check_binding("127.0.0.1", "short")


def test_a_non_loopback_bind_without_a_token_is_refused_before_anything_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RUVECTOR_MCP_TOKEN"}
    for host in ("0.0.0.0", "::", "10.1.2.3"):
        done = subprocess.run(
            [RUVECTOR, "mcp", "--db", str(tmp_path / "s"), "--transport", "http", "--host", host],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 1 and "--token or RUVECTOR_MCP_TOKEN" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "s").exists(), "no store was created"
    wrong = subprocess.run(
        [RUVECTOR, "mcp", "--db", str(tmp_path / "s"), "--transport", "websocket"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "--transport must be one of stdio, http" in wrong.stderr
    assert not (tmp_path / "s").exists()


@pytest.mark.asyncio
async def test_stdio_round_trip(tmp_path: Path) -> None:
    folder = make_store(tmp_path / "store")
    async with stdio_client("--db", str(folder)) as client:
        assert {t.name for t in (await client.list_tools()).tools} == ALL_TOOLS
        stored = await client.call_tool("remember", {"text": "Dee keeps bees on the roof.", "metadata": {"n": 1}})
        found = await client.call_tool("recall", {"query": "who keeps bees?", "k": 1, "mode": "hybrid"})
        assert found.structured_content["hits"][0]["id"] == stored.structured_content["id"]
        assert text_json(found) == found.structured_content
        bad = await client.call_tool("recall", {"query": "bees", "where": {"n": {"$in": 3}}})
        assert "$in" in error_text(bad)
        assert (await client.call_tool("stats", {})).structured_content["items"] == 5
    assert len(snapshot(folder)[1]) == 5


@pytest.mark.asyncio
async def test_read_only_offers_no_writing_tool_and_writes_nothing(tmp_path: Path) -> None:
    folder = make_store(tmp_path / "store")
    before = snapshot(folder)
    async with stdio_client("--db", str(folder), "--read-only") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"recall", "stats"} and not names & set(WRITING_TOOLS)
        for tool, arguments in (
            ("remember", {"text": "sneaky"}),
            ("forget", {"where": {}}),
            ("feedback", {"query": "tea", "id": "f0", "reward": 1}),
        ):
            assert "Unknown tool" in error_text(await client.call_tool(tool, arguments))
        assert (await client.call_tool("recall", {"query": "tea", "k": 1})).structured_content["hits"][0]["id"] == "f0"
        assert (await client.call_tool("stats", {})).structured_content["read_only"] is True
    assert snapshot(folder) == before
    missing = subprocess.run(
        [RUVECTOR, "mcp", "--db", str(tmp_path / "none"), "--read-only"], capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1 and "no store in" in missing.stderr and not (tmp_path / "none").exists()


def test_without_the_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"  # an importable `mcp` that fails as an absent one does
    shadow.mkdir()
    (shadow / "mcp.py").write_text("raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    done = subprocess.run([RUVECTOR, "mcp", "--db", str(tmp_path / "s")], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "pip install 'ruvec[mcp]'" in done.stderr and "Traceback" not in done.stderr
    other = subprocess.run([RUVECTOR, "backends", "--json"], capture_output=True, text=True, env=env)
    assert other.returncode == 0, "every other command works without the extra"
