"""The memory learns from feedback, measured on tasks with known answers from real text.

Two tasks from the standard library's docstrings (``corpus.feedback_tasks``): a function's
one-line summary should recall its module's docstring, a method's its class's. Each task's
queries are split once: three quarters become feedback (reward 1 for the right passage),
one quarter is held out and never seen by learning. Recall is measured on the held-out
queries through ``Memory.search``, with the real embedder, adapted against unadapted.
General retrieval is measured on passages nobody gave feedback about: the conformance
fixture's stdlib passages in a namespace of their own, its 200 query rows (never stored)
as queries, a hit relevant when it documents the query's module.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_conformance.data import QUERY_ROWS, corpus, passages
from ruvector_core.corpus import FeedbackTask, feedback_tasks, stdlib_passages, stdlib_root
from ruvector_core.memory import LearnConfig

HELD_OUT_SHARE = 0.25
TASKS = ("module", "class")


class Split:
    """One task's passages as items and its queries split into feedback and held out."""

    def __init__(self, task: FeedbackTask, seed: int) -> None:
        self.task = task
        self.train, self.held_out = task.split(HELD_OUT_SHARE, seed)
        self.item = task.item_id
        self._held_out_vectors: np.ndarray | None = None

    def give_feedback(self, memory: rv.Memory) -> None:
        with memory.writing():  # one durable commit for the batch
            for row in self.train:
                memory.feedback(self.task.queries[row], self.item(row), 1.0, namespace="tasks")

    def recall(self, memory: rv.Memory, adapt: bool) -> tuple[float, float]:
        """recall@1 and recall@10 of the held-out queries' passages (searching by their
        embeddings, computed once: the adapter applies to a query vector as to a text)."""
        if self._held_out_vectors is None:
            self._held_out_vectors = memory.embedder.embed_batch([self.task.queries[row] for row in self.held_out])
        ranks = []
        for row, vector in zip(self.held_out, self._held_out_vectors, strict=True):
            found = [hit.id for hit in memory.search(vector, k=10, namespace="tasks", adapt=adapt)]
            ranks.append(found.index(self.item(row)) if self.item(row) in found else None)
        return float(np.mean([r == 0 for r in ranks])), float(np.mean([r is not None for r in ranks]))


@pytest.fixture(scope="module")
def splits() -> dict[str, Split]:
    tasks = feedback_tasks()
    return {name: Split(tasks[name], seed=1) for name in TASKS}


@pytest.fixture(scope="module")
def general_labels() -> tuple[list[str], list[str]]:
    """The module of each conformance fixture row: its passages are the corpus's first."""
    root = stdlib_root()
    texts = passages()
    first = list(itertools.islice(stdlib_passages(root), len(texts)))
    assert [text for _, text in first] == texts, "the fixture's passages are the corpus's first passages"
    return texts, [str(path.relative_to(root)) for path, _ in first]


@pytest.fixture(scope="module")
def fresh_store(tmp_path_factory: pytest.TempPathFactory, splits: dict[str, Split], general_labels) -> Path:
    """A store with both tasks' passages (namespace "tasks") and the fixture's base
    passages with their stored embeddings (namespace "general"); no feedback yet."""
    folder = tmp_path_factory.mktemp("learning") / "fresh"
    texts, modules = general_labels
    data = corpus()
    with rv.Memory.open(folder, progress=False) as memory:
        for split in splits.values():
            task = split.task
            ids = [f"{task.name}-{i}" for i in range(len(task.passages))]
            memory.add(task.passages, ids=ids, namespace="tasks")
        base = list(range(QUERY_ROWS, len(texts)))
        memory.add(
            [texts[i] for i in base],
            metadata=[{"module": modules[i]} for i in base],
            ids=[f"general-{i}" for i in base],
            namespace="general",
            vectors=data.base,
        )
    return folder


