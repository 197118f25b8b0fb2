"""Degradation families: several generative models ("generators") per type.

A network trained on one synthesis per type learns that generator, not the degradation: on
blur, noise, rain or low light made by other code it transfers poorly. Each registered type
therefore has a family (:data:`FAMILIES`): generator 0 is the original operator of
:mod:`restore.synthesis.ops` (so every existing spec keeps its exact output), the others come
from :mod:`restore.synthesis.variants`. The registry exposes the choice as the integer parameter
``kind`` of every type (a slider in the app), and ``sample(..., families=True)`` draws the
generator per sample, uniformly over the family (minus any held-out generators), with
parameters from the wide ranges of :data:`WIDE` (or a generator's own :attr:`Variant.ranges`).

All functions take ``(B, 3, H, W)`` float tensors in ``[0, 1]`` on any device and parameters as
``(B,)`` tensors, and draw randomness only from the explicit ``torch.Generator``. Samples of a
batch that use different generators are processed in groups, one generator at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor

from restore.synthesis import variants as V
from restore.synthesis.ops import ParamValue, as_batch, blur, haze, lowlight, motion_kernels, noise, rain
from restore.synthesis.variants.weather import haze_veil, rain_added


@dataclass(frozen=True)
class Range:
    """Where the family sampler draws one parameter: uniform in ``low..high``, except that a
    share ``p_default`` of the draws keeps the parameter's default (e.g. no JPEG)."""

    low: float
    high: float
    p_default: float = 0.0


@dataclass(frozen=True)
class Variant:
    """One generator of a type's family.

    Attributes:
        name: a short identifier (``"defocus"``), used to hold a generator out of training.
        label: what the app and the contact sheet call it.
        fn: ``fn(x, generator, **params)`` -> ``(B, 3, H, W)``; for blur, the kernel maker
            ``fn(length, shake, generator, size)`` -> ``(B, size, size)``.
        uses: the type's parameters this generator reads (the others are ignored, and recorded at
            their defaults by the family sampler).
        ranges: training ranges that differ from the type's :data:`WIDE` ones.
        example: parameters that show this generator well (contact sheet, generator benchmark),
            on top of the type's :data:`EXAMPLES`.
    """

    name: str
    label: str
    fn: Callable[..., Tensor]
    uses: tuple[str, ...]
    ranges: Mapping[str, Range] = field(default_factory=dict)
    example: Mapping[str, float] = field(default_factory=dict)


def _shake(length: Tensor, shake: Tensor, generator: torch.Generator, size: int) -> Tensor:
    return motion_kernels(length, generator, batch=length.shape[0], device=length.device, shake=shake, size=size)


def _linear(length: Tensor, shake: Tensor, generator: torch.Generator, size: int) -> Tensor:
    return V.linear_kernels(length, generator, size=size)


def _defocus(length: Tensor, shake: Tensor, generator: torch.Generator, size: int) -> Tensor:
    return V.disc_kernels(length, size)


def _gaussian(length: Tensor, shake: Tensor, generator: torch.Generator, size: int) -> Tensor:
    return V.gaussian_blur_kernels(length, size)


_RAIN = ("density", "length", "angle", "width", "brightness")
_HAZE = ("beta", "airlight")
_LOWRES = ("scale", "preblur", "quality")


def _lowres(method: str) -> Callable[..., Tensor]:
    return partial(V.lowres_resample, method=method)


