"""Writing a run into ``--out``: results.json, recall_qps.json, recall_qps.png, results.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import plot, report


def write(results: dict[str, Any], folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {
        "results": folder / "results.json",
        "curves": folder / "recall_qps.json",
        "markdown": folder / "results.md",
    }
    written["results"].write_text(json.dumps(results, indent=2, default=str) + "\n", "utf-8")
    curves = {key: results[key] for key in ("data", "settings", "curves")}
    written["curves"].write_text(json.dumps(curves, indent=2, default=str) + "\n", "utf-8")
    written["markdown"].write_text(report.markdown(results), "utf-8")
    png = plot.recall_qps_png(results, folder / "recall_qps.png")
    if png is not None:
        written["plot"] = png
    return written
