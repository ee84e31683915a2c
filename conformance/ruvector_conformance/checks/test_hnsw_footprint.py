"""``stats().memory_bytes`` is what the index really holds: within 25 % of the growth of
the process's resident memory while the index was built, measured in a fresh process
(``footprint_probe``) over 50,000 rows of 384-d, or as many as a minute builds (no fewer
than 5,000: the pure-Python reference builds about 150 rows a second).

The tolerance covers what RSS counts that no index can know: allocator arenas and pages
touched by transient buffers, ~2 MiB huge pages backing capacity ahead of use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.capability("hnsw"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS read from /proc/self/status"),
]

TOLERANCE = 0.25
ROWS = 50_000
SECONDS = 60


def test_memory_bytes_matches_resident_growth(backend_name: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ruvector_conformance.footprint_probe", backend_name, str(ROWS), str(SECONDS)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr
    figures = json.loads(run.stdout)
    rows, grown, said = figures["rows"], figures["rss_growth"], figures["memory_bytes"]
    assert grown > rows * 384 * 4, figures  # the vectors alone: the measurement saw the index
    assert abs(said - grown) <= TOLERANCE * grown, (
        f"{backend_name}: stats says {said:,} bytes ({said / rows:.0f} per row), the process grew by "
        f"{grown:,} ({grown / rows:.0f} per row)"
    )
