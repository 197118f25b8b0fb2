"""Synthetic degradations: the single source of truth for training, the playground and tests.

Every degradation is a batched torch function on ``(B, 3, H, W)`` float tensors in ``[0, 1]``
that runs on any device and draws randomness only from an explicit ``torch.Generator``; the six
operators live in :mod:`restore.synthesis.ops`. :mod:`restore.synthesis.catalog` registers
them (:data:`DEGRADATIONS`) with named parameters, ranges the app turns into sliders, and a
severity measure; this module applies mixtures (:func:`degrade`) and training draws
(:func:`sample`), and re-exports the catalog, so import every name from here. Parameters may be
Python floats (one value for the whole batch) or ``(B,)`` tensors (one value per sample, as in
training).

Every standard type has a family of generators (:mod:`restore.synthesis.families`): the
integer parameter ``kind`` picks one (0, the default, is the original operator, so specs
without ``kind`` give exactly the images they always gave), and ``sample(..., families=True)``
draws the generator per sample, optionally holding some out (``exclude``).

Mixtures are applied in a fixed physical order (:data:`ORDER`): the scene is hazed first (haze
is part of what the camera looks at), rain streaks fall between the scene and the lens, camera
shake then blurs everything including the rain, the sensor samples it (low resolution), a dim
exposure darkens it (low light), and sensor noise comes last because it is added at read-out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from restore.images import to_tensor, to_uint8
from restore.synthesis import families as _families
from restore.synthesis.catalog import (
    DEGRADATIONS,
    ORDER,
    Degradation,
    Degraded,
    Param,
    generator_names,
    physical_order,
    register,
    unregister,
    validate_spec,
)
from restore.synthesis.ops import ParamValue, as_batch, blur
from restore.types import DEGRADATION_TYPES

__all__ = [
    "DEGRADATIONS",
    "DEGRADATION_TYPES",
    "ORDER",
    "TRAIN_MIXTURES",
    "Degradation",
    "Degraded",
    "Param",
    "check_type_weights",
    "degrade",
    "degrade_image",
    "generator_names",
    "physical_order",
    "random_spec",
    "register",
    "sample",
    "unregister",
    "validate_spec",
]


def degrade(
    x: Tensor,
    spec: Mapping[str, Mapping[str, ParamValue]],
    *,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    types: Sequence[str] = DEGRADATION_TYPES,
) -> Degraded:
    """Apply a mixture of degradations in the physical order (:func:`physical_order`).

    Args:
        x: ``(B, 3, H, W)`` float in ``[0, 1]``, any device.
        spec: ``{type: {param: value}}``; missing parameters take their defaults.
        seed: seeds a fresh generator on ``x``'s device (ignored if ``generator`` is given).
        generator: the random source; same seed, same image.
        types: the columns of the labels and severities (a type of ``spec`` outside them is
            applied but not labelled).

    Returns:
        :class:`Degraded` with the image, labels, severities, parameters and extras.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
    spec = validate_spec(spec)
    if generator is None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(0 if seed is None else int(seed))
    b = x.shape[0]
    y = x.clamp(0, 1)
    labels = torch.zeros(b, len(types), device=x.device)
    severity = torch.zeros_like(labels)
    params: dict[str, dict[str, Tensor]] = {}
    extras: dict[str, Tensor] = {}
    for name in physical_order():
        if name not in spec:
            continue
        d = DEGRADATIONS[name]
        p = {k: as_batch(v, y) for k, v in spec[name].items()}
        if name == "blur":
            extras["blur_kernel"] = _families.blur_kernels(p, generator, batch=b, device=y.device)
            y = blur(y, generator, length=p["length"], kernel=extras["blur_kernel"])
        else:
            y = d.fn(y, generator, **p)
        if name in types:
            i = list(types).index(name)
            labels[:, i] = 1.0
            severity[:, i] = d.severity(p).to(labels.dtype)
        params[name] = p
    return Degraded(y, labels, severity, params, extras, tuple(types))


