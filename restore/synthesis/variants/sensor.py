"""Generators of what the sensor adds at exposure and read-out: noise (Gaussian 8-bit, unclipped,
Poisson-Gaussian, per-channel, spatially correlated, JPEG'd) and low light (gamma curve, linear
gain, exposure in linear light, colour cast)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restore.synthesis.jpeg import jpeg
from restore.synthesis.ops import _conv_per_sample, _rand, _randn, dim_noise, noise
from restore.synthesis.variants.common import _v


def _poisson(rate: Tensor, generator: torch.Generator) -> Tensor:
    """Poisson draws of ``rate`` (float32 or float64 sampling, whatever the input's dtype)."""
    work = rate if rate.dtype in (torch.float32, torch.float64) else rate.float()
    return torch.poisson(work, generator=generator).to(rate.dtype)


# --------------------------------------------------------------------------- noise


def noise_8bit(x: Tensor, generator: torch.Generator, *, sigma: Tensor, signal: Tensor) -> Tensor:
    """Gaussian (or Poisson-Gaussian approximated) noise, clipped, then quantised to 8 bits."""
    return torch.round(noise(x, generator, sigma=sigma, signal=signal) * 255.0) / 255.0


def noise_unclipped(x: Tensor, generator: torch.Generator, *, sigma: Tensor) -> Tensor:
    """Additive Gaussian noise that is not clipped: what leaves ``[0, 1]`` is folded back (mirrored).

    Clipping piles values up at 0 and 1 and biases the mean near black and white; folding keeps
    the image inside the contract's range without that pile-up, so away from the extremes the
    residual is plain white Gaussian noise of standard deviation ``sigma / 255``.
    """
    y = (x + _v(sigma) / 255.0 * _randn(tuple(x.shape), generator, x)).remainder(2.0)
    return torch.where(y > 1, 2.0 - y, y).clamp(0, 1)


def noise_poisson(x: Tensor, generator: torch.Generator, *, sigma: Tensor, signal: Tensor) -> Tensor:
    """True Poisson shot noise plus Gaussian read noise (the raw-sensor model), clipped.

    ``signal`` is the shot-noise variance per unit of brightness (``1 / signal`` photons at
    white), ``sigma`` the read noise on the 0-255 scale; ``signal`` 0 leaves only the read noise.
    """
    k = _v(signal)
    photons = 1.0 / k.clamp(min=1e-6)
    shot = _poisson(x.clamp(min=0) * photons, generator) / photons
    y = torch.where(k > 0, shot, x)
    return (y + _v(sigma) / 255.0 * _randn(tuple(x.shape), generator, x)).clamp(0, 1)


def noise_per_channel(x: Tensor, generator: torch.Generator, *, sigma: Tensor) -> Tensor:
    """Gaussian noise with its own sigma per colour channel (white balance gains amplify the
    channels differently); the channels' root-mean-square sigma is ``sigma``. Clipped."""
    b = x.shape[0]
    factors = torch.exp((_rand((b, 3), generator, x) - 0.5) * 1.4)  # up to 2x between channels
    factors = factors / factors.pow(2).mean(dim=1, keepdim=True).sqrt()
    std = _v(sigma) / 255.0 * factors.view(b, 3, 1, 1)
    return (x + std * _randn(tuple(x.shape), generator, x)).clamp(0, 1)


def correlated_field(x: Tensor, generator: torch.Generator) -> Tensor:
    """Spatially correlated noise ``(B, 3, H, W)``, zero mean and unit standard deviation per channel.

    Half the samples (by a per-sample draw) filter white noise with a random anisotropic Gaussian
    kernel (as demosaicing does), the others upsample noise drawn at 1/2 or 1/3 of the resolution
    (as resizing a noisy image does); the channels share part of their noise (demosaicing mixes
    them).
    """
    b, _, h, w = x.shape
    # Filtered white noise: a rotated Gaussian with sigmas 0.5-1.5 px, 7x7.
    sx, sy = 0.5 + _rand((b,), generator, x), 0.5 + _rand((b,), generator, x)
    theta = _rand((b,), generator, x) * math.pi
    r = torch.arange(7, device=x.device, dtype=x.dtype) - 3
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    c, s = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    u, v = xx * c + yy * s, -xx * s + yy * c
    kern = torch.exp(-0.5 * ((u / sx.view(-1, 1, 1)) ** 2 + (v / sy.view(-1, 1, 1)) ** 2))
    filtered = _conv_per_sample(_randn((b, 3, h, w), generator, x), kern / kern.sum(dim=(-1, -2), keepdim=True))
    # Upsampled low-resolution noise, factor 2 or 3 per sample.
    factor = 2 + (_rand((b,), generator, x) < 0.5).long()
    upsampled = torch.empty_like(filtered)
    for f in (2, 3):
        coarse = _randn((b, 3, -(-h // f), -(-w // f)), generator, x)
        up = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
        upsampled = torch.where(_v(factor) == f, up, upsampled)
    field = torch.where(_v(_rand((b,), generator, x)) < 0.5, filtered, upsampled)
    mix = _v(_rand((b,), generator, x)) * 0.7
    field = torch.sqrt(1 - mix**2) * field + mix * field.mean(dim=1, keepdim=True)
    field = field - field.mean(dim=(2, 3), keepdim=True)
    return field / field.std(dim=(2, 3), keepdim=True).clamp(min=1e-6)


def noise_correlated(x: Tensor, generator: torch.Generator, *, sigma: Tensor) -> Tensor:
    """Spatially correlated noise (:func:`correlated_field`) renormalised to ``sigma`` (0-255). Clipped."""
    return (x + _v(sigma) / 255.0 * correlated_field(x, generator)).clamp(0, 1)


def noise_jpeg(x: Tensor, generator: torch.Generator, *, sigma: Tensor, quality: Tensor) -> Tensor:
    """Gaussian noise, clipped, then JPEG at ``quality`` (:func:`restore.synthesis.jpeg.jpeg`):
    the blotchy, blocky noise of a compressed phone photo."""
    return jpeg(noise(x, generator, sigma=sigma), quality)


# --------------------------------------------------------------------------- low light


def lowlight_gamma(x: Tensor, generator: torch.Generator, *, gain: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """A pure power curve ``x^e``, with ``e = gamma + log2(1 / gain)`` so that mid-grey lands where
    generator 0 puts it (``gain * 0.5^gamma``), plus the dim-exposure sensor noise."""
    e = _v(gamma + torch.log2(1.0 / gain.clamp(min=1e-3)))
    return dim_noise(x.clamp(min=0) ** e, generator, noise)


def lowlight_linear(x: Tensor, generator: torch.Generator, *, gain: Tensor, noise: Tensor) -> Tensor:
    """A linear gain ``gain * x`` (no tone curve) plus the dim-exposure sensor noise."""
    return dim_noise(_v(gain) * x.clamp(min=0), generator, noise)


def srgb_to_linear(x: Tensor) -> Tensor:
    """The sRGB transfer function's inverse (IEC 61966-2-1), elementwise on ``[0, 1]``."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: Tensor) -> Tensor:
    """The sRGB transfer function, elementwise on ``[0, 1]``."""
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def lowlight_exposure(x: Tensor, generator: torch.Generator, *, gain: Tensor, noise: Tensor) -> Tensor:
    """Under-exposure in linear light: sRGB to linear, scale by ``gain^2.2`` (so mid-tones land
    near ``gain`` times their sRGB value), Poisson shot noise with ``27000 / noise^2`` photons at
    white and Gaussian read noise of ``0.02 * noise / 255`` (linear), back to sRGB.
    ``noise`` 0 is noiseless."""
    s = _v(noise)
    lin = srgb_to_linear(x.clamp(0, 1)) * _v(gain).pow(2.2)
    photons = 27000.0 / s.clamp(min=0.1) ** 2
    shot = _poisson(lin * photons, generator) / photons
    read = 0.02 * s / 255.0 * _randn(tuple(x.shape), generator, x)
    lin = torch.where(s > 0, shot + read, lin)
    return linear_to_srgb(lin.clamp(0, 1)).clamp(0, 1)


def lowlight_cast(x: Tensor, generator: torch.Generator, *, gain: Tensor, gamma: Tensor, noise: Tensor) -> Tensor:
    """Generator 0's dim exposure with a colour cast (a wrong white balance): per-channel gains
    ``exp(c)``, ``c`` zero-mean over the channels with a random strength, applied before the noise."""
    b = x.shape[0]
    c = _randn((b, 3), generator, x)
    c = (c - c.mean(dim=1, keepdim=True)) * (0.15 + 0.25 * _rand((b, 1), generator, x))
    dark = _v(gain) * x.clamp(min=0) ** _v(gamma) * torch.exp(c).view(b, 3, 1, 1)
    return dim_noise(dark.clamp(0, 1), generator, noise)
