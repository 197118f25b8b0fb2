"""The extra generators of each degradation family (generator 0 of every type is its operator in :mod:`.ops`).

Every function here has the operators' contract: ``fn(x, generator, **params)`` on ``(B, 3, H, W)``
float tensors in ``[0, 1]``, any device, randomness only from ``generator``, parameters as
``(B,)`` tensors (one value per sample), output ``(B, 3, H, W)`` in ``[0, 1]``. The blur
generators return kernels instead (``(B, K, K)``, each summing to 1); :mod:`.families` lists
them all, with their parameters and training ranges, and dispatches per sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from restore.synthesis.jpeg import jpeg
from restore.synthesis.ops import (
    _conv_per_sample,
    _rand,
    _randn,
    _smooth_field,
    depth_map,
    dim_noise,
    line_kernels,
    noise,
    screen,
    streak_layer,
    upscale,
)
from restore.synthesis.resample import gaussian_kernels, resize


def _v(t: Tensor) -> Tensor:
    return t.view(-1, 1, 1, 1)


def _poisson(rate: Tensor, generator: torch.Generator) -> Tensor:
    """Poisson draws of ``rate`` (float32 or float64 sampling, whatever the input's dtype)."""
    work = rate if rate.dtype in (torch.float32, torch.float64) else rate.float()
    return torch.poisson(work, generator=generator).to(rate.dtype)


def _blur_each(x: Tensor, sigma: Tensor) -> Tensor:
    """Gaussian blur of each sample with its own ``sigma`` ``(B,)`` (px); 0 leaves a sample alone."""
    return torch.where(_v(sigma) > 0, _conv_per_sample(x, gaussian_kernels(sigma)), x)


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


# --------------------------------------------------------------------------- rain


def _jitter(angle: Tensor, generator: torch.Generator, x: Tensor, degrees: float) -> Tensor:
    return angle + (_rand(tuple(angle.shape), generator, x) - 0.5) * 2 * degrees


def rain_thin(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: Tensor,
    length: Tensor,
    angle: Tensor,
    brightness: Tensor,
) -> Tensor:
    """Thin, long, faint streaks (drizzle): 0.35 px wide, 1.5 x ``length`` + 8 px long (at most 48),
    70 % of ``brightness``, the angle jittered by 2 degrees."""
    long_ = (length * 1.5 + 8).clamp(max=48)
    thin = torch.full_like(length, 0.35)
    layer = streak_layer(
        x, generator, density=density * 0.7, length=long_, angle=_jitter(angle, generator, x, 2), width=thin
    )
    return screen(x, layer * _v(brightness) * 0.7)


def rain_heavy(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: Tensor,
    length: Tensor,
    angle: Tensor,
    width: Tensor,
    brightness: Tensor,
) -> Tensor:
    """Heavy rain: a dense layer (2.5 x ``density``, 1.4 x ``width``) plus sparse, wide, out-of-focus
    streaks close to the lens (3 px wide, blurred)."""
    a = _jitter(angle, generator, x, 3)
    dense = streak_layer(x, generator, density=density * 2.5, length=length, angle=a, width=width * 1.4)
    near = streak_layer(
        x,
        generator,
        density=density * 0.3,
        length=(length * 1.5).clamp(max=48),
        angle=a,
        width=torch.full_like(width, 3.0),
    )
    near = _blur_each(near, torch.full_like(width, 1.5))
    return screen(screen(x, dense * _v(brightness) * 0.85), near * _v(brightness) * 0.5)


# Per layer, far to near: factors of length, width, brightness and density, and a blur sigma (px).
_LAYERS = ((0.5, 0.6, 0.45, 1.2, 0.0), (1.0, 1.0, 0.75, 0.7, 0.0), (1.6, 1.8, 1.0, 0.3, 1.0))


def rain_layers(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: Tensor,
    length: Tensor,
    angle: Tensor,
    width: Tensor,
    brightness: Tensor,
) -> Tensor:
    """Three layers at different depths and angles (each ``angle`` +- up to 15 degrees): far
    (short, thin, faint, dense), middle (the parameters), near (long, wide, blurred, sparse)."""
    y = x
    for scale_l, scale_w, scale_b, scale_d, blur in _LAYERS:
        layer = streak_layer(
            x,
            generator,
            density=density * scale_d,
            length=(length * scale_l).clamp(min=2, max=48),
            angle=_jitter(angle, generator, x, 15),
            width=width * scale_w,
        )
        if blur:
            layer = _blur_each(layer, torch.full_like(width, blur))
        y = screen(y, layer * _v(brightness) * scale_b)
    return y


def rain_veil(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: Tensor,
    length: Tensor,
    angle: Tensor,
    width: Tensor,
    brightness: Tensor,
) -> Tensor:
    """Rain with its veil: softened streaks over a light, uneven fog (rain accumulation), whose
    opacity grows with ``density`` (0.15-0.5) and whose grey level with ``brightness``."""
    b, _, h, w = x.shape
    veil = (0.15 + 0.35 * _v(density)) * (1 + 0.25 * _smooth_field(b, h, w, 4, generator, x))
    grey = 0.6 + 0.35 * _v(brightness)
    fogged = x * (1 - veil) + grey * veil
    layer = streak_layer(
        x, generator, density=density, length=length, angle=_jitter(angle, generator, x, 3), width=width
    )
    layer = _blur_each(layer, torch.full_like(width, 0.7))
    return screen(fogged, layer * _v(brightness))


# --------------------------------------------------------------------------- haze


def _normalise(d: Tensor) -> Tensor:
    lo = d.amin(dim=(2, 3), keepdim=True)
    hi = d.amax(dim=(2, 3), keepdim=True)
    return (d - lo) / (hi - lo).clamp(min=1e-6)


def _smooth(d: Tensor, cells: int = 16) -> Tensor:
    h, w = d.shape[-2:]
    small = F.interpolate(d, size=(max(h // cells, 2), max(w // cells, 2)), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


def cue_depth(x: Tensor, generator: torch.Generator) -> Tensor:
    """Relative depth ``(B, 1, H, W)`` in ``[0, 1]`` (1 = far) from the image's own cues, smoothed.

    A random positive mix, per sample, of four cues that grow with distance in outdoor photos:
    the vertical position, the dark channel (the darkest channel's 15x15 minimum: high in
    bright, grey regions such as sky and distant haze), low saturation, and brightness.
    """
    b, _, h, w = x.shape
    low = x.amin(dim=1, keepdim=True)
    high = x.amax(dim=1, keepdim=True)
    dark = -F.max_pool2d(-low, 15, stride=1, padding=7)
    unsaturated = 1 - (high - low) / (high + 1e-3)
    rows = torch.linspace(1.0, 0.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    cues = torch.cat([rows, dark, unsaturated, x.mean(dim=1, keepdim=True)], dim=1)  # (B, 4, H, W)
    weights = _rand((b, 4), generator, x) + 0.1
    d = (cues * (weights / weights.sum(dim=1, keepdim=True)).view(b, 4, 1, 1)).sum(dim=1, keepdim=True)
    return _normalise(_smooth(d))


def any_depth(x: Tensor, generator: torch.Generator) -> Tensor:
    """Depth ``(B, 1, H, W)`` from one of four models drawn per sample: the scene prior of
    :func:`~restore.synthesis.ops.depth_map` (far at the top), :func:`cue_depth`, a smooth random
    field, or a constant (a flat scene, uniform haze)."""
    b, _, h, w = x.shape
    choice = _v((_rand((b,), generator, x) * 4).long().clamp(max=3))
    field = _normalise(_smooth_field(b, h, w, 4, generator, x))
    flat = torch.full_like(field, 0.6)
    out = torch.where(choice == 0, depth_map(x, generator), cue_depth(x, generator))
    return torch.where(choice == 2, field, torch.where(choice == 3, flat, out))


def _grey_airlight(airlight: Tensor, generator: torch.Generator, x: Tensor) -> Tensor:
    tint = 1.0 + (_rand((x.shape[0], 3, 1, 1), generator, x) - 0.5) * 0.06
    return (_v(airlight) * tint).clamp(0, 1)


def _scatter(x: Tensor, t: Tensor, a: Tensor, beta: Tensor) -> Tensor:
    return torch.where(_v(beta) > 0, x * t + a * (1 - t), x).clamp(0, 1)


def haze_cue(x: Tensor, generator: torch.Generator, *, beta: Tensor, airlight: Tensor) -> Tensor:
    """Scattering over the image-cue depth of :func:`cue_depth`, near-grey airlight."""
    t = torch.exp(-_v(beta) * (0.2 + cue_depth(x, generator)))
    return _scatter(x, t, _grey_airlight(airlight, generator, x), beta)


def haze_light(x: Tensor, generator: torch.Generator, *, beta: Tensor, airlight: Tensor) -> Tensor:
    """Light haze: transmission between ``exp(-0.4 beta)`` (far) and about 0.96 (near), i.e.
    0.3-0.96 over the slider's range, over a depth from :func:`any_depth`."""
    t = torch.exp(-0.4 * _v(beta) * (0.1 + 0.9 * any_depth(x, generator)))
    return _scatter(x, t, _grey_airlight(airlight, generator, x), beta)


#: Airlight colours (RGB, brightest channel 1): blue sky haze, yellow-brown smog, orange dusk, green-grey, rose.
_TINTS = ((0.80, 0.88, 1.0), (1.0, 0.88, 0.66), (1.0, 0.78, 0.60), (0.86, 0.96, 0.88), (1.0, 0.84, 0.92))


def haze_tinted(x: Tensor, generator: torch.Generator, *, beta: Tensor, airlight: Tensor) -> Tensor:
    """Haze with a coloured airlight (one of five tints, diluted toward white by a random share
    up to 40 %; ``airlight`` sets its brightest channel) over a depth from :func:`any_depth`."""
    b = x.shape[0]
    d = any_depth(x, generator)
    tints = torch.tensor(_TINTS, device=x.device, dtype=x.dtype)
    tint = tints[(_rand((b,), generator, x) * len(_TINTS)).long().clamp(max=len(_TINTS) - 1)]
    tint = tint + (1 - tint) * _rand((b, 1), generator, x) * 0.4
    a = (_v(airlight) * tint.view(b, 3, 1, 1)).clamp(0, 1)
    return _scatter(x, torch.exp(-_v(beta) * (0.2 + d)), a, beta)


def haze_uneven(x: Tensor, generator: torch.Generator, *, beta: Tensor, airlight: Tensor) -> Tensor:
    """Patchy haze: the scattering coefficient varies smoothly over the frame (``beta`` times a
    log-normal random field of mean 1, from about 0.3x to 3x), over a depth from :func:`any_depth`."""
    b, _, h, w = x.shape
    d = any_depth(x, generator)
    field = torch.exp(1.1 * _smooth_field(b, h, w, 4, generator, x))
    beta_map = _v(beta) * field / field.mean(dim=(2, 3), keepdim=True)
    return _scatter(x, torch.exp(-beta_map * (0.2 + d)), _grey_airlight(airlight, generator, x), beta)


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
