"""Pilot-guided Wiener refinement: the network's output steers a classical filter of the input.

A small network restores noise by smoothing, and with the noise it smooths away fine texture. The
second step of BM3D (Dabov et al., 2007) shows how to get the texture back: treat a first estimate
as a *pilot* and filter the noisy input empirically, coefficient by coefficient, in a local
transform, keeping each coefficient of the input in the proportion ``P² / (P² + sigma²)`` in which
the pilot says it is signal. Here the pilot is the network's output and the transform is a
sliding 8x8 DCT (overlapping blocks, averaged) in an orthonormal opponent colour space, in which
white RGB noise stays white.

That filter assumes ``input = clean + white noise``. Haze, low light, rain and blur break the
assumption, and where they do the filter would undo the network's work. So every block is gated
by a consistency test: under the noise-only model the block means of input and output differ by
about ``sigma`` (the DC coefficient of the residual has the noise's standard deviation), whereas
dehazing or brightening moves them by many sigmas. The gate
``exp(-mean_c (dc_c / sigma_c)² / tau²)`` keeps the network's output where the residual is not
noise-like and applies the filter where it is; the pilot's block mean is kept in any case.

The noise level comes from the input: Donoho's robust estimate (the median absolute finest-scale
diagonal Haar coefficient over 0.6745) per opponent channel, over the whole image.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.noise import image_noise_level, noise_level

#: Block side of the DCT and the stride of the sliding blocks (each pixel is in 4 blocks).
BLOCK = 8
STRIDE = 4
#: Width of the consistency gate, in noise sigmas of the residual's block mean (see module doc).
TAU = 12.0
#: Rows of the block lattice filtered at a time (bounds memory at about 1 KB per image column).
STRIP_ROWS = 128

# Orthonormal opponent colour transform: luminance and two chroma differences.
_OPP = torch.tensor(
    [
        [1 / math.sqrt(3)] * 3,
        [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
        [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)],
    ]
)


def _dct_matrix(n: int) -> Tensor:
    """Orthonormal 1-D DCT-II of length ``n`` as an ``(n, n)`` matrix (row 0: the mean)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.float()


_DCT = _dct_matrix(BLOCK)


def _transform(blocks: Tensor, matrix: Tensor) -> Tensor:
    """Apply ``matrix`` along both axes of every block: ``(C, B*B, L)`` -> ``(C, B*B, L)``
    (the separable 2-D DCT with ``_DCT``, its inverse with ``_DCT.T``)."""
    c, _, n = blocks.shape
    q = matrix @ blocks.reshape(c, BLOCK, BLOCK * n)  # along the rows of each block
    q = q.view(c, BLOCK, BLOCK, n).transpose(1, 2).reshape(c, BLOCK, BLOCK * n)
    q = matrix @ q  # along the columns
    return q.view(c, BLOCK, BLOCK, n).transpose(1, 2).reshape(c, BLOCK * BLOCK, n)


