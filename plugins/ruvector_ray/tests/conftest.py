"""One local Ray cluster for the whole run: starting one costs seconds, so every test shares it.

It binds 127.0.0.1, has two CPUs (the machine's), no dashboard, and reports no usage
statistics (tests never use the network). Run under `uv run` (as `make test` does), Ray
would give every worker a fresh environment rebuilt from the workspace's core alone, which
has no ray: its workers must use this environment, so that is switched off before Ray is
imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")

import ray  # noqa: E402  (after the switch above, which Ray reads on import)


@pytest.fixture(scope="session", autouse=True)
def ray_cluster() -> Iterator[None]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
