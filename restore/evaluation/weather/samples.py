"""What the report measures: every pair of the paper suite's rain and haze sets, and seeded samples
of the original synthesis and of each generator of the rain and haze families, drawn in their
training ranges on clean photos; each measured by :mod:`~restore.evaluation.weather.rain` or
:mod:`~restore.evaluation.weather.haze`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from restore.evaluation.paper_data import CASES, build_samples
from restore.evaluation.weather.haze import HazeStats, haze_stats
from restore.evaluation.weather.rain import RainStats, rain_stats
from restore.images import load_image, to_tensor, to_uint8
from restore.synthesis import families
from restore.synthesis.registry import DEGRADATIONS

#: The row of the original synthesis (generator 0 at the catalog's training ranges).
ORIGINAL = "original synthesis"

Stats = RainStats | HazeStats


@dataclass(frozen=True)
class Measured:
    """One row of the report: a test pair (``ranges`` empty, one statistic), or a generator with the
    ranges its parameters were drawn from and its samples' statistics."""

    label: str
    ranges: str
    stats: tuple[Stats, ...]


def clean_images(photos: Sequence[Path], width: int = 480, height: int = 320) -> list[np.ndarray]:
    """Each photo as a clean ``height x width`` uint8 RGB image: shrunk (area) until it just covers
    that size, then centre-cropped, so the streaks are drawn at the rain pairs' pixel scale."""
    out = []
    for path in photos:
        img = load_image(path)
        h, w = img.shape[:2]
        f = max(width / w, height / h)
        if f < 1:
            img = cv2.resize(img, (max(width, round(w * f)), max(height, round(h * f))), interpolation=cv2.INTER_AREA)
        if img.shape[0] < height or img.shape[1] < width:
            raise ValueError(f"{path} is smaller than {width}x{height}")
        top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
        out.append(np.ascontiguousarray(img[top : top + height, left : left + width]))
    return out


def training_draws(name: str, kind: int | None, n: int, seed: int = 0) -> tuple[list[dict[str, float]], str]:
    """``n`` parameter draws for generator ``kind`` of type ``name``, uniform in its training ranges
    (the family sampler's: :attr:`Variant.ranges`, else :data:`families.WIDE`; ``kind`` None: the
    original synthesis, generator 0 at the catalog's training ranges), and those ranges as text."""
    spec = DEGRADATIONS[name]
    rng = np.random.default_rng(seed)
    if kind is None:
        ranges = {p.name: p.train for p in spec.params if not p.family}
        fixed = {p.name: float(p.default) for p in spec.params if p.family}
    else:
        v = families.FAMILIES[name][kind]
        ranges = {}
        for p in v.uses:
            r = v.ranges.get(p, families.WIDE[name][p])
            ranges[p] = (r.low, r.high)
        fixed = {k: float(d) for k, d in spec.defaults().items() if k not in ranges}
        fixed["kind"] = float(kind)
    draws = [{**fixed, **{p: float(rng.uniform(lo, hi)) for p, (lo, hi) in ranges.items()}} for _ in range(n)]
    return draws, ", ".join(f"{p} {lo:g}-{hi:g}" for p, (lo, hi) in ranges.items())


def synthesise(name: str, img: np.ndarray, params: Mapping[str, float], seed: int) -> np.ndarray:
    """``img`` (``HxWx3`` uint8 RGB) degraded by type ``name`` with ``params`` over the type's
    defaults (``kind`` picks the generator), on the CPU with a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        return to_uint8(families.apply(name, to_tensor(img), g, {**DEGRADATIONS[name].defaults(), **params}))


def measure(name: str, degraded: np.ndarray, clean: np.ndarray) -> Stats:
    """:func:`rain_stats` or :func:`haze_stats` of a pair, by type ``name``."""
    return rain_stats(degraded, clean) if name == "rain" else haze_stats(degraded, clean)


def family_stats(name: str, clean: Sequence[np.ndarray], n: int, seed: int = 0) -> list[Measured]:
    """The statistics of ``n`` samples of the original synthesis and of each generator of type
    ``name`` (``"rain"`` or ``"haze"``) at its training ranges, on the ``clean`` images in turn."""
    out = []
    for kind in (None, *range(len(families.FAMILIES[name]))):
        draws, ranges = training_draws(name, kind, n, seed)
        label = ORIGINAL if kind is None else f"{kind}: {families.FAMILIES[name][kind].label}"
        stats = []
        for i, params in enumerate(draws):
            img = clean[i % len(clean)]
            stats.append(measure(name, synthesise(name, img, params, seed * 1000 + i), img))
        out.append(Measured(label, ranges, tuple(stats)))
    return out


def pair_stats(root: Path) -> dict[str, list[Measured]]:
    """The statistics of every pair of the paper suite's rain and haze sets, ``{type: [row]}``."""
    cases = [c for c in CASES if c.kind == "pair"]
    samples = build_samples(root, cases)
    out: dict[str, list[Measured]] = {"rain": [], "haze": []}
    for case in cases:
        name = case.types[0]
        for s in samples[case.name]:
            out[name].append(Measured(f"{case.name} {s.image}", "", (measure(name, s.input, s.target),)))
    return out
