"""The extra generators of each degradation family (generator 0 of every type is its operator in
:mod:`restore.synthesis.ops`).

Every function here has the operators' contract: ``fn(x, generator, **params)`` on ``(B, 3, H, W)``
float tensors in ``[0, 1]``, any device, randomness only from ``generator``, parameters as
``(B,)`` tensors (one value per sample), output ``(B, 3, H, W)`` in ``[0, 1]``. The blur
generators return kernels instead (``(B, K, K)``, each summing to 1); :mod:`restore.synthesis.families`
lists them all, with their parameters and training ranges, and dispatches per sample.

The package, one stage of the physical order a module: :mod:`~restore.synthesis.variants.weather`
(rain and haze, between the scene and the lens), :mod:`~restore.synthesis.variants.optics` (blur
kernels and low resolution) and :mod:`~restore.synthesis.variants.sensor` (noise and low light),
with :mod:`~restore.synthesis.variants.common` for the helpers they share. Import the names below
from ``restore.synthesis.variants``.
"""

from __future__ import annotations

from restore.synthesis.variants.optics import disc_kernels, gaussian_blur_kernels, linear_kernels, lowres_resample
from restore.synthesis.variants.sensor import (
    correlated_field,
    linear_to_srgb,
    lowlight_cast,
    lowlight_exposure,
    lowlight_gamma,
    lowlight_linear,
    noise_8bit,
    noise_correlated,
    noise_jpeg,
    noise_per_channel,
    noise_poisson,
    noise_unclipped,
    srgb_to_linear,
)
from restore.synthesis.variants.weather import (
    any_depth,
    cue_depth,
    haze_cue,
    haze_light,
    haze_tinted,
    haze_uneven,
    rain_heavy,
    rain_layers,
    rain_thin,
    rain_veil,
)

__all__ = [
    "any_depth",
    "correlated_field",
    "cue_depth",
    "disc_kernels",
    "gaussian_blur_kernels",
    "haze_cue",
    "haze_light",
    "haze_tinted",
    "haze_uneven",
    "linear_kernels",
    "linear_to_srgb",
    "lowlight_cast",
    "lowlight_exposure",
    "lowlight_gamma",
    "lowlight_linear",
    "lowres_resample",
    "noise_8bit",
    "noise_correlated",
    "noise_jpeg",
    "noise_per_channel",
    "noise_poisson",
    "noise_unclipped",
    "rain_heavy",
    "rain_layers",
    "rain_thin",
    "rain_veil",
    "srgb_to_linear",
]
