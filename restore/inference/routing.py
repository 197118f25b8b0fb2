"""DFPIR's routing for one image: the type probabilities it is routed by, and its type weights.

Owns: a known task as probabilities, the enlarged image's certain low resolution, and the
``(1, T)`` weights DFPIR's perturbation blocks are routed by.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from restore.models.dfpir import routing_weights

#: The type that enlarging an image makes (its probability is 1 for DFPIR's routing at ``upscale > 1``).
LOWRES = "lowres"


def task_probabilities(task: Sequence[str] | str, types: Sequence[str]) -> dict[str, float]:
    """The known degradation type(s) as probabilities: 1 for each type in ``task``, 0 for the rest.

    Args:
        task: one type or several.
        types: the model's degradation types, in the order of its outputs.

    Raises:
        ValueError: a type the model does not know (the message lists the valid ones).
    """
    names = (task,) if isinstance(task, str) else tuple(task)
    bad = [t for t in names if t not in types]
    if bad:
        raise ValueError(f"unknown degradation type(s) {bad}; valid: {', '.join(types)}")
    return {t: 1.0 if t in names else 0.0 for t in types}


def enlarged(probs: dict[str, float], upscale: int) -> dict[str, float]:
    """The estimator's probabilities for an image enlarged ``upscale`` x: at ``upscale > 1`` low
    resolution is not a guess, so its probability is 1 whatever the estimator reads."""
    if upscale > 1 and LOWRES in probs:
        return {**probs, LOWRES: 1.0}
    return probs


def type_weights(probs: dict[str, float], routing: str, device: torch.device) -> Tensor:
    """DFPIR's type weights ``(1, T)`` on ``device``, summing to 1, for probabilities in the model's
    type order; ``routing``: "blend" (by probability) or "dominant" (one-hot on the likeliest)."""
    return routing_weights(torch.tensor([list(probs.values())], device=device), routing)
