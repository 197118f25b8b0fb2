"""The six degradation operators, one per type, and the tensor helpers they share.

Each operator is a batched torch function ``op(x, generator, **params)`` on ``(B, 3, H, W)``
float tensors in ``[0, 1]`` that runs on any device and draws randomness only from the explicit
``generator``. Parameters may be Python floats (one value for the whole batch) or ``(B,)``
tensors (one value per sample, as in training). The bicubic :func:`downscale` /
:func:`upscale` pair and the blur's :func:`motion_kernels` are public too, for callers that need
the same resampling or kernels.

Parameter ranges, severities, mixtures in the physical order and the training sampler live in
:mod:`restore.synthesis.registry`, which registers these operators; import from there unless you need
a single operator on its own.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

ParamValue = float | Tensor


def as_batch(v: ParamValue, x: Tensor) -> Tensor:
    """A parameter as a ``(B,)`` float tensor on ``x``'s device."""
    b = x.shape[0]
    if isinstance(v, Tensor):
        v = v.to(device=x.device, dtype=x.dtype).flatten()
        return v.expand(b) if v.numel() == 1 else v
    return torch.full((b,), float(v), device=x.device, dtype=x.dtype)


def _rand(shape: tuple[int, ...], g: torch.Generator, x: Tensor) -> Tensor:
    return torch.rand(shape, generator=g, device=x.device, dtype=x.dtype)


def _randn(shape: tuple[int, ...], g: torch.Generator, x: Tensor) -> Tensor:
    return torch.randn(shape, generator=g, device=x.device, dtype=x.dtype)


def _conv_per_sample(x: Tensor, kernels: Tensor) -> Tensor:
    """Convolve each sample with its own kernel (same kernel for all channels).

    Args:
        x: ``(B, C, H, W)``.
        kernels: ``(B, K, K)`` with odd K.
    """
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    mode = "reflect" if pad < min(h, w) else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0).unsqueeze(1)  # (B*C, 1, K, K)
    out = F.conv2d(xp.reshape(1, b * c, h + 2 * pad, w + 2 * pad), weight, groups=b * c)
    return out.reshape(b, c, h, w)


def _smooth_field(b: int, h: int, w: int, cells: int, g: torch.Generator, x: Tensor) -> Tensor:
    """Smooth random field ``(B, 1, H, W)`` in roughly ``[-1, 1]`` (bicubic-upsampled noise)."""
    coarse = _rand((b, 1, cells, cells), g, x) * 2 - 1
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(-1.5, 1.5)


# --------------------------------------------------------------------------- noise


def noise(x: Tensor, generator: torch.Generator, *, sigma: ParamValue = 25.0, signal: ParamValue = 0.0) -> Tensor:
    """Additive Gaussian noise with an optional signal-dependent (Poisson-Gaussian) part.

    The variance is ``(sigma / 255)^2 + signal * x``: ``sigma`` is the read noise on the 0-255
    scale, ``signal`` the shot-noise gain (variance per unit of brightness).
    """
    s = as_batch(sigma, x).view(-1, 1, 1, 1) / 255.0
    k = as_batch(signal, x).view(-1, 1, 1, 1)
    std = torch.sqrt(s**2 + k * x.clamp(min=0))
    return (x + std * _randn(tuple(x.shape), generator, x)).clamp(0, 1)


# --------------------------------------------------------------------------- rain


