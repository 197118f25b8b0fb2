"""The catalog of degradation types: their parameters, ranges and severities, the table of
registered types (:data:`DEGRADATIONS`, the six standard ones first), adding and removing types,
their physical order in a mixture, checking a mixture spec against them, and what applying
them returns (:class:`Degraded`).

Import these names from :mod:`restore.synthesis.registry`, which applies the types
(:func:`~restore.synthesis.registry.degrade`, :func:`~restore.synthesis.registry.sample`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor

from restore.synthesis import families as _families
from restore.synthesis.ops import ParamValue
from restore.types import DEGRADATION_TYPES

#: The physical order of the six standard types in a mixture (see :mod:`restore.synthesis.registry`).
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
        family: a parameter of the generator families (``kind``, and options only some generators
            read): the default sampler, :func:`~restore.synthesis.registry.random_spec` and older
            callers leave it at its default, so their draws are what they were before families
            existed; only ``sample(..., families=True)`` draws it (from
            :data:`restore.synthesis.families.WIDE`).
    """

    name: str
    low: float
    high: float
    default: float
    step: float
    train: tuple[float, float]
    label: str
    family: bool = False


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
    """Result of :func:`~restore.synthesis.registry.degrade` / :func:`~restore.synthesis.registry.sample`.

    Attributes:
        image: ``(B, 3, H, W)`` float in ``[0, 1]``.
        labels: ``(B, T)`` float multi-hot over :attr:`types`.
        severity: ``(B, T)`` float in ``[0, 1]`` (0 where a type is absent).
        params: per type, the parameters used (each a ``(B,)`` tensor); ``kind`` is the index of
            the generator each sample used (:func:`generator_names`).
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


def _family_fn(name: str) -> Callable[..., Tensor]:
    """The registered function of a standard type: its family's generator ``kind`` (default 0)."""

    def fn(x: Tensor, generator: torch.Generator, **params: ParamValue) -> Tensor:
        return _families.apply(name, x, generator, params)

    fn.__name__ = name
    fn.__doc__ = f"Type {name!r}: ``kind`` picks the generator ({', '.join(_families.names(name))})."
    return fn


def _kind(name: str) -> Param:
    n = len(_families.FAMILIES[name]) - 1
    return Param("kind", 0, n, 0, 1, (0, n), _families.kind_label(name), family=True)


DEGRADATIONS: dict[str, Degradation] = {
    "noise": Degradation(
        "noise",
        _family_fn("noise"),
        (
            Param("sigma", 0, 60, 25, 1, (5, 55), "Noise sigma (0-255)"),
            Param("signal", 0, 0.02, 0, 0.001, (0, 0.01), "Signal-dependent part"),
            _kind("noise"),
            Param("quality", 10, 100, 50, 1, (10, 100), "JPEG quality (JPEG generator only)", family=True),
        ),
        lambda p: _norm(p["sigma"], 0, 60),
        "Sensor noise: Gaussian, 8-bit, unclipped, Poisson-Gaussian, per-channel, correlated or JPEG'd.",
    ),
    "rain": Degradation(
        "rain",
        _family_fn("rain"),
        (
            Param("density", 0, 1, 0.5, 0.05, (0.2, 1.0), "Density"),
            Param("length", 4, 40, 20, 1, (8, 36), "Streak length (px)"),
            Param("angle", -30, 30, 8, 1, (-20, 20), "Angle from vertical (deg)"),
            Param("width", 0.5, 2.5, 1.0, 0.1, (0.6, 1.6), "Streak width (px)"),
            Param("brightness", 0, 1, 0.8, 0.05, (0.5, 0.95), "Brightness"),
            _kind("rain"),
        ),
        lambda p: _norm(p["density"] * p["brightness"], 0, 1),
        "Rain streaks blended like light: plain, thin, heavy, layered or with a veil.",
    ),
    "haze": Degradation(
        "haze",
        _family_fn("haze"),
        (
            Param("beta", 0, 3, 1.5, 0.1, (0.6, 2.6), "Haze density (beta)"),
            Param("airlight", 0.6, 1.0, 0.85, 0.01, (0.7, 1.0), "Airlight"),
            _kind("haze"),
        ),
        lambda p: _norm(p["beta"], 0, 3),
        "Atmospheric scattering: several depth models, light, tinted or uneven haze.",
    ),
    "blur": Degradation(
        "blur",
        _family_fn("blur"),
        (
            Param("length", 0, 31, 15, 1, (5, 25), "Blur length / kernel size (px)"),
            Param("shake", 0, 1, 0.5, 0.05, (0.0, 1.0), "Trajectory wander (camera shake only)"),
            _kind("blur"),
        ),
        lambda p: _norm(p["length"], 0, 31),
        "Blur: camera shake, linear motion, defocus disc or Gaussian.",
    ),
    "lowres": Degradation(
        "lowres",
        _family_fn("lowres"),
        (
            Param("scale", 1, 4, 2, 1, (2, 4), "Downscale factor"),
            _kind("lowres"),
            Param("preblur", 0, 3, 0, 0.1, (0, 3), "Pre-blur sigma (px, 0 = none)", family=True),
            Param("quality", 10, 100, 100, 1, (10, 100), "JPEG quality of the small image (100 = none)", family=True),
        ),
        lambda p: _norm(p["scale"], 1, 4),
        "Down by up to 4 (bicubic, area, bilinear, Lanczos, nearest) and bicubic back up.",
    ),
    "lowlight": Degradation(
        "lowlight",
        _family_fn("lowlight"),
        (
            Param("gain", 0.05, 1, 0.25, 0.01, (0.08, 0.45), "Exposure gain"),
            Param("gamma", 1, 3, 1.6, 0.05, (1.0, 2.2), "Gamma"),
            Param("noise", 0, 20, 6, 0.5, (1, 12), "Sensor noise sigma"),
            _kind("lowlight"),
        ),
        lambda p: 1 - _norm(p["gain"], 0.05, 1),
        "A dim exposure with sensor noise: gain and gamma, gamma, linear, linear-light, colour cast.",
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
            if key == "kind" and not isinstance(value, Tensor) and float(value) != round(float(value)):
                raise ValueError(f"{name}.kind={value} must be a whole number (a generator index)")
            full[key] = value
        out[name] = full
    return out


def generator_names(name: str) -> tuple[str, ...]:
    """The generators of type ``name``, in the order of its ``kind`` parameter (one, ``"default"``,
    for a type registered without a family)."""
    return _families.names(name) if name in _families.FAMILIES else ("default",)
