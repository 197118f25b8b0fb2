"""Scene tone: clean photos made darker, brighter or more colourful *as scenes*, before any
degradation, so that training sees dark, bright and saturated clean targets.

Without them, every dark training input is a low-light degradation and every bright, flat one is
haze, and the network learns "dark -> brighten" and "bright -> darken": it then brightens a dark
scene with a little noise by tens of grey levels and greys out snow. A toned patch stays the
target: a degradation applied on top must be undone, the scene's own tone kept.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: The three scene tones, drawn with equal odds.
TONES: tuple[str, ...] = ("dark", "bright", "saturated")


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return (lo + (hi - lo) * torch.rand(n, generator=generator, device=device)).view(-1, 1, 1, 1)


def tone_scenes(x: Tensor, generator: torch.Generator, p: float) -> Tensor:
    """Give a share ``p`` of the clean patches ``x`` ``(B, 3, H, W)`` in [0, 1] a random scene tone.

    dark: ``g * x^gamma`` with g in [0.25, 0.7], gamma in [1, 1.6] (a dim interior, a night street);
    bright: ``1 - k (1 - x)`` with k in [0.2, 0.6] (snow, an overcast sky, a white wall);
    saturated: colours pushed away from their grey by 1.2-2x (flowers, signs, sunsets).
    Draws from ``generator`` (on ``x``'s device) even when ``p`` is 0 for no sample, so the rest of
    a batch's randomness does not depend on which samples were toned.

    Returns:
        ``(B, 3, H, W)`` in [0, 1]; untouched samples are returned exactly.
    """
    b, dev = x.shape[0], x.device
    pick = torch.rand(b, generator=generator, device=dev) < p
    kind = torch.randint(0, len(TONES), (b,), generator=generator, device=dev)
    gain, gamma = _uniform(b, 0.25, 0.7, generator, dev), _uniform(b, 1.0, 1.6, generator, dev)
    k, s = _uniform(b, 0.2, 0.6, generator, dev), _uniform(b, 1.2, 2.0, generator, dev)
    if not bool(pick.any()):
        return x
    grey = x.mean(dim=1, keepdim=True)
    toned = torch.stack(
        [gain * x.clamp_min(0).pow(gamma), 1 - k * (1 - x), grey + s * (x - grey)], dim=0
    )  # (3, B, 3, H, W)
    out = toned[kind, torch.arange(b, device=dev)].clamp(0, 1)
    return torch.where(pick.view(-1, 1, 1, 1), out, x)
