"""The single-query fan-out as a Ray compiled graph, when Ray can run one.

A plain actor call costs about a millisecond of scheduling (a task submitted, a reply put
in the object store), several times a small shard's own search. A compiled graph
(``ray.dag``, ``experimental_compile``) sets up once a loop in each shard actor and
shared-memory channels to it; each query then costs tens of microseconds of transport.

It is an accelerator, never a requirement: when the graph cannot be compiled (Ray Client,
a Ray without compiled graphs, ``RUVECTOR_RAY_COMPILED_GRAPH=0``) or breaks while serving
(a shard actor died and Ray restarted it), ``run`` answers None and the caller makes
plain calls, which wait for the restarted actor. A broken graph is torn down and compiled
again on the next query; a graph that cannot be compiled is not tried again.

Only the process that compiled a graph may run it, and an actor serves one graph at a
time, so a copy of this object sent to another process starts without a graph and does
not try one (it keeps the plain calls).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayError, RayTaskError

from ruvector_core.errors import RuvectorError

log = logging.getLogger("ruvector.ray")

#: set to 0 to make every search a plain actor call
SWITCH = "RUVECTOR_RAY_COMPILED_GRAPH"


class CompiledSearch:
    """``Shard.search`` on every shard, with no filter, through one compiled graph."""

    def __init__(self, actors: list[Any]) -> None:
        self._actors = actors
        self._graph: Any = None
        self.enabled = os.environ.get(SWITCH, "1") != "0"

    @property
    def active(self) -> bool:
        """True while a compiled graph is set up and serving."""
        return self._graph is not None

    def run(self, vector: np.ndarray, k: int, ef: int | None) -> list[Any] | None:
        """Every shard's ``(incarnation, hits)`` in shard order, or None: make plain calls.

        A shard's own typed error (``RuvectorError``) is raised as itself, as plain calls raise it.
        """
        if not self.enabled:
            return None
        if self._graph is None:
            self._graph = self._compile()
            if self._graph is None:
                return None
        try:
            return list(ray.get(self._graph.execute(vector, k, ef)))
        except RayTaskError as exc:
            if isinstance(exc.cause, RuvectorError):
                raise exc.cause from None
            self._broken(exc)
        except RayError as exc:
            self._broken(exc)
        return None

    def close(self) -> None:
        """Stop the actors' graph loops (before the actors are killed or the graph rebuilt)."""
        graph, self._graph = self._graph, None
        if graph is not None:
            try:
                graph.teardown()
            except RayError as exc:  # an actor already gone: nothing left to stop on it
                log.debug("tearing down the compiled search graph: %s", exc)

    def _compile(self) -> Any:
        from ray.dag import InputNode, MultiOutputNode

        try:
            with InputNode() as query:
                outputs = [actor.search.bind(query[0], query[1], query[2], None) for actor in self._actors]
            return MultiOutputNode(outputs).experimental_compile()
        except Exception as exc:  # noqa: BLE001 -- whatever stops the graph, plain calls serve
            self.enabled = False
            log.warning("searches use plain actor calls: Ray could not compile the search graph (%s)", exc)
            return None

    def _broken(self, exc: BaseException) -> None:
        log.info("the compiled search graph broke (%s); this query goes by plain calls", type(exc).__name__)
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"_actors": self._actors, "_graph": None, "enabled": False}
