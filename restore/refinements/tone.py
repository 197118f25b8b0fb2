"""Tone lock: the network changes a photo's overall brightness and colour only where the degradation
estimator finds a degradation that changes them.

Most degradations leave a photo's large-scale brightness and colour where they were: noise is zero
mean, blur and resampling move light around without adding or removing any, JPEG keeps each block's
mean. So restoring them must keep the local means of the photo, measured over cells much larger
than any detail. Three types do change them:

- low light dims the whole photo (and may tint it): restoring it brightens;
- haze adds airlight and dims the scene behind it: restoring it darkens the haze and may brighten
  what was behind it;
- rain adds light (streaks, a veil): restoring it may darken, never brighten.

The networks' global paths (NDR-Restore's and DFPIR's affine heads, their pooled features) do not
ask the estimator before they shift the tone. Measured on the paper suite (noise sigma 15, the
estimator right: p(noise) 0.99, no other type above 0.12), NDR-Restore darkened a penguin on snow
by 31 grey levels and brightened a grey vase by 17. The lock undoes such shifts:

1. the input and the output are averaged over a coarse grid of cells (area filter, ``CELLS`` cells
   along the photo's short side, at least ``MIN_CELL`` px each); the output as the noisy input
   would show it, since noise clipped at black and white lifts a noisy photo's shadows and lowers
   its highlights (by 20 grey levels at black for sigma 50);
2. the difference of the two grids, input minus output, is the tone shift the network made, per
   cell and colour channel;
3. it is given back to the output, enlarged bilinearly (pixel centres aligned, as ``cv2.resize``),
   weighted by how implausible the shift is: a brightening by ``(1 - p(lowlight)) (1 - p(haze))``,
   a darkening by that times ``(1 - p(rain))``.

The correction is as smooth as the grid, so the network's detail (denoised texture, sharpened
edges, removed streaks) stays; only the low frequencies move back. Where the estimator is sure of
low light or haze the lock is off, and where the estimator is wrong it cannot help: an estimator
that calls a dark scene low light lets the network brighten it (the fix there is the estimator's,
:mod:`restore.training.estimator_fit`'s scene tones).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch

#: Cells of the grid along the photo's short side.
CELLS = 8
#: Smallest cell side (px): below it the cell means would still carry noise and fine structure.
MIN_CELL = 24
#: A lock weight below this is taken as 0 (the lock is skipped).
MIN_WEIGHT = 0.01
#: Steps of the table :func:`clipped_mean` looks values up in (its error is below 0.05 grey levels).
LUT_STEPS = 4096
#: Longest side (px) of the output copy whose clipped-noise means are computed (:func:`tone_shift`).
MODEL_SIDE = 1024
#: Rows of the full-size image corrected at a time (the result does not depend on it).
STRIP_ROWS = 512


def lock_weights(probabilities: Mapping[str, float]) -> tuple[float, float]:
    """The lock's weights ``(brightening, darkening)``, both 0..1, from the estimator's type
    probabilities (see module doc). A probability that is missing or not finite counts as 1 (the
    lock stays off for what it would have allowed)."""

    def p(t: str) -> float:
        v = float(probabilities.get(t, float("nan")))
        return min(max(v, 0.0), 1.0) if np.isfinite(v) else 1.0

    up = (1.0 - p("lowlight")) * (1.0 - p("haze"))
    down = up * (1.0 - p("rain"))
    return (up if up >= MIN_WEIGHT else 0.0), (down if down >= MIN_WEIGHT else 0.0)


def grid_shape(height: int, width: int) -> tuple[int, int]:
    """Rows and columns of the cell grid for an image of this size."""
    cell = max(MIN_CELL, min(height, width) / CELLS)
    return max(1, round(height / cell)), max(1, round(width / cell))


def _axis(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear enlargement from ``n_in`` to ``n_out`` samples along one axis, pixel centres
    aligned: lower and upper source indices and the upper one's weight."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0.0, n_in - 1)
    lo = np.floor(src).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (src - lo).astype(np.float32)


def clipped_mean(x: np.ndarray, sigma: float) -> np.ndarray:
    """``E[clip(x + n, 0, 1)]`` for ``n ~ N(0, sigma^2)``: what a pixel of value ``x`` (in [0, 1])
    averages to in a noisy 8-bit photo. Near black and white the clipping lifts or lowers it (by
    0.4 sigma at 0), so a noisy photo's dark and bright parts are not as dark or bright as the scene."""
    x = np.asarray(x, dtype=np.float32)
    if sigma <= 0.0:
        return x
    # a smooth function of x for one sigma: tabulated at LUT_STEPS + 1 points, then looked up
    t = torch.linspace(0.0, 1.0, LUT_STEPS + 1, dtype=torch.float64)
    a, b = -t / sigma, (1.0 - t) / sigma
    pdf = lambda z: torch.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)  # noqa: E731
    cdf_a, cdf_b = torch.special.ndtr(a), torch.special.ndtr(b)
    table = (t * (cdf_b - cdf_a) + sigma * (pdf(a) - pdf(b)) + (1.0 - cdf_b)).float().numpy()
    idx = np.clip(x * LUT_STEPS + 0.5, 0, LUT_STEPS).astype(np.intp)
    return table[idx]


