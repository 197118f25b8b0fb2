"""Generators of what lies between the scene and the lens: rain (thin, heavy, layered, with a veil,
added) and haze (image-cue depth, light, tinted, uneven, a veil over near and far), with the depth
models the haze uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from restore.synthesis.ops import _rand, _smooth_field, depth_map, screen, streak_layer
from restore.synthesis.variants.common import _blur_each, _v

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


def rain_added(
    x: Tensor,
    generator: torch.Generator,
    *,
    density: Tensor,
    length: Tensor,
    angle: Tensor,
    width: Tensor,
    brightness: Tensor,
) -> Tensor:
    """Streaks added to the scene and clipped at white (``I = J + R``, the way Rain100L-style rain
    is made) rather than screen-blended, so they stay as strong over a bright background as over a
    dark one; the streak layer is squared, which spreads its drops' brightness (0.25-1 of the peak
    instead of 0.5-1) and leaves the faint ones fainter. Peak ``brightness``.

    Measured on real rain pairs (``restore.evaluation.weather_stats``): the streaks' strength over
    bright ground is 0.8-1.0 of that over dark ground (the screen blend of the other generators:
    0.5-0.75), and their intensity varies more (coefficient of variation 0.43-0.52; the other
    generators 0.33-0.37).
    """
    a = _jitter(angle, generator, x, 3)
    layer = streak_layer(x, generator, density=density, length=length, angle=a, width=width)
    return (x + layer.square() * _v(brightness)).clamp(0, 1)


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
    the vertical position (far at the top, or for half the samples at the bottom: see
    :func:`any_depth`), the dark channel (the darkest channel's 15x15 minimum: high in bright,
    grey regions such as sky and distant haze), low saturation, and brightness.
    """
    b, _, h, w = x.shape
    low = x.amin(dim=1, keepdim=True)
    high = x.amax(dim=1, keepdim=True)
    dark = -F.max_pool2d(-low, 15, stride=1, padding=7)
    unsaturated = 1 - (high - low) / (high + 1e-3)
    rows = torch.linspace(1.0, 0.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
    rows = torch.where(_v(_rand((b,), generator, x) < 0.5), rows.flip(2), rows)
    cues = torch.cat([rows, dark, unsaturated, x.mean(dim=1, keepdim=True)], dim=1)  # (B, 4, H, W)
    weights = _rand((b, 4), generator, x) + 0.1
    d = (cues * (weights / weights.sum(dim=1, keepdim=True)).view(b, 4, 1, 1)).sum(dim=1, keepdim=True)
    return _normalise(_smooth(d))


def any_depth(x: Tensor, generator: torch.Generator) -> Tensor:
    """Depth ``(B, 1, H, W)`` from one of four models drawn per sample: the scene prior of
    :func:`~restore.synthesis.ops.depth_map` (far at the top, or upside down for half of them),
    :func:`cue_depth`, a smooth random field, or a constant (a flat scene, uniform haze).

    Haze that always thickens toward the top teaches a network the direction instead of the haze:
    NDR-Restore, trained so, gains 10.8 dB on such haze and 0.02 dB on the same haze upside down,
    and real haze need not thicken upward at all (SOTS-outdoor's transmission is about the same in
    the top and bottom thirds: ``restore.evaluation.weather_stats``). Far at the bottom is looking
    down into a valley's fog."""
    b, _, h, w = x.shape
    choice = _v((_rand((b,), generator, x) * 4).long().clamp(max=3))
    field = _normalise(_smooth_field(b, h, w, 4, generator, x))
    flat = torch.full_like(field, 0.6)
    prior = depth_map(x, generator)
    prior = torch.where(_v(_rand((b,), generator, x) < 0.5), prior.flip(2), prior)
    out = torch.where(choice == 0, prior, cue_depth(x, generator))
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


def haze_veil(x: Tensor, generator: torch.Generator, *, beta: Tensor, airlight: Tensor) -> Tensor:
    """A veil over near and far alike, as in RESIDE's outdoor sets: the depth from
    :func:`any_depth` squeezed into ``1 - s .. 1`` (``s``, the near-to-far spread, drawn in
    0.1-0.5), so ``t`` lies between ``exp(-beta)`` and ``exp(-beta (1 - s))``, near-grey airlight.

    Our other depth models start at the camera (``t`` near 1 on the near scene, a wide spread of
    ``t`` over the frame); measured on SOTS-outdoor pairs (``restore.evaluation.weather_stats``)
    the transmission spans only 0.05-0.15 between its 10th and 90th percentiles, top and bottom
    of the frame alike.
    """
    b = x.shape[0]
    spread = 0.1 + 0.4 * _rand((b,), generator, x)
    d = 1 - _v(spread) * (1 - any_depth(x, generator))
    return _scatter(x, torch.exp(-_v(beta) * d), _grey_airlight(airlight, generator, x), beta)
