"""What a model recognised in an image: :class:`Analysis`, and reading it from the network.

Owns: the result types of :meth:`Restorer.analyze` and the conversion of a network's estimator
logits and NDR activation maps into them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

#: Longest side at which :meth:`Restorer.analyze` looks at an image (a global view is enough).
ANALYZE_SIDE = 512


@dataclass(frozen=True)
class ScaleActivation:
    """NDR activations at one encoder scale.

    Attributes:
        level: 1 (finest) to 3.
        map: ``(h, w, K)`` float32, softmax over the K atoms per pixel (sums to 1).
        pooled: ``(K,)`` float32, the map's mean over pixels.
    """

    level: int
    map: np.ndarray
    pooled: np.ndarray


@dataclass(frozen=True)
class Analysis:
    """What a model recognised in an image.

    Attributes:
        probabilities: type -> probability (independent sigmoids: several can be high).
        activations: per-scale NDR activations (empty for models without a dictionary).
        pooled_vector: all scales' pooled activations concatenated, ``(3K,)`` (empty if none).
        size: ``(H, W)`` at which the model looked.
    """

    probabilities: dict[str, float]
    activations: list[ScaleActivation]
    pooled_vector: np.ndarray
    size: tuple[int, int]

    def detected(self, threshold: float = 0.5) -> list[str]:
        """Types above ``threshold``, most likely first."""
        items = sorted(self.probabilities.items(), key=lambda kv: -kv[1])
        return [k for k, v in items if v >= threshold]


def type_probabilities(logits: Tensor, types: Sequence[str]) -> dict[str, float]:
    """Type -> probability from one image's estimator logits.

    Args:
        logits: ``(T,)``, one logit per type, in the order of ``types``.
        types: the model's degradation types.

    Returns:
        type -> sigmoid of its logit, in ``[0, 1]``.
    """
    return dict(zip(types, torch.sigmoid(logits).float().cpu().tolist(), strict=True))


def read_analysis(model: nn.Module, x: Tensor, types: Sequence[str]) -> Analysis:
    """Run ``model``'s estimator (``estimate`` where it has one, else the full forward pass) on ``x``.

    Args:
        model: a restoration network whose extras may hold ``"logits"`` and ``"activations"``.
        x: ``(1, 3, H, W)`` float32 in ``[0, 1]``.
        types: the model's degradation types, in the order of its logits.

    Returns:
        The :class:`Analysis` of ``x``: NaN probabilities for a model without an estimator, no
        activations for one without a dictionary; its size is ``(H, W)``.
    """
    estimate = getattr(model, "estimate", None)
    aux = estimate(x) if estimate is not None else model(x)[1]
    if "logits" in aux:
        probs = type_probabilities(aux["logits"][0], types)
    else:
        probs = dict(zip(types, [float("nan")] * len(types), strict=True))
    acts = []
    for level, a in enumerate(aux.get("activations", []), start=1):
        m = a[0].permute(1, 2, 0).float().cpu().numpy()
        acts.append(ScaleActivation(level, m, m.reshape(-1, m.shape[-1]).mean(0)))
    pooled = np.concatenate([a.pooled for a in acts]) if acts else np.zeros(0, np.float32)
    return Analysis(probs, acts, pooled, (x.shape[2], x.shape[3]))
