"""PSNR and SSIM, the yardstick of the benchmark, in numpy (one image) and torch (a batch).

Both follow the common restoration-paper convention: RGB, the full image (no border shaved, no
Y channel). SSIM uses an 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01,
K2 = 0.03 and population (co)variances, is computed per channel and averaged, and averages the
SSIM map only where the window fits inside the image (a ``(11 - 1) // 2 = 5`` pixel border is
left out). This matches::

    skimage.metrics.structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False, data_range=255,
                                          channel_axis=-1)

without needing scikit-image at run time (it is a development dependency only, used by the
tests to check these functions).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SIGMA = 1.5
TRUNCATE = 3.5
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5, as scipy.ndimage computes it
WIN_SIZE = 2 * RADIUS + 1  # 11
K1 = 0.01
K2 = 0.03


def gaussian_window(sigma: float = SIGMA, radius: int = RADIUS) -> np.ndarray:
    """The normalised 1-D Gaussian window, shape ``(2 * radius + 1,)``, float64, sum 1."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}; resize the output to the reference")
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected HxWx3 RGB arrays, got shape {a.shape}")
    if min(a.shape[:2]) < WIN_SIZE:
        raise ValueError(f"SSIM needs images at least {WIN_SIZE}x{WIN_SIZE}, got {a.shape[0]}x{a.shape[1]}")


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels.

    Args:
        a: ``HxWx3`` array (uint8 RGB, or float on the scale of ``data_range``).
        b: same shape as ``a``.
        data_range: the peak value (255 for uint8).

    Returns:
        PSNR in dB; ``float("inf")`` when the images are identical (zero error).
    """
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}; resize the output to the reference")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0.0:
        return float("inf")
    return 10.0 * math.log10(data_range**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255) -> float:
    """Mean structural similarity of two RGB images (per channel, then averaged).

    Args:
        a: ``HxWx3`` array (uint8 RGB, or float on the scale of ``data_range``), at least 11x11.
        b: same shape as ``a``.
        data_range: the dynamic range of the pixel values (255 for uint8).

    Returns:
        SSIM in ``[-1, 1]`` (1 for identical images).
    """
    _check_pair(a, b)
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    w = gaussian_window()
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    h, wd = a.shape[:2]

    def blur(img: np.ndarray) -> np.ndarray:
        # Only the interior is kept, where the window fits, so the border mode never matters.
        out = cv2.sepFilter2D(img, cv2.CV_64F, w, w, borderType=cv2.BORDER_REFLECT)
        return out[RADIUS : h - RADIUS, RADIUS : wd - RADIUS]

    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean(axis=(0, 1)).mean())


def psnr_torch(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Batched PSNR.

    Args:
        a: ``(B, C, H, W)`` float, values on the scale of ``data_range`` (``[0, 1]`` by default).
        b: same shape as ``a``.
        data_range: the peak value.

    Returns:
        ``(B,)`` float64 PSNR in dB per sample; ``inf`` where a sample's error is zero.
    """
    if a.shape != b.shape:
        raise ValueError(f"tensors differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(data_range**2 / mse)


def ssim_torch(a: Tensor, b: Tensor, data_range: float = 1.0) -> Tensor:
    """Batched SSIM, same definition as :func:`ssim`, computed in float64 on the inputs' device.

    Args:
        a: ``(B, C, H, W)`` float, values on the scale of ``data_range`` (``[0, 1]`` by default),
            H and W at least 11.
        b: same shape as ``a``.
        data_range: the dynamic range of the values.

    Returns:
        ``(B,)`` float64 mean SSIM per sample (mean over channels and valid pixels).
    """
    if a.shape != b.shape:
        raise ValueError(f"tensors differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() != 4 or min(a.shape[-2:]) < WIN_SIZE:
        raise ValueError(f"expected (B, C, H, W) with H, W >= {WIN_SIZE}, got {tuple(a.shape)}")
    x = a.double()
    y = b.double()
    ch = x.shape[1]
    w1 = torch.from_numpy(gaussian_window()).to(x.device)
    kh = w1.view(1, 1, -1, 1).expand(ch, 1, -1, 1)  # (C, 1, 11, 1): filters along H
    kw = w1.view(1, 1, 1, -1).expand(ch, 1, 1, -1)  # (C, 1, 1, 11): filters along W

    def blur(t: Tensor) -> Tensor:
        # "valid" convolution = scikit-image's filter followed by its border crop
        return F.conv2d(F.conv2d(t, kh, groups=ch), kw, groups=ch)

    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    ux, uy = blur(x), blur(y)
    vx = blur(x * x) - ux * ux
    vy = blur(y * y) - uy * uy
    vxy = blur(x * y) - ux * uy
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(2, 3)).mean(dim=1)
