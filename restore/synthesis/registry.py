"""Synthetic degradations: the single source of truth for training, the playground and tests.

Every degradation is a batched torch function on ``(B, 3, H, W)`` float tensors in ``[0, 1]``
that runs on any device and draws randomness only from an explicit ``torch.Generator``; the six
operators live in :mod:`restore.synthesis.ops`. This module registers
them (:data:`DEGRADATIONS`) with named parameters, ranges the app turns into sliders, and a
severity measure, and applies mixtures (:func:`degrade`) and training draws (:func:`sample`).
Parameters may be Python floats (one value for the whole batch) or ``(B,)`` tensors (one value
per sample, as in training).

Mixtures are applied in a fixed physical order (:data:`ORDER`): the scene is hazed first (haze
is part of what the camera looks at), rain streaks fall between the scene and the lens, camera
shake then blurs everything including the rain, the sensor samples it (low resolution), a dim
exposure darkens it (low light), and sensor noise comes last because it is added at read-out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from restore.images import to_tensor, to_uint8
from restore.synthesis.ops import (
    ParamValue,
    as_batch,
    blur,
    haze,
    lowlight,
    lowres,
    motion_kernels,
    noise,
    rain,
)
from restore.types import DEGRADATION_TYPES

#: The physical order of the six standard types in a mixture (see the module docstring).
ORDER: tuple[str, ...] = ("haze", "rain", "blur", "lowres", "lowlight", "noise")


@dataclass(frozen=True)
class Param:
    """One named parameter of a degradation.

    Attributes:
        name: keyword of the degradation function.
        low, high: the full range offered in the app (and accepted by the function).
        default: the value the app shows first.
        step: slider step.
        train: the range the training sampler draws from (a sub-range of ``low..high``).
        label: a short human label.
    """

    name: str
    low: float
    high: float
    default: float
    step: float
    train: tuple[float, float]
    label: str


@dataclass(frozen=True)
class Degradation:
    """A registered degradation: its function, parameters and how severity is measured."""

    name: str
    fn: Callable[..., Tensor]
    params: tuple[Param, ...]
    severity: Callable[[Mapping[str, Tensor]], Tensor]
    doc: str

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}; valid: {[p.name for p in self.params]}")


@dataclass
class Degraded:
    """Result of :func:`degrade` / :func:`sample`.

    Attributes:
        image: ``(B, 3, H, W)`` float in ``[0, 1]``.
        labels: ``(B, T)`` float multi-hot over :attr:`types`.
        severity: ``(B, T)`` float in ``[0, 1]`` (0 where a type is absent).
        params: per type, the parameters used (each a ``(B,)`` tensor).
        extras: side information, e.g. ``"blur_kernel"``: ``(B, K, K)`` kernels.
        types: the types the label and severity columns stand for.
    """

    image: Tensor
    labels: Tensor
    severity: Tensor
    params: dict[str, dict[str, Tensor]] = field(default_factory=dict)
    extras: dict[str, Tensor] = field(default_factory=dict)
    types: tuple[str, ...] = DEGRADATION_TYPES

    def names(self, index: int = 0) -> list[str]:
        """Types present in sample ``index``, in :attr:`types` order."""
        return [t for i, t in enumerate(self.types) if self.labels[index, i] > 0.5]


# --------------------------------------------------------------------------- registry


def _norm(v: Tensor, lo: float, hi: float) -> Tensor:
    return ((v - lo) / (hi - lo)).clamp(0, 1)


DEGRADATIONS: dict[str, Degradation] = {
    "noise": Degradation(
        "noise",
        noise,
        (
            Param("sigma", 0, 60, 25, 1, (5, 55), "Noise sigma (0-255)"),
            Param("signal", 0, 0.02, 0, 0.001, (0, 0.01), "Signal-dependent part"),
        ),
        lambda p: _norm(p["sigma"], 0, 60),
        "Gaussian sensor noise (optionally Poisson-Gaussian).",
    ),
    "rain": Degradation(
        "rain",
        rain,
        (
            Param("density", 0, 1, 0.5, 0.05, (0.2, 1.0), "Density"),
            Param("length", 4, 40, 20, 1, (8, 36), "Streak length (px)"),
            Param("angle", -30, 30, 8, 1, (-20, 20), "Angle from vertical (deg)"),
            Param("width", 0.5, 2.5, 1.0, 0.1, (0.6, 1.6), "Streak width (px)"),
            Param("brightness", 0, 1, 0.8, 0.05, (0.5, 0.95), "Brightness"),
        ),
        lambda p: _norm(p["density"] * p["brightness"], 0, 1),
        "Rain streaks, blended like light.",
    ),
    "haze": Degradation(
        "haze",
        haze,
        (
            Param("beta", 0, 3, 1.5, 0.1, (0.6, 2.6), "Haze density (beta)"),
            Param("airlight", 0.6, 1.0, 0.85, 0.01, (0.7, 1.0), "Airlight"),
        ),
        lambda p: _norm(p["beta"], 0, 3),
        "Atmospheric scattering with a synthetic depth map.",
    ),
    "blur": Degradation(
        "blur",
        blur,
        (
            Param("length", 0, 31, 15, 1, (5, 25), "Shake length (px)"),
            Param("shake", 0, 1, 0.5, 0.05, (0.0, 1.0), "Trajectory wander"),
        ),
        lambda p: _norm(p["length"], 0, 31),
        "Camera-shake blur along a random trajectory.",
    ),
    "lowres": Degradation(
        "lowres",
        lowres,
        (Param("scale", 1, 4, 2, 1, (2, 4), "Downscale factor"),),
        lambda p: _norm(p["scale"], 1, 4),
        "Bicubic down by 2-4 and back up.",
    ),
    "lowlight": Degradation(
        "lowlight",
        lowlight,
        (
            Param("gain", 0.05, 1, 0.25, 0.01, (0.08, 0.45), "Exposure gain"),
            Param("gamma", 1, 3, 1.6, 0.05, (1.0, 2.2), "Gamma"),
            Param("noise", 0, 20, 6, 0.5, (1, 12), "Sensor noise sigma"),
        ),
        lambda p: 1 - _norm(p["gain"], 0.05, 1),
        "A dim exposure with sensor noise.",
    ),
}


# The physical order of every registered type (ORDER, then types added by register()).
_PHYSICAL: list[str] = list(ORDER)


def register(degradation: Degradation, *, before: str | None = None) -> None:
    """Add a degradation type to the registry (after the six standard ones in the physical order
    of mixtures, or just before the type ``before``). Models trained before it keep their own
    types (``ModelConfig.types``) and are not affected; a new model learns it when its config
    lists it.

    Raises:
        ValueError: the name is taken, or ``before`` is not a registered type.
    """
    if degradation.name in DEGRADATIONS:
        raise ValueError(f"degradation {degradation.name!r} is already registered")
    if before is not None and before not in _PHYSICAL:
        raise ValueError(f"before={before!r} is not a registered type; valid: {', '.join(_PHYSICAL)}")
    DEGRADATIONS[degradation.name] = degradation
    _PHYSICAL.insert(_PHYSICAL.index(before) if before else len(_PHYSICAL), degradation.name)


def unregister(name: str) -> None:
    """Remove a type added with :func:`register` (the six standard types stay)."""
    if name in ORDER:
        raise ValueError(f"{name!r} is a standard type and cannot be removed")
    DEGRADATIONS.pop(name, None)
    if name in _PHYSICAL:
        _PHYSICAL.remove(name)


def physical_order() -> tuple[str, ...]:
    """Every registered type in the order a mixture applies them."""
    return tuple(_PHYSICAL)


def validate_spec(spec: Mapping[str, Mapping[str, ParamValue]]) -> dict[str, dict[str, ParamValue]]:
    """Check a mixture spec ``{type: {param: value}}``; fill defaults; raise on unknown names."""
    out: dict[str, dict[str, ParamValue]] = {}
    for name, params in spec.items():
        if name not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {name!r}; valid: {', '.join(DEGRADATIONS)}")
        d = DEGRADATIONS[name]
        full: dict[str, ParamValue] = d.defaults()
        for key, value in (params or {}).items():
            if key not in full:
                raise ValueError(f"{name} has no parameter {key!r}; valid: {', '.join(full)}")
            p = d.param(key)
            if not isinstance(value, Tensor) and not (p.low <= float(value) <= p.high):
                raise ValueError(f"{name}.{key}={value} is outside its range [{p.low}, {p.high}]")
            full[key] = value
        out[name] = full
    return out


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
            extras["blur_kernel"] = motion_kernels(p["length"], generator, batch=b, device=y.device, shake=p["shake"])
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
    generator: torch.Generator, *, max_types: int = 3, p_mixture: float = 0.3
) -> dict[str, dict[str, float]]:
    """Draw one random mixture spec (for "surprise me" buttons and tests).

    A single type with probability ``1 - p_mixture``, else 2..``max_types`` types; parameters
    uniform in each parameter's training range.
    """
    u = torch.rand((), generator=generator).item()
    n = 1 if u >= p_mixture or max_types < 2 else int(torch.randint(2, max_types + 1, (), generator=generator))
    order = torch.randperm(len(DEGRADATION_TYPES), generator=generator)[:n].tolist()
    spec: dict[str, dict[str, float]] = {}
    for i in sorted(order):
        d = DEGRADATIONS[DEGRADATION_TYPES[i]]
        values = {}
        for p in d.params:
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
) -> Degraded:
    """Degrade a training batch with random types and severities, one draw per sample.

    The mix: with probability ``p_clean`` a sample stays clean (the network must leave clean
    photos alone), with ``p_mixture`` it gets one of :data:`TRAIN_MIXTURES` (uniformly), and
    otherwise exactly one type, the six balanced. Parameters are uniform in each parameter's
    training range, except the low-resolution factor, drawn from {2, 3, 4}.

    Args:
        x: ``(B, 3, H, W)`` clean patches in ``[0, 1]`` on the training device.
        generator: on ``x``'s device.
        type_weights: relative odds of the single types (``{"haze": 3}``: haze three times as
            often as each unnamed type, which keeps weight 1); None or empty: balanced.
        types: the types to draw from, in the order of the labels (the model's
            ``ModelConfig.types``); mixtures with a type outside them are not drawn.
    """
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
        p = {}
        for prm in d.params:
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