def to_opponent(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` RGB -> opponent channels (orthonormal, so white noise keeps its sigma)."""
    return torch.einsum("ij,bjhw->bihw", _OPP.to(x), x)


def from_opponent(x: Tensor) -> Tensor:
    return torch.einsum("ji,bjhw->bihw", _OPP.to(x), x)


def image_noise_sigma(rgb: np.ndarray, strip: int = 512) -> Tensor:
    """Per opponent channel white-noise sigma ``(3,)`` (in units of 1 = full scale) of an
    ``HxWx3`` uint8 image, over the whole image (:func:`restore.noise.image_noise_level`)."""
    return image_noise_level(rgb, to_opponent, strip)


def noise_ramp(sigma_grey: float, free_grey: float) -> float:
    """A gate on the input's noise level (``sigma_grey``, grey levels): 1 up to ``free_grey``,
    falling linearly to 0 at twice that."""
    return float(np.clip((2.0 * free_grey - sigma_grey) / free_grey, 0.0, 1.0))


def _pad_to_lattice(x: Tensor) -> Tensor:
    """Reflect-pad the bottom and right so whole blocks at the stride cover the image."""
    h, w = x.shape[-2:]
    ph = max(BLOCK - h, 0) + (-(max(h, BLOCK) - BLOCK)) % STRIDE
    pw = max(BLOCK - w, 0) + (-(max(w, BLOCK) - BLOCK)) % STRIDE
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


def _filter(x: Tensor, y: Tensor, sigma: Tensor, tau: float) -> tuple[Tensor, Tensor]:
    """Filter one strip. ``x``, ``y``: ``(3, h, w)`` opponent input and pilot on the lattice;
    returns the refined strip and its per-pixel gate ``(1, h, w)``."""
    h, w = x.shape[-2:]
    dct = _DCT.to(x)
    cx = _transform(F.unfold(x[:, None], BLOCK, stride=STRIDE), dct)  # (3, 64, L) coefficients
    cy = _transform(F.unfold(y[:, None], BLOCK, stride=STRIDE), dct)
    dc = (cx[:, :1] - cy[:, :1]) / sigma.view(3, 1, 1)
    gate = torch.exp(-dc.square().mean(0, keepdim=True) / tau**2)  # (1, 1, L)
    power = cy.square()
    cz = cx.mul_(power).div_(power.add_(sigma.square().view(3, 1, 1)))  # the empirical Wiener filter
    cz.sub_(cy).mul_(gate).add_(cy)  # gated: the pilot where the residual is not noise-like
    cz[:, 0] = cy[:, 0]  # the pilot's block means
    ones = torch.ones(1, BLOCK * BLOCK, cz.shape[-1], dtype=x.dtype, device=x.device)
    norm = F.fold(ones, (h, w), BLOCK, stride=STRIDE)
    out = F.fold(_transform(cz, dct.T), (h, w), BLOCK, stride=STRIDE) / norm
    g = F.fold(gate.expand(1, BLOCK * BLOCK, -1), (h, w), BLOCK, stride=STRIDE) / norm
    return out[:, 0], g[0]


def wiener_refine(x: Tensor, y: Tensor, sigma: Tensor | None = None, *, tau: float = TAU) -> tuple[Tensor, Tensor]:
    """Refine a restoration ``y`` of ``x`` (both ``(1, 3, H, W)`` RGB in [0, 1]).

    Args:
        x: the degraded input.
        y: the network's restoration of it (the pilot).
        sigma: ``(3,)`` noise sigma per opponent channel; None estimates it from ``x``.
        tau: width of the consistency gate in noise sigmas.

    Returns:
        The refined image ``(1, 3, H, W)`` (not clamped) and the gate ``(1, 1, H, W)`` in [0, 1]:
        1 where the filter was applied, 0 where the network's output was kept.
    """
    if x.shape != y.shape or x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected two (1, 3, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    h, w = x.shape[-2:]
    xo, yo = to_opponent(x.float()), to_opponent(y.float())
    if sigma is None:
        sigma = noise_level(xo)[0]
    sigma = sigma.to(xo).clamp_min(1e-6)
    xp, yp = _pad_to_lattice(xo)[0], _pad_to_lattice(yo)[0]
    hp = xp.shape[-2]
    out = torch.empty_like(xp)
    gate = torch.empty(1, *xp.shape[-2:], dtype=xp.dtype, device=xp.device)
    rows = max(STRIP_ROWS - STRIP_ROWS % STRIDE, STRIDE)
    for r0 in range(0, hp, rows):
        r1 = min(r0 + rows, hp)
        a = max(r0 - BLOCK, 0)
        b = min(r1 + BLOCK, hp)
        if b - a < BLOCK:
            a = max(b - BLOCK, 0)
        z, g = _filter(xp[:, a:b], yp[:, a:b], sigma, tau)
        out[:, r0:r1] = z[:, r0 - a : r1 - a]
        gate[:, r0:r1] = g[:, r0 - a : r1 - a]
    refined = from_opponent(out[None, :, :h, :w])
    return refined.to(y.dtype), gate[None, :, :h, :w]