def random_spec(
    generator: torch.Generator, *, max_types: int = 3, p_mixture: float = 0.3, families: bool = False
) -> dict[str, dict[str, float]]:
    """Draw one random mixture spec (for "surprise me" buttons and tests).

    A single type with probability ``1 - p_mixture``, else 2..``max_types`` types; parameters
    uniform in each parameter's training range. Family parameters (``kind`` and the options of
    some generators) stay at their defaults, unless ``families``: then they and the rest are
    drawn as ``sample(..., families=True)`` draws them.
    """
    u = torch.rand((), generator=generator).item()
    n = 1 if u >= p_mixture or max_types < 2 else int(torch.randint(2, max_types + 1, (), generator=generator))
    order = torch.randperm(len(DEGRADATION_TYPES), generator=generator)[:n].tolist()
    spec: dict[str, dict[str, float]] = {}
    for i in sorted(order):
        d = DEGRADATIONS[DEGRADATION_TYPES[i]]
        values = {}
        if families and d.name in _families.FAMILIES:
            drawn = _families.draw(d.name, 1, generator, defaults=d.defaults())
            for p in d.params:
                v = float(drawn[p.name][0])
                values[p.name] = round(v) if p.step >= 1 else round(v, 4)
            spec[d.name] = values
            continue
        for p in d.params:
            if p.family:
                values[p.name] = p.default
                continue
            lo, hi = p.train
            v = lo + (hi - lo) * torch.rand((), generator=generator).item()
            values[p.name] = round(v) if p.step >= 1 else round(v, 4)
        spec[d.name] = values
    return spec


# Mixtures used in training: pairs that happen together in real photos, plus a few triples.
TRAIN_MIXTURES: tuple[tuple[str, ...], ...] = (
    ("lowlight", "noise"),
    ("haze", "noise"),
    ("rain", "haze"),
    ("blur", "noise"),
    ("lowres", "noise"),
    ("rain", "noise"),
    ("haze", "lowlight"),
    ("blur", "lowres"),
    ("rain", "haze", "noise"),
    ("haze", "blur", "noise"),
)


def check_type_weights(type_weights: Mapping[str, float], types: Sequence[str] = DEGRADATION_TYPES) -> None:
    """Raise ValueError unless ``type_weights`` (see :func:`sample`) names types among ``types``
    with non-negative odds, not all zero."""
    if (
        set(type_weights) - set(types)
        or any(w < 0 for w in type_weights.values())
        or not any(type_weights.get(t, 1.0) > 0 for t in types)
    ):
        raise ValueError(
            f"type_weights {dict(type_weights)}: keys must be among {tuple(types)}, "
            "weights non-negative and not all zero"
        )


