"""Names every layer shares, with no dependency at all (no torch, no numpy).

:data:`DEGRADATION_TYPES` is the standard set of types, in the order of a model's outputs. A
model's own list travels with its weights (``ModelConfig.types``): code that reads a model's
probabilities or routes a model takes the types from the loaded model, never from here, so a new
type registered in :mod:`restore.synthesis` never breaks weights trained without it.
"""

from __future__ import annotations

#: The six standard degradation types, in the order of a standard model's outputs.
DEGRADATION_TYPES: tuple[str, ...] = ("noise", "rain", "haze", "blur", "lowres", "lowlight")

__all__ = ["DEGRADATION_TYPES"]
