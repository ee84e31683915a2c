"""Turning a results dict (what ``results.json`` holds) into tables: Markdown and rich.

Everything here reads only the JSON-able results, so a saved run can be re-rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from . import layout
from .targets import TARGETS, not_judged, verdict
from .timing import Stat, format_range, format_seconds

if TYPE_CHECKING:
    from rich.console import RenderableType

CASE_ORDER = (
    "embed_single",
    "embed_batch32",
    "hnsw_build",
    "hnsw_build_one_thread",
    "hnsw_memory",
    "hnsw_search",
    "hnsw_search_graph",
    "hnsw_search_at_recall",
    "hnsw_search_batch",
    "hnsw_insert_one",
    "quantized_search",
    "quantized_search_at_recall",
    "quantized_memory",
    "filtered_search_50pct",
    "filtered_search_10pct",
    "filtered_search_1pct",
    "filtered_search_0_1pct",
    "memory_search_where",
    "memory_search",
    "memory_search_keyword",
    "memory_search_hybrid",
    "memory_add",
    "memory_hybrid_quality",
    "learning_task",
    "learning_ewc",
    "learning_general",
    "learning_search",
    "learning_scale",
    "ray_embed",
    "ray_search",
    "distance",
    "distance_kernels",
    "batch_distance",
    "batch_distance_dot",
    "batch_distance_euclidean",
    "quantize_int8_one",
    "quantize_binary_one",
    "quantize_int8",
    "quantize_binary",
    "pattern_match",
    "first_search_load",
    "first_search_build",
)

# recall within this of ours counts as equal when a case compares peers by recall
RECALL_TOLERANCE = 0.005

# cases whose peers are another case's: the same work seen from another side of ruvector
PEER_CASE = {"hnsw_search_graph": "hnsw_search", "distance_kernels": "distance"}


@dataclass(frozen=True)
class Row:
    case: str
    label: str
    engine: str
    median: str
    spread: str
    peer: str
    peer_median: str
    ratio: str
    target: str
    result: str
    note: str = ""


def value_text(value: float, unit: str) -> str:
    """A figure in its unit: ``1.23 ms`` for seconds, ``1,843 B`` for bytes."""
    return f"{value:,.0f} B" if unit == "B" else format_seconds(value)


def spread(stat: Stat, unit: str = "s") -> str:
    """``1.2–1.4 ms (n=21)``: the interquartile range (min–max are in the JSON)."""
    if stat.n == 1:
        return "n=1, no spread"
    quartiles = f"{stat.q1:,.0f}–{stat.q3:,.0f} B" if unit == "B" else format_range(stat.q1, stat.q3)
    return f"{quartiles} (n={stat.n})"


def ratio_text(ours: float, peer: float) -> str:
    """``1.8x`` slower or ``0.52x`` (faster) than the peer: ours / peer."""
    return f"{ours / peer:.2f}x" if peer > 0 else "—"


def rows(results: dict[str, Any]) -> list[Row]:
    """One row per (case, ruvector engine), with the best peer of the same case (or of its
    ``PEER_CASE``) and the case's floors in the notes."""
    figures, skipped = results.get("figures", []), results.get("not_applicable", [])
    judged = not_judged(results) is None
    base = results.get("data", {}).get("base")
    out: list[Row] = []
    for case in CASE_ORDER:
        mine = [f for f in figures if f["case"] == case and f["kind"] == "ruvector"]
        peer_case = PEER_CASE.get(case, case)
        peers = [f for f in figures if f["case"] == peer_case and f["kind"] == "peer" and f.get("stat")]
        floors = [f for f in figures if f["case"] == case and f["kind"] == "floor" and f.get("stat")]
        target = TARGETS.get(case)
        for fig in mine:
            best = _best_peer(fig, peers)
            stat = Stat.from_dict(fig["stat"]) if fig.get("stat") else None
            unit = fig.get("unit", "s")  # schema 1 recorded seconds only
            out.append(
                Row(
                    case=case,
                    label=fig["label"],
                    engine=fig["engine"],
                    median=value_text(stat.median, unit) if stat else "—",
                    spread=spread(stat, unit) if stat else "—",
                    peer=best["engine"] if best else "—",
                    peer_median=value_text(best["stat"]["median"], unit) if best else "—",
                    ratio=ratio_text(stat.median, best["stat"]["median"]) if best and stat else "—",
                    target=f"< {format_seconds(target.seconds)}" if target else "",
                    result=_result(case, stat, base, judged),
                    note=_note(fig, best, floors),
                )
            )
        out += [_skipped(entry) for entry in skipped if entry["case"] == case]
    out += [_skipped(entry) for entry in skipped if entry["case"] not in CASE_ORDER]
    return out


def _result(case: str, stat: Stat | None, base: int | None, judged: bool) -> str:
    """The result column: the verdict against the case's target, if it has one and the run
    is judged (see ``targets``)."""
    if case not in TARGETS:
        return ""
    return verdict(case, stat.median if stat else None, base) if judged else "not judged"


