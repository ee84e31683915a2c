from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = (
    Path(__file__).resolve().parents[3] / "conformance" / "ruvector_conformance" / "data" / "stdlib_minilm_3200_f16.npy"
)


@pytest.fixture(scope="session")
def embeddings() -> np.ndarray:
    """Real 384-d embeddings (the conformance suite's data), float32."""
    try:
        from ruvector_conformance.data import corpus
    except ImportError:  # pragma: no cover - without the conformance package
        return np.load(DATA).astype(np.float32)
    data = corpus()
    return np.ascontiguousarray(np.vstack([data.base, data.queries]), dtype=np.float32)
