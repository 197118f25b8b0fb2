"""Rain, from the residual ``input - target`` of a rainy / clean pair (grey levels, channel mean):

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
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
