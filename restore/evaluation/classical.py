"""Classical restoration methods, one or two per degradation type, on uint8 RGB numpy arrays.

Every method takes an ``HxWx3`` uint8 RGB array and returns uint8 RGB:

- noise: :func:`nlmeans` (OpenCV NL-means) and :func:`cbm3d` (the optional ``bm3d`` package),
  both driven by the blind noise estimate :func:`estimate_noise_sigma`;
- haze: :func:`dehaze_dcp` (dark channel prior, built on :func:`dark_channel` and
  :func:`restore.refinements.guided.guided_filter`);
- low resolution: :func:`bicubic`;
- low light: :func:`brighten`;
- blur: :func:`richardson_lucy`, which needs the true kernel.

:mod:`restore.evaluation.baselines` registers them behind one call signature and chains them for mixtures;
import from there unless you need a method on its own.
"""

from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from restore.images import to_uint8
from restore.noise import image_noise_level
from restore.refinements.guided import guided_filter

logger = logging.getLogger(__name__)


def check_rgb(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        shape = getattr(img, "shape", None)
        raise ValueError(f"expected an HxWx3 uint8 RGB numpy array, got {type(img).__name__} {shape}")


# --------------------------------------------------------------------------- noise


def estimate_noise_sigma(img: np.ndarray) -> float:
    """Blind estimate of additive white noise: sigma on the 0-255 scale, the mean over the three
    channels of the project's one estimator (:func:`restore.noise.image_noise_level`).

    Args:
        img: ``HxWx3`` uint8 RGB.
    """
    check_rgb(img)
    return float(image_noise_level(img, clip_aware=True).mean()) * 255.0


def nlmeans(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Non-local means denoising (``cv2.fastNlMeansDenoisingColored``).

    The filter strength follows the noise level: ``sigma`` if given (0-255 scale), otherwise
    :func:`estimate_noise_sigma`. Parameters were tuned on the benchmark photos with Gaussian
    noise: 3x3 patches and ``h = 0.7 sigma`` up to sigma 30, then 5x5 patches and
    ``h = 0.6 sigma``; a 21x21 search window (35x35 was slower and no better).

    Args:
        img: ``HxWx3`` uint8 RGB.
        sigma: the noise sigma if known; ``None`` estimates it from the image.

    Returns:
        ``HxWx3`` uint8 RGB.
    """
    check_rgb(img)
    if sigma is None:
        sigma = estimate_noise_sigma(img)
        logger.debug("nlmeans: estimated noise sigma %.1f", sigma)
    if sigma <= 0:
        return img.copy()
    template, h = (3, 0.7 * sigma) if sigma <= 30 else (5, 0.6 * sigma)
    bgr = np.ascontiguousarray(img[..., ::-1])  # OpenCV's colour conversion assumes BGR
    out = cv2.fastNlMeansDenoisingColored(bgr, None, h, h, template, 21)
    return np.ascontiguousarray(out[..., ::-1])


def cbm3d(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """CBM3D denoising through the optional ``bm3d`` package (never a dependency).

    Args:
        img: ``HxWx3`` uint8 RGB.
        sigma: the noise sigma if known (0-255 scale); ``None`` estimates it from the image.

    Returns:
        ``HxWx3`` uint8 RGB.

    Raises:
        ModuleNotFoundError: when ``bm3d`` is not installed (``pip install bm3d``).
    """
    check_rgb(img)
    import bm3d

    if sigma is None:
        sigma = estimate_noise_sigma(img)
    out = bm3d.bm3d_rgb(img.astype(np.float64) / 255.0, sigma_psd=max(sigma, 1e-3) / 255.0)
    return to_uint8(np.asarray(out))


# --------------------------------------------------------------------------- haze


def dark_channel(x: np.ndarray, patch: int = 15) -> np.ndarray:
    """Dark channel: the minimum over colours and a ``patch`` x ``patch`` window.

    Args:
        x: ``HxWx3`` float in ``[0, 1]``.

    Returns:
        ``HxW`` float, same dtype.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(x.min(axis=2), kernel, borderType=cv2.BORDER_REFLECT)


def dehaze_dcp(
    img: np.ndarray,
    *,
    patch: int = 15,
    omega: float = 0.95,
    t_min: float = 0.1,
    top: float = 0.001,
    eps: float = 1e-3,
) -> np.ndarray:
    """Dark channel prior dehazing (He, Sun, Tang, CVPR 2009 / TPAMI 2011).

    The airlight is the per-channel mean of the input over the brightest ``top`` fraction
    (0.1 %) of dark-channel pixels (the mean rather than the single brightest pixel, so a
    specular highlight cannot capture it). The transmission ``1 - omega * dark(I / A)`` is
    refined with a guided filter on the grey image (radius ~1/10 of the short side, as He's
    60 px on 600 px images), clamped at ``t_min``, and the scene recovered as
    ``J = (I - A) / t + A``.

    Args:
        img: ``HxWx3`` uint8 RGB.

    Returns:
        ``HxWx3`` uint8 RGB.
    """
    check_rgb(img)
    x = img.astype(np.float64) / 255.0
    dark = dark_channel(x, patch)
    n = max(1, int(round(dark.size * top)))
    idx = np.argpartition(dark.ravel(), -n)[-n:]
    airlight = x.reshape(-1, 3)[idx].mean(axis=0).clip(0.05, 1.0)  # (3,)
    t = 1.0 - omega * dark_channel(x / airlight, patch)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0
    radius = max(4, min(img.shape[:2]) // 10)
    t = np.clip(guided_filter(grey, t.astype(np.float64), radius, eps), t_min, 1.0)
    out = (x - airlight) / t[..., None] + airlight
    return to_uint8(out)


# --------------------------------------------------------------------------- low resolution


def bicubic(img: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upscaling by an integer ``factor`` (OpenCV ``INTER_CUBIC``).

    Args:
        img: ``hxwx3`` uint8 RGB (the small image).
        factor: the scale factor, >= 1.

    Returns:
        ``(h * factor)x(w * factor)x3`` uint8 RGB.
    """
    check_rgb(img)
    if factor < 1:
        raise ValueError(f"upscale factor must be >= 1, got {factor}")
    if factor == 1:
        return img.copy()
    h, w = img.shape[:2]
    return cv2.resize(img, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)


# --------------------------------------------------------------------------- low light


def brighten(
    img: np.ndarray,
    *,
    percentile: float = 99.5,
    target: float = 0.9,
    mean_target: float = 0.45,
    gamma_range: tuple[float, float] = (1 / 2.2, 1.0),
) -> np.ndarray:
    """Low-light enhancement by max-normalisation and gamma.

    Scale so the ``percentile`` brightness reaches ``target``, then apply ``x ** g`` with the
    gamma chosen so the mean brightness becomes ``mean_target`` (clamped to ``gamma_range``:
    at most the sRGB-like 1/2.2, and never darkening).

    Args:
        img: ``HxWx3`` uint8 RGB.

    Returns:
        ``HxWx3`` uint8 RGB.
    """
    check_rgb(img)
    x = img.astype(np.float64) / 255.0
    peak = max(float(np.percentile(x, percentile)), 1.0 / 255.0)
    x = np.clip(x * (target / peak), 0.0, 1.0)
    mean = float(x.mean())
    g = math.log(mean_target) / math.log(mean) if 0.0 < mean < 1.0 else 1.0
    g = min(max(g, gamma_range[0]), gamma_range[1])
    return to_uint8(x**g)


# --------------------------------------------------------------------------- blur


def richardson_lucy(img: np.ndarray, kernel: np.ndarray, iterations: int = 30) -> np.ndarray:
    """Richardson-Lucy deconvolution with a known blur kernel.

    The forward model matches :func:`restore.synthesis.ops.blur`: a correlation with
    ``kernel`` (``F.conv2d``) and mirrored borders; the update uses the flipped kernel.

    Args:
        img: ``HxWx3`` uint8 RGB, the blurred image.
        kernel: ``KxK`` float kernel (odd K, sums to 1).
        iterations: number of multiplicative updates.

    Returns:
        ``HxWx3`` uint8 RGB.
    """
    check_rgb(img)
    k = np.asarray(kernel, dtype=np.float32)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 2 == 0:
        raise ValueError(f"expected an odd square 2-D kernel, got shape {k.shape}")
    k = k / k.sum()
    k_flip = np.ascontiguousarray(k[::-1, ::-1])
    border = cv2.BORDER_REFLECT_101  # torch's "reflect" padding
    y = img.astype(np.float32) / 255.0 + 1e-3  # keep the ratio finite in black areas
    est = y.copy()
    for _ in range(iterations):
        blurred = cv2.filter2D(est, -1, k, borderType=border)
        est *= cv2.filter2D(y / np.maximum(blurred, 1e-6), -1, k_flip, borderType=border)
    return to_uint8(est - 1e-3)
