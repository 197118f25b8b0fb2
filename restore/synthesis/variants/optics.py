"""Generators of what the lens and the sampling do: blur kernels (linear motion, defocus disc,
Gaussian) and low resolution (pre-blur, downsampling by any method, optional JPEG, upscaling)."""

from __future__ import annotations

import torch
from torch import Tensor

from restore.synthesis.jpeg import jpeg
from restore.synthesis.ops import _rand, line_kernels, upscale
from restore.synthesis.resample import gaussian_kernels, resize
from restore.synthesis.variants.common import _blur_each, _v

# --------------------------------------------------------------------------- blur kernels


def linear_kernels(length: Tensor, generator: torch.Generator, *, size: int) -> Tensor:
    """Straight, uniform motion ``length`` px long at a random angle: ``(B, size, size)``, sum 1."""
    angle = _rand(tuple(length.shape), generator, length) * 180.0
    return line_kernels(length.clamp(min=1.0), angle, torch.full_like(length, 0.5), size)


def disc_kernels(length: Tensor, size: int) -> Tensor:
    """Defocus: a uniform disc ``length`` px across with anti-aliased rim, ``(B, size, size)``, sum 1."""
    r = torch.arange(size, device=length.device, dtype=length.dtype) - size // 2
    dist = torch.sqrt(r.view(1, -1, 1) ** 2 + r.view(1, 1, -1) ** 2)
    k = (length.view(-1, 1, 1) / 2 + 0.5 - dist).clamp(0, 1)
    k[:, size // 2, size // 2] = k[:, size // 2, size // 2].clamp(min=1e-3)  # a disc under 1 px is a delta
    return k / k.sum(dim=(-1, -2), keepdim=True)


def gaussian_blur_kernels(length: Tensor, size: int) -> Tensor:
    """Gaussian blur whose +-3 sigma span is ``length`` px (sigma = length / 6): ``(B, size, size)``, sum 1."""
    return gaussian_kernels(length / 6.0, size)


# --------------------------------------------------------------------------- low resolution


def lowres_resample(
    x: Tensor, generator: torch.Generator, *, scale: Tensor, preblur: Tensor, quality: Tensor, method: str
) -> Tensor:
    """Optional Gaussian pre-blur (``preblur`` sigma in px, 0 = none), downsampling by ``scale``
    with ``method`` (:data:`restore.synthesis.resample.METHODS`), optional JPEG of the small image
    (``quality`` below 100), then bicubic upscaling back to the original size. Samples are
    processed in groups of equal scale; ``scale`` <= 1 is the identity."""
    del generator  # deterministic
    h, w = x.shape[-2:]
    out = x.clone()
    for value in torch.unique(scale).tolist():
        if value <= 1.0:
            continue
        idx = (scale == value).nonzero().flatten()
        sub, blur, q = x[idx], preblur[idx], quality[idx]
        if bool((blur > 0).any()):
            sub = _blur_each(sub, blur)
        small = resize(sub, (max(1, round(h / value)), max(1, round(w / value))), method)
        if bool((q < 100).any()):
            small = torch.where(_v(q) < 100, jpeg(small, q.clamp(max=100)), small)
        out[idx] = upscale(small, (h, w))
    return out
