"""NDR-Restore (Yao et al., IEEE TIP 2024): a learned dictionary of degradation atoms.

Every encoder skip asks the dictionary which atoms explain its degradation (Degradation Query,
DQ), and the answer modulates the skip through a low-rank CP gate (Degradation Injection, DI)
before the decoder sees it. NDR-Degrad, used only in training, re-degrades the clean image from
the same queried features, so the features must carry what the degradation is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.models.backbone import RestorationNet, UNet, pad_to
from restore.models.blocks import Downsample, ResConvBlock, Upsample
from restore.models.config import ModelConfig
from restore.types import DEGRADATION_TYPES


class CPGate(nn.Module):
    """LR_C: gate ``X`` by a rank-R CP tensor, ``X * mean_r(c_r (x) h_r (x) w_r)``.

    The channel factors come from global pooling, the height factors from the mean over W and
    the width factors from the mean over H, each through a 1x1 convolution and a sigmoid, so
    the gate lies in (0, 1) and adapts to any H, W.
    """

    def __init__(self, channels: int, rank: int) -> None:
        super().__init__()
        self.rank = rank
        self.channel = nn.Conv2d(channels, rank * channels, 1)
        self.height = nn.Conv2d(channels, rank, 1)
        self.width = nn.Conv2d(channels, rank, 1)

    def gate(self, x: Tensor, mean: Tensor | None = None) -> Tensor:
        """``(B, C, H, W) -> (B, C, H, W)`` gate values in (0, 1).

        ``mean`` ``(B, C, 1, 1)`` replaces the global pooling of ``x``: tiled inference passes
        the whole image's, so that every tile is gated as it would be in the whole image.
        """
        b, c, h, w = x.shape
        r = self.rank
        pooled = x.mean(dim=(2, 3), keepdim=True) if mean is None else mean
        fc = torch.sigmoid(self.channel(pooled)).view(b, r, c)
        fh = torch.sigmoid(self.height(x.mean(dim=3, keepdim=True))).view(b, r, h)
        fw = torch.sigmoid(self.width(x.mean(dim=2, keepdim=True))).view(b, r, w)
        spatial = (fh.unsqueeze(-1) * fw.unsqueeze(-2)).view(b, r, h * w)  # (B, R, HW)
        g = torch.einsum("brc,brn->bcn", fc, spatial) / r  # mean over r of the outer products
        return g.view(b, c, h, w)

    def forward(self, x: Tensor, mean: Tensor | None = None) -> Tensor:
        return x * self.gate(x, mean)


class DegradationQuery(nn.Module):
    """DQ: per-pixel soft look-up of the dictionary.

    ``M = conv3x3(F)``, ``q = conv1x1(M)``, ``A = softmax(tau * q . D^T)`` over the atoms, and the
    read-out ``A . D`` goes through two 1x1 convolutions to the queried feature ``E``.
    """

    def __init__(self, channels: int, *, atom_dim: int, query_dim: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(channels, query_dim, 3, padding=1)
        self.query = nn.Conv2d(query_dim, atom_dim, 1)
        self.tau = nn.Parameter(torch.ones(()))
        self.out1 = nn.Conv2d(atom_dim, query_dim, 1)
        self.out2 = nn.Conv2d(query_dim, query_dim, 1)

    def forward(self, f: Tensor, dictionary: Tensor) -> tuple[Tensor, Tensor]:
        """Args: f ``(B, C, H, W)``; dictionary ``(K, d)``.

        Returns: activations ``A`` ``(B, K, H, W)`` (sums to 1 over K) and ``E`` ``(B, q, H, W)``.
        """
        q = self.query(self.mix(f))  # (B, d, H, W)
        logits = F.conv2d(q, dictionary[:, :, None, None]) * self.tau  # (B, K, H, W)
        a = logits.softmax(dim=1)
        read = F.conv2d(a, dictionary.t()[:, :, None, None])  # (B, d, H, W) = A . D
        return a, self.out2(F.gelu(self.out1(read)))


class DegradationInjection(nn.Module):
    """DI: ``gamma(E') * LR_C(F) + beta(E')`` with ``E' = LR_q(1x1(E))`` (+ F if residual)."""

    def __init__(self, channels: int, *, query_dim: int, rank: int, cp_gate: bool, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.inp = nn.Conv2d(query_dim, query_dim, 1)
        self.gate_e = CPGate(query_dim, rank) if cp_gate else None
        self.gate_f = CPGate(channels, rank) if cp_gate else None
        self.gamma = nn.Conv2d(query_dim, channels, 1)
        self.beta = nn.Conv2d(query_dim, channels, 1)

    def gate_inputs(self, f: Tensor, e: Tensor) -> list[Tensor]:
        """What the CP gates pool (``[gate_e's, gate_f's]``; empty without the gate)."""
        return [] if self.gate_e is None else [self.inp(e), f]

    def forward(self, f: Tensor, e: Tensor, means: Sequence[Tensor] = ()) -> Tensor:
        """``means``: the gates' pooled inputs to use instead of their own (see :meth:`CPGate.gate`)."""
        me, mf = means if means else (None, None)
        e = self.inp(e)
        if self.gate_e is not None:
            e, f_gated = self.gate_e(e, me), self.gate_f(f, mf)
        else:
            f_gated = f
        out = self.gamma(e) * f_gated + self.beta(e)
        return out + f if self.residual else out


class ConcatInjection(nn.Module):
    """Ablation "DQ without DI": the queried feature is concatenated and fused by a 1x1 conv."""

    def __init__(self, channels: int, *, query_dim: int, **_: object) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(channels + query_dim, channels, 1)

    def gate_inputs(self, f: Tensor, e: Tensor) -> list[Tensor]:
        return []

    def forward(self, f: Tensor, e: Tensor, means: Sequence[Tensor] = ()) -> Tensor:
        return f + self.fuse(torch.cat([f, e], dim=1))


class Estimator(nn.Module):
    """Multi-label degradation logits from pooled activations (mean and std per atom per scale)."""

    def __init__(self, in_features: int, hidden: int, classes: int = len(DEGRADATION_TYPES)) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, classes))

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


