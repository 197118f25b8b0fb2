"""The one guided filter (He et al.), shared by the haze pass and the dark-channel-prior baseline.

The output is a local affine function of the guide, ``a * guide + b``, fitted in every
``(2 r + 1)``-px window by least squares with the slope regularised by ``eps``, then averaged over
the windows that cover each pixel. With a colour guide one slope is shared by the three channels
(a scalar ``a``, a colour ``b``), as a change of transmission or exposure scales all channels alike.
Computed in the dtype of the inputs (float32 or float64), with box filters that reflect at the border.
"""

from __future__ import annotations

import cv2
import numpy as np


def box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2 radius + 1)``-px square window, reflecting at the border, per channel."""
    k = 2 * radius + 1
    return cv2.blur(x, (k, k), borderType=cv2.BORDER_REFLECT).reshape(x.shape)


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The window-averaged coefficients ``a`` ``(H, W)`` and ``b`` (shaped as ``src``).

    Args:
        guide: ``(H, W)`` grey or ``(H, W, 3)`` colour guide, float, in [0, 1].
        src: the image to filter, shaped as ``guide``, float.
        radius: window radius in px.
        eps: slope regulariser (per channel for a colour guide).
    """
    if guide.shape != src.shape or guide.ndim not in (2, 3):
        raise ValueError(f"guide and src must be two HxW or HxWxC arrays of one shape, got {guide.shape}, {src.shape}")
    mg, ms = box(guide, radius), box(src, radius)
    cov = box(guide * src, radius) - mg * ms
    var = box(guide * guide, radius) - mg * mg
    if guide.ndim == 3:
        a = cov.sum(axis=2) / (var.sum(axis=2) + guide.shape[2] * eps)
        b = ms - a[..., None] * mg
    else:
        a = cov / (var + eps)
        b = ms - a * mg
    return box(a, radius), box(b, radius)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """``src`` filtered with edges that follow ``guide`` (shapes and units as :func:`guided_coefficients`)."""
    a, b = guided_coefficients(guide, src, radius, eps)
    return (a[..., None] if guide.ndim == 3 else a) * guide + b
