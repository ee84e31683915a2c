"""The pytest plugin that turns the checks into a backend x check matrix.

Installed through the ``pytest11`` entry point, it only adds options, fixtures and a
summary; it collects nothing unless the suite itself is run (``pytest --pyargs
ruvector_conformance`` or ``ruvector conformance``).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest

import ruvector_core as rv

from .matrix import Matrix

_MATRIX = pytest.StashKey[Matrix]()
_RUNTIMES = pytest.StashKey[dict[str, rv.Runtime]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ruvector", "ruvector conformance")
    group.addoption(
        "--ruvector-backend",
        action="append",
        default=[],
        metavar="NAME",
        help="backend to check (repeatable); default: every installed backend",
    )
    group.addoption("--ruvector-report", metavar="PATH", help="also write the matrix as JSON to PATH")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "capability(name): the check needs a backend offering this capability")
    config.stash[_MATRIX] = Matrix()
    config.stash[_RUNTIMES] = {}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" in metafunc.fixturenames:
        names = metafunc.config.getoption("ruvector_backend") or [i.name for i in rv.Runtime().info()]
        metafunc.parametrize("backend_name", names, scope="session")


@pytest.fixture(scope="session")
def runtime(request: pytest.FixtureRequest, backend_name: str) -> rv.Runtime:
    """A runtime restricted to the backend under test."""
    return _runtime_for(request.config, backend_name)


@pytest.fixture(scope="session")
def reference() -> rv.Runtime:
    """The numpy reference backend, which every other backend is compared with."""
    return rv.Runtime(backend="numpy")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a check whose capability the backend under test does not declare.

    This runs before any fixture, so no session fixture builds an index for a backend
    that has no index to build."""
    marker = item.get_closest_marker("capability")
    backend = _backend_of(item)
    if marker is None or backend is None:
        return
    capability = marker.args[0]
    if capability not in _runtime_for(item.config, backend).spec(backend).capabilities:
        pytest.skip(f"backend {backend!r} does not offer {capability}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    backend = _backend_of(item)
    if backend is not None:
        check = getattr(item, "originalname", item.name).removeprefix("test_")
        item.config.stash[_MATRIX].record(backend, check, report)
    return report


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: pytest.ExitCode, config: pytest.Config
) -> None:
    matrix = config.stash[_MATRIX]
    if not matrix:
        return
    terminalreporter.section("ruvector conformance matrix")
    for line in matrix.render():
        terminalreporter.write_line(line)
    path = config.getoption("ruvector_report")
    if path:
        Path(path).write_text(json.dumps(matrix.as_dict(), indent=2))


def _runtime_for(config: pytest.Config, backend: str) -> rv.Runtime:
    runtimes = config.stash[_RUNTIMES]
    if backend not in runtimes:
        runtimes[backend] = rv.Runtime(backend=backend)
    return runtimes[backend]


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("backend_name") if callspec else None
