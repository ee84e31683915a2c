"""The recall-versus-queries-per-second plot (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _data_title(data: dict[str, Any]) -> str:
    if data["source"] == "file":
        return str(data["description"])
    return f"stdlib docstrings embedded with all-MiniLM-L6-v2 ({data['source']})"


def recall_qps_png(results: dict[str, Any], path: Path) -> Path | None:
    """Write the curve of every engine to ``path``; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    data = results["data"]
    figure, axes = plt.subplots(figsize=(8, 5.5), dpi=120)
    for curve in results["curves"]:
        if curve.get("variant_of"):
            continue  # the grid in results.md has them; the plot compares engines
        points = sorted(curve["points"], key=lambda p: (p["ef"] is None, p["ef"] or 0))
        if not points:
            continue
        recalls = [p["recall"] for p in points]
        qps = [p["qps"] for p in points]
        style = "-o" if curve["kind"] == "ruvector" else "--s"
        label = f"{curve['engine']} ({'ruvector' if curve['kind'] == 'ruvector' else 'peer'})"
        if points[0]["ef"] is None:
            axes.plot(recalls, qps, "k*", markersize=10, label=f"{curve['engine']} (exact)")
            continue
        (line,) = axes.plot(recalls, qps, style, label=label, linewidth=1.5, markersize=4)
        for point in points[:: max(1, len(points) // 4)]:
            axes.annotate(
                f"ef={point['ef']}",
                (point["recall"], point["qps"]),
                fontsize=6,
                color=line.get_color(),
                textcoords="offset points",
                xytext=(3, 3),
            )
    axes.set_yscale("log")
    axes.set_xlabel(f"recall@{data['k']}")
    axes.set_ylabel("queries per second = 1 / mean latency (one thread, one call per query)")
    env = results.get("environment", {})
    axes.set_title(
        f"HNSW M={results['settings']['m']}, ef_construction={results['settings']['ef_construction']}: "
        f"{data['queries']:,} queries vs {data['base']:,} x {data['dimensions']}\n"
        f"{_data_title(data)}; "
        f"{env.get('cpu_model', '?')}, {env.get('nproc', '?')} cores",
        fontsize=8,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
