"""``ruvector --version``: which ruvector this is, and which plugins are installed beside it.

A bug report needs both: the core's version alone does not say which backends or commands
ran. Plugins are the distributions that declare a backend or a command through ruvector's
entry-point groups, read from their metadata (nothing is imported)."""

from __future__ import annotations

from importlib.metadata import entry_points

from ..discovery import ENTRY_POINT_GROUP
from ..version import __version__

COMMANDS_GROUP = "ruvector.commands"
CORE_DISTRIBUTION = "ruvec"


def installed_plugins() -> dict[str, str]:
    """Distribution name to version of every installed plugin (the core left out), sorted."""
    found: dict[str, str] = {}
    for group in (ENTRY_POINT_GROUP, COMMANDS_GROUP):
        for entry_point in entry_points(group=group):
            dist = entry_point.dist
            if dist is not None and dist.name != CORE_DISTRIBUTION:
                found[dist.name] = dist.version
    return dict(sorted(found.items()))


def version_text() -> str:
    """``ruvector <version> (ruvec)`` and one line per plugin."""
    lines = [f"ruvector {__version__} ({CORE_DISTRIBUTION})"]
    plugins = installed_plugins()
    lines += [f"  {name} {version}" for name, version in plugins.items()] or ["  no plugins installed"]
    return "\n".join(lines)
