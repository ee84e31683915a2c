"""``Memory.learn``: recorded feedback becomes an adapter applied at recall, and patterns.

The adapter maps a query's embedding toward the items that answered such queries before.
It is trained on the feedback recorded since the active adapter was trained (so feedback
behind an adapter that was not activated is used again), continuing from that adapter
with an EWC penalty built from the Fisher information of everything learned so far, so
new lessons do not overwrite old ones, and with a ``preserve`` penalty over a sample of
the stored items, so queries unlike any feedback keep their answers. A slice of the
feedback (chosen by query text, so a repeated query never sits on both sides) is held
back; the new adapter is activated only if recall of that slice's items, compared with the
active adapter (or none), falls neither at rank 1 nor within 10 and rises at one of them.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..learning import FisherMatrix, LoRAConfig, LoRAWeights, Trajectory
from ..learning.ewc import merge_fisher
from ..learning.lora import adapt
from ..runtime import Runtime
from .adapters import AdapterStore
from .feedback import FeedbackEvent, FeedbackLog
from .pattern_table import PatternTable

#: what recall of held-back items needs: query vectors (already adapted) and namespaces in,
#: each query's hits as (namespace, id), best first, out
Recall = Callable[[np.ndarray, Sequence[str], int], list[list[tuple[str, str]]]]

#: InfoNCE measured better than squared error on both feedback tasks of the benchmark
#: (``ruvector bench --only learning``); the other settings were chosen on the same tasks.
DEFAULT_LORA = LoRAConfig(
    rank=32,
    alpha=64.0,
    learning_rate=3e-3,
    epochs=30,
    batch_size=128,
    target_loss=0.0,
    objective="infonce",
    temperature=0.05,
    preserve=1.0,
)


class LearnConfig(BaseModel):
    """How ``Memory.learn`` trains, checks and activates an adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lora: LoRAConfig = DEFAULT_LORA
    ewc_lambda: float = Field(default=1000.0, ge=0, description="weight of the EWC penalty toward earlier lessons")
    fisher_decay: float = Field(default=0.9, ge=0, le=1, description="how much older lessons' Fisher weighs")
    holdout: float = Field(default=0.2, ge=0, lt=1, description="share of the feedback held back to check")
    min_holdout: int = Field(default=20, ge=1, description="held-back events needed to judge an adapter")
    max_holdout: int = Field(default=1000, ge=1, description="held-back events checked at most")
    anchors: int = Field(default=2048, ge=0, description="stored items whose recall the preserve penalty keeps")
    pattern_every: int = Field(default=50, ge=1, description="one pattern per this many successful queries")
    max_patterns: int = Field(default=64, ge=1)


class RecallFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    recall_at_1: float
    recall_at_10: float


class LearnReport(BaseModel):
    """What ``Memory.learn`` did: the adapter version it kept (if it trained one), whether
    that version is now active and why, the loss after each epoch, and recall of the
    held-back feedback's items before (the active adapter, or none) and after."""

    model_config = ConfigDict(frozen=True)

    version: int | None
    activated: bool
    reason: str
    objective: str
    trajectories: int
    held_out: int
    losses: list[float]
    before: RecallFigures | None
    after: RecallFigures | None
    patterns: int
    seconds: float


