"""Versions come from one place: each distribution's own metadata (its pyproject.toml).

Every package of the project reads its ``__version__`` through ``distribution_version``, so
no version number is written twice; a test checks that the workspace's distributions agree.
"""

from importlib.metadata import PackageNotFoundError, version

UNKNOWN_VERSION = "0.0.0+unknown"


def distribution_version(distribution: str) -> str:
    """The installed version of ``distribution``, or ``0.0.0+unknown`` in a never-installed tree."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN_VERSION


__version__ = distribution_version("ruvec")
