"""Backbone building blocks: Restormer-style transformer blocks, dense residual blocks, resampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of a ``(B, C, H, W)`` tensor (per pixel), with bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        x = (x - mu) / torch.sqrt(var + 1e-5)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def channel_attention(
    q: Tensor, k: Tensor, v: Tensor, heads: int, temperature: Tensor, keep_ratio: float = 1.0
) -> Tensor:
    """Transposed (channel) attention with L2-normalised q, k and a per-head temperature.

    Args:
        q, k, v: ``(B, C, H, W)``.
        heads: C is split into ``heads`` groups; attention is ``(C/h x C/h)`` per head.
        temperature: ``(heads, 1, 1)``.
        keep_ratio: keep only the top ``ceil(keep_ratio * C/h)`` logits of every row (the rest
            are -inf before the softmax), DFPIR's attention perturbation; 1 keeps all.

    Returns:
        ``(B, C, H, W)``.
    """
    b, c, h, w = q.shape
    q = q.reshape(b, heads, c // heads, h * w)  # (B, heads, c, HW)
    k = k.reshape(b, heads, c // heads, h * w)
    v = v.reshape(b, heads, c // heads, h * w)
    q = F.normalize(q, dim=-1)
    k = F.normalize(k, dim=-1)
    attn = (q @ k.transpose(-2, -1)) * temperature  # (B, heads, c, c)
    if keep_ratio < 1.0:
        attn = topk_mask(attn, keep_ratio)
    out = attn.softmax(dim=-1) @ v  # (B, heads, c, HW)
    return out.reshape(b, c, h, w)


def topk_mask(logits: Tensor, keep_ratio: float) -> Tensor:
    """Set all but the ``ceil(keep_ratio * n)`` largest logits of each row to -inf."""
    n = logits.shape[-1]
    keep = max(1, min(n, math.ceil(round(keep_ratio * n, 9))))
    if keep == n:
        return logits
    idx = logits.topk(keep, dim=-1).indices
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, idx, True)
    return logits.masked_fill(~mask, float("-inf"))


class MDTA(nn.Module):
    """Multi-Dconv-head transposed attention (1x1 qkv, depthwise 3x3, attention over channels)."""

    def __init__(self, channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(channels, channels * 3, 1)
        self.dw = nn.Conv2d(channels * 3, channels * 3, 3, padding=1, groups=channels * 3)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.dw(self.qkv(x)).chunk(3, dim=1)
        return self.proj(channel_attention(q, k, v, self.heads, self.temperature))


class GDFN(nn.Module):
    """Gated depthwise feed-forward: 1x1 expand, depthwise 3x3, GELU gate, 1x1 project."""

    def __init__(self, channels: int, expansion: float) -> None:
        super().__init__()
        hidden = int(channels * expansion)
        self.inp = nn.Conv2d(channels, hidden * 2, 1)
        self.dw = nn.Conv2d(hidden * 2, hidden * 2, 3, padding=1, groups=hidden * 2)
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.dw(self.inp(x)).chunk(2, dim=1)
        return self.out(F.gelu(a) * b)


class TransformerBlock(nn.Module):
    """Pre-norm Restormer block: ``x + MDTA(LN(x))`` then ``x + GDFN(LN(x))``."""

    def __init__(self, channels: int, *, heads: int, expansion: float) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(channels)
        self.attn = MDTA(channels, heads)
        self.norm2 = LayerNorm2d(channels)
        self.ffn = GDFN(channels, expansion)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class ResConvBlock(nn.Module):
    """``x + conv3x3(GELU(conv3x3(x)))``: dense convolutions, the fastest kind on a CPU."""

    def __init__(self, channels: int, **_: object) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.bias)
        self.conv2.weight.data.mul_(0.2)  # start near the identity so deep stacks train stably

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.gelu(self.conv1(x)))


def make_block(kind: str, channels: int, *, heads: int, expansion: float) -> nn.Module:
    if kind == "restormer":
        return TransformerBlock(channels, heads=heads, expansion=expansion)
    if kind == "resconv":
        return ResConvBlock(channels)
    raise ValueError(f"unknown block {kind!r}; valid: restormer, resconv")


def stage(kind: str, channels: int, depth: int, *, heads: int, expansion: float) -> nn.Sequential:
    return nn.Sequential(*(make_block(kind, channels, heads=heads, expansion=expansion) for _ in range(depth)))


class Downsample(nn.Module):
    """3x3 conv halving the channels, then pixel-unshuffle: ``(B, C, H, W) -> (B, 2C, H/2, W/2)``."""

    def __init__(self, channels: int, out_channels: int | None = None) -> None:
        super().__init__()
        out = out_channels or channels * 2
        self.conv = nn.Conv2d(channels, out // 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(self.conv(x), 2)


class Upsample(nn.Module):
    """Conv to 4x the output channels, then pixel-shuffle: ``(B, C, H, W) -> (B, C/2, 2H, 2W)``.

    ``kernel`` 3 is the Restormer layout; 1 has 9x fewer weights (the blocks after it mix space).
    """

    def __init__(self, channels: int, out_channels: int | None = None, kernel: int = 3) -> None:
        super().__init__()
        out = out_channels or channels // 2
        self.conv = nn.Conv2d(channels, out * 4, kernel, padding=kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)
