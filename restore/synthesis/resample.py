"""Downsamplers for the low-resolution family: bicubic, area, bilinear, Lanczos and nearest.

All take ``(B, C, H, W)`` float tensors on any device and an output size; they differ in what
they do to frequencies above the new Nyquist limit: the antialiased bicubic and Lanczos filters
remove them, area averaging mostly, and bilinear (without antialiasing, like most image
libraries' default resize) and nearest neighbour fold them back as aliasing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

#: The downsampling methods, in the order of the low-resolution generators.
METHODS: tuple[str, ...] = ("bicubic", "area", "bilinear", "lanczos", "nearest")


def lanczos_weights(n_in: int, n_out: int, *, lobes: int = 3, device: torch.device | str = "cpu") -> Tensor:
    """The ``(n_out, n_in)`` matrix of an antialiased Lanczos resampling along one axis.

    When shrinking, the kernel is stretched by the factor so it low-passes at the new Nyquist
    limit; taps that fall outside the image are dropped and each row renormalised (so flat
    areas stay flat up to the border).
    """
    scale = n_in / n_out
    centres = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5
    taps = torch.arange(n_in, dtype=torch.float64)
    t = (taps.view(1, -1) - centres.view(-1, 1)) / max(scale, 1.0)  # in kernel units
    w = torch.sinc(t) * torch.sinc(t / lobes) * (t.abs() < lobes)
    w = w / w.sum(dim=1, keepdim=True)
    return w.to(device=device, dtype=torch.float32)


def lanczos(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Separable antialiased Lanczos-3 resize of ``(B, C, H, W)`` to ``size`` (H, W); may overshoot."""
    h, w = x.shape[-2:]
    wh = lanczos_weights(h, size[0], device=x.device).to(x.dtype)
    ww = lanczos_weights(w, size[1], device=x.device).to(x.dtype)
    return torch.einsum("oh,bchw,pw->bcop", wh, x, ww)


def resize(x: Tensor, size: tuple[int, int], method: str) -> Tensor:
    """Resize ``(B, C, H, W)`` in ``[0, 1]`` to ``size`` with one of :data:`METHODS`; clamped to ``[0, 1]``.

    Raises:
        ValueError: for an unknown method.
    """
    if method == "bicubic":
        out = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    elif method == "area":
        out = F.interpolate(x, size=size, mode="area")
    elif method == "bilinear":
        out = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    elif method == "lanczos":
        out = lanczos(x, size)
    elif method == "nearest":
        out = F.interpolate(x, size=size, mode="nearest-exact")
    else:
        raise ValueError(f"unknown resampling method {method!r}; valid: {', '.join(METHODS)}")
    return out.clamp(0, 1)


def gaussian_kernels(sigma: Tensor, size: int | None = None) -> Tensor:
    """Isotropic Gaussian kernels ``(B, K, K)`` summing to 1, one per ``sigma`` ``(B,)`` (px).

    ``size`` defaults to the odd size covering three sigmas of the widest; sigma 0 gives a delta.
    """
    k = size or 2 * math.ceil(3 * float(sigma.max().clamp(min=0.1))) + 1
    r = torch.arange(k, device=sigma.device, dtype=sigma.dtype) - k // 2
    s = sigma.clamp(min=1e-3).view(-1, 1, 1)
    g = torch.exp(-0.5 * (r.view(1, -1, 1) ** 2 + r.view(1, 1, -1) ** 2) / s**2)
    return g / g.sum(dim=(-1, -2), keepdim=True)
