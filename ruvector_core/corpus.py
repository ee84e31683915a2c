"""A real English corpus that every machine with Python has: the standard library's docstrings.

Module, class and function docstrings of the running interpreter's standard library (tests
and IDLE left out) are split into paragraphs; paragraphs of at least 6 words and at most 600
characters are kept once each, in a fixed order. CPython 3.11.7 gives 11,700 passages, the
rows of the project's reference data set.

    python -m ruvector_core.corpus OUTDIR   # one .txt file per module, passages as paragraphs
"""

from __future__ import annotations

import ast
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

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