FAMILIES: dict[str, tuple[Variant, ...]] = {
    "noise": (
        Variant("gaussian", "Gaussian", noise, ("sigma", "signal")),
        Variant("gaussian-8bit", "Gaussian 8-bit", V.noise_8bit, ("sigma", "signal")),
        Variant("unclipped", "Gaussian unclipped", V.noise_unclipped, ("sigma",)),
        Variant(
            "poisson-gaussian",
            "Poisson-Gaussian",
            V.noise_poisson,
            ("sigma", "signal"),
            ranges={"sigma": Range(0.5, 20), "signal": Range(0.001, 0.02)},
            example={"sigma": 5, "signal": 0.01},
        ),
        Variant("per-channel", "per-channel sigma", V.noise_per_channel, ("sigma",)),
        Variant("correlated", "correlated", V.noise_correlated, ("sigma",)),
        Variant("jpeg", "JPEG after noise", V.noise_jpeg, ("sigma", "quality"), ranges={"sigma": Range(3, 40)}),
    ),
    "rain": (
        Variant("streaks", "streaks", rain, _RAIN),
        Variant("thin", "thin long streaks", V.rain_thin, ("density", "length", "angle", "brightness")),
        Variant("heavy", "dense heavy rain", V.rain_heavy, _RAIN),
        Variant("layers", "layers at angles", V.rain_layers, _RAIN),
        Variant("veil", "rain with veil", V.rain_veil, _RAIN),
        Variant("added", "added streaks", rain_added, _RAIN),
    ),
    "haze": (
        Variant("scene-depth", "scene-prior depth", haze, _HAZE),
        Variant("image-cue", "image-cue depth", V.haze_cue, _HAZE),
        Variant("light", "light haze", V.haze_light, _HAZE, ranges={"beta": Range(0.15, 3.0)}, example={"beta": 2.5}),
        Variant("tinted", "tinted airlight", V.haze_tinted, _HAZE),
        Variant("uneven", "uneven density", V.haze_uneven, _HAZE),
        Variant(
            "uniform",
            "even veil, near and far",
            haze_veil,
            _HAZE,
            ranges={"beta": Range(0.1, 1.2)},
            example={"beta": 0.7},
        ),
    ),
    "blur": (
        Variant("shake", "camera shake", _shake, ("length", "shake")),
        Variant("linear", "linear motion", _linear, ("length",)),
        Variant("defocus", "defocus disc", _defocus, ("length",), example={"length": 9}),
        Variant("gaussian", "Gaussian", _gaussian, ("length",)),
    ),
    "lowres": (
        Variant("bicubic", "bicubic", _lowres("bicubic"), _LOWRES),
        Variant("area", "area", _lowres("area"), _LOWRES),
        Variant("bilinear", "bilinear (aliased)", _lowres("bilinear"), _LOWRES),
        Variant("lanczos", "Lanczos-3", _lowres("lanczos"), _LOWRES),
        Variant("nearest", "nearest", _lowres("nearest"), _LOWRES),
    ),
    "lowlight": (
        Variant("gain-gamma", "gain and gamma", lowlight, ("gain", "gamma", "noise")),
        Variant("gamma", "gamma curve", V.lowlight_gamma, ("gain", "gamma", "noise")),
        Variant("linear", "linear gain", V.lowlight_linear, ("gain", "noise")),
        Variant("exposure", "exposure (linear)", V.lowlight_exposure, ("gain", "noise")),
        Variant("cast", "colour cast", V.lowlight_cast, ("gain", "gamma", "noise")),
    ),
}

#: The family sampler's ranges per type and parameter (wider than the single generator's training
#: ranges, so a network sees mild and severe cases of every generator). Rain and haze reach down to
#: what real pairs measure (``restore.evaluation.weather_stats``, docs/weather-stats.md): sparse
#: rain (Rain100L-style, 5-10 % of the frame in streaks: density from 0.05) and light haze
#: (SOTS-outdoor's transmission is 0.5-0.8: beta from 0.25). They stay inside the catalog's slider
#: ranges, which the app's specs are checked against.
WIDE: dict[str, dict[str, Range]] = {
    "noise": {"sigma": Range(2, 55), "signal": Range(0, 0.01), "quality": Range(15, 90)},
    "rain": {
        "density": Range(0.05, 1.0),
        "length": Range(6, 40),
        "angle": Range(-30, 30),
        "width": Range(0.5, 2.0),
        "brightness": Range(0.4, 1.0),
    },
    "haze": {"beta": Range(0.25, 3.0), "airlight": Range(0.6, 1.0)},
    "blur": {"length": Range(3, 31), "shake": Range(0, 1)},
    "lowres": {"scale": Range(1.5, 4), "preblur": Range(0.3, 2.0, p_default=0.5), "quality": Range(30, 95, 0.5)},
    "lowlight": {"gain": Range(0.05, 0.5), "gamma": Range(1.0, 2.4), "noise": Range(0, 12)},
}

#: Parameters that show each type's generators side by side (contact sheet, generator benchmark).
EXAMPLES: dict[str, dict[str, float]] = {
    "noise": {"sigma": 25, "signal": 0, "quality": 40},
    "rain": {"density": 0.6, "length": 22, "angle": 10, "width": 1.1, "brightness": 0.8},
    "haze": {"beta": 1.6, "airlight": 0.85},
    "blur": {"length": 15, "shake": 0.5},
    "lowres": {"scale": 4, "preblur": 0, "quality": 100},
    "lowlight": {"gain": 0.25, "gamma": 1.6, "noise": 6},
}


def names(name: str) -> tuple[str, ...]:
    """The generator names of type ``name``, in index order."""
    return tuple(v.name for v in FAMILIES[name])


def kind_label(name: str) -> str:
    """The label of a type's ``kind`` slider, e.g. ``"Generator (0: camera shake, 1: linear motion, ...)"``."""
    return "Generator (" + ", ".join(f"{i}: {v.label}" for i, v in enumerate(FAMILIES[name])) + ")"


def example(name: str, kind: int) -> dict[str, float]:
    """The spec parameters that show generator ``kind`` of type ``name`` (``kind`` included)."""
    return {**EXAMPLES[name], **FAMILIES[name][kind].example, "kind": kind}


