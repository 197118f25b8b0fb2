"""Haze, with the scattering model ``I = J t + A (1 - t)`` per pixel of a hazy / clear pair:

- in blocks of :data:`BLOCK` px with texture in the target, ``I ~ t J + b`` with one slope ``t``
  for the three channels and an offset ``b = A (1 - t)`` per channel (least squares);
- the airlight ``A`` per channel is the median of ``b / (1 - t)`` over the blocks with some haze;
- ``t`` is reported by its 10th, 50th and 90th percentiles over the blocks, ``t_top`` and
  ``t_bottom`` its medians in the upper and lower thirds of the frame and ``t_rise`` their
  difference (positive: the haze thickens toward the top, as the synthesis' scene prior puts the
  far there), and ``veil`` is the mean of ``I - J`` (grey levels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Side (px) of the haze blocks, and the least texture (grey levels, std of the target) they need.
BLOCK = 16
BLOCK_MIN_STD = 4.0
#: Blocks with ``1 - t`` below this carry too little airlight to read it from.
AIRLIGHT_MIN_HAZE = 0.05


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
