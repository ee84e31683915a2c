"""The one error hierarchy of ruvector.

Every failure a caller can act on is a ``RuvectorError``; the subclasses also derive from
the builtin a caller would naturally catch (``ValueError``, ``KeyError``, ``LookupError``)
so code written against plain Python conventions keeps working.
"""

from __future__ import annotations


class RuvectorError(Exception):
    """Base class of every error ruvector raises on purpose."""


class InvalidInputError(RuvectorError, ValueError):
    """An argument is unusable: wrong shape, non-finite values, k <= 0, duplicate ids."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the dimension the index or call expects."""

    def __init__(self, expected: int, got: int, what: str = "vector") -> None:
        super().__init__(f"{what} has dimension {got}, expected {expected}")
        self.expected = expected
        self.got = got


class UnknownIdError(RuvectorError, KeyError):
    """An id that the index does not hold was asked for."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else "unknown id"


class CorruptDataError(RuvectorError, ValueError):
    """Saved bytes are truncated, corrupt, of another format or of an unsupported version."""


class CorruptIndexError(CorruptDataError):
    """HNSW index bytes fail the checks of docs/format.md."""


class BackendError(RuvectorError):
    """Base class for problems choosing or running a backend."""


class BackendUnavailableError(BackendError, LookupError):
    """A backend was asked for by name but is not installed, not usable here, or disabled."""


class CapabilityUnavailableError(BackendError, LookupError):
    """No usable backend offers a capability (or serves this particular request)."""


class BackendFailedError(BackendError, RuntimeError):
    """A backend raised an unexpected error while serving a request (a bug, a broken
    install, an exhausted resource) and no other backend served it: not the same as no
    backend offering the capability, so it is never reported as that."""


class ModelError(RuvectorError):
    """Base class for problems getting an embedding model onto disk and running it."""


class ModelNotFoundError(ModelError, LookupError):
    """No model is where the configuration says, or no installed package provides it."""


class ModelIntegrityError(ModelError, ValueError):
    """A model file's sha256 differs from the expected one (download or cache corrupt)."""


class ModelDownloadError(ModelError, OSError):
    """A model URL could not be fetched (unreachable host, HTTP error, interrupted)."""


class ConflictingInstallError(RuvectorError, ImportError):
    """The ``ruvector_core`` on the path is not this project's alone: another project's
    distribution of the same import name is installed over it or instead of it."""
