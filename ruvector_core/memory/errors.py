"""What can go wrong with a store folder, as types a caller can catch.

Each error's message names the folder, what is wrong and what to do; the CLI prints it as
it is. Each also derives from the builtin a caller would catch (``FileNotFoundError``,
``PermissionError``, ``NotADirectoryError``, ``ValueError``).
"""

from __future__ import annotations

from ..errors import CorruptDataError, RuvectorError


class StoreError(RuvectorError):
    """The store folder is unusable as it is: missing, damaged, or built with another model."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """No store at the path, where one was required (querying never creates one)."""


class StorePathError(StoreError, NotADirectoryError):
    """The path names something that cannot be a store folder, e.g. a regular file."""


class StorePermissionError(StoreError, PermissionError):
    """The store (or the folder meant to hold it) cannot be created or written here."""


class StoreReadOnlyError(StorePermissionError):
    """A write was asked of a store opened read-only (not writable by this user, or on a read-only mount)."""


class StoreCorruptError(StoreError, CorruptDataError):
    """The store's SQLite file is not a readable database, or its contents are inconsistent."""


class IndexDamagedError(StoreCorruptError):
    """The index file of the current generation is missing or damaged, and healing was not asked for."""


class StoreRepairedWarning(UserWarning):
    """A store healed itself: its index was rebuilt from the vectors kept in SQLite."""
