"""Feedback, adapter versions and patterns of ``rv.Memory``: the bookkeeping around learning.

The gains of learning are measured in ``test_memory_learning_tasks.py``; here, what is
recorded, refused, activated and rolled back, in this process and the next.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ruvector_core as rv
from ruvector_core.memory import LearnConfig

FACTS = [
    "Ana prefers green tea in the morning",
    "Bo never drinks tea after noon",
    "The tarfile module reads and writes tar archives",
    "threading runs code in other threads",
    "argparse parses command line options",
    "math.isclose compares two floating point numbers",
]
#: two phrasings per fact: feedback teaches each fact's own id
ASKED = [
    ("what does Ana like to drink", 0),
    ("Ana's favourite morning drink", 0),
    ("when does Bo stop drinking tea", 1),
    ("Bo and afternoon tea", 1),
    ("open a .tar file", 2),
    ("extract files from an archive", 2),
    ("run something concurrently", 3),
    ("start a worker thread", 3),
    ("read flags given on the command line", 4),
    ("define command line arguments", 4),
    ("are these floats almost equal", 5),
    ("compare decimals with a tolerance", 5),
]


@pytest.fixture
def memory(tmp_path: Path) -> rv.Memory:
    with rv.Memory.open(tmp_path / "store", progress=False) as memory:
        memory.add(FACTS, ids=[f"fact-{i}" for i in range(len(FACTS))])
        yield memory


def rows(folder: Path, table: str) -> list[tuple]:
    with sqlite3.connect(folder / "store.sqlite3") as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


def teach(memory: rv.Memory, repeats: int = 10, shift: int = 0) -> None:
    """Each question, reworded by a numbered suffix so the held-back slice has text of its
    own, answered by its fact or (``shift``) by another: a house convention that the
    embedding alone cannot know."""
    with memory.writing():
        for n in range(repeats):
            for question, fact in ASKED:
                memory.feedback(f"{question} ({n})", f"fact-{(fact + shift) % len(FACTS)}", 1.0)


def test_feedback_is_recorded_with_both_vectors(memory: rv.Memory) -> None:
    first = memory.feedback("what does Ana drink", "fact-0", 0.5)
    second = memory.feedback("what does Ana drink", "fact-1", success=False)
    assert second == first + 1
    recorded = rows(memory.folder, "feedback")
    assert [(r[1], r[2], r[3], r[6]) for r in recorded] == [
        ("default", "fact-0", "what does Ana drink", 0.5),
        ("default", "fact-1", "what does Ana drink", -1.0),
    ]
    query_vector = np.frombuffer(recorded[0][4], dtype="<f4")
    assert np.allclose(query_vector, memory.embedder.embed("what does Ana drink"), atol=1e-6)
    item_vector = np.frombuffer(recorded[0][5], dtype="<f4")
    assert np.allclose(item_vector, memory.embedder.embed(FACTS[0]), atol=1e-5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"query": "q", "id": "fact-0", "reward": 1.5}, "reward must be a number in [-1, 1]"),
        ({"query": "q", "id": "fact-0", "reward": float("nan")}, "reward must be a number in [-1, 1]"),
        ({"query": "q", "id": "fact-0"}, "either reward"),
        ({"query": "q", "id": "fact-0", "reward": 1.0, "success": True}, "either reward"),
        ({"query": "q", "id": "fact-0", "success": "yes"}, "success must be True or False"),
        ({"query": "  ", "id": "fact-0", "reward": 1.0}, "needs the query's text"),
        ({"query": "q", "id": "nope", "reward": 1.0}, "holds no item 'nope'"),
        ({"query": "q", "id": "fact-0", "reward": 1.0, "namespace": "other"}, "holds no item 'fact-0'"),
    ],
)
def test_bad_feedback_is_refused_and_records_nothing(memory: rv.Memory, arguments: dict, message: str) -> None:
    with pytest.raises(rv.InvalidInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        memory.feedback(**arguments)
    assert rows(memory.folder, "feedback") == []


def test_too_little_feedback_keeps_an_adapter_without_activating_it(memory: rv.Memory) -> None:
    before = memory.search("what does Ana like to drink", k=3)
    memory.feedback("what does Ana like to drink", "fact-0", 1.0)
    report = memory.learn()
    assert report.version == 1 and not report.activated and "cannot judge" in report.reason
    assert report.before is None and report.after is None
    assert memory.search("what does Ana like to drink", k=3) == before
    again = memory.learn()
    assert again.version is None and "nothing learned" in again.reason
    assert [v.version for v in memory.adapters()] == [1]


def test_learning_activates_applies_and_rolls_back_in_every_process(memory: rv.Memory, tmp_path: Path) -> None:
    teach(memory, shift=1)
    plain = memory.search("what does Ana like to drink (3)", k=len(FACTS))
    report = memory.learn(LearnConfig(min_holdout=5))
    assert report.after.recall_at_1 > report.before.recall_at_1
    assert report.held_out >= 5 and report.trajectories + report.held_out == 10 * len(ASKED)
    assert len(report.losses) == LearnConfig().lora.epochs and report.losses[-1] < report.losses[0]
    assert report.activated, report
    assert [(v.version, v.active) for v in memory.adapters()] == [(1, True)]
    adapted = memory.search("what does Ana like to drink (3)", k=len(FACTS))
    assert [h.score for h in adapted] != [h.score for h in plain]
    assert memory.search("what does Ana like to drink (3)", k=len(FACTS), adapt=False) == plain
    for mode in ("keyword", "hybrid"):  # keyword ignores the adapter; hybrid uses it for its vector half
        assert memory.search("Ana drink", k=3, mode=mode, adapt=False) == memory.search(
            "Ana drink", k=3, mode=mode, adapt=mode == "keyword"
        )

    script = (
        "import json, sys, ruvector_core as rv\n"
        "m = rv.Memory.open(sys.argv[1], progress=False, create=False)\n"
        "print(json.dumps([[h.id, h.score] for h in m.search('what does Ana like to drink (3)', k=6)]))\n"
    )

    def other_process() -> list:
        done = subprocess.run(
            [sys.executable, "-c", script, str(memory.folder)], capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)

    assert [[h.id, pytest.approx(h.score, abs=1e-5)] for h in adapted] == other_process()
    assert memory.rollback() is None
    assert memory.search("what does Ana like to drink (3)", k=len(FACTS)) == plain
    assert [[h.id, pytest.approx(h.score, abs=1e-5)] for h in plain] == other_process()
    memory.activate(1)
    assert memory.adapters()[0].active
    memory.activate(None)
    assert not memory.adapters()[0].active
    with pytest.raises(rv.InvalidInputError, match="no adapter version 7"):
        memory.activate(7)


def test_rollback_with_nothing_activated_is_an_error(memory: rv.Memory) -> None:
    with pytest.raises(rv.InvalidInputError, match="nothing to roll back"):
        memory.rollback()


def test_patterns_group_the_questions_that_found_their_answers(memory: rv.Memory) -> None:
    teach(memory, repeats=5)
    memory.feedback("open a .tar file (failed)", "fact-4", success=False)
    report = memory.learn(LearnConfig(pattern_every=10))
    assert report.patterns == len(rows(memory.folder, "patterns")) >= 2
    matches = memory.patterns("how do I open a tar archive", threshold=0.3)
    assert matches, "a question like the taught ones matches a pattern"
    best = matches[0].pattern
    answered = {example["id"] for example in best.metadata["examples"]}
    assert answered & {"fact-2", "fact-3", "fact-4", "fact-5"}
    assert best.uses >= best.successes > 0
    assert memory.patterns("zzzz qqqq", threshold=0.95) == []


def test_the_cli_records_feedback_learns_and_lists_adapters(memory: rv.Memory) -> None:
    folder = str(memory.folder)

    def ruvector(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ruvector_core.cli", *args], capture_output=True, text=True)

    done = ruvector("feedback", "what does Ana drink", "fact-0", "--db", folder, "--reward", "1", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"event": 1}
    refused = ruvector("feedback", "what does Ana drink", "nope", "--db", folder, "--success")
    assert refused.returncode == 1 and "holds no item 'nope'" in refused.stderr and "Traceback" not in refused.stderr
    assert ruvector("feedback", "q", "fact-0", "--db", folder).returncode == 1  # neither reward nor success
    assert len(rows(memory.folder, "feedback")) == 1
    learned = ruvector("learn", "--db", folder, "--json")
    assert learned.returncode == 0 and json.loads(learned.stdout)["version"] == 1
    listed = ruvector("adapters", "--db", folder, "--activate", "1", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["active"] is True
    rolled = ruvector("adapters", "--db", folder, "--rollback", "--json")
    assert json.loads(rolled.stdout)[0]["active"] is False
    both = ruvector("adapters", "--db", folder, "--rollback", "--deactivate")
    assert both.returncode == 1 and "at most one" in both.stderr


def test_texts_with_lone_surrogates_are_refused_as_input_errors(memory: rv.Memory) -> None:
    """Python strings may hold lone surrogates (os.fsdecode, JSON escapes); the tokenizer and
    SQLite cannot take them, so they are an input error, not a TypeError from deep inside."""
    with pytest.raises(rv.InvalidInputError, match=r"texts\[1\] is not valid Unicode.*nothing was stored"):
        memory.add(["fine", "broken \ud800 text"])
    with pytest.raises(rv.InvalidInputError, match="the query is not valid Unicode"):
        memory.search("broken \udfff")
    with pytest.raises(rv.InvalidInputError, match="not valid Unicode"):
        memory.feedback("broken \ud800", "fact-0", 1.0)
    assert memory.count() == len(FACTS) and rows(memory.folder, "feedback") == []