def check_exclude(exclude: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """Validate held-out generators ``{type: (name, ...)}``; returns them as tuples.

    Raises:
        ValueError: an unknown type or generator, or every generator of a type held out.
    """
    out: dict[str, tuple[str, ...]] = {}
    for name, held in exclude.items():
        if name not in FAMILIES:
            raise ValueError(f"exclude: {name!r} has no generator family; valid: {', '.join(FAMILIES)}")
        held = (held,) if isinstance(held, str) else tuple(held)
        unknown = [h for h in held if h not in names(name)]
        if unknown:
            raise ValueError(f"exclude: {name} has no generator {unknown}; valid: {', '.join(names(name))}")
        if set(held) >= set(names(name)):
            raise ValueError(f"exclude: every generator of {name} is held out; keep at least one")
        out[name] = held
    return out


def _kinds(params: Mapping[str, Tensor], batch: int, n: int, device: torch.device) -> Tensor:
    kind = params.get("kind")
    if kind is None:
        return torch.zeros(batch, dtype=torch.long, device=device)
    return kind.to(device).round().long().clamp(0, n - 1).expand(batch)


def _groups(kind: Tensor) -> list[tuple[int, Tensor | None]]:
    """``(generator, sample indices)`` per generator used; ``None`` when one serves the whole batch."""
    first = int(kind[0])
    if bool((kind == first).all()):
        return [(first, None)]
    return [(k, (kind == k).nonzero().flatten()) for k in torch.unique(kind).tolist()]


def blur_kernels(
    params: Mapping[str, Tensor], generator: torch.Generator, *, batch: int, device: torch.device
) -> Tensor:
    """The blur kernels ``(B, K, K)`` (each summing to 1) of the generators ``params["kind"]`` picks.

    ``params``: ``length``, ``shake`` and optionally ``kind``, each ``(B,)``. Generator 0 alone is
    exactly :func:`restore.synthesis.ops.motion_kernels` (today's kernels and size).
    """
    family = FAMILIES["blur"]
    groups = _groups(_kinds(params, batch, len(family), torch.device(device)))
    if groups == [(0, None)]:
        return motion_kernels(params["length"], generator, batch=batch, device=device, shake=params["shake"])
    ref = torch.empty(batch, device=device)
    length, shake = as_batch(params["length"], ref), as_batch(params["shake"], ref)
    size = int(2 * math.ceil(float(length.max()) / 2) + 3) | 1
    out = torch.zeros(batch, size, size, device=device)
    for k, idx in groups:
        sel = slice(None) if idx is None else idx
        out[sel] = family[k].fn(length[sel], shake[sel], generator, size)
    return out


def apply(name: str, x: Tensor, generator: torch.Generator, params: Mapping[str, ParamValue]) -> Tensor:
    """Degrade ``x`` ``(B, 3, H, W)`` with type ``name``, each sample with the generator its
    ``params["kind"]`` names (0 when absent). ``params`` holds every parameter a used generator
    reads, as floats or ``(B,)`` tensors. Returns ``(B, 3, H, W)`` in ``[0, 1]``."""
    family = FAMILIES[name]
    p = {k: as_batch(v, x) for k, v in params.items()}
    if name == "blur":
        kernels = blur_kernels(p, generator, batch=x.shape[0], device=x.device)
        return blur(x, generator, length=p["length"], kernel=kernels)
    groups = _groups(_kinds(p, x.shape[0], len(family), x.device))
    if groups[0][1] is None:
        v = family[groups[0][0]]
        return v.fn(x, generator, **{k: p[k] for k in v.uses})
    out = torch.empty_like(x)
    for k, idx in groups:
        v = family[k]
        out[idx] = v.fn(x[idx], generator, **{n: p[n][idx] for n in v.uses})
    return out


def draw(
    name: str,
    n: int,
    generator: torch.Generator,
    *,
    defaults: Mapping[str, float],
    device: torch.device | str = "cpu",
    exclude: Sequence[str] = (),
) -> dict[str, Tensor]:
    """Draw ``n`` samples' generators and parameters for type ``name``.

    The generator is uniform over the family minus ``exclude`` (names); each parameter is
    uniform in its range for the drawn generator (:attr:`Variant.ranges`, else :data:`WIDE`),
    kept at its default for the share ``p_default`` of the draws, and recorded at its default
    when the generator does not read it.

    Args:
        defaults: every parameter of the type (``kind`` included) with its default value.

    Returns:
        ``{param: (n,) float tensor}`` for every parameter of ``defaults``; ``kind`` holds the
        generator indices.
    """
    family = FAMILIES[name]
    allowed = torch.tensor([i for i, v in enumerate(family) if v.name not in exclude], device=device)
    kind = allowed[torch.randint(0, len(allowed), (n,), generator=generator, device=device)]
    out = {"kind": kind.float()}
    for pname, default in defaults.items():
        if pname == "kind":
            continue
        ranges = [v.ranges.get(pname, WIDE[name][pname]) for v in family]
        table = torch.tensor([(r.low, r.high, r.p_default) for r in ranges], device=device)[kind]
        value = table[:, 0] + (table[:, 1] - table[:, 0]) * torch.rand(n, generator=generator, device=device)
        if any(r.p_default > 0 for r in ranges):
            keep = torch.rand(n, generator=generator, device=device) < table[:, 2]
            value = torch.where(keep, torch.full_like(value, default), value)
        used = torch.tensor([pname in v.uses for v in family], device=device)[kind]
        out[pname] = torch.where(used, value, torch.full_like(value, default))
    return out
