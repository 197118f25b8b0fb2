"""The one noise-level estimator, shared by every layer (torch only, no other project import).

Donoho's robust estimate: the median absolute diagonal (HH) coefficient of a one-level Haar
transform, over 0.6745 (the median absolute value of a unit Gaussian). Texture and edges reach
only a minority of those coefficients, so the median follows white noise, and falls to nearly 0
on blurred or upsampled images. Users: DFPIR's estimator input (:mod:`restore.models.dfpir`), the
Wiener refinement and the gates of the haze pass and back-projection (:mod:`restore.refinements`),
and the classical baselines' noise parameter (:mod:`restore.evaluation.classical`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: median(|N(0, 1)|): divides a median absolute deviation to give a standard deviation.
MAD_TO_SIGMA = 0.6745


def haar_diagonal(x: Tensor) -> Tensor:
    """One-level Haar diagonal (HH) coefficients of ``(..., H, W)``: ``(..., H // 2, W // 2)``.

    An odd last row or column is dropped. For white noise of standard deviation sigma, every
    coefficient has standard deviation sigma (the filter's L2 norm is 1).
    """
    x = x[..., : x.shape[-2] // 2 * 2, : x.shape[-1] // 2 * 2]
    return (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2


def noise_level(img: Tensor) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C)``: each channel's white-noise sigma, in the units of ``img``."""
    hh = haar_diagonal(img.float())
    return hh.abs().flatten(2).median(dim=2).values / MAD_TO_SIGMA


def image_noise_level(rgb: np.ndarray, transform=None, strip: int = 512, *, clip_aware: bool = False) -> Tensor:
    """The same estimate for a whole ``HxWx3`` uint8 image, a strip of rows at a time.

    Args:
        rgb: ``HxWx3`` uint8.
        transform: optional map of a ``(1, 3, h, w)`` float tensor in [0, 1] to another 3-channel
            basis before the transform (e.g. opponent colours); None keeps RGB.
        strip: rows per strip (bounds the memory on large photos).
        clip_aware: leave out the coefficients whose neighbourhood (about 6x6 px) lies within two
            sigmas of 0 or 255 in any channel, and re-estimate twice (when at least 300 remain).
            Clipping there hides part of the noise: without it sigma 50 reads 43-45 on typical
            photos and 36-39 on dark ones. Off by default because the refinements' gates were
            tuned on the plain estimate; the classical baselines use it.

    Returns:
        ``(3,)`` float32 sigma per channel, in units of 1 = full scale (0 for images under 2 px).
    """
    h, w = rgb.shape[:2]
    if h < 2 or w < 2:
        return torch.zeros(3)
    coeffs, means = [], []
    strip -= strip % 2
    for r0 in range(0, h - h % 2, strip):
        part = torch.tensor(rgb[r0 : min(r0 + strip, h - h % 2)])  # a copy: rgb may be read-only
        x = part.permute(2, 0, 1)[None].float().div_(255.0)
        if clip_aware:  # each 2x2 cell's neighbourhood mean, on the HH coefficients' grid
            cell = torch.nn.functional.avg_pool2d(x[..., : x.shape[-1] // 2 * 2], 2)
            means.append(torch.nn.functional.avg_pool2d(cell, 3, 1, 1, count_include_pad=False)[0].flatten(1))
        if transform is not None:
            x = transform(x)
        coeffs.append(haar_diagonal(x[0]).abs().flatten(1))
    c = torch.cat(coeffs, dim=1)
    sigma = c.median(dim=1).values / MAD_TO_SIGMA
    if clip_aware:
        m = torch.cat(means, dim=1)
        lo = hi = m  # each channel's own neighbourhood means ...
        if transform is not None:  # ... unless the basis mixes the channels: then all three count
            lo, hi = m.min(dim=0).values.expand_as(c), m.max(dim=0).values.expand_as(c)
        for ch in range(c.shape[0]):
            for _ in range(2):
                s = float(sigma[ch])
                keep = (lo[ch] > 2 * s) & (hi[ch] < 1 - 2 * s)
                if int(keep.sum()) < 300:
                    break
                sigma[ch] = c[ch, keep].median() / MAD_TO_SIGMA
    return sigma


def grey_levels(sigma: Tensor | float) -> float:
    """The largest channel of a sigma in full-scale units, in grey levels (0-255)."""
    return float(torch.as_tensor(sigma).max()) * 255.0
