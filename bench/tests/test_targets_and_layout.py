"""What a run's target rows claim, and how its tables fit a terminal: the decision logic
directly, and the command on tiny runs (never the full bench)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from test_bench import RESULTS, Bench, _stat

from ruvector_bench import layout, report
from ruvector_bench.plot import LABEL_BOX, median_qps, recall_qps_png, spaced
from ruvector_bench.targets import NOT_JUDGED_QUICK, misses, not_judged


def _full(**data: Any) -> dict[str, Any]:
    results = copy.deepcopy(RESULTS)
    results["mode"] = "full"
    results["data"].update(data)
    return results


def _results_column(results: dict[str, Any]) -> dict[str, str]:
    return {f"{row.label}/{row.engine}": row.result for row in report.rows(results)}


def test_a_quick_run_judges_no_target_and_says_so() -> None:
    quick = copy.deepcopy(RESULTS)  # mode "quick"; its search misses 5 ms
    assert not_judged(quick) == NOT_JUDGED_QUICK and misses(quick) == []
    assert _results_column(quick) == {
        "embed one/onnx": "not judged",
        "search/numba": "not judged",
        "distance/numba": "",
        "pattern match/—": "n/a",
    }
    assert "Targets: not judged: a --quick run" in report.markdown(quick)


def test_a_full_run_judges_every_target_and_lists_its_misses() -> None:
    full = _full(base=10_700)
    assert not_judged(full) is None
    assert _results_column(full)["search/numba"] == "FAIL" and _results_column(full)["embed one/onnx"] == "pass"
    assert misses(full) == ["search (numba): median 6.00 ms, target: one k=10 query on 10k x 384 < 5 ms (median)"]
    small = _full(base=3_000)  # the search target is defined on 10k rows: not a miss there
    assert _results_column(small)["search/numba"] == "n/a" and misses(small) == []
    fast = _full(base=10_700)
    fast["figures"][2]["stat"] = _stat(4e-3)
    assert misses(fast) == [] and "Targets: judged (a miss makes the command exit 1)" in report.markdown(fast)


def _rendered(results: dict[str, Any], width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    for part in report.rich_tables(results, width):
        console.print(part)
    return console.export_text()


def test_at_80_columns_no_cell_breaks_inside_a_word() -> None:
    results = _full(base=10_700)
    text = _rendered(results, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    words = {w for row in report.rows(results) for cell in report._cells(row) for w in cell.split()}
    words |= {w for _, body in [report.curve_rows(results)] for row in body for cell in row for w in cell.split()}
    tokens = set(re.split(r"\s+", text))
    broken = [w for w in words if w not in tokens and not any(w in t for t in tokens)]
    assert not broken, broken
    assert "missed" not in text and "targets: judged" in text


def test_layout_draws_a_table_only_when_its_words_fit() -> None:
    header, rows = ["a", "bb"], [["one", "two words"], ["three", "x"]]
    assert layout.minimum_width(header, rows) == 5 + 5 + 2 * layout.CELL_EXTRA + 1
    console = Console(width=40, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    console.print(layout.fitted("t", header, rows, 40))
    console.print(layout.fitted("t", header, rows, 10))
    text = console.export_text()
    assert "┃ a " in text  # 40 columns: a table
    assert "one · two words" in text and "three · x" in text  # 10 columns: blocks


def test_ef_labels_never_overlap_and_the_plot_uses_medians(tmp_path: Path) -> None:
    width, height = LABEL_BOX
    positions = [(0.0, 0.0), (width / 2, height / 2), (width, 0.0), (width / 2, height * 2)]
    kept = spaced(positions)
    assert kept == [0, 2, 3]
    for i in kept:
        for j in kept:
            if i < j:
                dx, dy = abs(positions[i][0] - positions[j][0]), abs(positions[i][1] - positions[j][1])
                assert dx >= width or dy >= height
    point = RESULTS["curves"][0]["points"][0]
    assert median_qps(point) == 1.0 / point["latency"]["median"]
    results = _full(source="fixture")
    png = recall_qps_png(results, tmp_path / "plot.png")
    assert png is None or png.read_bytes()[:4] == b"\x89PNG"


def test_the_command_states_its_targets_at_80_columns(tmp_path: Path, bench: Bench) -> None:
    rows = np.random.default_rng(3).standard_normal((140, 24)).astype(np.float32)
    np.save(tmp_path / "rows.npy", rows)
    common = ("--data", str(tmp_path / "rows.npy"), "--queries", "20", "--ef", "16", "--repeats", "1")
    common += ("--only", "hnsw", "--backend", "numpy", "--no-peers", "--no-progress")
    full = bench(*common, "--out", str(tmp_path / "full"), columns=80)
    assert full.returncode == 0, full.stdout + full.stderr  # the search target needs 10k rows: n/a, no miss
    assert "targets: judged (a miss makes the command exit 1)" in full.stdout
    assert max(len(line) for line in full.stdout.splitlines()) <= 80
    assert "  result: n/a" in full.stdout  # the search row, as a block at 80 columns
    results = json.loads((tmp_path / "full" / "results.json").read_text())
    assert results["mode"] == "full" and misses(results) == []
    quick = bench("--quick", *common, "--out", str(tmp_path / "quick"), columns=80)
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert "targets: not judged: a --quick run" in " ".join(quick.stdout.split())
