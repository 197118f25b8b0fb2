"""JPEG-like compression in torch: batched, on any device, no encoder round trip.

The steps of a baseline JPEG encoder and decoder, without the lossless entropy coding (which
changes nothing in the decoded pixels): RGB to full-range YCbCr (JFIF), 4:2:0 chroma
subsampling (2x2 means), edge-replicated padding to whole 8x8 blocks (16x16 for the full-resolution
planes), the orthonormal 8x8 DCT-II, quantisation with the standard tables of ITU-T T.81 Annex K
scaled by the IJG quality formula, then the inverse path with bilinear chroma upsampling and
rounding to 8 bits. The result has the codec's artefacts (block edges, ringing, chroma bleeding)
without being bit-exact to any particular library.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# T.81 Annex K, tables K.1 (luminance) and K.2 (chrominance), row-major.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)

# JFIF full-range RGB -> YCbCr without the chroma's +128 offset (it would cancel in the level shift).
_RGB2YCC = (
    (0.299, 0.587, 0.114),
    (-0.168736, -0.331264, 0.5),
    (0.5, -0.418688, -0.081312),
)


def dct_matrix(n: int = 8, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """The orthonormal DCT-II matrix ``(n, n)``: ``D @ v`` transforms a column, ``D.T`` inverts it."""
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d.to(device=device, dtype=dtype)


def quant_tables(quality: Tensor) -> tuple[Tensor, Tensor]:
    """The luminance and chrominance quantisation tables ``(B, 8, 8)`` for qualities ``(B,)`` in 1-100.

    The IJG scaling: ``5000 / q`` percent below 50, ``200 - 2 q`` percent above, entries in 1-255.
    """
    q = quality.round().clamp(1, 100).view(-1, 1, 1)
    scale = torch.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)
    out = []
    for base in (_LUMA, _CHROMA):
        t = torch.tensor(base, device=quality.device, dtype=quality.dtype)
        out.append(torch.floor((t * scale + 50.0) / 100.0).clamp(1, 255))
    return out[0], out[1]


def _pad_to(x: Tensor, multiple: int) -> Tensor:
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def _code_blocks(plane: Tensor, table: Tensor, d: Tensor) -> Tensor:
    """DCT, quantise and invert ``(B, C, H, W)`` planes (H, W multiples of 8) with tables ``(B, 8, 8)``."""
    b, c, h, w = plane.shape
    blocks = plane.reshape(b, c, h // 8, 8, w // 8, 8)
    coef = torch.einsum("ui,bcyixj,vj->bcyuxv", d, blocks, d)  # (B, C, H/8, 8, W/8, 8)
    t = table.view(b, 1, 1, 8, 1, 8)
    coef = torch.round(coef / t) * t
    return torch.einsum("ui,bcyuxv,vj->bcyixj", d, coef, d).reshape(b, c, h, w)


def jpeg(x: Tensor, quality: float | Tensor) -> Tensor:
    """Compress and decompress like a baseline 4:2:0 JPEG at ``quality`` (1-100, IJG scale).

    Args:
        x: ``(B, 3, H, W)`` float RGB in ``[0, 1]``, any device.
        quality: one quality for the batch, or a ``(B,)`` tensor (one per sample).

    Returns:
        ``(B, 3, H, W)`` in ``[0, 1]`` on the 8-bit grid (multiples of 1/255), same dtype.
    """
    b, _, h, w = x.shape
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    q = torch.as_tensor(quality, device=x.device, dtype=work).flatten().expand(b)
    luma_t, chroma_t = quant_tables(q)
    d = dct_matrix(device=x.device, dtype=work)
    m = torch.tensor(_RGB2YCC, device=x.device, dtype=work)
    # 8-bit input, as an encoder reads it.
    rgb = torch.round(x.to(work).clamp(0, 1) * 255.0)
    ycc = torch.einsum("kc,bchw->bkhw", m, rgb)
    # Pad the full-resolution planes to 16 so the half-resolution chroma covers whole blocks too.
    ycc = _pad_to(ycc, 16)
    # Level shift: Y - 128; the chroma rows of the matrix sum to 0, so Cb and Cr are already centred.
    luma = _code_blocks(ycc[:, :1] - 128.0, luma_t, d)
    chroma = _code_blocks(F.avg_pool2d(ycc[:, 1:], 2), chroma_t, d)
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    ycc = torch.cat([luma, chroma], dim=1)[..., :h, :w]
    # The inverse matrix maps (Y - 128, Cb, Cr) to RGB - 128 (grey 128 has zero chroma).
    rgb = torch.einsum("kc,bchw->bkhw", torch.linalg.inv(m), ycc) + 128.0
    return (torch.round(rgb.clamp(0, 255)) / 255.0).to(x.dtype)
