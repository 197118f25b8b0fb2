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
from restore.noise import noise_level

#: The noise-level map's scale: sigma in full-scale units times this (sigma 50 -> about 0.8).
NOISE_MAP_SCALE = 4.0
#: The cell (px) over which the tone head's maps are smooth and the body's residual has zero mean.
TONE_CELL = 16


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
        self.outer = OuterLevels(cfg, c[0], top) if cfg.outer_widths else None
        self.tone = ToneHead(top, c[3]) if cfg.tone_head else None
        self.affine: nn.Conv2d | None = None
        if cfg.affine_head:
            self.affine = nn.Conv2d(top, 6, 3, padding=1)  # log-gain (3) and offset (3)
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def encode_skips(
        self, x: Tensor, noise_sigma: Tensor | None = None, scale: Tensor | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """The three encoder skips (fine to coarse) and the input of the latent level.

        With detail levels, the list goes on with their skips (finest first) after the body's
        three, ``noise_sigma`` ``(B, 3)`` is the level their noise map shows (None: measured
        on the input) and ``scale`` ``(B,)`` the known enlargement their scale map shows (None: 1,
        nothing known)."""
        skips = []
        h = self.embed(x)
        outer: list[Tensor] = []
        if self.outer is not None:
            outer, to_body = self.outer.encode(x, noise_sigma, scale)
            h = h + to_body
        for enc, down in zip(self.encoders, self.downs, strict=True):
            h = enc(h)
            skips.append(h)
            h = down(h)
        return skips + outer, h

    def encode(
        self, x: Tensor, noise_sigma: Tensor | None = None, scale: Tensor | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """Returns the encoder skips (the body's three, fine to coarse, then the detail levels')
        and the latent."""
        skips, h = self.encode_skips(x, noise_sigma, scale)
        return skips, self.latent(h)

    def decode(self, latent: Tensor, skips: list[Tensor], z: Tensor | None = None) -> Tensor:
        """Decoder over (possibly modulated) skips, coarse to fine; returns the output residual
        (with the 6 affine channels appended when ``cfg.affine_head`` or ``cfg.tone_head``).
        ``z``: the network's (unshuffled) input, which the fine branch reads; required when there
        is one. ``skips`` beyond the first three are the detail levels' (:meth:`encode`)."""
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
        if self.outer is not None:
            res = res + F.pixel_unshuffle(self.outer.decode(h, skips[3:]), 2 ** len(self.outer.encoders))
        if self.tone is not None:
            return torch.cat([res, self.tone(h, latent)], dim=1)
        if self.affine is None:
            return res
        return torch.cat([res, self.affine(h)], dim=1)


def scale_map(scale: Tensor | None, img: Tensor) -> Tensor:
    """``(B, 1, H, W)`` the map a ``scale_input`` network reads: ``(s - 1) / 3`` for a known
    enlargement ``s`` (``(B,)``; 2, 3 and 4 give 1/3, 2/3 and 1), 0 where ``scale`` is None or 1."""
    b, _, h, w = img.shape
    if scale is None:
        return img.new_zeros(b, 1, h, w)
    value = ((scale.to(img.device, torch.float32) - 1.0) / 3.0).clamp(0.0, 1.0).to(img.dtype)
    return value.view(b, 1, 1, 1).expand(b, 1, h, w)


class OuterLevels(nn.Module):
    """The detail levels (``ModelConfig.outer_widths``): full- and half-resolution dense residual
    blocks around the body.

    ``encode(x, sigma, scale)``: ``x`` the body's input, the padded image pixel-unshuffled by ``2^L``
    (``(B, 3 * 4^L, H / 2^L, W / 2^L)``), ``sigma`` ``(B, 3)`` the noise map's level (None:
    measured on the image), ``scale`` ``(B,)`` the known enlargement (None: 1); returns the levels'
    skips (finest first) and what the body's first level adds to its own embedding (zero at init).
    ``decode(top, skips)``: the body's top features ``(B, C, H / 2^L, W / 2^L)`` back up through
    the levels; returns a full-resolution residual ``(B, 3, H, W)`` (zero at init).
    """

    def __init__(self, cfg: ModelConfig, body_width: int, top: int) -> None:
        super().__init__()
        w = cfg.outer_widths
        self.noise_input, self.scale_input = cfg.noise_input, cfg.scale_input
        kw = {"heads": 1, "expansion": cfg.ffn_expansion}
        self.embed = nn.Conv2d(3 + 3 * cfg.noise_input + cfg.scale_input, w[0], 3, padding=1)
        self.encoders = nn.ModuleList(stage("resconv", c, cfg.outer_blocks, **kw) for c in w)
        self.downs = nn.ModuleList(Downsample(w[i], w[i + 1]) for i in range(len(w) - 1))
        self.to_body = nn.Conv2d(4 * w[-1], body_width, 1)
        nn.init.zeros_(self.to_body.weight)
        nn.init.zeros_(self.to_body.bias)
        ins = (top, *w[:0:-1])  # what each decoder level receives from below, coarsest first
        self.ups = nn.ModuleList(Upsample(i, c, cfg.up_kernel) for i, c in zip(ins, w[::-1], strict=True))
        self.reduces = nn.ModuleList(nn.Conv2d(2 * c, c, 1) for c in w[::-1])
        self.decoders = nn.ModuleList(stage("resconv", c, cfg.outer_blocks, **kw) for c in w[::-1])
        self.out = nn.Conv2d(w[0], 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def encode(self, x: Tensor, sigma: Tensor | None, scale: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        img = F.pixel_shuffle(x, 2 ** len(self.encoders))
        maps = [img]
        if self.noise_input:
            if sigma is None:
                sigma = noise_level(img.detach())
            maps.append((sigma.to(img.dtype) * NOISE_MAP_SCALE)[:, :, None, None].expand(-1, -1, *img.shape[-2:]))
        if self.scale_input:
            maps.append(scale_map(scale, img))
        h = self.embed(torch.cat(maps, dim=1) if len(maps) > 1 else img)
        skips = []
        for i, enc in enumerate(self.encoders):
            h = enc(h)
            skips.append(h)
            if i < len(self.downs):
                h = self.downs[i](h)
        return skips, self.to_body(F.pixel_unshuffle(h, 2))

    def decode(self, top: Tensor, skips: list[Tensor]) -> Tensor:
        h = top
        for up, reduce, dec, skip in zip(self.ups, self.reduces, self.decoders, skips[::-1], strict=True):
            h = dec(reduce(torch.cat([up(h), skip], dim=1)))
        return self.out(h)


class ToneHead(nn.Module):
    """Global tone outside the body (``ModelConfig.tone_head``): a smooth log-gain and offset.

    ``forward(top, latent)``: the body's top features ``(B, C, h, w)`` give the maps; the latent's
    pooled features give two gates per image (gain, offset) in (0, 1). Returns ``(B, 6, h, w)``:
    the gated log-gain (3) and offset (3), which :meth:`RestorationNet.forward` averages over
    :data:`TONE_CELL`-px cells and upsamples bilinearly. Zero at init.
    """

    def __init__(self, top: int, latent: int) -> None:
        super().__init__()
        self.maps = nn.Conv2d(top, 6, 3, padding=1)  # the affine head's shape: it warm-starts from one
        nn.init.zeros_(self.maps.weight)
        nn.init.zeros_(self.maps.bias)
        self.gates = nn.Linear(latent, 2)
        nn.init.zeros_(self.gates.weight)
        nn.init.constant_(self.gates.bias, 4.0)  # open (0.98) at init, so a warm-started head acts

    def forward(self, top: Tensor, latent: Tensor) -> Tensor:
        m = self.maps(top)
        g = torch.sigmoid(self.gates(latent.mean(dim=(2, 3)).float())).to(m.dtype)  # (B, 2)
        gains = g[:, :1, None, None].expand(-1, 3, -1, -1)
        offsets = g[:, 1:, None, None].expand(-1, 3, -1, -1)
        return m * torch.cat([gains, offsets], dim=1)


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
        if self.cfg.affine_head or self.cfg.tone_head:
            res, affine = res[:, : 3 * u * u], res[:, 3 * u * u :]
            if self.cfg.tone_head:  # smooth over TONE_CELL-px cells (the padded sides are multiples of it)
                affine = F.avg_pool2d(affine, max(1, TONE_CELL // u))
            if affine.shape[-2:] != x.shape[-2:]:
                affine = F.interpolate(affine, size=x.shape[-2:], mode="bilinear", align_corners=False)
            base = x * torch.exp(affine[:, :3].clamp(-4.0, 4.0)) + affine[:, 3:]
        if u > 1:
            res = F.pixel_shuffle(res, u)
        if self.cfg.tone_head:  # the body draws detail only: its residual loses its local mean
            cell = F.avg_pool2d(res, TONE_CELL)
            res = res - F.interpolate(cell, size=res.shape[-2:], mode="bilinear", align_corners=False)
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
