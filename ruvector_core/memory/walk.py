"""Which files a list of paths names: what ``ruvector index`` considers, and what it passes over.

A file named on the command line is always a candidate (its content then decides, see
``sniff``). In a folder, files whose suffix is one of ``TEXT_SUFFIXES`` are candidates;
the others are counted as passed over by type. Folders are walked without recursion (any
depth), entries in name order. Symbolic links inside a folder are followed, files and
folders alike, and each real folder and file is taken once: a link back to a folder being
walked (a loop) or to one walked already is not followed again, and is reported, as is a
link whose target does not exist. A link whose target lies outside the folder being
indexed is not followed (an indexed folder must not reach, say, a home directory through a
link) and is reported, unless ``follow_symlinks``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError

TEXT_SUFFIXES = frozenset({".txt", ".md", ".rst", ".text"})


@dataclass
class Walk:
    """The candidate files (resolved, each once, in a stable order), the folders walked, and
    what was passed over: ``(path, why)`` for links not followed and folders that could not
    be read, and the files of other types. ``roots`` names, for each file, the path given
    that reached it (a folder, or the file itself)."""

    files: list[Path] = field(default_factory=list)
    roots: dict[Path, Path] = field(default_factory=dict)
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


def walk(paths: Iterable[str | Path], follow_symlinks: bool = False) -> Walk:
    """Every candidate file under ``paths`` (see the module's rules)."""
    found = Walk()
    seen_files: set[Path] = set()
    walked: set[tuple[int, int]] = set()
    for path in check_paths(paths):
        if path.is_dir():
            root = path.resolve()
            found.folders.append(root)
            _walk_folder(root, root, follow_symlinks, walked, seen_files, found)
        else:
            _add_file(path.resolve(), path.resolve(), seen_files, found)
    return found


def shown(path: Path) -> str:
    """``path`` as text that SQLite and a terminal accept: a name's bytes that are not UTF-8
    (which Python carries as surrogates) are written as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _walk_folder(
    top: Path, root: Path, follow: bool, walked: set[tuple[int, int]], seen: set[Path], found: Walk
) -> None:
    """Depth first, entries sorted by name, each real folder once, with a stack of listings
    instead of recursion (folders nest deeper than Python's recursion limit)."""
    stack: list[Iterator[os.DirEntry[str]]] = []
    _enter(top, walked, stack, found)
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        path = Path(entry.path)
        if entry.is_symlink():
            _link(path, root, follow, walked, stack, seen, found)
        elif entry.is_dir(follow_symlinks=False):
            _enter(path, walked, stack, found)
        elif entry.is_file(follow_symlinks=False):
            _candidate(path, root, seen, found)


def _enter(folder: Path, walked: set[tuple[int, int]], stack: list[Iterator[os.DirEntry[str]]], found: Walk) -> None:
    """Push ``folder``'s sorted listing, unless that real folder was walked already."""
    try:
        stat = folder.stat()
        key = (stat.st_dev, stat.st_ino)
        if key in walked:
            return
        walked.add(key)
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        found.unreadable.append((folder, f"folder cannot be read: {exc.strerror or exc}"))
        return
    stack.append(iter(entries))


def _link(
    link: Path,
    root: Path,
    follow: bool,
    walked: set[tuple[int, int]],
    stack: list[Iterator[os.DirEntry[str]]],
    seen: set[Path],
    found: Walk,
) -> None:
    """Follow a symbolic link met in a folder, or say why not."""
    if not link.exists():
        found.links.append((link, f"broken symbolic link (to {os.readlink(link)})"))
        return
    target = link.resolve()
    if not (follow or target.is_relative_to(root)):
        found.links.append((link, f"links out of the indexed folder (to {target}); --follow-symlinks follows it"))
        return
    if not target.is_dir():
        _candidate(link, root, seen, found)
        return
    if link.parent.resolve().is_relative_to(target):
        found.links.append((link, f"symbolic link loop (to {target}, a folder that holds the link)"))
        return
    target_stat = target.stat()
    if (target_stat.st_dev, target_stat.st_ino) in walked:
        found.links.append((link, f"links to {target}, walked already"))
        return
    if not target.is_relative_to(root):
        found.folders.append(target)  # files gone from it are dropped on the next run
    _enter(target, walked, stack, found)


def _candidate(path: Path, root: Path, seen: set[Path], found: Walk) -> None:
    if path.suffix.lower() in TEXT_SUFFIXES:
        _add_file(path.resolve(), root, seen, found)
    else:
        found.other_types.append(path)


def _add_file(path: Path, root: Path, seen: set[Path], found: Walk) -> None:
    if path not in seen:
        seen.add(path)
        found.files.append(path)
        found.roots[path] = root
