"""Gated back-projection after upscaling: make the restored image agree with the small input.

At ``upscale > 1`` the network restores a bicubic enlargement, and nothing ties its output to the
pixels it was given: downscaled again, the output differs from the input, mostly in the fine
detail that bicubic enlargement blurred and the network did not put back. Back-projection (Irani
and Peleg, 1991) is the classical fix: ``x <- x + up(input - down(x))``, with ``down`` the
antialiased bicubic downscaling that makes the training and benchmark low-resolution images and
``up`` bicubic. Started from the network's output, it keeps what the network added at
frequencies the small image cannot hold and corrects the rest.

Real small images were not all made by that ``down``, and many are JPEGs. Repeating the step until
``down(x)`` matches the input exactly copies the input's compression artefacts and aliasing into
the result, so this does one step, with the residual soft-thresholded by ``THRESHOLD_GREY``
(artefacts are a grey level or two; the detail that enlargement lost is tens at edges). One
thresholded step gains on small images made by bicubic, area or Lanczos downscaling, about breaks
even on JPEGs and loses on aliased (nearest-neighbour) ones; repeated steps gain more on the first
kind and lose more on the others (``docs/MODEL_CARD.md`` has the figures per downscaling).

Matching the input is only right where the input's only fault is its size. Where the network
dehazed, brightened or removed rain, the input is *not* what the output should look like when
downscaled, and back-projection would put the haze back; where the input is noisy, it would put
the noise back. So the back-projected image is blended in through a gate:

- per pixel, ``exp(-(m / GATE_GREY)²)``, with ``m`` the local mean (7x7 pixels of the small image,
  root mean square over the colour channels, in grey levels) of the first residual
  ``input - down(output)``. Enlarging and restoring a merely small image moves local means by well
  under a grey level; dehazing, brightening or removing rain by tens;
- times a global factor that falls from 1 to 0 as the input's noise level (Donoho's estimate,
  :func:`restore.refinements.wiener.image_noise_sigma`, the largest of its three opponent channels) rises from
  ``NOISE_FREE_GREY`` to twice that. Clean small images read 1-4 grey levels (texture), noisy ones
  from about 7 up.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.images import to_tensor
from restore.noise import grey_levels
from restore.refinements.wiener import image_noise_sigma, noise_ramp

#: Back-projection steps (see the module doc for why one).
ITERATIONS = 1
#: Soft threshold on the residual, in grey levels: what JPEG artefacts and aliasing contribute.
THRESHOLD_GREY = 1.0
#: Width of the local-mean gate, in grey levels of the first residual's 7x7 local mean.
GATE_GREY = 3.0
#: Noise level (grey levels) up to which back-projection is fully on; it is off from twice this.
NOISE_FREE_GREY = 4.0
#: Rows of the small image processed at a time, and the rows of context on either side.
STRIP_ROWS = 256
MARGIN = 24


def _down(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)


def _up(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False)


def noise_weight(small: np.ndarray) -> float:
    """The global factor of the gate: 1 for a clean input, 0 for a noisy one (see module doc)."""
    return noise_ramp(grey_levels(image_noise_sigma(small)), NOISE_FREE_GREY)


def _project(x0: Tensor, y: Tensor, weight: float, iterations: int) -> tuple[Tensor, Tensor]:
    """Back-project ``x0`` (``(1, 3, H, W)``) onto ``y`` (``(1, 3, h, w)``); returns the gated result
    and the gate ``(1, 1, H, W)``."""
    big, small = tuple(x0.shape[-2:]), tuple(y.shape[-2:])
    residual = y - _down(x0, small)
    local = F.avg_pool2d(residual, 7, stride=1, padding=3, count_include_pad=False) * 255.0
    gate = torch.exp(-(local.pow(2).mean(1, keepdim=True) / GATE_GREY**2)) * weight
    x = x0.clone()
    for i in range(iterations):
        if i:
            residual = y - _down(x, small)
        residual = residual.sign() * (residual.abs() - THRESHOLD_GREY / 255.0).clamp_min(0)
        x = (x + _up(residual, big)).clamp_(0, 1)
    g = _up(gate, big).clamp_(0, 1)
    return x0 + g * (x - x0), g


def back_project(
    restored: np.ndarray, small: np.ndarray, *, iterations: int = ITERATIONS, weight: float | None = None
) -> tuple[np.ndarray, float]:
    """Make ``restored`` agree with ``small`` where the only difference is size (gated, see module doc).

    Args:
        restored: ``(H, W, 3)`` float RGB in [0, 1], the network's restoration of the enlarged input.
        small: ``(h, w, 3)`` uint8 RGB, the input before enlargement; ``H / h`` and ``W / w`` are the
            upscale factor.
        iterations: back-projection steps.
        weight: the gate's global factor, :func:`noise_weight` of ``small`` (computed when None).

    Returns:
        The refined ``(H, W, 3)`` float32 image in [0, 1] and the mean of the gate (the share of
        the image where back-projection was applied, 0..1).
    """
    if restored.ndim != 3 or small.ndim != 3 or restored.shape[2] != 3 or small.shape[2] != 3:
        raise ValueError(f"expected two HxWx3 images, got {restored.shape} and {small.shape}")
    big_h, big_w = restored.shape[:2]
    h, w = small.shape[:2]
    if big_h % h or big_w % w or big_h // h != big_w // w or big_h <= h:
        raise ValueError(f"restored {restored.shape[:2]} is not an enlargement of small {small.shape[:2]}")
    factor = big_h // h
    if weight is None:
        weight = noise_weight(small)
    src = np.asarray(restored, dtype=np.float32)
    out = src.copy()
    if weight == 0.0 or iterations < 1:
        return out, 0.0
    gate_sum = 0.0
    with torch.inference_mode():
        for r0 in range(0, h, STRIP_ROWS):
            r1 = min(r0 + STRIP_ROWS, h)
            a, b = max(r0 - MARGIN, 0), min(r1 + MARGIN, h)
            y = to_tensor(small[a:b])
            x0 = torch.from_numpy(np.ascontiguousarray(src[a * factor : b * factor])).permute(2, 0, 1)[None]
            x, g = _project(x0, y, weight, iterations)
            keep = slice((r0 - a) * factor, (r1 - a) * factor)
            out[r0 * factor : r1 * factor] = x[0, :, keep].permute(1, 2, 0).numpy()
            gate_sum += float(g[0, 0, keep].sum())
    return np.clip(out, 0, 1), gate_sum / (big_h * big_w)
