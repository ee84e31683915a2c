"""Whether the ``ruvector_core`` being imported is this project's.

PyPI's ``ruvector-core`` is RuVector's own package and installs the same import name,
``ruvector_core``; with both installed, whichever came last has overwritten the other's
files. ``require_own_core`` runs when ``ruvector_core`` is imported and when any plugin is,
so such an install fails at once with what to do, not later on a missing attribute. It
reads the file lists of the distributions known to install ``ruvector_core`` (well under a
millisecond), not every installed distribution's (``packages_distributions()`` takes about
100 ms, on every import).
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from .errors import ConflictingInstallError

#: this project's distribution of ``ruvector_core``
OWN_DISTRIBUTION = "ruvec"
#: other projects' distributions that install (or may install) a ``ruvector_core``
KNOWN_CLAIMANTS = ("ruvector-core", "ruvector")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def conflicting_distributions(package_dir: Path) -> list[str]:
    """Other projects' distributions whose files put ``ruvector_core`` in ``package_dir``, as
    ``name version``."""
    found = []
    for name in KNOWN_CLAIMANTS:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if _normalized(dist.metadata["Name"] or name) == OWN_DISTRIBUTION:
            continue
        claims = any(f.parts[:1] == ("ruvector_core",) for f in dist.files or ())
        if claims and Path(str(dist.locate_file("ruvector_core"))).resolve() == package_dir.resolve():
            found.append(f"{dist.metadata['Name']} {dist.version}")
    return found


def require_own_core(requirement: str = OWN_DISTRIBUTION) -> None:
    """Raise ``ConflictingInstallError`` unless ``ruvector_core`` is this project's alone.
    ``requirement``: what the fix installs (a plugin names its extra, e.g. ``ruvec[embeddings]``)."""
    package = sys.modules["ruvector_core"]
    fix = f"pip install --force-reinstall '{requirement}'"
    if getattr(package, "__file__", None) is None:  # a namespace package: __init__.py is gone
        where = ", ".join(str(p) for p in getattr(package, "__path__", []))
        raise ConflictingInstallError(
            f"ruvector_core in {where} has no __init__.py: its files are incomplete, probably because another "
            f"distribution that shared them was uninstalled; fix: {fix}"
        )
    conflicts = conflicting_distributions(Path(str(package.__file__)).parent)
    if conflicts:
        names = " ".join(c.split()[0] for c in conflicts)
        raise ConflictingInstallError(
            f"ruvector_core is also installed by {', '.join(conflicts)}: another project's package with the same "
            f"import name (this project's distribution is {OWN_DISTRIBUTION}), and the two overwrite each other's "
            f"files; fix: pip uninstall -y {names} {OWN_DISTRIBUTION} && pip install '{requirement}'"
        )