def sample(
    x: Tensor,
    generator: torch.Generator,
    *,
    p_mixture: float = 0.25,
    p_clean: float = 0.02,
    type_weights: Mapping[str, float] | None = None,
    types: Sequence[str] = DEGRADATION_TYPES,
    families: bool = False,
    exclude: Mapping[str, Sequence[str]] | None = None,
) -> Degraded:
    """Degrade a training batch with random types and severities, one draw per sample.

    The mix: with probability ``p_clean`` a sample stays clean (the network must leave clean
    photos alone), with ``p_mixture`` it gets one of :data:`TRAIN_MIXTURES` (uniformly), and
    otherwise exactly one type, the six balanced. Parameters are uniform in each parameter's
    training range, except the low-resolution factor, drawn from {2, 3, 4}; every sample uses
    generator 0 of its types (the draws are exactly those from before the families existed).

    With ``families``, each sample of a standard type draws its generator uniformly from the
    type's family (:mod:`restore.synthesis.families`) and its parameters from the family's wide
    ranges (the low-resolution factor continuously in 1.5-4); ``Degraded.params[type]["kind"]``
    records the generator of each sample.

    Args:
        x: ``(B, 3, H, W)`` clean patches in ``[0, 1]`` on the training device.
        generator: on ``x``'s device.
        type_weights: relative odds of the single types (``{"haze": 3}``: haze three times as
            often as each unnamed type, which keeps weight 1); None or empty: balanced.
        types: the types to draw from, in the order of the labels (the model's
            ``ModelConfig.types``); mixtures with a type outside them are not drawn.
        families: draw the generators and wide parameter ranges (see above).
        exclude: generators held out of the families, ``{type: (name, ...)}`` (names from
            :func:`generator_names`), e.g. ``{"blur": ("defocus",)}``; needs ``families``.

    Raises:
        ValueError: unregistered types, bad ``type_weights`` or ``exclude``.
    """
    held = _families.check_exclude(exclude or {})
    if held and not families:
        raise ValueError("exclude holds generators out of the families: it needs families=True")
    unknown = [t for t in types if t not in DEGRADATIONS]
    if unknown:
        raise ValueError(f"types {unknown} are not registered; registered: {', '.join(DEGRADATIONS)}")
    types = tuple(types)
    mixtures = [m for m in TRAIN_MIXTURES if set(m) <= set(types)]
    b = x.shape[0]
    dev = x.device
    u = torch.rand(b, generator=generator, device=dev)
    if type_weights:
        check_type_weights(type_weights, types)
        odds = torch.tensor([float(type_weights.get(t, 1.0)) for t in types], device=dev)
        single = torch.multinomial(odds, b, replacement=True, generator=generator)
    else:
        single = torch.randint(0, len(types), (b,), generator=generator, device=dev)
    mix = torch.randint(0, max(1, len(mixtures)), (b,), generator=generator, device=dev)
    active = torch.zeros(b, len(types), dtype=torch.bool, device=dev)
    active[torch.arange(b, device=dev), single] = True
    if mixtures:
        mix_table = torch.zeros(len(mixtures), len(types), dtype=torch.bool, device=dev)
        for m, names in enumerate(mixtures):
            for n in names:
                mix_table[m, types.index(n)] = True
        is_mix = u < p_mixture
        active[is_mix] = mix_table[mix[is_mix]]
    active[u > 1 - p_clean] = False

    y = x.clamp(0, 1).clone()
    labels = active.float()
    severity = torch.zeros(b, len(types), device=dev)
    params: dict[str, dict[str, Tensor]] = {}
    for name in physical_order():
        if name not in types:
            continue
        i = types.index(name)
        idx = active[:, i].nonzero().flatten()
        if idx.numel() == 0:
            continue
        d = DEGRADATIONS[name]
        sub = y[idx]
        if families and name in _families.FAMILIES:
            p = _families.draw(
                name, idx.numel(), generator, defaults=d.defaults(), device=dev, exclude=held.get(name, ())
            )
        else:
            p = {}
            for prm in d.params:
                if prm.family:  # generator 0 and its defaults, drawing nothing
                    p[prm.name] = torch.full((idx.numel(),), float(prm.default), device=dev)
                    continue
                lo, hi = prm.train
                p[prm.name] = lo + (hi - lo) * torch.rand(idx.numel(), generator=generator, device=dev)
            if name == "lowres":
                p["scale"] = torch.randint(2, 5, (idx.numel(),), generator=generator, device=dev).float()
        y[idx] = d.fn(sub, generator, **p)
        severity[idx, i] = d.severity(p).to(severity.dtype)
        params[name] = p
    return Degraded(y, labels, severity, params, types=types)


def degrade_image(img: np.ndarray, spec: Mapping[str, Mapping[str, ParamValue]], *, seed: int = 0) -> np.ndarray:
    """Degrade one ``HxWx3`` uint8 RGB image on the CPU; returns uint8 RGB of the same size."""
    x = to_tensor(img)
    return to_uint8(degrade(x, spec, seed=seed).image)