def line_kernels(length: Tensor, angle_deg: Tensor, width: Tensor, size: int) -> Tensor:
    """Anti-aliased line kernels ``(B, size, size)``, each normalised to sum to 1.

    Args:
        length, angle_deg, width: ``(B,)`` line length (px), angle from vertical (degrees; positive
            leans the top to the right) and Gaussian cross-section width (px, at least 0.3).
        size: odd kernel side.
    """
    r = torch.arange(size, device=length.device, dtype=length.dtype) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    a = torch.deg2rad(angle_deg).view(-1, 1, 1)
    along = xx * torch.sin(a) - yy * torch.cos(a)
    across = xx * torch.cos(a) + yy * torch.sin(a)
    half = (length / 2).view(-1, 1, 1)
    w = width.view(-1, 1, 1).clamp(min=0.3)
    body = torch.sigmoid((half - along.abs()) * 2.0)
    profile = torch.exp(-0.5 * (across / w) ** 2)
    k = body * profile
    k = k / k.sum(dim=(-1, -2), keepdim=True).clamp(min=1e-8)
    # Far from the line the Gaussian profile underflows into subnormal numbers, which make CPU
    # convolutions several times slower and add nothing a float can hold: make them exact zeros.
    return torch.where(k >= torch.finfo(k.dtype).tiny, k, torch.zeros_like(k))


def streak_layer(
    x: Tensor, generator: torch.Generator, *, density: Tensor, length: Tensor, angle: Tensor, width: Tensor
) -> Tensor:
    """One layer of rain streaks ``(B, 1, H, W)`` in ``[0, 1)``, the shape of ``x``'s batch.

    Random drops (``density`` in 0-1 scales how many) are smeared along ``angle`` degrees from
    vertical into streaks ``length`` px long and ``width`` px wide; overlapping streaks saturate
    softly. All parameters are ``(B,)`` tensors.
    """
    b, _, h, w = x.shape
    # Drop probability per pixel, divided by the streak footprint so the share of the frame
    # covered by rain depends on the density, not on how long or wide the streaks are.
    p = (density * 0.4 / (length * width.clamp(min=0.5))).view(-1, 1, 1, 1)
    drops = (_rand((b, 1, h, w), generator, x) < p).to(x.dtype)
    drops = drops * (0.5 + 0.5 * _rand((b, 1, h, w), generator, x))
    size = int(2 * math.ceil(float(length.max()) / 2) + 3) | 1
    kernels = line_kernels(length, angle, width, size)
    streaks = _conv_per_sample(drops, kernels)
    # A streak of unit drop spreads over ~length*width pixels; rescale so its peak is ~1.
    streaks = streaks * (length * width.clamp(min=0.5) * 1.2).view(-1, 1, 1, 1)
    # Overlapping streaks saturate softly (like stacked translucent layers), never into flat bands.
    return 1 - torch.exp(-streaks)


def screen(x: Tensor, layer: Tensor) -> Tensor:
    """Screen-blend a light ``layer`` (broadcastable to ``x``, in ``[0, 1]``) onto ``x``: added like light."""
    return (x + layer - x * layer).clamp(0, 1)


def rain(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: ParamValue = 0.5,
    length: ParamValue = 20.0,
    angle: ParamValue = 10.0,
    width: ParamValue = 1.0,
    brightness: ParamValue = 0.8,
) -> Tensor:
    """Rain streaks in the style of Rain100L, added like light (screen blend), not pasted.

    Random drops (``density`` in 0-1 scales how many) are smeared along a direction ``angle``
    degrees from vertical (each image jitters it by a few degrees) into streaks ``length`` px
    long and ``width`` px wide, then screen-blended with peak ``brightness``.
    """
    b = x.shape[0]
    dens = as_batch(density, x)
    length_t = as_batch(length, x).clamp(min=1.0)
    angle_t = as_batch(angle, x) + (_rand((b,), generator, x) - 0.5) * 6.0
    width_t = as_batch(width, x)
    bright = as_batch(brightness, x).view(-1, 1, 1, 1)
    streaks = streak_layer(x, generator, density=dens, length=length_t, angle=angle_t, width=width_t)
    return screen(x, (streaks * bright).expand_as(x))


# --------------------------------------------------------------------------- haze


