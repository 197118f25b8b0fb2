"""Real rain and haze against our synthesis: streak and haze statistics of the paper pairs and of
every generator of the rain and haze families.

Run ``python -m restore.evaluation.weather_stats [--paper-data PATH] [--photos DIR] [--n 24]
[--models ...] [--probe-models ...] [--out docs/weather-stats.md] [--threads 1]``: the statistics,
the probe, and the paper suite on the pair sets (oracle rows, the estimator's reading per pair).
The pairs (Rain-NDR5, Rain-MFDNet3, SOTS-NDR5) are TEST data: they are measured here, never
trained on; what the measurements may steer is a family's parameter *range*, so that it covers
real rain and haze in general, never a fit to these images.

Rain, from the residual ``input - target`` (grey levels, channel mean):

- the streaks are its white top-hat (the residual minus its grey opening with a disc wider than any
  streak), which also drops a tone difference between input and target;
- ``angle``: the dominant orientation of the structure tensor (degrees from vertical, positive
  leans the top to the right, the synthesis' convention), ``coherence`` how single it is (0..1);
- ``width``: the half-maximum width of the top-hat's autocorrelation across that orientation,
  given as the Gaussian sigma with that autocorrelation (the synthesis' ``width`` parameter);
- ``length``: the half-maximum width of the autocorrelation along it, summed over a band across
  (a triangle for streaks of one length, whose half-maximum width is that length);
- ``contrast``: the mean top-hat on streak pixels (top-hat above :data:`STREAK_SHARE` of its 99.5th
  percentile and :data:`STREAK_MIN_GREY`), ``density`` their share of the frame, ``variation``
  the top-hat's std / mean on them;
- ``bright_ratio``: the streaks' strength over bright ground over that over dark ground
  (:func:`bright_ratio`): about 1 for streaks added to the scene, less for a screen blend.

Haze, with the scattering model ``I = J t + A (1 - t)`` per pixel:

- in blocks of :data:`BLOCK` px with texture in the target, ``I ~ t J + b`` with one slope ``t``
  for the three channels and an offset ``b = A (1 - t)`` per channel (least squares);
- the airlight ``A`` per channel is the median of ``b / (1 - t)`` over the blocks with some haze;
- ``t`` is reported by its 10th, 50th and 90th percentiles over the blocks, ``t_top`` and
  ``t_bottom`` its medians in the upper and lower thirds of the frame and ``t_rise`` their
  difference (positive: the haze thickens toward the top, as the synthesis' scene prior puts the
  far there), and ``veil`` is the mean of ``I - J`` (grey levels).

The probe (:func:`probe`) restores controlled cases made on the clean photos (haze thickening
upward, the same upside down, uniform haze; screen-blended and added streaks at one setting) and
reports each model's gain and its estimator's probability of the true type: what a network learned
to recognise, without the test pairs.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from restore.evaluation.metrics import psnr
from restore.evaluation.model_columns import ORACLE_SUFFIX, RestorerLike, load_restorers, refine_argument
from restore.evaluation.paper_data import CASES, PaperDataError, build_samples, default_paper_data
from restore.evaluation.paper_report import markdown as paper_markdown
from restore.evaluation.paper_suite import DEFAULT_MODELS, run_suite
from restore.evaluation.transfer import SUFFIXES, default_photos
from restore.images import load_image, to_tensor, to_uint8
from restore.synthesis import families
from restore.synthesis.registry import DEGRADATIONS

logger = logging.getLogger(__name__)

#: Diameter (px) of the disc whose grey opening is the residual's background: wider than any streak.
TOPHAT_PX = 15
#: A streak pixel: top-hat above this share of its 99.5th percentile, and above STREAK_MIN_GREY.
STREAK_SHARE = 0.3
STREAK_MIN_GREY = 4.0
#: Background grey level (0-255) that :func:`bright_ratio` calls bright, and the fewest streak
#: pixels it needs on each side.
BRIGHT_GREY = 128.0
MIN_SIDE_PIXELS = 50
#: Sigma (px) of the Gaussian smoothing before the structure tensor's gradients.
TENSOR_SIGMA = 1.0
#: Gaussian sigma -> half-maximum width of its autocorrelation (a Gaussian of sigma * sqrt 2).
ACF_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0)) * np.sqrt(2.0)
#: Side (px) of the haze blocks, and the least texture (grey levels, std of the target) they need.
BLOCK = 16
BLOCK_MIN_STD = 4.0
#: Blocks with ``1 - t`` below this carry too little airlight to read it from.
AIRLIGHT_MIN_HAZE = 0.05


@dataclass(frozen=True)
class RainStats:
    """Streak statistics of one rainy / clean pair (see module doc); px and grey levels (0-255)."""

    angle: float
    coherence: float
    width: float
    length: float
    contrast: float
    density: float
    variation: float
    bright_ratio: float


@dataclass(frozen=True)
class HazeStats:
    """Haze statistics of one hazy / clear pair (see module doc); ``airlight`` per channel in [0, 1]."""

    t_p10: float
    t_median: float
    t_p90: float
    t_top: float
    t_bottom: float
    t_rise: float
    airlight: tuple[float, float, float]
    veil: float


def _grey(img: np.ndarray) -> np.ndarray:
    return np.asarray(img, dtype=np.float32).mean(axis=2)


def streak_residual(rainy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The streaks of a pair: white top-hat of the channel-mean residual ``rainy - clean``.

    Args:
        rainy, clean: ``HxWx3`` uint8 RGB of one size.

    Returns:
        ``HxW`` float32, grey levels, >= 0.
    """
    if rainy.shape != clean.shape or rainy.ndim != 3:
        raise ValueError(f"expected two HxWx3 images of one size, got {rainy.shape} and {clean.shape}")
    r = _grey(rainy) - _grey(clean)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (TOPHAT_PX, TOPHAT_PX))
    return np.maximum(r - cv2.morphologyEx(r, cv2.MORPH_OPEN, disc, borderType=cv2.BORDER_REFLECT), 0.0)


