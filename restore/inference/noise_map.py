"""The noise level a network with a noise-level input is shown, and a user's override of it; what
a network reads besides the image (:func:`network_conditions`: that level, the known enlargement).

Owns: what ``Restorer.restore(noise_level=...)``, the CLI's ``--noise-level`` and the app's slider
mean. The networks with ``ModelConfig.noise_input`` read a map of the input's white-noise sigma per
colour channel (:func:`restore.noise.image_noise_level`, the same estimator their training used
on each degraded sample), measured once on the whole image so that every tile sees the same map.

A user's level (grey levels, 0-255 scale) replaces the largest channel's estimate and scales the
other channels with it, so the value the app shows as the estimate gives exactly the automatic
result. The Wiener refinement's level (per opponent channel) is scaled by the same ratio, so a
higher level smooths more with any model, with or without a noise input.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from restore.models.config import ModelConfig
from restore.noise import image_noise_level
from restore.refinements.wiener import image_noise_sigma

#: The largest level a user may set (grey levels); the training draws reach 55 (60 in the app).
MAX_NOISE_LEVEL = 100.0


def check_noise_level(level: float | None) -> float | None:
    """``level`` as a float, or None for automatic; raises ValueError outside 0..MAX_NOISE_LEVEL."""
    if level is None:
        return None
    message = f"noise_level must be a number of grey levels between 0 and {MAX_NOISE_LEVEL:g}, got {level!r}"
    if isinstance(level, bool):
        raise ValueError(message)
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not 0.0 <= value <= MAX_NOISE_LEVEL:  # NaN fails too
        raise ValueError(message)
    return value


def estimate_grey(sigma: Tensor) -> float:
    """What the app shows as the estimate: the largest channel of ``sigma``, in grey levels."""
    return float(sigma.max()) * 255.0


def overridden(sigma: Tensor, reference: Tensor, level: float | None) -> Tensor:
    """``sigma`` scaled so that ``reference``'s largest channel would read ``level`` grey levels
    (None: ``sigma`` unchanged). A ``reference`` of zero (a noiseless image) gives ``level`` in
    every channel."""
    if level is None:
        return sigma
    top = float(reference.max())
    if top <= 0.0:
        return torch.full_like(sigma, level / 255.0)
    ratio = level / 255.0 / top
    # the estimate given back (as the app's slider shows it) is the estimate, not a rounding of it
    return sigma if abs(ratio - 1.0) < 1e-6 else sigma * ratio


def noise_levels(
    rgb: np.ndarray,
    small: np.ndarray,
    use: set[str],
    upscale: int,
    level: float | None,
    noise_input: bool,
    report: dict[str, object] | None,
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """Every noise level one ``Restorer.restore`` call reads, with the user's ``level`` applied.

    The user's level replaces the estimate of the network's input ``rgb`` (what
    ``Restorer.noise_estimate`` shows at that upscale); every other level read (the refinements',
    a resized copy's) is scaled by the same ratio, so that giving the estimate back changes nothing.

    Args:
        rgb: the network's input (``small`` upscaled), ``HxWx3`` uint8.
        small: the input as given.
        use: the refinements that run (:func:`restore.inference.refine.refinement_set`).
        upscale: the factor from ``small`` to ``rgb``.
        level: the user's level (grey levels) or None.
        noise_input: whether the network reads a noise map.
        report: filled with ``"noise_level"`` (the map's largest channel, grey levels) when a
            map is made.

    Returns:
        ``small``'s level per opponent channel (the refinements' gates; None when none of them
        runs), the Wiener refinement's (None when it does not run), the network's map ``(1, 3)``
        (None for a network without one and no user level), and the reference the user's level
        replaces (``rgb``'s estimate per channel; None without a user level).
    """
    reference = image_noise_level(rgb) if level is not None or noise_input else None
    noise_sigma = image_noise_sigma(small) if use & {"wiener", "haze", "tone"} else None
    if level is not None and noise_sigma is not None:
        noise_sigma = overridden(noise_sigma, reference, level)
    sigma = noise_sigma if "wiener" in use and upscale == 1 else None
    net_sigma = None
    if reference is not None:
        net_sigma = overridden(reference, reference, level)[None]
        if report is not None:
            report["noise_level"] = level if level is not None else estimate_grey(reference)
    return noise_sigma, sigma, net_sigma, (reference if level is not None else None)


def copy_level(copy: np.ndarray, reference: Tensor | None, level: float | None) -> Tensor:
    """``(1, 3)`` the noise map of a resized copy of the input (the haze pass's): its own estimate,
    scaled as the user's ``level`` scaled ``reference`` (:func:`noise_levels`) when there is one."""
    own = image_noise_level(copy)
    return (own if reference is None else overridden(own, reference, level))[None]


def network_conditions(
    config: ModelConfig, noise_sigma: Tensor | None, upscale: int, device: torch.device
) -> dict[str, Tensor]:
    """The keywords a network reads besides the image: ``noise_sigma`` ``(1, 3)`` for a noise-map
    network (left out when None: it measures the image) and ``scale`` ``(1,)``, the enlargement
    ``upscale``, for a scale-map network (left out at 1: nothing known)."""
    out = {}
    if config.noise_input and noise_sigma is not None:
        out["noise_sigma"] = noise_sigma.to(device)
    if config.scale_input and upscale > 1:
        out["scale"] = torch.tensor([float(upscale)], device=device)
    return out
