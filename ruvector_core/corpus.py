"""A real English corpus that every machine with Python has: the standard library's docstrings.

Module, class and function docstrings of the running interpreter's standard library (tests
and IDLE left out) are split into paragraphs; paragraphs of at least 6 words and at most 600
characters are kept once each, in a fixed order. CPython 3.11.7 gives 11,700 passages, the
rows of the project's reference data set.

    python -m ruvector_core.corpus OUTDIR   # one .txt file per module, passages as paragraphs

The same docstrings also give retrieval tasks with known answers (``feedback_tasks``), on
which the memory's learning from feedback is measured.
"""

from __future__ import annotations

import ast
import re
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
SKIPPED_PARTS = frozenset({"test", "tests", "idlelib", "site-packages"})


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_passages(root: Path | None = None) -> Iterator[tuple[Path, str]]:
    """(module file, passage) pairs in corpus order."""
    root = root or stdlib_root()
    seen: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if SKIPPED_PARTS & set(path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                for paragraph in _PARAGRAPH_BREAK.split(ast.get_docstring(node) or ""):
                    text = " ".join(paragraph.split())
                    if len(text.split()) >= 6 and len(text) <= 600 and text not in seen:
                        seen.add(text)
                        yield path, text


@dataclass(frozen=True)
class FeedbackTask:
    """Queries whose answer is known: ``passages[answers[i]]`` answers ``queries[i]``."""

    name: str
    queries: list[str]
    passages: list[str]
    answers: list[int]

    def item_id(self, row: int) -> str:
        """The id under which query ``row``'s answer is stored: ``<task>-<passage>``."""
        return f"{self.name}-{self.answers[row]}"

    def split(self, held_out: float, seed: int) -> tuple[list[int], list[int]]:
        """Query rows for feedback and held-out query rows (a ``held_out`` share), at random."""
        order = np.random.default_rng(seed).permutation(len(self.queries))
        cut = int(len(order) * held_out)
        return sorted(order[cut:].tolist()), sorted(order[:cut].tolist())


def feedback_tasks(root: Path | None = None) -> dict[str, FeedbackTask]:
    """Two query-to-passage tasks from the standard library's docstrings, where an agent's
    feedback can teach what the embedding alone misses:

    - ``module``: a public function's or class's one-line summary; the answer is its
      module's docstring ("which module covers this?");
    - ``class``: a public method's one-line summary; the answer is its class's docstring.

    Summaries of at least 4 words; passages of at least 6 words, cut at 600 characters.
    Private names and modules (leading underscore) are left out.
    """
    root = root or stdlib_root()
    pairs: dict[str, list[tuple[str, str]]] = {"module": [], "class": []}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_PARTS & set(path.parts) or any(part.startswith("_") for part in relative.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        module_passage = _passage(tree)
        for node in tree.body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            summary = _summary(node)
            if summary and module_passage:
                pairs["module"].append((summary, module_passage))
            class_passage = _passage(node) if isinstance(node, ast.ClassDef) else None
            for member in node.body if class_passage else []:
                if isinstance(member, ast.FunctionDef) and not member.name.startswith("_"):
                    method_summary = _summary(member)
                    if method_summary and class_passage:
                        pairs["class"].append((method_summary, class_passage))
    tasks = {}
    for name, found in pairs.items():
        passages = sorted({passage for _, passage in found})
        row = {passage: i for i, passage in enumerate(passages)}
        tasks[name] = FeedbackTask(name, [q for q, _ in found], passages, [row[p] for _, p in found])
    return tasks


def _paragraphs(node: ast.AST) -> list[str]:
    docstring = ast.get_docstring(node) if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) else None
    return [" ".join(p.split()) for p in _PARAGRAPH_BREAK.split(docstring or "") if p.strip()]


def _summary(node: ast.AST) -> str | None:
    paragraphs = _paragraphs(node)
    return paragraphs[0] if paragraphs and len(paragraphs[0].split()) >= 4 else None


def _passage(node: ast.AST) -> str | None:
    text = " ".join(_paragraphs(node))[:600]
    return text if len(text.split()) >= 6 else None


def write_text_files(folder: Path, root: Path | None = None) -> tuple[int, int]:
    """Write one text file per module; returns (files, passages)."""
    root = root or stdlib_root()
    folder.mkdir(parents=True, exist_ok=True)
    by_module: dict[Path, list[str]] = {}
    for path, text in stdlib_passages(root):
        by_module.setdefault(path, []).append(text)
    for path, texts in by_module.items():
        name = "__".join(path.relative_to(root).with_suffix("").parts) + ".txt"
        (folder / name).write_text("\n\n".join(texts) + "\n", "utf-8")
    return len(by_module), sum(len(t) for t in by_module.values())


if __name__ == "__main__":
    files, passages = write_text_files(Path(sys.argv[1]))
    print(f"wrote {passages} passages from Python {sys.version.split()[0]}'s standard library into {files} files")
