"""The ruvector conformance suite: the checks every backend must pass.

Run it against any installed backend by name::

    ruvector conformance --backend mybackend
    python -m ruvector_conformance --backend mybackend
    pytest --pyargs ruvector_conformance.checks --ruvector-backend mybackend

It prints a matrix of backend x check (pass / FAIL / skip, the latter for capabilities the
backend does not declare).
"""

from .runner import run

__all__ = ["run"]