def learn(
    runtime: Runtime,
    log: FeedbackLog,
    adapters: AdapterStore,
    anchors: np.ndarray,
    recall: Recall,
    patterns: PatternTable,
    config: LearnConfig,
) -> LearnReport:
    """Train, check and maybe activate an adapter, refresh the pattern library from all
    recorded feedback, and say what happened."""
    started = time.perf_counter()
    learning = runtime.learning
    current = adapters.active_record()
    since = current[1] if current else 0
    history = log.trajectories()
    fresh = [(event, trajectory) for event, trajectory in history if event.seq > since]
    train = [t for e, t in fresh if not _held_back(e, config.holdout) and t.positive]
    held = [(e, t) for e, t in fresh if _held_back(e, config.holdout) and t.positive][: config.max_holdout]

    def report(**fields: Any) -> LearnReport:
        base: dict[str, Any] = {
            "version": None,
            "activated": False,
            "objective": config.lora.objective,
            "trajectories": len(train),
            "held_out": len(held),
            "losses": [],
            "before": None,
            "after": None,
            "patterns": 0,
        }
        base.update(fields)
        return LearnReport.model_validate({**base, "seconds": time.perf_counter() - started})

    latest = adapters.latest_through()
    if history and latest is not None and history[-1][0].seq <= latest:
        pattern_count = len(patterns.load())  # the learn that trained that adapter clustered all of it
    else:
        pattern_count = _refresh_patterns(runtime, patterns, [t for _, t in history], config)
    if not train or (latest is not None and max(e.seq for e, _ in fresh) <= latest):
        reason = "nothing learned: no successful feedback recorded since the last adapter was trained"
        return report(reason=reason, patterns=pattern_count)
    start, fisher = (current[2], current[3]) if current else (None, None)
    adapter = learning.train_lora(
        train,
        config.lora,
        start=start,
        ewc=fisher,
        ewc_lambda=config.ewc_lambda if fisher is not None else 0.0,
        anchors=anchors if len(anchors) else None,
    )
    learned = learning.objective_fisher(adapter, train, config.lora)
    merged: FisherMatrix = merge_fisher(fisher, learned, config.fisher_decay) if fisher is not None else learned
    losses = list(adapter.losses)
    if len(held) < config.min_holdout:
        version = adapters.add(adapter, merged, max(e.seq for e, _ in fresh), {})
        reason = (
            f"kept, not activated: {len(held)} held-back events cannot judge it (at least {config.min_holdout} "
            f"needed, about {config.min_holdout / max(config.holdout, 1e-9):.0f} events); "
            f"activate it with `ruvector adapters --activate {version}` or Memory.activate({version}) if you trust it"
        )
        result = report(version=version, reason=reason, losses=losses, patterns=pattern_count)
    else:
        before = _recall(recall, held, start)
        after = _recall(recall, held, adapter)
        not_worse = after.recall_at_1 >= before.recall_at_1 and after.recall_at_10 >= before.recall_at_10
        better = not_worse and (after.recall_at_1 > before.recall_at_1 or after.recall_at_10 > before.recall_at_10)
        version = adapters.add(adapter, merged, max(e.seq for e, _ in fresh), {})
        if better:
            adapters.activate(version)
            reason = "activated: recall of the held-back feedback's items rose and did not fall at either rank"
        elif not_worse:
            reason = "kept, not activated: recall of the held-back feedback's items did not rise"
        else:
            reason = "kept, not activated: recall of the held-back feedback's items fell"
        result = report(
            version=version,
            activated=better,
            reason=reason,
            losses=losses,
            before=before,
            after=after,
            patterns=pattern_count,
        )
    adapters.set_report(version, result.model_dump(mode="json"))
    return result


def _refresh_patterns(
    runtime: Runtime, table: PatternTable, trajectories: list[Trajectory], config: LearnConfig
) -> int:
    """Cluster every successful query so far into patterns, replacing the old library."""
    positives = sum(t.positive for t in trajectories)
    clusters = min(config.max_patterns, max(1, positives // config.pattern_every))
    patterns = runtime.learning.patterns_from_trajectories(trajectories, clusters) if positives else []
    table.replace(patterns)
    return len(patterns)


def _held_back(event: FeedbackEvent, share: float) -> bool:
    """Whether an event checks rather than trains: by its query text, so one query asked
    twice is never on both sides."""
    return zlib.crc32(event.query.encode("utf-8")) % 10_000 < share * 10_000


def _recall(recall: Recall, held: list[tuple[FeedbackEvent, Trajectory]], adapter: LoRAWeights | None) -> RecallFigures:
    queries = np.stack([t.query for _, t in held])
    if adapter is not None:
        queries = adapt(queries, adapter)
    hits = recall(queries, [e.namespace for e, _ in held], 10)
    ranks = []
    for (event, _), found in zip(held, hits, strict=True):
        key = (event.namespace, event.item_id)
        ranks.append(found.index(key) if key in found else None)
    return RecallFigures(
        recall_at_1=float(np.mean([r == 0 for r in ranks])),
        recall_at_10=float(np.mean([r is not None for r in ranks])),
    )
