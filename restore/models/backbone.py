"""The shared 4-level U-Net backbone (Restormer layout) used by NDR-Restore and DFPIR.

The backbone is split into ``encode`` and ``decode`` so a method can modulate the encoder skips
(and the latent) in between; :class:`RestorationNet` adds the padding, the optional
pixel-unshuffled input and the global input residual, so no caller ever pads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.models.blocks import Downsample, Upsample, stage
from restore.models.config import ModelConfig


class UNet(nn.Module):
    """Encoder levels 1-3, a latent level 4, decoder levels 3-1 and refinement.

    Shapes (``u`` = cfg.unshuffle, ``c_l`` = width * mults[l]): input ``(B, 3u^2, h, w)`` with
    h, w multiples of 8; skips ``(B, c_l, h / 2^l, w / 2^l)`` for l = 0..2; latent
    ``(B, c_3, h / 8, w / 8)``; output ``(B, 3u^2, h, w)`` (a residual).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = [cfg.width * m for m in cfg.mults]
        io = 3 * cfg.unshuffle**2
        kw = {"expansion": cfg.ffn_expansion}
        self.skip_channels: tuple[int, ...] = tuple(c[:3])
        self.latent_channels = c[3]
        self.embed = nn.Conv2d(io, c[0], 3, padding=1)
        self.encoders = nn.ModuleList(
            stage(cfg.block, c[i], cfg.enc_blocks[i], heads=cfg.heads[i], **kw) for i in range(3)
        )
        self.downs = nn.ModuleList(Downsample(c[i], c[i + 1]) for i in range(3))
        self.latent = stage(cfg.block, c[3], cfg.latent_blocks, heads=cfg.heads[3], **kw)
        self.ups = nn.ModuleList(Upsample(c[i + 1], c[i], cfg.up_kernel) for i in (2, 1, 0))
        top = 2 * c[0] if cfg.wide_top else c[0]
        self.reduces = nn.ModuleList(
            [
                nn.Conv2d(2 * c[2], c[2], 1),
                nn.Conv2d(2 * c[1], c[1], 1),
                nn.Identity() if cfg.wide_top else nn.Conv2d(2 * c[0], c[0], 1),
            ]
        )
        widths = (c[2], c[1], top)
        self.decoders = nn.ModuleList(
            stage(cfg.block, widths[j], cfg.dec_blocks[j], heads=cfg.heads[2 - j], **kw) for j in range(3)
        )
        self.refine = stage(cfg.block, top, cfg.refine_blocks, heads=cfg.heads[0], **kw)
        self.out = nn.Conv2d(top, io, 3, padding=1)
        # Zero residual at init: the network starts as the identity and learns the correction.
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.fine = FineBranch(cfg, top) if cfg.fine_width else None
        self.affine: nn.Conv2d | None = None
        if cfg.affine_head:
            self.affine = nn.Conv2d(top, 6, 3, padding=1)  # log-gain (3) and offset (3)
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def encode_skips(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """The three encoder skips (fine to coarse) and the input of the latent level."""
        skips = []
        h = self.embed(x)
        for enc, down in zip(self.encoders, self.downs, strict=True):
            h = enc(h)
            skips.append(h)
            h = down(h)
        return skips, h

    def encode(self, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """Returns the three encoder skips (fine to coarse) and the latent."""
        skips, h = self.encode_skips(x)
        return skips, self.latent(h)

    def decode(self, latent: Tensor, skips: list[Tensor], z: Tensor | None = None) -> Tensor:
        """Decoder over (possibly modulated) skips, coarse to fine; returns the output residual
        (with the 6 affine channels appended when ``cfg.affine_head``). ``z``: the network's
        (unshuffled) input, which the fine branch reads; required when there is one."""
        h = latent
        for j, (up, reduce, dec) in enumerate(zip(self.ups, self.reduces, self.decoders, strict=True)):
            h = up(h)
            h = dec(reduce(torch.cat([h, skips[2 - j]], dim=1)))
        h = self.refine(h)
        res = self.out(h)
        if self.fine is not None:
            if z is None:
                raise ValueError("this backbone has a fine branch: decode needs the input z")
            res = res + self.fine(z, h)
        if self.affine is None:
            return res
        return torch.cat([res, self.affine(h)], dim=1)


class FineBranch(nn.Module):
    """A light branch at twice the first level's resolution (``ModelConfig.fine_width``).

    ``forward(z, top)``: ``z`` the input unshuffled by ``u`` ``(B, 3u^2, h, w)``, ``top`` the
    decoder's last features ``(B, C, h, w)``; returns a residual in ``z``'s layout. The branch sees
    the input unshuffled by ``u // 2`` (``(B, 3(u/2)^2, 2h, 2w)``) and works on that grid.
    """

    def __init__(self, cfg: ModelConfig, top: int) -> None:
        super().__init__()
        self.u = cfg.unshuffle
        self.v = cfg.unshuffle // 2
        io = 3 * self.v**2
        c = cfg.fine_width
        kw = {"heads": 1, "expansion": cfg.ffn_expansion}
        self.embed = nn.Conv2d(io, c, 3, padding=1)
        self.encoder = stage(cfg.block, c, cfg.fine_blocks, **kw)
        self.up = Upsample(top, c, cfg.up_kernel)
        self.reduce = nn.Conv2d(2 * c, c, 1)
        self.decoder = stage(cfg.block, c, cfg.fine_blocks, **kw)
        self.out = nn.Conv2d(c, io, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _regrid(self, t: Tensor, src: int, dst: int) -> Tensor:
        """Pixel-unshuffled by ``src`` -> by ``dst`` (through the full-resolution layout)."""
        t = F.pixel_shuffle(t, src) if src > 1 else t
        return F.pixel_unshuffle(t, dst) if dst > 1 else t

    def forward(self, z: Tensor, top: Tensor) -> Tensor:
        f = self.encoder(self.embed(self._regrid(z, self.u, self.v)))
        g = self.decoder(self.reduce(torch.cat([self.up(top), f], dim=1)))
        return self._regrid(self.out(g), self.v, self.u)


def pad_to(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``(B, C, H, W)`` on the bottom/right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class RestorationNet(nn.Module):
    """Base class: pads, unshuffles, runs ``body`` and adds the global input residual.

    Subclasses implement ``body(x_unshuffled, **kw) -> (residual, aux)``.
    """

    cfg: ModelConfig

    def prepare(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """``img`` padded to the network's multiple, and that padded image pixel-unshuffled (what
        :meth:`body` reads)."""
        x, _ = pad_to(img, self.cfg.multiple)
        u = self.cfg.unshuffle
        return x, (F.pixel_unshuffle(x, u) if u > 1 else x)

    def forward(self, img: Tensor, **kw: object) -> tuple[Tensor, dict]:
        """Args: img ``(B, 3, H, W)`` float in [0, 1], any H, W. Returns the restored image
        (same shape, not clamped, so training sees the true error) and a dict of extras."""
        h, w = img.shape[-2:]
        x, z = self.prepare(img)
        u = self.cfg.unshuffle
        res, aux = self.body(z, **kw)
        base = x
        if self.cfg.affine_head:
            res, affine = res[:, : 3 * u * u], res[:, 3 * u * u :]
            if u > 1:
                affine = F.interpolate(affine, scale_factor=u, mode="bilinear", align_corners=False)
            base = x * torch.exp(affine[:, :3].clamp(-4.0, 4.0)) + affine[:, 3:]
        if u > 1:
            res = F.pixel_shuffle(res, u)
        return (base + res)[..., :h, :w], aux

    def body(self, z: Tensor, **kw: object) -> tuple[Tensor, dict]:  # pragma: no cover - abstract
        raise NotImplementedError


class PlainNet(RestorationNet):
    """The backbone alone (the "no NDR" ablation)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = UNet(cfg)

    def body(self, z: Tensor, **_: object) -> tuple[Tensor, dict]:
        skips, latent = self.unet.encode(z)
        return self.unet.decode(latent, skips, z), {}
