"""The learning system: patterns of what worked, LoRA adapters, elastic weight consolidation."""

from ..runtime import Runtime
from .facade import Learning
from .library import PatternLibrary
from .models import FisherMatrix, LoRAConfig, LoRAWeights, ModelWeights, Pattern, PatternMatch, Trajectory

__all__ = [
    "FisherMatrix",
    "Learning",
    "LoRAConfig",
    "LoRAWeights",
    "ModelWeights",
    "Pattern",
    "PatternLibrary",
    "PatternMatch",
    "Trajectory",
]

Runtime.use_learning_facade(Learning)  # what ``rt.learning`` hands out
