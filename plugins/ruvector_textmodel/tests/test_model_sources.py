"""Model resolution: packages, local paths, and downloads from a real HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import ruvector_core as rv
from ruvector_textmodel.modelfiles import KNOWN_MODELS, resolve
from ruvector_textmodel.modelfiles.sources import _package_file

DEFAULT = KNOWN_MODELS["all-minilm-l6-v2"]


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx and tokenizer.json as a user would lay them out."""
    files = resolve(rv.EmbedderConfig())
    folder = tmp_path_factory.mktemp("model")
    shutil.copyfile(files.onnx, folder / "model.onnx")
    (folder / "tokenizer.json").write_text(files.tokenizer_json, "utf-8")
    return folder


class _Server(http.server.ThreadingHTTPServer):
    requests: list[str]


@pytest.fixture
def server(model_folder: Path) -> Iterator[tuple[str, _Server]]:
    """An HTTP server on 127.0.0.1 serving the model folder, counting requests."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(model_folder), **kwargs)

        def do_GET(self):
            self.server.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = _Server(("127.0.0.1", 0), Handler)
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    httpd.shutdown()
    httpd.server_close()


def _embed(config: rv.EmbedderConfig) -> rv.Embedder:
    return rv.Runtime().embedder(config)


def test_default_model_is_read_from_installed_packages() -> None:
    files = resolve(rv.EmbedderConfig(model="sentence-transformers/all-MiniLM-L6-v2"))
    assert files.onnx == _package_file("x", DEFAULT.onnx_distribution, DEFAULT.onnx_member)
    assert hashlib.sha256(files.tokenizer_json.encode()).hexdigest() == DEFAULT.tokenizer_sha256


def test_local_folder_and_file(model_folder: Path) -> None:
    sentence = "Agents remember what worked."
    reference = rv.Runtime().embedder().embed(sentence)
    for model in (str(model_folder), str(model_folder / "model.onnx")):
        assert (_embed(rv.EmbedderConfig(model=model)).embed(sentence) == reference).all()


def test_missing_model_names_it_and_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(rv.ModelNotFoundError, match="'no-such-model' not found.*all-minilm-l6-v2"):
        _embed(rv.EmbedderConfig(model="no-such-model"))
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(rv.ModelNotFoundError, match="tokenizer.json does not exist"):
        _embed(rv.EmbedderConfig(model=str(tmp_path)))


def test_wrong_sha256_is_refused(model_folder: Path) -> None:
    with pytest.raises(rv.ModelIntegrityError, match="expected 0000"):
        _embed(rv.EmbedderConfig(model=str(model_folder), sha256="0" * 64))


def test_download_caches_and_verifies(server, tmp_path: Path) -> None:
    url, httpd = server
    config = rv.EmbedderConfig(
        model=f"{url}/model.onnx",
        sha256=DEFAULT.onnx_sha256,
        tokenizer_sha256=DEFAULT.tokenizer_sha256,
        cache_dir=str(tmp_path),
        progress=False,
    )
    first = _embed(config).embed("cached")
    assert sorted(httpd.requests) == ["/model.onnx", "/tokenizer.json"]
    assert (_embed(config).embed("cached") == first).all()
    assert len(httpd.requests) == 2, "a verified cached file is not fetched again"
    cached = next(tmp_path.glob("models/*/model.onnx"))
    with open(cached, "r+b") as handle:  # damage the cache
        handle.seek(1000)
        handle.write(b"\xff\xff\xff")
    assert (_embed(config).embed("cached") == first).all()
    assert httpd.requests.count("/model.onnx") == 2, "a corrupt cached file is fetched again"
    tokenizer = next(tmp_path.glob("models/*/tokenizer.json"))
    tokenizer.write_text("{}")  # its pin catches this
    assert (_embed(config).embed("cached") == first).all()
    assert httpd.requests.count("/tokenizer.json") == 2


def test_partial_files_of_killed_downloads_are_cleaned(server, tmp_path: Path) -> None:
    url, _ = server
    config = rv.EmbedderConfig(
        model=f"{url}/model.onnx",
        sha256=DEFAULT.onnx_sha256,
        tokenizer_sha256=DEFAULT.tokenizer_sha256,
        cache_dir=str(tmp_path),
        progress=False,
    )
    _embed(config)
    folder = next(tmp_path.glob("models/*/model.onnx")).parent
    left = folder / "model.onnx.999999.part"  # what a download killed mid-way leaves behind
    left.write_bytes(b"half a model")
    _embed(config)  # served from the cache, and the leftover is gone
    assert not left.exists() and (folder / "model.onnx").is_file()


def test_a_pinned_model_needs_its_downloaded_tokenizer_pinned_too(server, tmp_path: Path) -> None:
    """With only the model's sha256, the tokenizer fetched beside it was trusted as the
    server sent it (and again after the cache was emptied): now refused before any request."""
    url, httpd = server
    config = rv.EmbedderConfig(
        model=f"{url}/model.onnx", sha256=DEFAULT.onnx_sha256, cache_dir=str(tmp_path), progress=False
    )
    with pytest.raises(rv.ModelIntegrityError, match=f"tokenizer {url}/tokenizer.json is not.*tokenizer_sha256"):
        _embed(config)
    assert httpd.requests == [] and not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.onnx"))


def test_a_swapped_tokenizer_on_the_server_is_refused(server, model_folder: Path, tmp_path: Path) -> None:
    url, httpd = server
    pinned = rv.EmbedderConfig(
        model=f"{url}/model.onnx",
        sha256=DEFAULT.onnx_sha256,
        tokenizer_sha256=DEFAULT.tokenizer_sha256,
        cache_dir=str(tmp_path),
        progress=False,
    )
    first = _embed(pinned).embed("pinned")
    served = model_folder / "tokenizer.json"
    original = served.read_bytes()
    try:
        served.write_bytes(original.replace(b'"[UNK]"', b'"[UNK2]"', 1))  # the server's copy changes
        shutil.rmtree(tmp_path / "models")  # a new machine, or an emptied cache
        with pytest.raises(
            rv.ModelIntegrityError, match=f"tokenizer.json has sha256 .* expected {DEFAULT.tokenizer_sha256}"
        ):
            _embed(pinned)
        assert not list(tmp_path.rglob("tokenizer.json")), "nothing unverified is cached"
    finally:
        served.write_bytes(original)
    assert (_embed(pinned).embed("pinned") == first).all()
    assert httpd.requests.count("/tokenizer.json") == 3


def test_download_with_wrong_sha256_leaves_nothing(server, tmp_path: Path) -> None:
    url, _ = server
    config = rv.EmbedderConfig(
        model=f"{url}/model.onnx",
        sha256="f" * 64,
        tokenizer_sha256=DEFAULT.tokenizer_sha256,
        cache_dir=str(tmp_path),
        progress=False,
    )
    with pytest.raises(rv.ModelIntegrityError, match=f"{url}/model.onnx has sha256 {DEFAULT.onnx_sha256}"):
        _embed(config)
    assert not list(tmp_path.glob("models/*/model.onnx*[!k]")), "no partial or unverified file is left"


def test_unreachable_url(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = rv.EmbedderConfig(model=f"http://127.0.0.1:{port}/model.onnx", cache_dir=str(tmp_path), progress=False)
    with pytest.raises(rv.ModelDownloadError, match="could not download.*local path"):
        _embed(config)


def test_missing_file_on_server(server, tmp_path: Path) -> None:
    url, _ = server
    config = rv.EmbedderConfig(model=f"{url}/other.onnx", cache_dir=str(tmp_path), progress=False)
    with pytest.raises(rv.ModelDownloadError, match="404|Not Found"):
        _embed(config)


def test_a_tokenizer_that_is_not_utf8_is_a_model_error_naming_it(model_folder: Path, tmp_path: Path) -> None:
    """Not "no backend can serve embeddings": the model's own error, naming the file."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(model_folder / "model.onnx")
    (folder / "tokenizer.json").write_bytes(b'{"version": "1.0", "name": "caf\xe9"}')
    with pytest.raises(rv.ModelError, match="tokenizer.json is not UTF-8 text"):
        _embed(rv.EmbedderConfig(model=str(folder)))