def depth_map(x: Tensor, generator: torch.Generator, *, cue: float = 0.3) -> Tensor:
    """Synthetic relative depth ``(B, 1, H, W)`` in ``[0, 1]`` (1 = far).

    Far at the top (a ground plane seen from eye level), plus smooth random structure, plus an
    optional image cue: blurred brightness, because bright smooth regions are often sky.
    """
    b, _, h, w = x.shape
    rows = torch.linspace(1.0, 0.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    d = rows.expand(b, 1, h, w) * 0.7 + 0.15 * _smooth_field(b, h, w, 4, generator, x)
    if cue > 0:
        lum = x.mean(dim=1, keepdim=True)
        small = F.interpolate(lum, size=(max(h // 16, 2), max(w // 16, 2)), mode="area")
        lum = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        d = d + cue * (lum - lum.mean(dim=(2, 3), keepdim=True))
    lo = d.amin(dim=(2, 3), keepdim=True)
    hi = d.amax(dim=(2, 3), keepdim=True)
    return (d - lo) / (hi - lo).clamp(min=1e-6)


def haze(x: Tensor, generator: torch.Generator, *, beta: ParamValue = 1.5, airlight: ParamValue = 0.85) -> Tensor:
    """Atmospheric scattering ``I = J t + A (1 - t)``, ``t = exp(-beta * depth)``.

    ``beta`` is the scattering coefficient over the scene's depth range (0 = clear) and
    ``airlight`` the brightness of the near grey-white atmospheric light (tinted slightly per image).
    """
    b = x.shape[0]
    d = depth_map(x, generator)
    beta_t = as_batch(beta, x).view(-1, 1, 1, 1)
    t = torch.exp(-beta_t * (0.2 + d))
    tint = 1.0 + (_rand((b, 3, 1, 1), generator, x) - 0.5) * 0.06
    a = (as_batch(airlight, x).view(-1, 1, 1, 1) * tint).clamp(0, 1)
    hazy = x * t + a * (1 - t)
    # beta = 0 must be the identity: the 0.2 offset only matters when there is haze.
    return torch.where(beta_t > 0, hazy, x).clamp(0, 1)


# --------------------------------------------------------------------------- blur


def motion_kernels(
    length: ParamValue,
    generator: torch.Generator,
    *,
    batch: int,
    device: torch.device | str = "cpu",
    shake: ParamValue = 0.5,
    size: int | None = None,
) -> Tensor:
    """Random camera-shake kernels ``(B, K, K)`` (sum 1) from random-walk trajectories.

    The camera position follows a random walk with momentum (``shake`` in 0-1 sets how much
    the direction wanders: 0 is a straight line); the path is scaled to ``length`` px and
    splatted bilinearly onto the kernel grid.
    """
    ref = torch.empty(batch, device=device)
    length_t = as_batch(length, ref).clamp(min=0.0)
    shake_t = as_batch(shake, ref)
    k = size or int(2 * math.ceil(float(length_t.max()) / 2) + 3) | 1
    steps = 64
    angle0 = _rand((batch, 1), generator, ref) * 2 * math.pi
    turns = _randn((batch, steps), generator, ref) * shake_t.view(-1, 1) * 0.6
    # Momentum: the heading integrates the turns, so the path bends smoothly.
    heading = angle0 + torch.cumsum(turns, dim=1)
    speed = 0.5 + _rand((batch, steps), generator, ref)
    pos = torch.cumsum(torch.stack([torch.cos(heading), torch.sin(heading)], -1) * speed.unsqueeze(-1), dim=1)
    # Centre on the bounding box (not the mean) so no point of the path falls off the kernel.
    pos = pos - (pos.amax(dim=1, keepdim=True) + pos.amin(dim=1, keepdim=True)) / 2
    extent = (pos.amax(dim=1) - pos.amin(dim=1)).norm(dim=-1).clamp(min=1e-6)
    pos = pos * ((length_t - 1).clamp(min=0) / extent).view(-1, 1, 1) + k // 2  # (B, steps, 2) in px
    kern = torch.zeros(batch, k * k, device=ref.device, dtype=ref.dtype)
    x0 = pos[..., 0].floor().clamp(0, k - 2)
    y0 = pos[..., 1].floor().clamp(0, k - 2)
    fx = (pos[..., 0] - x0).clamp(0, 1)
    fy = (pos[..., 1] - y0).clamp(0, 1)
    for dy, dx, wgt in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
        idx = ((y0 + dy) * k + (x0 + dx)).long()
        kern.scatter_add_(1, idx, wgt)
    kern = kern.view(batch, k, k)
    return kern / kern.sum(dim=(-1, -2), keepdim=True)


def blur(
    x: Tensor,
    generator: torch.Generator,
    *,
    length: ParamValue = 15.0,
    shake: ParamValue = 0.5,
    kernel: Tensor | None = None,
) -> Tensor:
    """Camera-shake blur along a random trajectory ``length`` px long (0 = sharp).

    Pass ``kernel`` (``(B, K, K)`` or ``(K, K)``) to blur with a known kernel instead.
    """
    if kernel is None:
        kernel = motion_kernels(length, generator, batch=x.shape[0], device=x.device, shake=shake)
    if kernel.dim() == 2:
        kernel = kernel.expand(x.shape[0], -1, -1)
    out = _conv_per_sample(x, kernel.to(x.device))
    sharp = as_batch(length, x).view(-1, 1, 1, 1) < 1.0
    return torch.where(sharp, x, out).clamp(0, 1)


# --------------------------------------------------------------------------- low resolution


def downscale(x: Tensor, factor: float) -> Tensor:
    """Antialiased bicubic downscaling by ``factor`` (output size rounded, at least 1 px)."""
    h, w = x.shape[-2:]
    size = (max(1, round(h / factor)), max(1, round(w / factor)))
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def upscale(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic upscaling to ``size`` (H, W)."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def lowres(x: Tensor, generator: torch.Generator, *, scale: ParamValue = 2.0) -> Tensor:
    """Bicubic (antialiased) down by ``scale`` then bicubic back up to the original size.

    Samples with different scales are processed in groups; ``scale`` <= 1 is the identity.
    """
    del generator  # deterministic; kept for the uniform signature
    s = as_batch(scale, x)
    out = x.clone()
    for value in torch.unique(s).tolist():
        if value <= 1.0:
            continue
        idx = (s == value).nonzero().flatten()
        out[idx] = upscale(downscale(x[idx], value), tuple(x.shape[-2:]))
    return out


# --------------------------------------------------------------------------- low light


def lowlight(
    x: Tensor, generator: torch.Generator, *, gain: ParamValue = 0.25, gamma: ParamValue = 1.6, noise: ParamValue = 6.0
) -> Tensor:
    """A dim exposure: ``gain * x^gamma`` plus sensor noise that is strongest in relative terms.

    ``gain`` is the exposure (1 = normal), ``gamma`` > 1 crushes the shadows, and ``noise`` is
    the read-noise sigma on the 0-255 scale; shot noise grows with the (dim) signal.
    """
    g_ = as_batch(gain, x).view(-1, 1, 1, 1)
    gm = as_batch(gamma, x).view(-1, 1, 1, 1)
    dark = g_ * x.clamp(min=0) ** gm
    return dim_noise(dark, generator, as_batch(noise, x))


def dim_noise(dark: Tensor, generator: torch.Generator, sigma: Tensor) -> Tensor:
    """Sensor noise of a dim exposure: read noise ``sigma`` ``(B,)`` (0-255 scale) plus a shot part
    whose variance grows with the signal (``0.5 * sigma / 255`` per unit of brightness); clipped."""
    s = sigma.view(-1, 1, 1, 1) / 255.0
    std = torch.sqrt(s**2 + (s * 0.5) * dark)
    return (dark + std * _randn(tuple(dark.shape), generator, dark)).clamp(0, 1)
