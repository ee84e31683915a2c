"""Versions come from one place: each distribution's metadata, the same number throughout
the workspace, and every package's ``__version__`` is read from it."""

from __future__ import annotations

import importlib
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import ruvector_core

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
PACKAGES = {
    "ruvec-conformance": None,
    "ruvec-bench": None,
    "ruvec-onnx": "ruvector_onnx",
    "ruvec-textmodel": "ruvector_textmodel",
    "ruvec-numba": "ruvector_numba",
    "ruvec-native": "ruvector_native",
    "ruvec-wasm": "ruvector_wasm",
    "ruvec-ray": "ruvector_ray",
    "langchain-ruvector": "langchain_ruvector",
    "llama-index-vector-stores-ruvector": "llama_index.vector_stores.ruvector",
    "llama-index-embeddings-ruvector": "llama_index.embeddings.ruvector",
}


def declared(member: str) -> tuple[str, str]:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
    return project["name"], project["version"]


@pytest.mark.parametrize("member", MEMBERS)
def test_every_distribution_carries_the_core_version(member: str) -> None:
    name, number = declared(member)
    assert number == declared(".")[1], f"{name} is {number}; the workspace releases one version"
    assert version(name) == number, f"installed {name} metadata is stale: run make install"


@pytest.mark.parametrize(("distribution", "package"), [(d, p) for d, p in PACKAGES.items() if p])
def test_package_versions_are_read_from_metadata(distribution: str, package: str) -> None:
    assert importlib.import_module(package).__version__ == version(distribution)
    assert ruvector_core.__version__ == version("ruvec")


def test_the_workspace_lists_every_distribution() -> None:
    assert {declared(member)[0] for member in MEMBERS} == set(PACKAGES)