def test_a_url_ending_in_dot_dot_neither_touches_the_cache_nor_hides_the_error(server, tmp_path: Path) -> None:
    url, _ = server
    config = rv.EmbedderConfig(model=f"{url}/..", cache_dir=str(tmp_path), progress=False)
    with pytest.raises(rv.ModelError) as raised:
        _embed(config)
    assert not isinstance(raised.value, rv.CapabilityUnavailableError)
    assert (tmp_path / "models").is_dir() and list(tmp_path.glob("models/*/download")), "cached under a name of its own"


def test_file_url(model_folder: Path, tmp_path: Path) -> None:
    config = rv.EmbedderConfig(model=(model_folder / "model.onnx").as_uri(), cache_dir=str(tmp_path), progress=False)
    assert _embed(config).dimensions == 384


def test_concurrent_processes_share_one_download(server, tmp_path: Path) -> None:
    url, httpd = server
    script = (
        "import ruvector_core as rv, sys;"
        f"c = rv.EmbedderConfig(model='{url}/model.onnx', sha256='{DEFAULT.onnx_sha256}',"
        f" tokenizer_sha256='{DEFAULT.tokenizer_sha256}',"
        " cache_dir=sys.argv[1], progress=False);"
        "print(float(rv.Runtime().embedder(c).embed('same')[0]))"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=300)[0].strip() for run in runs]
    assert all(run.returncode == 0 for run in runs) and len(set(outputs)) == 1
    assert httpd.requests.count("/model.onnx") == 1, "the lock lets one process download, the rest reuse it"
    fused = tmp_path / "models" / "fused"
    assert len(list(fused.glob("*.onnx"))) == 1 and not list(fused.glob("*.part")), (
        "one fused graph in the cache, no partial file left"
    )
