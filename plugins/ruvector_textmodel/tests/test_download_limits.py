"""Downloads from a hostile or broken server on 127.0.0.1: a body that does not match its
Content-Length, a drip past the deadline, a file past the size cap, a redirect to another
host. Each is a ModelDownloadError and leaves nothing in the cache."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ruvector_core as rv
from ruvector_textmodel.modelfiles import resolve

BODY = bytes(range(256)) * 64  # 16 KiB standing in for a model file

Reply = Callable[[http.server.BaseHTTPRequestHandler], None]


class _Server(http.server.ThreadingHTTPServer):
    routes: dict[str, Reply]
    stop: threading.Event


@pytest.fixture
def server() -> Iterator[tuple[int, _Server]]:
    """An HTTP/1.0 server on 127.0.0.1 answering each path as ``routes`` says."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = self.server.routes.get(self.path)  # type: ignore[attr-defined]
            if reply is None:
                self.send_error(404)
                return
            try:
                reply(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up, as it should

        def log_message(self, *args: object) -> None:
            pass

    httpd = _Server(("127.0.0.1", 0), Handler)
    httpd.routes = {}
    httpd.stop = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], httpd
    httpd.stop.set()
    httpd.shutdown()
    httpd.server_close()


def _send(body: bytes, length: int | None) -> Reply:
    def reply(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def _cached(cache: Path) -> list[Path]:
    """Every file the cache holds for a download, the lock files aside."""
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def _fetch(port: int, cache: Path, host: str = "127.0.0.1") -> None:
    # a local tokenizer, so the one download is the file under test
    tokenizer = cache.parent / "tokenizer.json"
    tokenizer.write_text("{}")
    resolve(
        rv.EmbedderConfig(
            model=f"http://{host}:{port}/model.onnx", tokenizer=str(tokenizer), cache_dir=str(cache), progress=False
        )
    )


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_a_body_matching_its_content_length_is_cached(server, cache: Path) -> None:
    port, httpd = server
    httpd.routes["/model.onnx"] = _send(BODY, len(BODY))
    _fetch(port, cache)
    assert [p.read_bytes() for p in _cached(cache) if p.name == "model.onnx"] == [BODY]


@pytest.mark.parametrize("announced", [len(BODY) - 100, len(BODY) + 100], ids=["longer-body", "shorter-body"])
def test_a_body_that_does_not_match_its_content_length_is_refused(server, cache: Path, announced: int) -> None:
    port, httpd = server
    httpd.routes["/model.onnx"] = _send(BODY, announced)
    with pytest.raises(
        rv.ModelDownloadError, match=f"sent {len(BODY)} bytes where its Content-Length said {announced}"
    ):
        _fetch(port, cache)
    assert _cached(cache) == []
    httpd.routes["/model.onnx"] = _send(BODY, len(BODY))  # the next run fetches it again, whole
    _fetch(port, cache)
    assert [p.read_bytes() for p in _cached(cache) if p.name == "model.onnx"] == [BODY]


@pytest.mark.parametrize("gap_s", [0.2, 2.0], ids=["steady-drip", "slow-drip"])
def test_a_drip_stops_at_the_deadline(server, cache: Path, monkeypatch: pytest.MonkeyPatch, gap_s: float) -> None:
    """One byte now and then never finishes: the overall deadline ends it, whether the
    bytes come faster than any one read may wait or slower."""
    port, httpd = server

    def drip(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(BODY)))
        handler.end_headers()
        for byte in BODY:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            if httpd.stop.wait(gap_s):
                return

    httpd.routes["/model.onnx"] = drip
    monkeypatch.setenv("RUVECTOR_DOWNLOAD_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(rv.ModelDownloadError, match="did not finish within 1 s.*RUVECTOR_DOWNLOAD_TIMEOUT"):
        _fetch(port, cache)
    assert time.monotonic() - started < 5
    assert _cached(cache) == []


@pytest.mark.parametrize("announced", [True, False], ids=["with-length", "without-length"])
def test_a_file_past_the_size_cap_is_refused(
    server, cache: Path, monkeypatch: pytest.MonkeyPatch, announced: bool
) -> None:
    port, httpd = server
    httpd.routes["/model.onnx"] = _send(BODY, len(BODY) if announced else None)
    monkeypatch.setenv("RUVECTOR_DOWNLOAD_MAX_BYTES", "1000")
    with pytest.raises(rv.ModelDownloadError, match="larger than the 1000-byte cap.*RUVECTOR_DOWNLOAD_MAX_BYTES"):
        _fetch(port, cache)
    assert _cached(cache) == []


def test_a_redirect_to_another_host_is_refused_unless_allowed(
    server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, httpd = server

    def moved(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"http://localhost:{port}/real.onnx")
        handler.end_headers()

    httpd.routes["/model.onnx"] = moved
    httpd.routes["/real.onnx"] = _send(BODY, len(BODY))
    with pytest.raises(
        rv.ModelDownloadError, match="redirects to another host.*RUVECTOR_DOWNLOAD_ALLOW_HOSTS=localhost"
    ):
        _fetch(port, cache)
    assert _cached(cache) == []
    monkeypatch.setenv("RUVECTOR_DOWNLOAD_ALLOW_HOSTS", "localhost")
    _fetch(port, cache)
    assert [p.read_bytes() for p in _cached(cache) if p.name == "model.onnx"] == [BODY]


def test_a_redirect_on_the_same_host_is_followed(server, cache: Path) -> None:
    port, httpd = server

    def moved(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(301)
        handler.send_header("Location", "/real.onnx")
        handler.end_headers()

    httpd.routes["/model.onnx"] = moved
    httpd.routes["/real.onnx"] = _send(BODY, len(BODY))
    _fetch(port, cache)
    assert [p.read_bytes() for p in _cached(cache) if p.name == "model.onnx"] == [BODY]


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan"])
def test_a_bad_limit_is_a_model_error_naming_it(
    server, cache: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    port, httpd = server
    httpd.routes["/model.onnx"] = _send(BODY, len(BODY))
    monkeypatch.setenv("RUVECTOR_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(rv.ModelError, match=f"RUVECTOR_DOWNLOAD_TIMEOUT='{value}' is not a positive number"):
        _fetch(port, cache)
    assert _cached(cache) == []


def test_a_model_file_onnx_cannot_load_is_a_model_error_naming_it(server, cache: Path) -> None:
    port, httpd = server
    httpd.routes["/model.onnx"] = _send(BODY, len(BODY))  # downloads fine, but is no ONNX graph
    tokenizer = cache.parent / "tokenizer.json"
    tokenizer.write_text(resolve(rv.EmbedderConfig()).tokenizer_json, "utf-8")
    config = rv.EmbedderConfig(
        model=f"http://127.0.0.1:{port}/model.onnx", tokenizer=str(tokenizer), cache_dir=str(cache), progress=False
    )
    with pytest.raises(rv.ModelError, match=r"could not be loaded from .*/model\.onnx") as raised:
        rv.Runtime().embedder(config)
    assert not isinstance(raised.value, rv.CapabilityUnavailableError)