def _best_peer(fig: dict[str, Any], peers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The fastest peer; where figures carry a recall, the fastest of those with equal or
    better recall (a fast answer that misses the right items is no competitor), else the
    one with the best recall."""
    if not peers:
        return None
    if fig.get("recall") is None:
        return min(peers, key=lambda f: f["stat"]["median"])
    matching = [f for f in peers if f.get("recall", 0.0) >= fig["recall"] - RECALL_TOLERANCE]
    if matching:
        return min(matching, key=lambda f: f["stat"]["median"])
    return max(peers, key=lambda f: (f.get("recall", 0.0), -f["stat"]["median"]))


def _skipped(entry: dict[str, Any]) -> Row:
    """The row of a case that could not be measured, with the reason in the notes."""
    target = TARGETS.get(entry["case"])
    return Row(
        case=entry["case"],
        label=entry["label"],
        engine="—",
        median="n/a",
        spread="—",
        peer="—",
        peer_median="—",
        ratio="—",
        target=f"< {format_seconds(target.seconds)}" if target else "",
        result="n/a",
        note=entry["reason"],
    )


def _note(fig: dict[str, Any], best: dict[str, Any] | None, floors: list[dict[str, Any]]) -> str:
    notes = [fig["note"]] if fig.get("note") else []
    notes += [f"floor {f['engine']} {value_text(f['stat']['median'], f.get('unit', 's'))}" for f in floors]
    if fig["case"].startswith("embed") and best and fig.get("stat"):
        overhead = fig["stat"]["median"] / best["stat"]["median"] - 1.0
        notes.append(f"overhead over bare ORT {overhead * 100:+.0f} %")
    if best and best.get("note") and fig["case"].startswith(("hnsw_search", "quantize")):
        notes.append(f"{best['engine']}: {best['note']}")
    return "; ".join(notes)


COLUMNS = ("case", "backend", "median", "IQR", "best peer", "peer median", "ratio", "target", "result", "notes")


def _cells(row: Row) -> tuple[str, ...]:
    return (
        row.label,
        row.engine,
        row.median,
        row.spread,
        row.peer,
        row.peer_median,
        row.ratio,
        row.target,
        row.result,
        row.note,
    )


def markdown_table(results: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows(results):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    return "\n".join(lines)


def curve_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the recall@k / median latency grid per engine, as in
    the dataset's published table: one column per ef, ``recall / latency`` in each cell."""
    curves = results.get("curves", [])
    efs = sorted({p["ef"] for c in curves for p in c["points"] if p["ef"] is not None})
    header = ["engine", "build"] + [f"ef={ef}" for ef in efs]
    out = []
    for curve in curves:
        build = format_seconds(curve["build"]["median"]) if curve.get("build") else "—"
        by_ef = {p["ef"]: p for p in curve["points"]}
        if curve["points"] and curve["points"][0]["ef"] is None:  # exact search: one point
            point = curve["points"][0]
            cells = ["exact: " + _cell(point)] + [""] * (len(efs) - 1)
        else:
            cells = [_cell(by_ef[ef]) if ef in by_ef else "—" for ef in efs]
        name = curve["engine"] if curve.get("variant_of") else f"{curve['engine']} ({curve['kind']})"
        name += f": {curve['error']}" if curve.get("error") else ""
        out.append([name, build, *cells])
    return header, out


def _cell(point: dict[str, Any]) -> str:
    return f"{point['recall']:.3f} / {format_seconds(point['latency']['median'])}"


def curve_table(results: dict[str, Any]) -> str:
    header, body = curve_rows(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """A self-contained Markdown report: settings, the table, the curve grid."""
    data, settings, env = results["data"], results["settings"], results.get("environment", {})
    parts = [
        f"Command: `{results.get('command', 'ruvector bench')}` ({results.get('mode', '')} run, "
        f"{results.get('elapsed_seconds', 0):.0f} s)",
        "",
        f"Data: {data['description']}; {data['queries']:,} queries (first rows) vs a base of "
        f"{data['base']:,} x {data['dimensions']}, recall@{data['k']} against brute force. "
        f"HNSW M={settings['m']}, ef_construction={settings['ef_construction']}; searches one Python "
        f"call per query on one thread; builds and embeddings on {settings['threads']} thread(s).",
        "",
        f"Machine: {env.get('cpu_model', '?')}, {env.get('nproc', '?')} cores, "
        f"{env.get('memory_gib', '?')} GiB; load average {env.get('load_before', '?')} before, "
        f"{env.get('load_after', '?')} after.",
        "",
        "Ratios are ruvector / best peer measured in the same run (below 1 is faster).",
        "",
        markdown_table(results),
        "",
        f"Targets: {not_judged(results) or 'judged (a miss makes the command exit 1)'}.",
    ]
    if results.get("curves"):
        parts += ["", f"Recall@{data['k']} / median latency per query:", "", curve_table(results)]
    missing = results.get("missing_peers") or {}
    if missing:
        parts += ["", "Peers not measured: " + "; ".join(f"{k}: {v}" for k, v in missing.items())]
    return "\n".join(parts) + "\n"


def rich_tables(results: dict[str, Any], width: int) -> list[RenderableType]:
    """The figures and the recall grid for a terminal ``width`` columns wide: as tables when
    their columns fit without breaking a word, else one block per row (``layout``). Below
    them, whether the run's figures were judged against the targets."""
    style = {"pass": "[green]pass[/]", "FAIL": "[red]FAIL[/]", "n/a": "[yellow]n/a[/]"}
    body = []
    for row in rows(results):
        cells = [escape(c) for c in _cells(row)]
        cells[8] = style.get(row.result, cells[8])
        body.append(cells)
    out = [layout.fitted("ruvector bench", COLUMNS, body, width)]
    if results.get("curves"):
        header, grid = curve_rows(results)
        title = f"recall@{results['data']['k']} / median latency"
        out.append(layout.fitted(title, header, [[escape(c) for c in r] for r in grid], width))
    reason = not_judged(results)
    out.append(f"targets: {escape(reason)}" if reason else "targets: judged (a miss makes the command exit 1)")
    return out
