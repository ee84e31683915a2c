"""The recall-versus-queries-per-second plot (matplotlib, Agg backend).

Queries per second are 1 / median latency per query, the figure the tables report (the
JSON keeps the mean-based ``qps`` too). Every engine sweeps the same ef values, so ef is
written beside the points of one curve only (the first ruvector one), and only where its
label's box (``LABEL_BOX``) does not overlap a label kept before: labels on every curve
overlapped wherever curves run close together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: the box an ef label takes, in points (1/72 inch): "ef=128" at 6 pt, with a margin
LABEL_BOX = (26.0, 8.0)


def _data_title(data: dict[str, Any]) -> str:
    if data["source"] == "file":
        return str(data["description"])
    return f"stdlib docstrings embedded with all-MiniLM-L6-v2 ({data['source']})"


def median_qps(point: dict[str, Any]) -> float:
    """Queries per second of a curve point: 1 / its median latency."""
    return 1.0 / float(point["latency"]["median"])


def spaced(positions: Sequence[tuple[float, float]], box: tuple[float, float] = LABEL_BOX) -> list[int]:
    """Indices of the positions to label, in order: each label (a ``box`` placed at the
    same offset from its position) overlaps none kept before it."""
    width, height = box
    kept: list[int] = []
    for index, (x, y) in enumerate(positions):
        if all(abs(x - positions[k][0]) >= width or abs(y - positions[k][1]) >= height for k in kept):
            kept.append(index)
    return kept


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
    labelled: tuple[list[dict[str, Any]], Any] | None = None
    for curve in results["curves"]:
        if curve.get("variant_of"):
            continue  # the grid in results.md has them; the plot compares engines
        points = sorted(curve["points"], key=lambda p: (p["ef"] is None, p["ef"] or 0))
        if not points:
            continue
        recalls = [p["recall"] for p in points]
        qps = [median_qps(p) for p in points]
        if points[0]["ef"] is None:
            axes.plot(recalls, qps, "k*", markersize=10, label=f"{curve['engine']} (exact)")
            continue
        style = "-o" if curve["kind"] == "ruvector" else "--s"
        label = f"{curve['engine']} ({'ruvector' if curve['kind'] == 'ruvector' else 'peer'})"
        (line,) = axes.plot(recalls, qps, style, label=label, linewidth=1.5, markersize=4)
        if labelled is None and curve["kind"] == "ruvector":
            labelled = (points, line.get_color())
    axes.set_yscale("log")
    if labelled is not None:
        _label_efs(figure, axes, *labelled)
    axes.set_xlabel(f"recall@{data['k']}")
    axes.set_ylabel("queries per second = 1 / median latency (one thread, one call per query)")
    env = results.get("environment", {})
    axes.set_title(
        f"HNSW M={results['settings']['m']}, ef_construction={results['settings']['ef_construction']}: "
        f"{data['queries']:,} queries vs {data['base']:,} x {data['dimensions']}; ef labelled on one curve, "
        f"the same on every curve\n{_data_title(data)}; {env.get('cpu_model', '?')}, {env.get('nproc', '?')} cores",
        fontsize=8,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _label_efs(figure: Any, axes: Any, points: list[dict[str, Any]], color: Any) -> None:
    """ef beside the points of one curve, those too close to a kept label left out."""
    axes.autoscale_view()
    to_points = 72.0 / figure.dpi  # display pixels to points
    display = axes.transData.transform([(p["recall"], median_qps(p)) for p in points])
    positions = [(float(x) * to_points, float(y) * to_points) for x, y in display]
    for index in spaced(positions):
        point = points[index]
        axes.annotate(
            f"ef={point['ef']}",
            (point["recall"], median_qps(point)),
            fontsize=6,
            color=color,
            textcoords="offset points",
            xytext=(4, 4),
        )
