"""The learning system on synthetic tasks whose answers are known."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ruvector_core as rv
from ruvector_core.learning import LoRAConfig, ModelWeights, Pattern, Trajectory

D = 384
TRAIN, HELD_OUT = slice(0, 1000), slice(1000, 1200)
LEARNING = rv.Runtime().learning


def low_rank_task(seed: int, dims: np.ndarray, n: int = 1200, strength: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """Queries living in ``dims`` and targets t = normalise(q (I + U V)) for a hidden rank-4 U V."""
    rng = np.random.default_rng(seed)
    q = np.zeros((n, D))
    q[:, dims] = rng.standard_normal((n, len(dims)))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    u = np.zeros((D, 4))
    u[dims] = rng.standard_normal((len(dims), 4)) / np.sqrt(len(dims))
    v = rng.standard_normal((4, D)) / 2.0 * strength
    t = q + q @ u @ v
    return q.astype(np.float32), (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)


def trajectories(q: np.ndarray, t: np.ndarray) -> list[Trajectory]:
    return [Trajectory(query=a, target=b, reward=1.0) for a, b in zip(q, t, strict=True)]


def held_out_recall(q: np.ndarray, t: np.ndarray, adapter=None) -> float:
    """recall@1 of each held-out query's target among all the task's targets."""
    x = q[HELD_OUT] if adapter is None else LEARNING.adapt(q[HELD_OUT], adapter)
    return float(np.mean(np.argmax(x @ t.T, axis=1) == np.arange(1000, 1200)))


CONFIG = LoRAConfig(rank=8, alpha=16, learning_rate=0.01, epochs=60, batch_size=64, seed=0)
TASK_1 = low_rank_task(1, np.arange(0, 192))
TASK_2 = low_rank_task(2, np.arange(192, 384))


@pytest.fixture(scope="module")
def first_adapter() -> rv.learning.LoRAWeights:
    return LEARNING.train_lora(trajectories(*(x[TRAIN] for x in TASK_1)), CONFIG)


def test_lora_learns_a_hidden_low_rank_map(first_adapter) -> None:
    baseline = held_out_recall(*TASK_1)
    trained = held_out_recall(*TASK_1, first_adapter)
    assert baseline < 0.5, f"the task must be hard without the adapter (baseline {baseline})"
    assert trained >= 0.9, f"recall@1 on held-out pairs {baseline:.3f} -> {trained:.3f}"


def test_training_is_deterministic_and_stops_early(first_adapter) -> None:
    again = LEARNING.train_lora(trajectories(*(x[TRAIN] for x in TASK_1)), CONFIG)
    assert np.array_equal(again.a, first_adapter.a) and np.array_equal(again.b, first_adapter.b)
    loose = CONFIG.model_copy(update={"target_loss": 10.0})
    stopped = LEARNING.train_lora(trajectories(*(x[TRAIN] for x in TASK_1)), loose)
    assert stopped.epochs_run == 1 and stopped.final_loss <= 10.0


def test_merge_equals_applying_the_adapter(first_adapter) -> None:
    identity = np.eye(D, dtype=np.float32)
    merged = LEARNING.merge(identity, first_adapter)
    x = TASK_1[0][:5]
    assert np.allclose(x @ merged, LEARNING.adapt(x, first_adapter, normalize=False), atol=1e-4)
    assert np.allclose(merged - identity, first_adapter.scale * first_adapter.a @ first_adapter.b, atol=1e-5)


def test_ewc_prevents_forgetting(first_adapter) -> None:
    """Task 2 after task 1: plain training forgets task 1, EWC keeps it (and learns task 2)."""
    before = held_out_recall(*TASK_1, first_adapter)
    fisher = LEARNING.lora_fisher(first_adapter, trajectories(*(x[TRAIN] for x in TASK_1)))
    second = trajectories(*(x[TRAIN] for x in TASK_2))
    plain = LEARNING.train_lora(second, CONFIG, start=first_adapter)
    kept = LEARNING.train_lora(second, CONFIG, start=first_adapter, ewc=fisher, ewc_lambda=3.0)
    forgot, remembered = held_out_recall(*TASK_1, plain), held_out_recall(*TASK_1, kept)
    assert remembered >= before - 0.05, f"with EWC task 1 went {before:.3f} -> {remembered:.3f}"
    assert remembered - forgot >= 0.1, f"EWC {remembered:.3f} vs plain {forgot:.3f}"
    assert held_out_recall(*TASK_2, kept) >= 0.9, "EWC must still let the second task be learned"


@settings(max_examples=100, deadline=None)
@given(lam=st.floats(0, 1e6), step=st.floats(0, 100), seed=st.integers(0, 1000))
def test_ewc_step_never_overshoots(lam: float, step: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    anchor = ModelWeights(tensors={"w": rng.standard_normal(20)})
    fisher = LEARNING.fisher_from_gradients({"w": rng.standard_normal((7, 20))}, anchor)
    current = ModelWeights(tensors={"w": rng.standard_normal(20) * 3})
    pulled = LEARNING.apply_ewc(current, fisher, lam, step).tensors["w"].astype(np.float64)
    before = current.tensors["w"] - anchor.tensors["w"]
    after = pulled - anchor.tensors["w"]
    assert np.all(np.abs(after) <= np.abs(before) + 1e-6), "moved away from the anchor"
    assert np.all(after * before >= -1e-9), "crossed the anchor"
    assert (
        LEARNING.ewc_penalty(ModelWeights(tensors={"w": pulled}), fisher, 1.0)
        <= LEARNING.ewc_penalty(current, fisher, 1.0) + 1e-6
    )


def test_fisher_estimates_and_merge() -> None:
    anchor = ModelWeights(tensors={"w": np.zeros(3)})
    grads = np.array([[1.0, 0.0, 2.0], [3.0, 0.0, -2.0]])
    fisher = LEARNING.fisher_from_gradients({"w": grads}, anchor)
    assert np.allclose(fisher.diagonal.tensors["w"], [5.0, 0.0, 4.0])  # mean(g^2)
    newer = LEARNING.fisher_from_gradients({"w": np.ones((1, 3))}, ModelWeights(tensors={"w": np.ones(3)}))
    merged = LEARNING.merge_fisher(fisher, newer, decay=0.5)
    assert np.allclose(merged.diagonal.tensors["w"], [3.5, 1.0, 3.0]) and merged.samples == 3
    assert np.array_equal(merged.anchor.tensors["w"], np.ones(3))
    assert LEARNING.ewc_penalty(ModelWeights(tensors={"w": [1.0, 1.0, 1.0]}), fisher, 2.0) == pytest.approx(9.0)


def test_pattern_confidence_and_deactivation() -> None:
    pattern = LEARNING.create_pattern(np.ones(4), {"topic": "x"})
    assert pattern.confidence == 0.5 and pattern.active
    assert np.isclose(np.linalg.norm(pattern.embedding), 1.0)
    for _ in range(11):
        pattern = pattern.with_feedback(success=False)
    assert pattern.uses == 11 and pattern.confidence == pytest.approx(1 / 13) and not pattern.active
    for _ in range(5):
        pattern = pattern.with_feedback(success=True)
    assert pattern.active, "a success rate of 5/16 >= 0.3 reactivates it"
    with pytest.raises(pydantic.ValidationError):
        Pattern(id="p", embedding=np.ones(4), uses=1, successes=2)
    with pytest.raises(rv.InvalidInputError):
        LEARNING.create_pattern(np.zeros(4))


def test_match_patterns_ranks_by_similarity_times_confidence() -> None:
    query = np.array([1.0, 0.0, 0.0])
    close = Pattern(id="close-new", embedding=[1.0, 0.05, 0.0])  # sim ~ 0.999, conf 0.5
    proven = Pattern(id="proven", embedding=[1.0, 0.4, 0.0], uses=20, successes=19)  # sim ~ 0.93, conf ~ 0.91
    far = Pattern(id="far", embedding=[0.0, 1.0, 0.0], uses=20, successes=20)
    retired = Pattern(id="retired", embedding=[1.0, 0.0, 0.0], uses=20, successes=1)
    matches = LEARNING.match_patterns(query, [close, proven, far, retired], threshold=0.75, k=5)
    assert [m.pattern.id for m in matches] == ["proven", "close-new"]
    assert matches[0].score == pytest.approx(matches[0].similarity * proven.confidence)
    assert LEARNING.match_patterns(query, [close, proven], threshold=0.75, k=1)[0].pattern.id == "proven"


def test_patterns_from_trajectories_clusters_successes() -> None:
    rng = np.random.default_rng(4)
    centres = np.eye(D)[:3] * 5
    trajs = [
        Trajectory(query=centres[c] + rng.standard_normal(D) * 0.05, target=np.ones(D), reward=1.0, metadata={"c": c})
        for c in (0, 1, 2)
        for _ in range(10)
    ]
    trajs.append(Trajectory(query=np.eye(D)[5], target=np.ones(D), reward=1.0))  # a lone one
    trajs += [Trajectory(query=np.eye(D)[7], target=np.ones(D), reward=-1.0)] * 5  # failures
    found = LEARNING.patterns_from_trajectories(trajs, clusters=4, min_cluster_size=3, seed=0)
    assert sorted(p.metadata["cluster_size"] for p in found) == [10, 10, 10]
    assert {int(np.argmax(p.embedding)) for p in found} == {0, 1, 2}
    again = LEARNING.patterns_from_trajectories(trajs, clusters=4, min_cluster_size=3, seed=0)
    assert [p.embedding.tolist() for p in again] == [p.embedding.tolist() for p in found]


def test_library_hnsw_path_agrees_with_exact(tmp_path) -> None:
    rng = np.random.default_rng(8)
    base = rng.standard_normal((600, 32)).astype(np.float32)
    patterns = [
        Pattern(id=f"p{i}", embedding=v, uses=i % 7, successes=i % 5 if i % 5 <= i % 7 else 0)
        for i, v in enumerate(base)
    ]
    exact = LEARNING.pattern_library(patterns)
    indexed = LEARNING.pattern_library(patterns, hnsw_above=100)
    for query in base[:20] + rng.standard_normal((20, 32)).astype(np.float32) * 0.3:
        want = [m.pattern.id for m in exact.match(query, threshold=0.5, k=5)]
        got = [m.pattern.id for m in indexed.match(query, threshold=0.5, k=5)]
        assert got == want
    exact.feedback("p3", success=True)
    assert exact.get("p3").uses == patterns[3].uses + 1
    exact.remove("p0")
    assert "p0" not in exact and all(m.pattern.id != "p0" for m in exact.match(base[0], threshold=0.0, k=50))
    with pytest.raises(rv.UnknownIdError):
        exact.feedback("p0", success=True)
    exact.save(tmp_path / "patterns.npz")
    restored = rv.learning.PatternLibrary.load(LEARNING, tmp_path / "patterns.npz")
    assert [p.model_dump(exclude={"embedding"}) for p in restored] == [
        p.model_dump(exclude={"embedding"}) for p in exact
    ]


def test_adapter_persistence(first_adapter, tmp_path) -> None:
    path = tmp_path / "adapter.npz"
    LEARNING.save_lora(path, first_adapter)
    loaded = LEARNING.load_lora(path)
    assert np.array_equal(loaded.a, first_adapter.a) and loaded.alpha == first_adapter.alpha
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(rv.CorruptDataError):
        LEARNING.load_lora(path)
    LEARNING.save_patterns(tmp_path / "p.npz", [])
    with pytest.raises(rv.CorruptDataError, match="does not hold"):
        LEARNING.load_lora(tmp_path / "p.npz")


def test_infonce_fisher_is_the_mean_of_squared_per_sample_gradients(first_adapter) -> None:
    """The closed form of ``objective_fisher`` agrees with squaring each pair's own
    parameter gradient (one pair per batch, so each is its own InfoNCE problem)."""
    config = CONFIG.model_copy(update={"objective": "infonce", "batch_size": 5})
    pairs = trajectories(*(x[:20] for x in TASK_1))
    fisher = LEARNING.objective_fisher(first_adapter, pairs, config)
    squares = {"lora.a": np.zeros_like(first_adapter.a, dtype=np.float64), "lora.b": 0.0 * first_adapter.b}
    q, t = (x[:20].astype(np.float64) for x in TASK_1)
    a, b = first_adapter.a.astype(np.float64), first_adapter.b.astype(np.float64)
    for batch in range(0, 20, 5):
        for row in range(batch, batch + 5):
            weights = np.zeros(5)
            weights[row - batch] = 1.0
            _, grad_a, grad_b = rv.learning.lora.objective_gradients(
                LEARNING.kernels, config, q[batch : batch + 5], t[batch : batch + 5], weights, a, b
            )
            squares["lora.a"] += grad_a**2 / 20
            squares["lora.b"] += grad_b**2 / 20
    for name, expected in squares.items():
        assert np.allclose(fisher.diagonal.tensors[name], expected, rtol=1e-4, atol=1e-12), name


def test_infonce_ranks_targets_and_preserve_keeps_anchors_in_place() -> None:
    """InfoNCE lifts held-out recall@1 on the hidden-map task; with ``preserve`` and anchors
    from elsewhere in the space, those anchors move far less than without."""
    config = CONFIG.model_copy(update={"objective": "infonce", "temperature": 0.05, "epochs": 30})
    train = trajectories(*(x[TRAIN] for x in TASK_1))
    adapter = LEARNING.train_lora(train, config)
    assert held_out_recall(*TASK_1, adapter) >= held_out_recall(*TASK_1) + 0.2
    assert len(adapter.losses) == adapter.epochs_run == 30 and adapter.losses[-1] < adapter.losses[0]
    anchors = TASK_2[0][:500]
    kept = LEARNING.train_lora(train, config.model_copy(update={"preserve": 5.0}), anchors=anchors)

    def moved(adapter: rv.learning.LoRAWeights) -> float:
        return float(np.linalg.norm(LEARNING.adapt(anchors, adapter, normalize=False) - anchors, axis=1).mean())

    assert moved(kept) < 0.5 * moved(adapter)
    assert held_out_recall(*TASK_1, kept) >= held_out_recall(*TASK_1) + 0.2