def pooled_features(maps: list[Tensor], texture: bool = False) -> Tensor:
    """``[(B, K, h, w)] -> (B, 2 K L)``: per scale, the mean and std of each atom's activation.

    With ``texture``, also the mean absolute difference between neighbouring pixels of each
    atom's map (``(B, 3 K L)``): how finely an atom's response varies tells apart degradations
    whose mean response is alike (fine noise vs. smooth blur vs. a 2-4 px resampling grid).
    """
    out = []
    for m in maps:
        out += [m.mean(dim=(2, 3)), m.std(dim=(2, 3), unbiased=False)]
        if texture:
            dy = (m[..., 1:, :] - m[..., :-1, :]).abs().mean(dim=(2, 3))
            dx = (m[..., :, 1:] - m[..., :, :-1]).abs().mean(dim=(2, 3))
            out.append(0.5 * (dx + dy))
    return torch.cat(out, 1)


class NDRDegrad(nn.Module):
    """Training-only CNN U-Net: clean image -> degraded image, steered by the queried features.

    Its three skips live at the restoration net's skip resolutions and are modulated by DI
    modules conditioned on the restoration net's ``E`` features; a global input residual keeps
    the clean image as the starting point.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.degrad_width
        c = (d, 2 * d, 4 * d)
        io = 3 * cfg.unshuffle**2
        self.embed = nn.Conv2d(io, c[0], 3, padding=1)
        self.encoders = nn.ModuleList(ResConvBlock(ch) for ch in c)
        self.downs = nn.ModuleList(Downsample(c[i], c[min(i + 1, 2)]) for i in range(3))
        self.latent = ResConvBlock(c[2])
        self.injections = nn.ModuleList(
            DegradationInjection(ch, query_dim=cfg.query_dim, rank=cfg.cp_rank, cp_gate=cfg.cp_gate, residual=True)
            for ch in c
        )
        self.ups = nn.ModuleList([Upsample(c[2], c[2]), Upsample(c[2], c[1]), Upsample(c[1], c[0])])
        self.reduces = nn.ModuleList(nn.Conv2d(2 * ch, ch, 1) for ch in (c[2], c[1], c[0]))
        self.decoders = nn.ModuleList(ResConvBlock(ch) for ch in (c[2], c[1], c[0]))
        self.out = nn.Conv2d(c[0], io, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, clean: Tensor, queries: list[Tensor]) -> Tensor:
        """Args: clean ``(B, 3, H, W)`` in [0, 1]; queries: the three ``E`` maps of the
        restoration net for the degraded image of the same size. Returns ``(B, 3, H, W)``."""
        x, (h, w) = pad_to(clean, self.cfg.multiple)
        u = self.cfg.unshuffle
        z = F.pixel_unshuffle(x, u) if u > 1 else x
        hdn = self.embed(z)
        skips = []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            hdn = enc(hdn)
            skips.append(hdn)
            hdn = down(hdn)
        hdn = self.latent(hdn)
        for j, (up, red, dec) in enumerate(zip(self.ups, self.reduces, self.decoders, strict=True)):
            level = 2 - j
            skip = self.injections[level](skips[level], queries[level])
            hdn = dec(red(torch.cat([up(hdn), skip], dim=1)))
        res = self.out(hdn)
        if u > 1:
            res = F.pixel_shuffle(res, u)
        return (x + res)[..., :h, :w]


class NDRRestore(RestorationNet):
    """The restoration network: backbone + NDR dictionary + DQ/DI per skip + estimator head.

    ``forward(img)`` returns ``(restored, aux)`` with ``aux["activations"]`` (three
    ``(B, K, h_l, w_l)`` maps, fine to coarse), ``aux["queries"]`` (the ``E`` maps, for
    NDR-Degrad) and ``aux["logits"]`` (``(B, T)`` estimator logits).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = UNet(cfg)
        self.dictionary = nn.Parameter(torch.randn(cfg.atoms, cfg.atom_dim))
        self.queries = nn.ModuleList(
            DegradationQuery(ch, atom_dim=cfg.atom_dim, query_dim=cfg.query_dim) for ch in self.unet.skip_channels
        )
        inject = DegradationInjection if cfg.injection == "di" else ConcatInjection
        self.injections = nn.ModuleList(
            inject(ch, query_dim=cfg.query_dim, rank=cfg.cp_rank, cp_gate=cfg.cp_gate, residual=cfg.di_residual)
            for ch in self.unet.skip_channels
        )
        self.estimator = Estimator(
            (3 if cfg.estimator_texture else 2) * cfg.atoms * 3, cfg.estimator_hidden, len(cfg.types)
        )

    @property
    def gates_per_skip(self) -> int:
        """CP gates per encoder skip (2: one on the queried feature, one on the skip; 0 without)."""
        return 2 if self.cfg.cp_gate and self.cfg.injection == "di" else 0

    def encode_tile(
        self, img: Tensor, noise_sigma: Tensor | None = None, scale: Tensor | None = None
    ) -> tuple[list[Tensor], Tensor]:
        """The encoder skips and the latent level's input of ``img`` (``(1, 3, H, W)``), exactly as
        :meth:`body` computes them: tiled inference computes them once, in the statistics pass,
        and hands them back to :meth:`body` through ``encoded``."""
        return self.unet.encode_skips(self.prepare(img)[1], noise_sigma, scale)

    def gate_input_sums(
        self, img: Tensor, box: tuple[int, int, int, int], encoded: tuple[list[Tensor], Tensor] | None = None
    ) -> list[tuple[Tensor, int]]:
        """For tiled inference: every CP gate's input summed over a region of ``img``.

        Runs the encoder (unless ``encoded``, from :meth:`encode_tile`, is given) and the queries
        only: the gates' inputs do not depend on any gate. ``box`` = ``(y0, y1, x0, x1)`` in
        pixels of ``img`` (``(1, 3, H, W)``); the region maps to each scale's grid by rounding.
        Returns ``(sum (1, C, 1, 1), count)`` per gate, skip by skip, in the order :meth:`body`'s
        ``gate_means`` takes them.
        """
        skips, _ = encoded if encoded is not None else self.encode_tile(img)
        padded_width = img.shape[-1] + (-img.shape[-1]) % self.cfg.multiple
        y0, y1, x0, x1 = box
        out = []
        for skip, dq, di in zip(skips[:3], self.queries, self.injections, strict=True):
            _, e = dq(skip, self.dictionary)
            step = padded_width / skip.shape[-1]  # pixels per grid cell at this scale
            r0, r1, c0, c1 = (round(v / step) for v in (y0, y1, x0, x1))
            for inp in di.gate_inputs(skip, e):
                region = inp[..., r0:r1, c0:c1]
                out.append((region.sum(dim=(2, 3), keepdim=True), region.shape[-2] * region.shape[-1]))
        return out

    def body(
        self,
        z: Tensor,
        gate_means: Sequence[Tensor] = (),
        encoded: tuple[list[Tensor], Tensor] | None = None,
        noise_sigma: Tensor | None = None,
        scale: Tensor | None = None,
        **_: object,
    ) -> tuple[Tensor, dict]:
        """``gate_means``: pooled inputs for every CP gate (tiled inference), else each pools its own.
        ``encoded``: this input's :meth:`encode_tile`, computed earlier (tiled inference).
        ``noise_sigma``: ``(B, 3)`` the level the detail levels' noise map shows (None: measured);
        ``scale``: ``(B,)`` the known enlargement their scale map shows (None: nothing known)."""
        if encoded is None:
            skips, latent = self.unet.encode(z, noise_sigma, scale)
        else:
            skips, latent = encoded[0], self.unet.latent(encoded[1])
        maps, queries, modulated = [], [], []
        n = self.gates_per_skip
        for level, (skip, dq, di) in enumerate(zip(skips[:3], self.queries, self.injections, strict=True)):
            a, e = dq(skip, self.dictionary)
            maps.append(a)
            queries.append(e)
            modulated.append(di(skip, e, gate_means[level * n : (level + 1) * n] if gate_means else ()))
        res = self.unet.decode(latent, modulated + skips[3:], z)
        return res, {"activations": maps, "queries": queries, **self._estimate(maps)}

    def _estimate(self, maps: list[Tensor]) -> dict[str, Tensor]:
        # The estimator observes the dictionary without steering it: its input is detached.
        pooled = pooled_features([m.detach() for m in maps], self.cfg.estimator_texture)
        return {"logits": self.estimator(pooled), "estimator_input": pooled}

    def estimate(self, img: Tensor) -> dict[str, Tensor]:
        """The estimator's logits and the NDR activation maps of ``img`` (``(B, 3, H, W)``), as
        :meth:`forward` returns them in its extras, from the encoder and the queries alone (no
        latent level, injection or decoder: about 2x cheaper)."""
        skips, _ = self.encode_tile(img)
        maps = [dq(skip, self.dictionary)[0] for skip, dq in zip(skips[:3], self.queries, strict=True)]
        return {"activations": maps, **self._estimate(maps)}
