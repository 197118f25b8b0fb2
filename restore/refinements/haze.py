"""Haze pass: dehaze at the scale the network was trained on, then carry the correction to full size.

Haze is a per-pixel affine change of the photo: ``I = J t + A (1 - t)``, so the clear scene is
``J = I / t - A (1 - t) / t``, an affine function of the hazy pixel whose slope ``1 / t`` and offset
vary only as slowly as the scene's depth. Two things go wrong when the network dehazes a photo at
full size:

- it judges the haze from what fits in its view, and it was trained on 256-px crops. On a larger
  photo it sees a smaller share of the scene and removes less haze than it does on a copy shrunk
  to 256 px;
- it smooths away the fine detail it has to amplify by ``1 / t`` (up to 7x in the far parts).

So, on photos the degradation estimator finds hazy, the network also restores a copy of the photo
shrunk (area filter) to ``WORK_SIDE`` px on its longest side. There a guided filter (He, Sun and
Tang, 2010, 2015) fits the network's output as a local affine function of its input,
``y ~ a x + b`` in windows of ``2 RADIUS + 1`` px, with one slope ``a`` shared by the three colour
channels (the haze model's ``1 / t`` is the same for all three) and one offset per channel. The
smoothed ``a`` and ``b`` are enlarged (bilinear) to the photo's size and applied to the full-size
input itself, which keeps the input's own detail. ``WORK_SIDE`` and ``RADIUS`` were chosen on the
validation photos; ``docs/MODEL_CARD.md`` has the scores against the network alone and the dark
channel prior.

The fit is only right where the network's change *was* affine in the input. Removing noise, rain
or blur, or brightening a dark photo's noise away, is not: the fit would put the noise, streaks
or blur back, amplified. For those photos the pass takes only the low frequencies from the small
restoration (the haze is a slow change): the difference between it and the full-size restoration
shrunk to its size, blurred (Gaussian, ``LOW_SIGMA`` px of the small copy), enlarged and added;
the detail stays the full-size network's. On dark photos the pass lowers the score, so it is kept
off them.

Where the full-size restoration removed more haze than the small copy's (the premise above failed:
SOTS-outdoor ``0001``), the pass can carry the full-size amount instead (``follow_stronger``,
:data:`FOLLOW_RAMP_GREY`); which networks do is measured per model
(``restore.inference.refine.HAZE_FOLLOWS_FULL_SIZE``).

Both parts are weighted from the degradation estimator's probabilities ``p``:

- the pass as a whole by ``p(haze) (1 - p(lowlight))``;
- within it, the carry (rather than the low frequencies only) by the product of ``1 - p`` over
  noise, rain, blur and low resolution, times a factor that falls from 1 to 0 as the input's noise
  level (Donoho's estimate, :func:`restore.refinements.wiener.image_noise_sigma`, the largest opponent channel)
  rises from ``NOISE_FREE_GREY`` to twice that: noise the estimator does not flag is amplified too.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from restore.images import fit_within
from restore.refinements.guided import guided_coefficients
from restore.refinements.wiener import noise_ramp

#: Longest side (px) of the copy the network dehazes: its training crops' side.
WORK_SIDE = 256
#: Half-width (px of the small copy) of the guided filter's window, and its regulariser (in
#: [0, 1]² units: a local contrast below about one grey level is not stretched).
RADIUS = 16
EPS = 1e-5
#: Noise level (grey levels) up to which the carry is fully on; it is off from twice this.
NOISE_FREE_GREY = 2.0
#: Blur (px of the small copy) of the low-frequency correction used for haze mixed with noise or rain.
LOW_SIGMA = 4.0
#: A pass weight below this is taken as 0 (the pass is skipped, saving its network run).
MIN_WEIGHT = 0.01
#: Rows of the full-size image processed at a time (the result does not depend on it).
STRIP_ROWS = 512
#: With ``follow_stronger``, the pass follows the full-size restoration where it removed more haze
#: than the small copy's (:func:`haze_removed`): fully from this margin on (grey levels of mean
#: brightness), in proportion below it. Chosen on the validation crops (0, 2 and 5 levels tried).
FOLLOW_RAMP_GREY = 2.0


def pass_weights(probabilities: Mapping[str, float], noise_grey: float) -> tuple[float, float]:
    """The weight of the haze pass, and within it of the carry (see module doc), both 0..1.

    ``noise_grey``: the input's noise level, the largest opponent channel of
    :func:`restore.refinements.wiener.image_noise_sigma`, in grey levels. A probability that is missing or not
    finite counts as 1 for haze's rivals (so the pass is off)."""

    def p(t: str) -> float:
        v = float(probabilities.get(t, float("nan")))
        return v if np.isfinite(v) else (0.0 if t == "haze" else 1.0)

    haze = p("haze") * (1.0 - p("lowlight"))
    if haze < MIN_WEIGHT:
        return 0.0, 0.0
    clean = float(np.prod([1.0 - p(t) for t in ("noise", "rain", "blur", "lowres")]))
    return haze, clean * noise_factor(noise_grey) if clean > 0.0 else 0.0


def noise_factor(noise_grey: float) -> float:
    """1 for a clean input, 0 for a noisy one (see module doc); ``noise_grey`` as in :func:`pass_weights`."""
    return noise_ramp(noise_grey, NOISE_FREE_GREY)