def dominant_angle(streaks: np.ndarray) -> tuple[float, float]:
    """(angle, coherence) of ``streaks`` ``HxW``: degrees from vertical in (-90, 90], positive with
    the top leaning right, from the whole image's structure tensor; coherence in 0..1."""
    s = cv2.GaussianBlur(streaks.astype(np.float32), (0, 0), TENSOR_SIGMA)
    gx = cv2.Sobel(s, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(s, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    # The gradients point across the streaks, along (cos a, sin a) in (column, row) coordinates for
    # a streak at angle a from vertical (rows grow downward): the gradient's angle from the x axis is a.
    angle = 0.5 * np.degrees(np.arctan2(2.0 * jxy, jxx - jyy))
    coherence = np.hypot(jxx - jyy, 2.0 * jxy) / max(jxx + jyy, 1e-12)
    return float(angle if angle > -90.0 else angle + 180.0), float(coherence)


def autocorrelation(field: np.ndarray) -> np.ndarray:
    """The normalised autocorrelation of ``field`` ``HxW`` (mean removed, zero-padded FFT), centred:
    lag ``(0, 0)`` at ``[H, W]`` of the ``2H x 2W`` result, where it is 1."""
    h, w = field.shape
    f = np.fft.rfft2(field - field.mean(), s=(2 * h, 2 * w))
    acf = np.fft.fftshift(np.fft.irfft2(f * np.conj(f), s=(2 * h, 2 * w)))
    return (acf / max(float(acf[h, w]), 1e-12)).astype(np.float32)


def _half_width(profile: np.ndarray, step: float) -> float:
    """Twice the first lag at which ``profile`` (lag 0 first, 1 there) falls to one half, linearly
    interpolated; the whole span where it never does."""
    below = np.nonzero(profile <= 0.5)[0]
    if below.size == 0:
        return 2.0 * step * (len(profile) - 1)
    i = int(below[0])
    if i == 0:
        return 0.0
    a, b = float(profile[i - 1]), float(profile[i])
    return 2.0 * step * (i - 1 + (a - 0.5) / max(a - b, 1e-12))


def _sample(acf: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``acf`` at lags ``(cols, rows)`` (float arrays of one shape)."""
    h, w = acf.shape[0] // 2, acf.shape[1] // 2
    mx = np.ascontiguousarray((cols + w).astype(np.float32))
    my = np.ascontiguousarray((rows + h).astype(np.float32))
    return cv2.remap(acf, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def streak_extent(streaks: np.ndarray, angle: float, max_lag: int = 120) -> tuple[float, float]:
    """(width, length) of the streaks in ``streaks`` ``HxW`` at ``angle`` (degrees, as
    :func:`dominant_angle`): width as a Gaussian sigma (px), length in px (see module doc)."""
    acf = autocorrelation(streaks)
    a = np.radians(angle)
    across = np.array([np.cos(a), np.sin(a)])  # (column, row)
    along = np.array([np.sin(a), -np.cos(a)])
    step = 0.1
    lags = np.arange(0.0, 12.0, step, dtype=np.float64)
    profile = _sample(acf, (lags * across[0])[None], (lags * across[1])[None])[0]
    width = _half_width(profile, step) / ACF_FWHM_PER_SIGMA
    # Along the streaks: the autocorrelation summed over a band across them, so that a slightly
    # wrong angle, or streaks of a few angles, do not shorten it.
    band = np.arange(-max(3.0, 3.0 * width), max(3.0, 3.0 * width) + 1e-6, 0.5)
    steps = np.arange(0.0, float(max_lag), 0.5)
    cols = steps[:, None] * along[0] + band[None, :] * across[0]
    rows = steps[:, None] * along[1] + band[None, :] * across[1]
    summed = _sample(acf, cols, rows).sum(axis=1)
    return float(width), float(_half_width(summed / max(float(summed[0]), 1e-12), 0.5))


def bright_ratio(streaks: np.ndarray, mask: np.ndarray, clean: np.ndarray) -> float:
    """How strong the streaks stay over a bright background: the 90th percentile of ``streaks`` on
    the streak pixels ``mask`` whose neighbourhood in ``clean`` is bright (all of it at or above
    :data:`BRIGHT_GREY`), over that on the dark ones (all of it below). About 1 for streaks added to
    the scene, lower for a screen blend (the streak's light adds ``L (1 - J)``); NaN where either
    side has fewer than :data:`MIN_SIDE_PIXELS` pixels."""
    j = _grey(clean)
    box = np.ones((5, 5), np.uint8)
    bright = mask & (cv2.erode(j, box) >= BRIGHT_GREY)
    dark = mask & (cv2.dilate(j, box) < BRIGHT_GREY)
    if bright.sum() < MIN_SIDE_PIXELS or dark.sum() < MIN_SIDE_PIXELS:
        return float("nan")
    return float(np.percentile(streaks[bright], 90) / max(np.percentile(streaks[dark], 90), 1e-6))


def rain_stats(rainy: np.ndarray, clean: np.ndarray) -> RainStats:
    """The streak statistics of a rainy / clean pair (``HxWx3`` uint8 RGB of one size)."""
    streaks = streak_residual(rainy, clean)
    angle, coherence = dominant_angle(streaks)
    width, length = streak_extent(streaks, angle)
    top = float(np.percentile(streaks, 99.5))
    mask = streaks > max(STREAK_MIN_GREY, STREAK_SHARE * top)
    on = streaks[mask] if mask.any() else np.zeros(1, np.float32)
    variation = float(on.std() / max(float(on.mean()), 1e-6))
    ratio = bright_ratio(streaks, mask, clean)
    return RainStats(angle, coherence, width, length, float(on.mean()), float(mask.mean()), variation, ratio)


def _block_means(x: np.ndarray) -> np.ndarray:
    """Means over ``BLOCK x BLOCK`` blocks of ``x`` ``(H, W, ...)`` (the edge remainder dropped)."""
    h, w = x.shape[0] // BLOCK, x.shape[1] // BLOCK
    x = x[: h * BLOCK, : w * BLOCK]
    return x.reshape(h, BLOCK, w, BLOCK, *x.shape[2:]).mean(axis=(1, 3))


def transmission_blocks(hazy: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per block, the shared slope ``t`` and per-channel offset ``b`` of ``hazy ~ t clear + b``.

    Args:
        hazy, clear: ``HxWx3`` uint8 RGB of one size.

    Returns:
        ``t`` ``(h, w)``, ``b`` ``(h, w, 3)`` (in [0, 1] units) and ``valid`` ``(h, w)`` bool: blocks
        with texture in ``clear`` and no clipped pixel in either image.
    """
    if hazy.shape != clear.shape or hazy.ndim != 3:
        raise ValueError(f"expected two HxWx3 images of one size, got {hazy.shape} and {clear.shape}")
    i = hazy.astype(np.float64) / 255.0
    j = clear.astype(np.float64) / 255.0
    mi, mj = _block_means(i), _block_means(j)
    cov = (_block_means(i * j) - mi * mj).sum(axis=2)
    var = (_block_means(j * j) - mj * mj).sum(axis=2)
    t = cov / np.maximum(var, 1e-12)
    b = mi - t[..., None] * mj
    clipped = _block_means(((hazy >= 254) | (clear >= 254) | (clear <= 1)).any(axis=2).astype(np.float64)) > 0
    valid = (var > 3 * (BLOCK_MIN_STD / 255.0) ** 2) & ~clipped & (t > 0.02) & (t < 1.2)
    return t, b, valid


def haze_stats(hazy: np.ndarray, clear: np.ndarray) -> HazeStats:
    """The haze statistics of a hazy / clear pair (``HxWx3`` uint8 RGB of one size; see module doc).

    Raises:
        ValueError: no block has enough texture to read the transmission from.
    """
    t, b, valid = transmission_blocks(hazy, clear)
    if not valid.any():
        raise ValueError("no textured, unclipped block to measure the haze in")
    hazed = valid & (1.0 - t > AIRLIGHT_MIN_HAZE)
    if hazed.any():
        airlight = np.median(b[hazed] / (1.0 - t[hazed])[:, None], axis=0).clip(0.0, 1.0)
    else:
        airlight = np.full(3, np.nan)
    rows = np.arange(t.shape[0])[:, None] * np.ones_like(t)
    third = t.shape[0] / 3.0

    def median(where: np.ndarray) -> float:
        return float(np.median(t[where])) if where.any() else float("nan")

    p10, p50, p90 = np.percentile(t[valid], (10, 50, 90))
    veil = float(np.mean(hazy.astype(np.float64) - clear.astype(np.float64)))
    top, bottom = median(valid & (rows < third)), median(valid & (rows >= 2 * third))
    return HazeStats(
        float(p10),
        float(p50),
        float(p90),
        top,
        bottom,
        bottom - top,
        (float(airlight[0]), float(airlight[1]), float(airlight[2])),
        veil,
    )


# --------------------------------------------------------------------------- the families

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


# --------------------------------------------------------------------------- the probe


def rows_haze(clean: np.ndarray, t_top: float, t_bottom: float, airlight: float = 0.85) -> np.ndarray:
    """``clean`` (``HxWx3`` uint8 RGB) under haze whose transmission runs linearly from ``t_top`` in
    the first row to ``t_bottom`` in the last, grey airlight; uint8 RGB."""
    t = np.linspace(t_top, t_bottom, clean.shape[0])[:, None, None]
    return np.clip((clean / 255.0 * t + airlight * (1 - t)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


#: One setting of the rain generators for the probe, the same for the screen blend and the added streaks.
PROBE_RAIN = {"density": 0.3, "length": 30.0, "angle": 15.0, "width": 0.8, "brightness": 0.8}

#: The probe's cases: (label, type, make(clean, seed) -> degraded).
PROBES: tuple[tuple[str, str, Callable[[np.ndarray, int], np.ndarray]], ...] = (
    ("haze thickening upward (t 0.35 top to 0.75 bottom)", "haze", lambda c, i: rows_haze(c, 0.35, 0.75)),
    ("the same upside down (t 0.75 top to 0.35 bottom)", "haze", lambda c, i: rows_haze(c, 0.75, 0.35)),
    ("uniform haze (t 0.55)", "haze", lambda c, i: rows_haze(c, 0.55, 0.55)),
    (
        "streaks, screen blend (rain generator 0)",
        "rain",
        lambda c, i: synthesise("rain", c, {**PROBE_RAIN, "kind": 0}, i),
    ),
    (
        "streaks added (rain generator `added`)",
        "rain",
        lambda c, i: synthesise("rain", c, {**PROBE_RAIN, "kind": families.names("rain").index("added")}, i),
    ),
)


def probe(restorers: Mapping[str, RestorerLike], clean: Sequence[np.ndarray]) -> list[str]:
    """The probe's Markdown table: per case, the input's mean PSNR and each model's mean gain (dB)
    with its estimator's mean probability of the true type. A name ending in ``:raw`` runs without
    the refinements, ``:oracle`` is told the type (:mod:`restore.evaluation.model_columns`)."""
    names = list(restorers)
    lines = ["| case | input (dB) | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for label, kind, make in PROBES:
        pairs = [(make(c, i), c) for i, c in enumerate(clean)]
        cells = []
        for name, r in restorers.items():
            kwargs: dict[str, object] = {"refine": refine_argument(name)}
            if name.endswith(ORACLE_SUFFIX):
                kwargs["task"] = kind
            gain = np.mean([psnr(np.asarray(r.restore(y, **kwargs)), c) - psnr(y, c) for y, c in pairs])
            analyze = getattr(r, "analyze", None)
            probs = [analyze(y).probabilities.get(kind, np.nan) for y, _ in pairs] if analyze else []
            cells.append(f"{gain:+.2f}" + (f" (p {np.mean(probs):.2f})" if probs else ""))
        inp = np.mean([psnr(y, c) for y, c in pairs])
        lines.append(f"| {label} | {inp:.2f} | " + " | ".join(cells) + " |")
    return lines


# --------------------------------------------------------------------------- the report

#: The columns of each type's table: (field, header, format).
COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rain": (
        ("angle", "angle (deg)", "{:+.0f}"),
        ("coherence", "coherence", "{:.2f}"),
        ("width", "width (sigma, px)", "{:.2f}"),
        ("length", "length (px)", "{:.0f}"),
        ("contrast", "contrast (grey)", "{:.0f}"),
        ("density", "density", "{:.3f}"),
        ("variation", "variation", "{:.2f}"),
        ("bright_ratio", "bright / dark", "{:.2f}"),
    ),
    "haze": (
        ("t_p10", "t p10", "{:.2f}"),
        ("t_median", "t median", "{:.2f}"),
        ("t_p90", "t p90", "{:.2f}"),
        ("t_top", "t top third", "{:.2f}"),
        ("t_bottom", "t bottom third", "{:.2f}"),
        ("t_rise", "t bottom - top", "{:+.2f}"),
        ("airlight", "airlight (R, G, B)", "{:.2f}"),
        ("veil", "veil (grey)", "{:+.0f}"),
    ),
}


def _values(stats: Sequence[Stats], field: str) -> np.ndarray:
    v = np.array([getattr(s, field) for s in stats], dtype=np.float64)
    return v[np.all(np.isfinite(v), axis=-1)] if v.ndim > 1 else v[np.isfinite(v)]


def _cell(stats: Sequence[Stats], field: str, fmt: str) -> str:
    """One value, or over several samples ``median (p10 to p90)``; per channel for the airlight."""
    v = _values(stats, field)
    if len(v) == 0:
        return "—"
    if v.ndim > 1:
        med = np.median(v, axis=0)
        return (
            ", ".join(fmt.format(m) for m in med) if len(v) == 1 else "median " + ", ".join(fmt.format(m) for m in med)
        )
    if len(v) == 1:
        return fmt.format(v[0])
    lo, med, hi = np.percentile(v, (10, 50, 90))
    return f"{fmt.format(med)} ({fmt.format(lo)} to {fmt.format(hi)})"


def table(name: str, pairs: Sequence[Measured], generators: Sequence[Measured]) -> list[str]:
    """The Markdown table of type ``name``: the pairs one by one, then each generator."""
    cols = COLUMNS[name]
    lines = [
        "| row | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for row in (*pairs, *generators):
        label = f"**{row.label}**" if row.ranges else row.label
        if row.ranges:
            label += f" ({row.ranges}; {len(row.stats)} samples)"
        lines.append(f"| {label} | " + " | ".join(_cell(row.stats, f, fmt) for f, _, fmt in cols) + " |")
    return lines


def coverage(name: str, pairs: Sequence[Measured], generators: Sequence[Measured]) -> list[str]:
    """Per set and statistic: the pairs' span, and the share of each generator's samples inside it
    (by the generator's number; ``o``: the original synthesis)."""
    lines = []
    for group in dict.fromkeys(p.label.split(" ")[0] for p in pairs):
        members = [p for p in pairs if p.label.split(" ")[0] == group]
        cells = []
        for field, header, fmt in COLUMNS[name]:
            v = np.concatenate([_values(p.stats, field) for p in members])
            if v.ndim > 1 or len(v) == 0:
                continue
            lo, hi = float(v.min()), float(v.max())
            shares = []
            for g in generators:
                gv = _values(g.stats, field)
                key = "o" if g.label == ORIGINAL else g.label.split(":")[0]
                share = float(np.mean((gv >= lo) & (gv <= hi))) if len(gv) else 0.0
                shares.append(f"{key} {100 * share:.0f}")
            cells.append(f"  - {header} {fmt.format(lo)} to {fmt.format(hi)}: " + ", ".join(shares))
        lines += [f"- {group} ({len(members)} pairs): % of each generator's samples inside the pairs' span", *cells]
    return lines


#: The probe's default models: the networks alone, and DFPIR told the type.
PROBE_MODELS = ("ndr-restore:raw", "dfpir:raw", "dfpir:oracle")

#: Text after this line in an existing report is kept when the report is written again.
KEEP_MARKER = "<!-- written by hand below: kept when the measurements above are regenerated -->"


def report(
    pairs: dict[str, list[Measured]],
    generators: dict[str, list[Measured]],
    *,
    photos: Sequence[Path],
    suite: str = "",
    probed: Sequence[str] = (),
    kept: str = "",
) -> str:
    """The Markdown report: per type, the pairs and the generators, and the coverage lines; then
    the probe's table ``probed``, ``suite`` (the pair sets' paper-suite report) and ``kept`` (text
    after :data:`KEEP_MARKER`)."""
    lines = [
        "# Real rain and haze against our synthesis",
        "",
        "Written by `python -m restore.evaluation.weather_stats` (module doc: how each statistic is measured). "
        "The pairs are the paper suite's rain and haze sets: TEST data, measured here and never trained on; "
        "what these numbers may steer is a generator's parameter *range*, so that it covers real rain and haze "
        "in general. Each generator is drawn uniformly in its training ranges on "
        f"{len(photos)} validation photos ({', '.join(p.name for p in photos)}), shrunk and cropped to 480x320 "
        "(the rain pairs' size), one seeded sample each in turn; its cells give the median and the 10th to 90th "
        "percentile over its samples.",
    ]
    for name, intro in (
        (
            "rain",
            "Streaks from the white top-hat of `input - target`. angle: from vertical, positive leans the top right; "
            "width: Gaussian sigma with the streaks' autocorrelation across them (the synthesis' `width`); length: "
            "half-maximum width of the autocorrelation along them; contrast: mean streak strength (grey levels) on "
            "streak pixels; density: their share of the frame; variation: std / mean of the streak strength on them; "
            "bright / dark: the streaks' strength over bright ground over that over dark ground (1: added to the "
            "scene; a screen blend fades them over bright ground).",
        ),
        (
            "haze",
            "Per 16-px block with texture, `input ~ t target + A (1 - t)`, one `t` for the three channels; the "
            "airlight `A` is the median over the hazed blocks. t p10 / median / p90 over the blocks, and its "
            "medians in the top and bottom thirds of the frame; veil: mean of `input - target` (grey levels).",
        ),
    ):
        lines += ["", f"## {name.capitalize()}", "", intro, "", *table(name, pairs[name], generators[name]), ""]
        lines += ["Coverage (`o`: the original synthesis, then the generators by number):", ""]
        lines += coverage(name, pairs[name], generators[name])
    if probed:
        lines += [
            "",
            "## Probe: what the models recognise",
            "",
            "Mean gain (dB) over the input on the same clean photos, and (p) the estimator's mean probability "
            "of the true type; `:raw` the network alone, `:oracle` told the type. The haze cases have one "
            "transmission per row (airlight 0.85); the streak cases one setting of the rain generators "
            f"({', '.join(f'{k} {v:g}' for k, v in PROBE_RAIN.items())}), screen-blended or added.",
            "",
            *probed,
        ]
    if suite:
        demoted = "\n".join("#" + line if line.startswith("#") else line for line in suite.strip().splitlines())
        lines += ["", demoted]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + KEEP_MARKER + "\n" + kept if kept else "")


def kept_text(path: Path) -> str:
    """What follows :data:`KEEP_MARKER` in ``path`` (empty when there is no such file or marker)."""
    if not path.is_file():
        return ""
    text = path.read_text()
    return text.split(KEEP_MARKER, 1)[1].lstrip("\n") if KEEP_MARKER in text else ""


def main(argv: list[str] | None = None) -> int:
    """CLI: measure the pairs and the generators, run the paper suite on the pair sets, write the report."""
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.weather_stats", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--paper-data", type=Path, default=None, help="the paper data folder (default: the suite's)")
    parser.add_argument(
        "--photos", type=Path, default=None, help="clean photos for the generators (default data/photos/val)"
    )
    parser.add_argument("--n", type=int, default=24, help="samples per generator (default 24)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--models",
        type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        default=list(DEFAULT_MODELS),
        help=f"models for the pair sets' paper-suite report (default {','.join(DEFAULT_MODELS)}; 'none': no report)",
    )
    parser.add_argument(
        "--probe-models",
        type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
        default=list(PROBE_MODELS),
        help=f"models for the probe (default {','.join(PROBE_MODELS)}; 'none': no probe)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/weather-stats.md"))
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenCV threads")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.n < 1:
        parser.error("--n must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)
    root = args.paper_data or default_paper_data()
    photos = (
        sorted(p for p in args.photos.iterdir() if p.suffix.lower() in SUFFIXES) if args.photos else default_photos()
    )
    try:
        pairs = pair_stats(root)
        clean = clean_images(photos)
        generators = {name: family_stats(name, clean, args.n, args.seed) for name in ("rain", "haze")}
        probed = probe(load_restorers(args.probe_models), clean) if args.probe_models != ["none"] else []
        suite = ""
        if args.models != ["none"]:
            cases = [c for c in CASES if c.kind == "pair"]
            runs = run_suite(root, load_restorers(args.models), cases=cases, progress=True)
            suite = paper_markdown(runs)
    except (PaperDataError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = report(pairs, generators, photos=photos, suite=suite, probed=probed, kept=kept_text(args.out))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
