"""The runtime: which backend serves which capability, and the objects they serve.

The runtime is the one dispatch mechanism. Backends are ranked per capability by priority
(highest first, then by name; a backend may declare its own priority for a capability,
``BackendSpec.capability_priority``). A capability request walks that ranking, importing and
probing each backend the first time it is needed, calls that one backend's hook through
pluggy, and takes the first answer that is not None and has the capability's protocol.
pluggy registers, validates and blocks hook implementations; it does not order them,
because the runtime must know who answered, import backends lazily, and pass a failing
backend's request to the next one, none of which ``firstresult`` does. Users narrow the
ranking with ``backend=`` (one backend for every capability it offers),
``backends={capability: name}`` and ``disable=``, or for the default runtime with
``RUVECTOR_BACKEND`` and ``RUVECTOR_DISABLE``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import pluggy

from . import discovery, hookspecs, index_format
from .embedder import Embedder
from .errors import BackendFailedError, BackendUnavailableError, CapabilityUnavailableError, RuvectorError
from .hnsw_index import HnswIndex
from .models import CAPABILITIES, BackendInfo, BackendSpec, Capability, EmbedderConfig, HnswConfig
from .protocols import Embedder as EmbedderKernels
from .protocols import HnswGraph, LearningKernels, VectorKernels
from .vector_ops import VectorOps

log = logging.getLogger("ruvector")

ENV_BACKEND = "RUVECTOR_BACKEND"
ENV_DISABLE = "RUVECTOR_DISABLE"

#: builds what ``Runtime.learning`` hands out from the serving backend's kernels
LearningFacadeFactory = Callable[[LearningKernels, str, "Runtime"], Any]


class Runtime:
    """Discovers backends and hands out capability objects.

    ``Runtime()`` discovers every installed backend. ``backend="wasm"`` pins every
    capability wasm offers to it (the others are ranked as usual); ``backends={"hnsw": "native"}`` pins single
    capabilities; ``disable=["numba"]`` removes backends; ``plugins=[spec, ...]`` adds
    backends that are not installed as distributions (handy while writing one).
    """

    _default: ClassVar[Runtime | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()
    _learning_facade: ClassVar[LearningFacadeFactory | None] = None

    def __init__(
        self,
        backend: str | None = None,
        *,
        backends: Mapping[Capability, str] | None = None,
        disable: Iterable[str] = (),
        plugins: Iterable[BackendSpec] = (),
        discover: bool = True,
    ) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.plugin_manager.add_hookspecs(hookspecs)
        found = discovery.discover() if discover else []
        self._records = {r.name: r for r in found}
        for spec in plugins:
            self._records[spec.name] = discovery.record_for(spec)
        self._disabled = set(disable)
        self._pins: dict[str, str] = {}
        self._pinned_by: dict[str, str] = {}  # capability -> the argument that pinned it
        self._load_lock = threading.RLock()
        self._cache: dict[str, Any] = {}
        self._pin(backend, backends or {})

    @classmethod
    def initialize(cls) -> Runtime:
        """The process-wide runtime, configured from the environment on first call.

        ``RUVECTOR_BACKEND`` is either one name (``wasm``) or per-capability pins
        (``hnsw=native,vector_ops=numba``); ``RUVECTOR_DISABLE`` is a comma-separated list.
        """
        with cls._default_lock:
            if cls._default is None:
                setting = os.environ.get(ENV_BACKEND, "")
                backend, pins = _parse_backend_env(setting)
                disabled = [n.strip() for n in os.environ.get(ENV_DISABLE, "").split(",") if n.strip()]
                try:
                    cls._default = cls(backend, backends=pins, disable=disabled)
                except BackendUnavailableError as exc:
                    raise BackendUnavailableError(f"{exc} (from {ENV_BACKEND}={setting!r})") from None
            return cls._default

    # -- what serves what --------------------------------------------------------------

    @property
    def backend(self) -> str:
        """The backend serving ``vector_ops``: the one that does the arithmetic of this process."""
        return self.vector_ops.backend

    @property
    def backends(self) -> dict[str, str | None]:
        """Per capability, the backend that serves it (None where none can)."""
        return {cap: self._first_usable(cap) for cap in CAPABILITIES}

    def info(self) -> list[BackendInfo]:
        """Every discovered backend, each probed, highest priority first."""
        for name in list(self._records):
            self._probe(name)
        records = sorted(self._records.values(), key=_rank_key)
        return [r.info() for r in records]

    def spec(self, name: str) -> BackendSpec:
        """What backend ``name`` declares (without importing it)."""
        record = self._records.get(name)
        if record is None or record.spec is None:
            reason = record.reason if record else "not installed"
            raise BackendUnavailableError(f"backend {name!r} has no usable declaration: {reason}")
        return record.spec

    # -- capabilities ----------------------------------------------------------------

    @property
    def vector_ops(self) -> VectorOps:
        ops: VectorOps = self._once(
            "vector_ops", lambda: VectorOps(*self._serve("vector_ops", "ruvector_vector_ops", VectorKernels))
        )
        return ops

    def hnsw(self, config: HnswConfig) -> HnswIndex:
        graph, name = self._serve("hnsw", "ruvector_hnsw_index", HnswGraph, config=config)
        return HnswIndex(graph, name)

    def hnsw_load(self, data: bytes) -> HnswIndex:
        """Load bytes written by ``HnswIndex.serialize`` of any backend."""
        config = index_format.read_config(data)
        graph, name = self._serve("hnsw", "ruvector_hnsw_load", HnswGraph, data=bytes(data), config=config)
        return HnswIndex(graph, name)

    def embedder(self, config: EmbedderConfig | None = None) -> Embedder:
        """A text embedder; the default config loads all-MiniLM-L6-v2 from its PyPI packages."""
        config = config or EmbedderConfig()
        embedder, name = self._serve("embeddings", "ruvector_embedder", EmbedderKernels, config=config)
        return Embedder(embedder, name, config)

    @property
    def learning(self) -> Any:
        """The learning facade (``ruvector_core.learning.Learning``) on the serving backend's kernels.

        The learning package stands above the runtime, so the runtime does not import it:
        the package registers its facade with ``use_learning_facade`` when it is imported,
        which ``import ruvector_core`` does.
        """
        factory = Runtime._learning_facade
        if factory is None:
            raise CapabilityUnavailableError("learning needs its package: import ruvector_core.learning")
        return self._once(
            "learning", lambda: factory(*self._serve("learning", "ruvector_learning", LearningKernels), self)
        )

    @classmethod
    def use_learning_facade(cls, factory: LearningFacadeFactory) -> None:
        """Set what ``learning`` builds from a backend's kernels (the learning package calls this)."""
        cls._learning_facade = factory

    def _once(self, capability: str, build: Callable[[], Any]) -> Any:
        """The capability object built on first use and kept: read without the lock (it is
        asked for on every ``rt.vector_ops.distance(...)``), built under it, once."""
        cached = self._cache.get(capability)
        if cached is None:
            with self._load_lock:
                cached = self._cache.get(capability)
                if cached is None:
                    cached = self._cache[capability] = build()
        return cached

    # -- ranking and loading -----------------------------------------------------------

    def candidates(self, capability: Capability) -> list[str]:
        """Backends that may serve ``capability``, in the order they will be asked."""
        if capability in self._pins:
            return [self._pins[capability]]
        return [
            r.name
            for r in sorted(self._records.values(), key=lambda r: _rank_key(r, capability))
            if r.spec is not None and capability in r.spec.capabilities and r.name not in self._disabled
        ]

    def _serve(self, capability: Capability, hook: str, protocol: type, **kwargs: Any) -> tuple[Any, str]:
        """The first ranked backend's answer that is not None and has ``protocol``'s methods."""
        declined: list[str] = []
        failed: list[tuple[str, Exception]] = []
        for name in self.candidates(capability):
            record = self._probe(name)
            if not record.usable or record.spec is None:
                declined.append(f"{name}: {record.reason}")
                continue
            if capability not in record.spec.capabilities:
                declined.append(f"{name}: does not offer {capability}")
                continue
            try:
                answers = self._call(record, hook, **kwargs)
            except RuvectorError:
                raise
            except Exception as exc:  # isolate a failing backend, let the next one serve
                log.warning("backend %s failed in %s: %s", name, hook, discovery.describe(exc))
                declined.append(f"{name}: {discovery.describe(exc)}")
                failed.append((name, exc))
                continue
            result = answers[0] if answers else None
            if result is None:
                declined.append(f"{name}: declined this request")
            elif not isinstance(result, protocol):
                log.warning("backend %s returned a %s from %s", name, type(result).__name__, hook)
                declined.append(f"{name}: returned a {type(result).__name__}, not a {protocol.__name__}")
            else:
                return result, name
        detail = "; ".join(declined) if declined else "no installed backend offers it"
        if capability in self._pins:
            detail = f"pinned to {self._pins[capability]!r} by {self._pinned_by[capability]}: {detail}"
        if failed:  # a backend broke while serving: say so, not that none can serve
            culprit, cause = failed[0]
            raise BackendFailedError(f"backend {culprit} failed while serving {capability} ({detail})") from cause
        raise CapabilityUnavailableError(f"no backend can serve {capability} ({detail})")

    def _first_usable(self, capability: Capability) -> str | None:
        for name in self.candidates(capability):
            if self._probe(name).usable:
                return name
        return None

    def _call(self, record: discovery.BackendRecord, hook: str, **kwargs: Any) -> list[Any]:
        """The answers (zero or one) of ``record``'s own implementation of ``hook``."""
        others = [p for p in self.plugin_manager.get_plugins() if p is not record.module]
        answers: list[Any] = self.plugin_manager.subset_hook_caller(hook, remove_plugins=others)(**kwargs)
        return answers

    def _probe(self, name: str) -> discovery.BackendRecord:
        """Import, register and ask the backend whether it can run here, once."""
        with self._load_lock:
            record = self._records[name]
            if record.probed:
                return record
            record.probed = True
            if name in self._disabled:
                record.reason = "disabled by the user"
                return record
            if self.plugin_manager.is_blocked(name):
                record.reason = "blocked in the plugin manager"
                return record
            module = discovery.import_plugin(record)
            if module is None:
                return record
            try:
                self.plugin_manager.register(module, name=name)
                record.module = module
                answers = self._call(record, "ruvector_backend_info")
                reported = answers[0] if len(answers) == 1 else None
            except Exception as exc:
                record.reason = f"failed to start: {discovery.describe(exc)}"
                return record
            if not isinstance(reported, BackendInfo):
                record.reason = "its ruvector_backend_info hook did not return one BackendInfo"
            elif not reported.usable:
                record.reason = reported.reason or "the backend reports itself unusable"
            return record

    def _pin(self, backend: str | None, pins: Mapping[Capability, str]) -> None:
        """Apply ``backend=`` and ``backends=``; asking for what cannot run fails now.

        ``backend=name`` pins every capability that backend offers; the others are served
        as if nothing were pinned (``Runtime(backend="native").embedder()`` is served by
        the embeddings backend). ``backends={capability: name}`` pins that capability,
        and naming a backend that does not offer it is an error."""
        wanted: dict[str, tuple[str, str]] = {}
        if backend:
            spec = self._usable_spec(backend, f"backend={backend!r}")
            wanted = {cap: (backend, f"backend={backend!r}") for cap in CAPABILITIES if cap in spec.capabilities}
        for cap, name in pins.items():
            if cap not in CAPABILITIES:
                raise ValueError(f"unknown capability {cap!r}; expected one of {', '.join(CAPABILITIES)}")
            how = f"backends={{{cap!r}: {name!r}}}"
            offered = self._usable_spec(name, how).capabilities
            if cap not in offered:
                raise BackendUnavailableError(
                    f"backend {name!r} does not offer {cap} (it offers {', '.join(sorted(offered))}); pinned by {how}"
                )
            wanted[cap] = (name, how)
        self._pins = {cap: name for cap, (name, _) in wanted.items()}
        self._pinned_by = {cap: how for cap, (_, how) in wanted.items()}

    def _usable_spec(self, name: str, how: str) -> BackendSpec:
        """The spec of backend ``name``, which ``how`` asks for; an error if it cannot run."""
        if name not in self._records:
            known = ", ".join(sorted(self._records)) or "none"
            raise BackendUnavailableError(f"backend {name!r} is not installed (installed: {known}); asked for by {how}")
        record = self._probe(name)
        if not record.usable or record.spec is None:
            raise BackendUnavailableError(f"backend {name!r} is not usable: {record.reason}; asked for by {how}")
        return record.spec


def _rank_key(record: discovery.BackendRecord, capability: Capability | None = None) -> tuple[int, str]:
    return (-(record.spec.priority_for(capability) if record.spec else -(2**31)), record.name)


def _parse_backend_env(value: str) -> tuple[str | None, dict[Capability, str]]:
    value = value.strip()
    if not value:
        return None, {}
    if "=" not in value:
        return value, {}
    pins: dict[Capability, str] = {}
    for part in value.split(","):
        cap, _, name = part.partition("=")
        pins[cap.strip()] = name.strip()  # type: ignore[index]
    return None, pins