def working_copy(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` shrunk (area) to ``WORK_SIDE`` px on its longest side; smaller photos as they are."""
    return fit_within(rgb, WORK_SIDE)


def affine_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed coefficients ``a`` ``(h, w)`` and ``b`` ``(h, w, 3)`` of the shared-slope guided
    filter of ``y`` with guide ``x`` (both ``(h, w, 3)`` float32 in [0, 1])."""
    return guided_coefficients(x, y, RADIUS, EPS)


def haze_removed(hazy: np.ndarray, restored: np.ndarray) -> float:
    """How much haze a restoration took away, as the fall of the mean brightness (0..1 units) from
    ``hazy`` (uint8) to ``restored`` (float in [0, 1]), both ``(h, w, 3)``: haze adds airlight, so
    removing it darkens the photo on the whole."""
    return float(hazy.mean(dtype=np.float64) / 255.0 - np.asarray(restored).mean(dtype=np.float64))


def haze_pass(
    rgb: np.ndarray,
    small: np.ndarray,
    small_restored: np.ndarray,
    restored: np.ndarray,
    weight: float,
    carry_weight: float = 1.0,
    follow_stronger: bool = False,
) -> np.ndarray:
    """Blend the haze pass (see module doc) into ``restored``.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB, the input.
        small: ``(h, w, 3)`` uint8 RGB, its working copy (:func:`working_copy`).
        small_restored: ``(h, w, 3)`` float RGB in [0, 1], the network's output for ``small``.
        restored: ``(H, W, 3)`` float RGB in [0, 1], the full-size restoration (left unchanged).
        weight: 0..1, the pass's share; carry_weight: 0..1, the carry's share within it (the rest
            is the low-frequency correction). See :func:`pass_weights`.
        follow_stronger: where the full-size restoration removed more haze than the small copy's
            (the pass's premise failed), carry the full-size amount instead (see
            :data:`FOLLOW_RAMP_GREY`). On for the networks whose full-size dehazing it measured
            better (``restore.inference.refine.HAZE_FOLLOWS_FULL_SIZE``).

    Returns:
        ``(H, W, 3)`` float32 in [0, 1].
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape != restored.shape:
        raise ValueError(f"expected two HxWx3 images of one size, got {rgb.shape} and {restored.shape}")
    if small.ndim != 3 or small.shape[2] != 3 or small.shape != small_restored.shape:
        raise ValueError(f"expected two hxwx3 working copies of one size, got {small.shape} and {small_restored.shape}")
    if not (0.0 <= weight <= 1.0 and 0.0 <= carry_weight <= 1.0):
        raise ValueError(f"weights must be in [0, 1], got {weight} and {carry_weight}")
    out = np.array(restored, dtype=np.float32)
    if weight == 0.0:
        return out
    h, w = rgb.shape[:2]
    sh, sw = small.shape[:2]
    ys_small = np.asarray(small_restored, dtype=np.float32)
    shrunk = out if (sh, sw) == (h, w) else cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA)
    margin = (haze_removed(small, shrunk) - haze_removed(small, ys_small)) * 255.0
    if follow_stronger and margin > 0.0:
        # The small copy removed less haze than the full-size run (its premise failed, e.g. SOTS
        # 0001, which the full-size network darkened by 10 grey levels and the copy by 0.4): keep
        # the full-size amount, and still carry it to the input's own detail.
        follow = min(1.0, margin / FOLLOW_RAMP_GREY)
        ys_small = (1.0 - follow) * ys_small + follow * shrunk
    if carry_weight > 0.0:
        a, b = affine_fit(small.astype(np.float32) / 255.0, ys_small)
    if carry_weight < 1.0:
        low = cv2.GaussianBlur(ys_small - shrunk, (0, 0), LOW_SIGMA, borderType=cv2.BORDER_REFLECT)
    # bilinear enlargement of a, b and the low-frequency correction, pixel centres aligned (as
    # cv2.resize), a strip of rows at a time
    map_x = ((np.arange(w, dtype=np.float32) + 0.5) * (sw / w) - 0.5)[None, :]
    for r0 in range(0, h, STRIP_ROWS):
        r1 = min(r0 + STRIP_ROWS, h)
        ys = (np.arange(r0, r1, dtype=np.float32) + 0.5) * (sh / h) - 0.5
        mx = np.ascontiguousarray(np.broadcast_to(map_x, (r1 - r0, w)))
        my = np.ascontiguousarray(np.broadcast_to(ys[:, None], (r1 - r0, w)))

        def up(z: np.ndarray, mx: np.ndarray = mx, my: np.ndarray = my) -> np.ndarray:
            return cv2.remap(z, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        base = out[r0:r1]
        change = np.zeros_like(base)
        if carry_weight < 1.0:
            change += (1.0 - carry_weight) * (np.clip(base + up(low), 0.0, 1.0) - base)
        if carry_weight > 0.0:
            fit = np.clip(up(a)[..., None] * (rgb[r0:r1].astype(np.float32) / 255.0) + up(b), 0.0, 1.0)
            change += carry_weight * (fit - base)
        out[r0:r1] = base + weight * change
    return out