def tone_shift(rgb: np.ndarray, restored: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """Input minus output, averaged over the grid's cells: ``(gh, gw, 3)`` float32 on the [0, 1]
    scale (positive where the output is darker).

    ``sigma``: the input's noise level (full scale). The output's cell means are then taken as
    the noisy input would show them (:func:`clipped_mean`, on a copy of at most ``MODEL_SIDE`` px),
    so the clipping of the noise is not read as a tone shift."""
    h, w = rgb.shape[:2]
    gh, gw = grid_shape(h, w)
    src = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else np.asarray(rgb, dtype=np.float32)
    a = cv2.resize(src, (gw, gh), interpolation=cv2.INTER_AREA).reshape(gh, gw, 3)
    out = np.asarray(restored, dtype=np.float32)
    if sigma > 0.0:
        scale = min(1.0, MODEL_SIDE / max(h, w))
        if scale < 1.0:
            size = (max(gw, round(w * scale)), max(gh, round(h * scale)))
            out = cv2.resize(out, size, interpolation=cv2.INTER_AREA)
        out = clipped_mean(out, sigma)
    b = cv2.resize(out, (gw, gh), interpolation=cv2.INTER_AREA).reshape(gh, gw, 3)
    return a - b


def tone_lock(rgb: np.ndarray, restored: np.ndarray, weights: tuple[float, float], sigma: float = 0.0) -> np.ndarray:
    """``restored`` with the tone shifts the weights do not allow given back (see module doc).

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB, the input (upscaled to the output's size for super-resolution).
        restored: ``(H, W, 3)`` float RGB in [0, 1], the restoration (left unchanged).
        weights: ``(brightening, darkening)`` from :func:`lock_weights`.
        sigma: the input's noise level (full scale, e.g. the largest channel of
            :func:`restore.refinements.wiener.image_noise_sigma`), for :func:`tone_shift`.

    Returns:
        ``(H, W, 3)`` float32 in [0, 1].
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape != restored.shape:
        raise ValueError(f"expected two HxWx3 images of one size, got {rgb.shape} and {restored.shape}")
    up, down = weights
    if not (0.0 <= up <= 1.0 and 0.0 <= down <= 1.0):
        raise ValueError(f"weights must be in [0, 1], got {weights}")
    out = np.array(restored, dtype=np.float32)
    if up == 0.0 and down == 0.0:
        return out
    d = tone_shift(rgb, out, sigma)
    # d < 0: the output is brighter than the input there; d > 0: darker
    field = np.where(d < 0.0, up * d, down * d).astype(np.float32)
    h, w = out.shape[:2]
    gh, gw = field.shape[:2]
    x0, x1, fx = _axis(w, gw)
    rows = field[:, x0] * (1.0 - fx)[None, :, None] + field[:, x1] * fx[None, :, None]  # (gh, W, 3)
    y0, y1, fy = _axis(h, gh)
    for r in range(0, h, STRIP_ROWS):
        s = slice(r, min(h, r + STRIP_ROWS))
        f = fy[s][:, None, None]
        out[s] += rows[y0[s]] * (1.0 - f) + rows[y1[s]] * f
    return np.clip(out, 0.0, 1.0, out=out)
