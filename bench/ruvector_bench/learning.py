"""The learning section: does feedback make recall better, and what does it cost?

On the two stdlib tasks with known answers (``corpus.feedback_tasks``: a function's summary
should recall its module's docstring, a method's its class's), with the real embedder, in
one ``rv.Memory`` holding both tasks' passages:

- per task and objective (InfoNCE, squared error): three quarters of the queries become
  feedback, ``learn`` runs, and recall@1 / recall@10 of the held-out quarter is compared
  with the base embedder's; the figure is ``learn``'s time;
- continual learning: the class task learned on top of the module task with EWC and
  without (``ewc_lambda=0``): the module task's held-out recall@1 before and after;
- general retrieval: the corpus passages in a namespace nobody gave feedback about, short
  sentences among them as queries, a hit relevant when it documents the query's module
  (as in the hybrid section): precision@10 with and without the adapter;
- ``learn`` on 10,000 feedback events (2,000 in a quick run), the task queries again under
  numbered rewordings;
- ``Memory.search`` with the active adapter against ``adapt=False``, per query.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from ruvector_core.corpus import FeedbackTask, feedback_tasks
from ruvector_core.learning import LoRAConfig
from ruvector_core.memory import LearnConfig, LearnReport, Memory
from ruvector_core.runtime import Runtime

from .context import Context
from .dataset import short_sentences
from .hybrid import modules_of
from .timing import Stat, time_call

HELD_OUT = 0.25
EVENTS = {False: 10_000, True: 2_000}  # by options.quick
GENERAL_QUERIES = 200
OBJECTIVES: tuple[LoRAConfig, ...] = (
    LearnConfig().lora,
    LearnConfig().lora.model_copy(update={"objective": "mse", "learning_rate": 1e-2}),
)
LABELS = {
    "learning_task": "held-out recall after learning from feedback (figure: learn time)",
    "learning_ewc": "the module task's held-out recall@1 after learning the class task on top",
    "learning_general": "precision@10 on queries nobody gave feedback about, with and without the adapter",
    "learning_scale": "Memory.learn on recorded feedback events",
    "learning_search": "Memory.search of a text, k=10, with the active adapter and without",
}


def section(context: Context) -> None:
    data, record, options = context.data, context.record, context.options
    modules = modules_of(data.texts) if data.texts is not None else None
    reason = None if context.selection.embeddings and context.selection.hnsw else "needs `embeddings` and `hnsw`"
    if modules is None:
        reason = "needs the stdlib corpus texts (their modules label the general queries)"
    if reason:
        for case, label in LABELS.items():
            context.record.skip(case, label, reason)
        return
    assert data.texts is not None and modules is not None
    context.progress.expect(9)
    tasks = feedback_tasks()
    splits = {name: task.split(HELD_OUT, seed=1) for name, task in tasks.items()}
    runtime = Runtime(backends={"hnsw": context.selection.hnsw[0]})
    engine = f"Memory ({context.selection.hnsw[0]})"
    with tempfile.TemporaryDirectory(prefix="ruvector-bench-learning-") as scratch:
        root = Path(scratch)
        context.progress.step("a memory of both tasks' passages and the corpus")
        base_texts = data.texts[options.queries : options.queries + len(context.split.base)]
        base_modules = modules[options.queries : options.queries + len(context.split.base)]
        with Memory.open(root / "fresh", runtime=runtime, progress=False) as memory:
            for task in tasks.values():
                memory.add(
                    task.passages, ids=[f"{task.name}-{i}" for i in range(len(task.passages))], namespace="tasks"
                )
            memory.add(
                base_texts,
                metadata=[{"module": m} for m in base_modules],
                namespace="general",
                vectors=context.split.base,
            )
            held_vectors = {
                name: memory.embedder.embed_batch([tasks[name].queries[r] for r in held])
                for name, (_, held) in splits.items()
            }

        def recall(memory: Memory, name: str, adapt: bool) -> tuple[float, float]:
            task, held = tasks[name], splits[name][1]
            ranks = []
            for row, vector in zip(held, held_vectors[name], strict=True):
                found = [h.id for h in memory.search(vector, k=10, namespace="tasks", adapt=adapt)]
                ranks.append(found.index(task.item_id(row)) if task.item_id(row) in found else None)
            return float(np.mean([r == 0 for r in ranks])), float(np.mean([r is not None for r in ranks]))

        def taught(name: str, source: Path, target: str, config: LearnConfig) -> tuple[Path, LearnReport, float]:
            folder = root / target
            shutil.copytree(source, folder)
            with Memory.open(folder, runtime=runtime, progress=False) as memory:
                give_feedback(memory, tasks[name], splits[name][0])
                started = time.perf_counter()
                report = memory.learn(config)
                seconds = time.perf_counter() - started
                if report.version is not None:
                    memory.activate(report.version)
            return folder, report, seconds

        with Memory.open(root / "fresh", runtime=runtime, progress=False) as memory:
            base = {name: recall(memory, name, adapt=False) for name in tasks}
        first: Path | None = None
        for name in tasks:
            for lora in OBJECTIVES:
                context.progress.step(f"learning the {name} task ({lora.objective})")
                folder, report, seconds = taught(
                    name, root / "fresh", f"{name}-{lora.objective}", LearnConfig(lora=lora)
                )
                with Memory.open(folder, runtime=runtime, progress=False) as memory:
                    after = recall(memory, name, adapt=True)
                note = (
                    f"{name} task, {report.trajectories:,} events: recall@1 {base[name][0]:.3f} -> {after[0]:.3f}, "
                    f"recall@10 {base[name][1]:.3f} -> {after[1]:.3f}; {report.reason.split(':')[0]}"
                )
                record.figure(
                    "learning_task",
                    LABELS["learning_task"],
                    f"{lora.objective}, {name}",
                    "ruvector",
                    Stat.of([seconds]),
                    note,
                    recall_at_1=after[0],
                    recall_at_10=after[1],
                    base_recall_at_1=base[name][0],
                )
                if name == "module" and lora.objective == LearnConfig().lora.objective:
                    first = folder
        assert first is not None
        context.progress.step("the class task on top of the module task, with EWC and without")
        with Memory.open(first, runtime=runtime, progress=False) as memory:
            kept_before = recall(memory, "module", adapt=True)[0]
        for label, config in (("with EWC", LearnConfig()), ("plain", LearnConfig(ewc_lambda=0.0))):
            folder, report, seconds = taught("class", first, f"second-{label}", config)
            with Memory.open(folder, runtime=runtime, progress=False) as memory:
                module_after, class_after = recall(memory, "module", True)[0], recall(memory, "class", True)
            note = (
                f"module recall@1 {kept_before:.3f} -> {module_after:.3f}; class recall@1 {base['class'][0]:.3f} -> "
                f"{class_after[0]:.3f}, recall@10 {base['class'][1]:.3f} -> {class_after[1]:.3f}"
            )
            record.figure("learning_ewc", LABELS["learning_ewc"], label, "ruvector", Stat.of([seconds]), note)
        context.progress.step("general retrieval with and without the adapter")
        sentences = set(short_sentences(base_texts, count=GENERAL_QUERIES))
        queries = [(t, m) for t, m in zip(base_texts, base_modules, strict=True) if t in sentences]
        with Memory.open(first, runtime=runtime, progress=False) as memory:
            for adapt in (False, True):
                precision, latencies = general_precision(memory, queries, adapt)
                engine_label = "with the adapter" if adapt else "without"
                record.figure(
                    "learning_general",
                    LABELS["learning_general"],
                    engine_label,
                    "ruvector",
                    Stat.of(latencies),
                    f"precision@10 {precision:.3f} over {len(queries)} queries",
                    precision=precision,
                )
            context.progress.step("search with the active adapter and without")
            texts = [q for q, _ in queries]
            for adapt in (True, False):
                latencies = [time_call(partial(memory.search, q, k=10, adapt=adapt)) for q in texts]
                record.figure(
                    "learning_search",
                    LABELS["learning_search"],
                    f"{engine}, adapt={adapt}",
                    "ruvector",
                    Stat.of(latencies[1:]),
                )
        events = EVENTS[options.quick]
        context.progress.step(f"learning from {events:,} feedback events")
        folder = root / "scale"
        shutil.copytree(root / "fresh", folder)
        with Memory.open(folder, runtime=runtime, progress=False) as memory:
            reworded = itertools.islice(
                (
                    (f"{t.queries[r]} ({n})", t.item_id(r))
                    for n in itertools.count()
                    for t in tasks.values()
                    for r in splits[t.name][0]
                ),
                events,
            )
            with memory.writing():
                for query, item in reworded:
                    memory.feedback(query, item, 1.0, namespace="tasks")
            started = time.perf_counter()
            report = memory.learn()
            seconds = time.perf_counter() - started
        record.figure(
            "learning_scale",
            LABELS["learning_scale"],
            f"{events:,} events",
            "ruvector",
            Stat.of([seconds]),
            f"{report.trajectories:,} trained on, {report.held_out:,} checked; {report.reason.split(':')[0]}",
        )


def give_feedback(memory: Memory, task: FeedbackTask, rows: list[int]) -> None:
    with memory.writing():
        for row in rows:
            memory.feedback(task.queries[row], task.item_id(row), 1.0, namespace="tasks")


def general_precision(memory: Memory, queries: list[tuple[str, str]], adapt: bool) -> tuple[float, list[float]]:
    """Precision@10 by module over the general namespace (the query's own passage left
    out), and each search's time."""
    shares, seconds = [], []
    for text, module in queries:
        started = time.perf_counter()
        hits = memory.search(text, k=11, namespace="general", adapt=adapt)
        seconds.append(time.perf_counter() - started)
        others = [h.metadata["module"] for h in hits if h.text != text][:10]
        shares.append(float(np.mean([m == module for m in others])))
    return float(np.mean(shares)), seconds
