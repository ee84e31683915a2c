"""Which files a list of paths names: what ``ruvector index`` considers, and what it passes over.

A file named on the command line is always a candidate (its content then decides, see
``sniff``). In a folder, files whose suffix is one of ``TEXT_SUFFIXES`` are candidates;
the others are counted as passed over by type. Symbolic links are followed, files and
folders alike, and each real folder is walked once: a link back to a folder being walked
(a loop) or to one walked already is not followed again, and is reported, as is a link
whose target does not exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".rst", ".text"})


@dataclass
class Walk:
    """The candidate files (resolved, each once, in a stable order), the folders walked, and
    what was passed over: ``(path, why)`` for links not followed and folders that could not
    be read, and the files of other types."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    links: list[tuple[Path, str]] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    other_types: list[Path] = field(default_factory=list)


def check_paths(paths: Iterable[str | Path]) -> list[Path]:
    """The paths, each an existing file or folder; the first that is neither is an error
    (raised before anything is opened or written)."""
    checked = [Path(p) for p in paths]
    for path in checked:
        if not (path.is_dir() or path.is_file()):
            what = "a broken symbolic link" if path.is_symlink() else "neither a file nor a folder"
            raise InvalidInputError(f"{path} is {what}; nothing was indexed")
    return checked


def walk(paths: Iterable[str | Path]) -> Walk:
    """Every candidate file under ``paths`` (see the module's rules)."""
    found = Walk()
    seen_files: set[Path] = set()
    walked: set[tuple[int, int]] = set()
    for path in check_paths(paths):
        if path.is_dir():
            root = path.resolve()
            found.folders.append(root)
            _walk_folder(root, walked, seen_files, found)
        else:
            _add_file(path.resolve(), seen_files, found)
    return found


def _walk_folder(folder: Path, walked: set[tuple[int, int]], seen: set[Path], found: Walk) -> None:
    """Depth first, entries sorted by name, each real folder once."""
    stat = folder.stat()
    key = (stat.st_dev, stat.st_ino)
    if key in walked:
        return
    walked.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        found.unreadable.append((folder, f"folder cannot be read: {exc.strerror or exc}"))
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_symlink() and not path.exists():
            found.links.append((path, f"broken symbolic link (to {os.readlink(path)})"))
        elif entry.is_symlink() and path.is_dir():
            _follow(path, walked, seen, found)
        elif entry.is_dir(follow_symlinks=True):
            _walk_folder(path, walked, seen, found)
        elif entry.is_file(follow_symlinks=True):
            if path.suffix.lower() in TEXT_SUFFIXES:
                _add_file(path.resolve(), seen, found)
            else:
                found.other_types.append(path)


def _follow(link: Path, walked: set[tuple[int, int]], seen: set[Path], found: Walk) -> None:
    """Walk the folder ``link`` points to, unless it holds the link (a loop) or was walked."""
    target = link.resolve()
    if link.parent.resolve().is_relative_to(target):
        found.links.append((link, f"symbolic link loop (to {target}, a folder that holds the link)"))
        return
    target_stat = target.stat()
    if (target_stat.st_dev, target_stat.st_ino) in walked:
        found.links.append((link, f"links to {target}, walked already"))
        return
    found.folders.append(target)  # files gone from it are dropped on the next run
    _walk_folder(target, walked, seen, found)


def _add_file(path: Path, seen: set[Path], found: Walk) -> None:
    if path not in seen:
        seen.add(path)
        found.files.append(path)
