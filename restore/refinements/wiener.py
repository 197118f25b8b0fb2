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

The filter runs twice (:data:`PASSES`), as BM3D's second step runs on its first step's result: the
first pass's output is the second pass's pilot, and the second pass works on 16x16 blocks, whose
finer frequency grid separates texture from noise where the 8x8 grid could not. On 12 held-out
training photos (320 px, clipped Gaussian noise, the detail network's output as the pilot) one
8x8 pass gained 1.42 / 1.01 / 0.62 dB over the network at sigma 15 / 25 / 50 and the two passes
1.99 / 1.43 / 0.83, for twice the filter's time; a second 8x8 pass gained 0.36 / 0.22 / 0.09 over
one, a third 0.13 / 0.06 / 0.00 more.

Where the input is noisy and nothing the pilot would undo is wrong with it, a classical estimate
joins the network's as the pilot (``hard``, :func:`hard_share`): the input hard-thresholded in a
sliding 8x8 DCT at stride 4 (coefficients under :data:`HARD_THRESHOLD` sigmas set to zero, blocks
averaged with weights that favour the sparse ones, as in BM3D's first step). The networks trained
for six degradations smooth fine texture away with light noise: on 12 held-out training photos
(320 px) at sigma 5 the detail network (link 5) alone scored 33.43 dB, below its input (about
34.5), and the thresholded input 38.68. The pilot is ``network + share * (thresholded - network)``;
the share is 1 up to :data:`HARD_FULL_GREY` grey levels and falls to 0 at :data:`HARD_NONE_GREY`,
where the network's pilot is the better one (on the same photos, after both passes, with the shipped
``wise19``: shares 1 / 0.75 / 0 at sigma 15 / 25 / 50 gave 33.62 / 30.83 / 27.40 dB against the
network pilot's 31.31 / 30.22 / 27.40), times the estimator's belief that the input is noisy and not
rainy, hazy or dark.

The noise level comes from the input: Donoho's robust estimate (the median absolute finest-scale
diagonal Haar coefficient over 0.6745) per opponent channel, over the whole image.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from restore.noise import image_noise_level, noise_level

#: Block side of the DCT and the stride of the sliding blocks (each pixel is in 4 blocks) of each
#: pass; every pass after the first takes the previous pass's output as its pilot.
PASSES: tuple[tuple[int, int], ...] = ((8, 4), (16, 8))
#: Width of the consistency gate, in noise sigmas of the residual's block mean (see module doc).
TAU = 12.0
#: Coefficients of the input's sliding 8x8 DCT under this many noise sigmas are dropped from the
#: thresholded pilot (BM3D's first step uses 2.7 for its 3-D transform).
HARD_THRESHOLD = 2.7
#: Block side and stride of the thresholded pilot.
HARD_PASS = (8, 4)
#: The thresholded pilot's share by the input's noise level (grey levels): 1 up to the first, 0 from
#: the second, linear between.
HARD_FULL_GREY = 20.0
HARD_NONE_GREY = 45.0
#: The types whose restoration the thresholded pilot would undo (it keeps the input's streaks and
#: tone). Blur and low resolution are not among them: the networks leave those inputs almost as
#: they are (within 0.1 dB on most held-out crops), and the estimator reads light noise on soft
#: photos as low resolution too.
HARD_BLOCKED_BY = ("rain", "haze", "lowlight")
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


@functools.cache
def _dct_matrix(n: int) -> Tensor:
    """Orthonormal 1-D DCT-II of length ``n`` as an ``(n, n)`` matrix (row 0: the mean)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (i + 0.5) * k / n) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.float()


def _transform(blocks: Tensor, matrix: Tensor) -> Tensor:
    """Apply the ``(B, B)`` ``matrix`` along both axes of every block: ``(C, B*B, L)`` ->
    ``(C, B*B, L)`` (the separable 2-D DCT with :func:`_dct_matrix`, its inverse with the transpose)."""
    c, _, n = blocks.shape
    b = matrix.shape[0]
    q = matrix @ blocks.reshape(c, b, b * n)  # along the rows of each block
    q = q.view(c, b, b, n).transpose(1, 2).reshape(c, b, b * n)
    q = matrix @ q  # along the columns
    return q.view(c, b, b, n).transpose(1, 2).reshape(c, b * b, n)


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


def _pad_to_lattice(x: Tensor, block: int, stride: int) -> Tensor:
    """Reflect-pad the bottom and right so whole blocks at the stride cover the image."""
    h, w = x.shape[-2:]
    ph = max(block - h, 0) + (-(max(h, block) - block)) % stride
    pw = max(block - w, 0) + (-(max(w, block) - block)) % stride
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x


def _filter(strip: Tensor, sigma: Tensor, tau: float, block: int, stride: int) -> Tensor:
    """Filter one strip: ``strip`` is ``(6, h, w)``, the opponent input then the pilot, on the
    lattice; returns ``(4, h, w)``, the refined strip then its per-pixel gate."""
    h, w = strip.shape[-2:]
    dct = _dct_matrix(block).to(strip)
    coefficients = _transform(F.unfold(strip[:, None], block, stride=stride), dct)  # (6, B*B, L)
    cx, cy = coefficients[:3], coefficients[3:]
    dc = (cx[:, :1] - cy[:, :1]) / sigma.view(3, 1, 1)
    gate = torch.exp(-dc.square().mean(0, keepdim=True) / tau**2)  # (1, 1, L)
    power = cy.square()
    cz = cx.mul_(power).div_(power.add_(sigma.square().view(3, 1, 1)))  # the empirical Wiener filter
    cz.sub_(cy).mul_(gate).add_(cy)  # gated: the pilot where the residual is not noise-like
    cz[:, 0] = cy[:, 0]  # the pilot's block means
    ones = torch.ones(1, block * block, cz.shape[-1], dtype=strip.dtype, device=strip.device)
    norm = F.fold(ones, (h, w), block, stride=stride)
    out = F.fold(_transform(cz, dct.T), (h, w), block, stride=stride) / norm
    g = F.fold(gate.expand(1, block * block, -1), (h, w), block, stride=stride) / norm
    return torch.cat([out[:, 0], g[0]])


def _threshold(strip: Tensor, sigma: Tensor, block: int, stride: int) -> Tensor:
    """Hard-threshold one ``(3, h, w)`` opponent strip in the sliding DCT (the DC always kept)."""
    h, w = strip.shape[-2:]
    dct = _dct_matrix(block).to(strip)
    c = _transform(F.unfold(strip[:, None], block, stride=stride), dct)  # (3, B*B, L)
    keep = c.abs() > HARD_THRESHOLD * sigma.view(3, 1, 1)
    keep[:, 0] = True
    weight = 1.0 / keep.sum(dim=1, keepdim=True).to(strip.dtype)  # sparse blocks are the trusted ones
    spatial = _transform(c.mul_(keep), dct.T).mul_(weight)
    norm = F.fold(weight.expand(-1, block * block, -1), (h, w), block, stride=stride)
    return (F.fold(spatial, (h, w), block, stride=stride) / norm)[:, 0]


def _by_strips(fn: Callable[[Tensor], Tensor], image: Tensor, block: int, stride: int) -> Tensor:
    """``fn`` (a strip ``(C, h, w)`` on the block lattice -> ``(K, h, w)``) over a ``(C, H, W)``
    image, a strip of rows at a time with a block of context each side: ``(K, H, W)``."""
    h, w = image.shape[-2:]
    padded = _pad_to_lattice(image[None], block, stride)[0]
    hp = padded.shape[-2]
    out = None
    rows = max(STRIP_ROWS - STRIP_ROWS % stride, stride)
    for r0 in range(0, hp, rows):
        r1 = min(r0 + rows, hp)
        a = max(r0 - block, 0)
        b = min(r1 + block, hp)
        if b - a < block:
            a = max(b - block, 0)
        z = fn(padded[:, a:b])
        if out is None:
            out = z.new_empty(z.shape[0], *padded.shape[-2:])
        out[:, r0:r1] = z[:, r0 - a : r1 - a]
    return out[:, :h, :w]


def _thresholded(xo: Tensor, sigma: Tensor) -> Tensor:
    """The ``(3, H, W)`` opponent input thresholded at :data:`HARD_PASS` (``sigma`` clamped)."""
    block, stride = HARD_PASS
    return _by_strips(lambda strip: _threshold(strip, sigma, block, stride), xo, block, stride)


def hard_threshold(x: Tensor, sigma: Tensor | None = None) -> Tensor:
    """The classical pilot: ``x`` ``(1, 3, H, W)`` RGB hard-thresholded in the sliding 8x8 DCT of
    the opponent channels at :data:`HARD_THRESHOLD` times ``sigma`` (``(3,)`` per opponent channel;
    None estimates it). Returns ``(1, 3, H, W)``, not clamped."""
    xo = to_opponent(x.float())[0]
    if sigma is None:
        sigma = noise_level(xo[None])[0]
    return from_opponent(_thresholded(xo, sigma.to(xo).clamp_min(1e-6))[None]).to(x.dtype)


def hard_ramp(sigma_grey: float) -> float:
    """The thresholded pilot's largest share at this noise level (grey levels): 1 up to
    :data:`HARD_FULL_GREY`, 0 from :data:`HARD_NONE_GREY`, linear between."""
    return float(np.clip((HARD_NONE_GREY - sigma_grey) / (HARD_NONE_GREY - HARD_FULL_GREY), 0.0, 1.0))


def hard_share(sigma_grey: float, probabilities: Mapping[str, float] | None) -> float:
    """The thresholded pilot's share (0..1) for an input whose noise level is ``sigma_grey`` grey
    levels: the ramp from :data:`HARD_FULL_GREY` to :data:`HARD_NONE_GREY` times the probability
    that the input is noisy and nothing the pilot would undo is wrong with it (``p_noise`` times
    ``1 - p`` of each of :data:`HARD_BLOCKED_BY`). No probabilities (a model without an
    estimator): 0."""
    if not probabilities or "noise" not in probabilities:
        return 0.0
    ramp = hard_ramp(sigma_grey)
    alone = float(probabilities["noise"])
    for name in HARD_BLOCKED_BY:
        alone *= 1.0 - float(probabilities.get(name, 0.0))
    return ramp * float(np.clip(alone, 0.0, 1.0))


def wiener_refine(
    x: Tensor,
    y: Tensor,
    sigma: Tensor | None = None,
    *,
    tau: float = TAU,
    passes: tuple[tuple[int, int], ...] = PASSES,
    hard: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Refine a restoration ``y`` of ``x`` (both ``(1, 3, H, W)`` RGB in [0, 1]).

    Args:
        x: the degraded input.
        y: the network's restoration of it (the pilot of the first pass).
        sigma: ``(3,)`` noise sigma per opponent channel; None estimates it from ``x``.
        tau: width of the consistency gate in noise sigmas.
        passes: ``(block side, stride)`` of each pass (:data:`PASSES`).
        hard: the thresholded input's share in the first pass's pilot (0..1, :func:`hard_share`).

    Returns:
        The refined image ``(1, 3, H, W)`` (not clamped) and the gate ``(1, 1, H, W)`` in [0, 1]:
        1 where every pass applied the filter, 0 where a pass kept its pilot (the least of the
        passes' gates).
    """
    if x.shape != y.shape or x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"expected two (1, 3, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not passes:
        raise ValueError("at least one (block, stride) pass is needed")
    xo, zo = to_opponent(x.float())[0], to_opponent(y.float())[0]
    if sigma is None:
        sigma = noise_level(xo[None])[0]
    sigma = sigma.to(xo).clamp_min(1e-6)
    if not 0.0 <= hard <= 1.0:
        raise ValueError(f"hard must be in [0, 1], got {hard}")
    if hard > 0.0:
        zo = zo + hard * (_thresholded(xo, sigma) - zo)
    gate = None
    for block, stride in passes:
        refined = _by_strips(
            lambda strip, b=block, s=stride: _filter(strip, sigma, tau, b, s), torch.cat([xo, zo]), block, stride
        )
        zo, g = refined[:3], refined[3:]
        gate = g if gate is None else torch.minimum(gate, g)
    return from_opponent(zo[None]).to(y.dtype), gate[None]