def copy_of(store: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(store, target)
    return target


@pytest.fixture(scope="module")
def learned_first(fresh_store: Path, splits: dict[str, Split]) -> dict[str, object]:
    """Feedback on the module task, learned once with the default settings."""
    folder = fresh_store.parent / "after-module"
    shutil.copytree(fresh_store, folder)
    with rv.Memory.open(folder, progress=False) as memory:
        base = splits["module"].recall(memory, adapt=False)
        splits["module"].give_feedback(memory)
        report = memory.learn()
        adapted = splits["module"].recall(memory, adapt=True)
    return {"folder": folder, "report": report, "base": base, "adapted": adapted}


def test_feedback_on_the_module_task_lifts_held_out_recall(learned_first: dict) -> None:
    report, base, adapted = learned_first["report"], learned_first["base"], learned_first["adapted"]
    assert report.activated, report.reason
    assert report.trajectories <= 2000
    assert report.after.recall_at_1 > report.before.recall_at_1
    assert adapted[0] >= base[0] + 0.10, f"held-out recall@1 {base[0]:.3f} -> {adapted[0]:.3f}"
    assert adapted[1] >= base[1], f"held-out recall@10 {base[1]:.3f} -> {adapted[1]:.3f}"


def test_feedback_on_the_class_task_lifts_held_out_recall(fresh_store: Path, splits, tmp_path: Path) -> None:
    with rv.Memory.open(copy_of(fresh_store, tmp_path, "class"), progress=False) as memory:
        base = splits["class"].recall(memory, adapt=False)
        splits["class"].give_feedback(memory)
        report = memory.learn()
        adapted = splits["class"].recall(memory, adapt=True)
    assert report.activated, report.reason
    assert adapted[0] >= base[0] + 0.10, f"held-out recall@1 {base[0]:.3f} -> {adapted[0]:.3f}"
    assert adapted[1] >= base[1], f"held-out recall@10 {base[1]:.3f} -> {adapted[1]:.3f}"


def second_task(learned_first: dict, splits, tmp_path: Path, name: str, config: LearnConfig) -> tuple[float, float]:
    """Module-task recall@1 after the class task is learned on top, and before it."""
    with rv.Memory.open(copy_of(learned_first["folder"], tmp_path, name), progress=False) as memory:
        before = splits["module"].recall(memory, adapt=True)[0]
        splits["class"].give_feedback(memory)
        report = memory.learn(config)
        memory.activate(report.version)  # judge the second adapter whatever its held-back check said
        return splits["module"].recall(memory, adapt=True)[0], before


def test_ewc_keeps_the_first_task_while_plain_training_forgets_it(learned_first, splits, tmp_path: Path) -> None:
    kept, before = second_task(learned_first, splits, tmp_path, "ewc", LearnConfig())
    forgot, _ = second_task(learned_first, splits, tmp_path, "plain", LearnConfig(ewc_lambda=0.0))
    assert kept >= before - 0.02, f"with EWC the module task went {before:.3f} -> {kept:.3f}"
    assert before - forgot > before - kept, f"plain training {before:.3f} -> {forgot:.3f}, EWC -> {kept:.3f}"


def test_queries_unlike_the_feedback_are_answered_as_well_as_before(learned_first, general_labels) -> None:
    texts, modules = general_labels
    data = corpus()

    def precision_at_10(search: Callable[[np.ndarray], list[rv.MemoryHit]]) -> float:
        shares = []
        for row in range(QUERY_ROWS):
            hits = search(data.queries[row])
            shares.append(np.mean([hit.metadata["module"] == modules[row] for hit in hits]))
        return float(np.mean(shares))

    with rv.Memory.open(learned_first["folder"], progress=False) as memory:
        plain = precision_at_10(lambda q: memory.search(q, k=10, namespace="general", adapt=False))
        adapted = precision_at_10(lambda q: memory.search(q, k=10, namespace="general", adapt=True))
    assert abs(adapted - plain) <= 0.01, f"general precision@10 {plain:.3f} -> {adapted:.3f}"


def test_a_harmful_adapter_is_kept_but_not_activated(fresh_store: Path, splits, tmp_path: Path) -> None:
    """Squared error at a learning rate far too high wrecks the adapter; the held-back check
    refuses it and recall stays exactly as it was."""
    wrecking = {"objective": "mse", "learning_rate": 10.0, "preserve": 0.0}
    harmful = LearnConfig(lora=LearnConfig().lora.model_copy(update=wrecking))
    with rv.Memory.open(copy_of(fresh_store, tmp_path, "harmful"), progress=False) as memory:
        query = splits["module"].task.queries[splits["module"].held_out[0]]
        before = memory.search(query, k=10, namespace="tasks")
        splits["module"].give_feedback(memory)
        report = memory.learn(harmful)
        assert not report.activated and report.after.recall_at_1 < report.before.recall_at_1, report
        assert [v.active for v in memory.adapters()] == [False]
        assert memory.search(query, k=10, namespace="tasks") == before
