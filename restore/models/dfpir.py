"""DFPIR (Tian et al., CVPR 2025): degradation-aware feature perturbation.

Each encoder skip and the latent pass through a Degradation-Guided Perturbation Block (DGPB)
that routes features differently per degradation type with shared weights: a fixed per-type
channel permutation in a 2x-widened space (channel perturbation) and a channel cross-attention
that keeps only the top share of logits per row (attention perturbation).

The paper is not blind (the type comes from a text prompt). Here the type comes from an
estimator head on the (type-independent) encoder features, so one forward pass is blind: the
mean and std of every channel and, with ``estimator_texture``, how finely it varies; with
``estimator_noise``, also the input's noise level (:func:`restore.noise.noise_level`).
Mixtures: the permuted features are averaged with the type weights. Because the next operation
is a 1x1 convolution (linear), this is exactly the probability-weighted blend of the per-type
channel-perturbation outputs, at the cost of one pass instead of six.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from restore.models.backbone import RestorationNet, UNet
from restore.models.blocks import GDFN, LayerNorm2d, channel_attention
from restore.models.config import ModelConfig
from restore.models.ndr import Estimator, pooled_features
from restore.noise import noise_level
from restore.types import DEGRADATION_TYPES


def type_permutations(channels: int, *, seed: int, block: int, types: int = len(DEGRADATION_TYPES)) -> Tensor:
    """``(types, channels)`` long: a fixed pseudo-random permutation per type for one block (the
    first rows do not depend on ``types``, so a model with one more type keeps the others')."""
    g = torch.Generator().manual_seed(seed * 1009 + block * 101)
    return torch.stack([torch.randperm(channels, generator=g) for _ in range(types)])


class DGPB(nn.Module):
    """Degradation-Guided Perturbation Block on a ``(B, C, H, W)`` feature.

    Args:
        channels: C.
        heads: attention heads.
        keep_ratio: share of attention logits kept per row (the rest masked before softmax).
        alpha_init: initial scale of the attention output.
        seed, block: select the block's fixed permutations.
        expansion: feed-forward expansion.
        types: number of degradation types (one permutation each).
        gate: scale the block's change to its input by a per-channel gain that starts at zero, so
            the block starts as the exact identity and a trained backbone without blocks
            warm-starts unchanged (``ModelConfig.dgpb_gate``).
    """

    def __init__(
        self,
        channels: int,
        *,
        heads: int,
        keep_ratio: float,
        alpha_init: float,
        seed: int,
        block: int,
        expansion: float,
        types: int = len(DEGRADATION_TYPES),
        gate: bool = False,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.keep_ratio = keep_ratio
        self.expand = nn.Conv2d(channels, 2 * channels, 1)
        perms = type_permutations(2 * channels, seed=seed, block=block, types=types)
        self.register_buffer("perms", perms, persistent=True)
        self.squeeze = nn.Conv2d(2 * channels, channels, 1)
        self.norm_q = LayerNorm2d(channels)
        self.norm_kv = LayerNorm2d(channels)
        self.q = nn.Sequential(
            nn.Conv2d(channels, channels, 1), nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        )
        self.kv = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 1),
            nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels),
        )
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.alpha = nn.Parameter(torch.tensor(float(alpha_init)))
        self.proj = nn.Conv2d(channels, channels, 1)
        self.norm_ffn = LayerNorm2d(channels)
        self.ffn = GDFN(channels, expansion)
        self.gain = nn.Parameter(torch.zeros(1, channels, 1, 1)) if gate else None

    def perturb(self, x: Tensor, weights: Tensor) -> Tensor:
        """Channel perturbation: ``sum_t w_t * x[:, P_t]`` for ``x`` ``(B, 2C, H, W)``, weights ``(B, T)``."""
        out = torch.zeros_like(x)
        for t in range(self.perms.shape[0]):
            w = weights[:, t]
            if bool((w > 0).any()):
                out = out + w.view(-1, 1, 1, 1).to(x.dtype) * x.index_select(1, self.perms[t])
        return out

    def forward(self, f: Tensor, weights: Tensor) -> Tensor:
        perturbed = self.squeeze(self.perturb(self.expand(f), weights))
        q = self.q(self.norm_q(perturbed))
        k, v = self.kv(self.norm_kv(f)).chunk(2, dim=1)
        att = channel_attention(q, k, v, self.heads, self.temperature, self.keep_ratio)
        out = f + self.proj(self.alpha * att)
        out = out + self.ffn(self.norm_ffn(out))
        return out if self.gain is None else f + self.gain.to(out.dtype) * (out - f)


def routing_weights(probabilities: Tensor, mode: str) -> Tensor:
    """Type weights ``(B, T)`` summing to 1 from estimator probabilities or multi-hot labels.

    ``"blend"``: proportional to the probabilities (uniform when all are 0);
    ``"dominant"``: one-hot on the most likely type.
    """
    if mode == "dominant":
        return nn.functional.one_hot(probabilities.argmax(dim=1), probabilities.shape[1]).to(probabilities.dtype)
    if mode != "blend":
        raise ValueError(f"routing must be 'blend' or 'dominant', got {mode!r}")
    total = probabilities.sum(dim=1, keepdim=True)
    uniform = torch.full_like(probabilities, 1.0 / probabilities.shape[1])
    return torch.where(total > 1e-6, probabilities / total.clamp(min=1e-6), uniform)


class DFPIR(RestorationNet):
    """Backbone + a DGPB on each encoder skip and on the latent + a blind type estimator.

    ``forward(img, weights=None, routing="blend", blind=None)``: ``weights`` ``(B, T)`` routes by
    known types (the paper's oracle setting); ``None`` routes by the estimator; ``blind`` ``(B,)``
    bool routes the marked samples by the estimator even when ``weights`` is given. ``aux["logits"]`` are
    the estimator's ``(B, T)`` logits and ``aux["weights"]`` the routing used.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.unet = UNet(cfg)
        chans = (*self.unet.skip_channels, self.unet.latent_channels)
        self.blocks = nn.ModuleList(
            DGPB(
                ch,
                heads=cfg.heads[i],
                keep_ratio=cfg.keep_ratio,
                alpha_init=cfg.alpha_init,
                seed=cfg.perm_seed,
                block=i,
                expansion=cfg.ffn_expansion,
                types=len(cfg.types),
                gate=cfg.dgpb_gate,
            )
            for i, ch in enumerate(chans)
        )
        inputs = (3 if cfg.estimator_texture else 2) * sum(chans) + (3 if cfg.estimator_noise else 0)
        self.estimator = Estimator(inputs, cfg.estimator_hidden, len(cfg.types))

    def body(
        self,
        z: Tensor,
        weights: Tensor | None = None,
        routing: str = "blend",
        blind: Tensor | None = None,
        noise_sigma: Tensor | None = None,
        scale: Tensor | None = None,
        **_: object,
    ) -> tuple[Tensor, dict]:
        skips, latent = self.unet.encode(z, noise_sigma, scale)
        feats = [*skips[:3], latent]
        pooled, logits = self._estimate(z, feats)
        guess = routing_weights(torch.sigmoid(logits.detach()), routing)
        if weights is None:
            weights = guess
        elif blind is not None:
            weights = torch.where(blind.view(-1, 1), guess, weights.to(guess.dtype))
        out = [blk(f, weights) for blk, f in zip(self.blocks, feats, strict=True)]
        res = self.unet.decode(out[3], out[:3] + skips[3:], z)
        return res, {"logits": logits, "weights": weights, "estimator_input": pooled}

    def _estimate(self, z: Tensor, feats: list[Tensor]) -> tuple[Tensor, Tensor]:
        """The estimator's input and logits from the unshuffled input ``z`` and its encoder features."""
        pooled = pooled_features([f.detach() for f in feats], self.cfg.estimator_texture)
        if self.cfg.estimator_noise:
            u = self.cfg.unshuffle
            img = F.pixel_shuffle(z, u) if u > 1 else z  # (B, 3, H, W), the padded input
            # On a log scale: sigma 2 vs 5 grey levels (clean vs mildly noisy) matters as much as 20 vs 50.
            sigma = noise_level(img.detach())
            pooled = torch.cat([pooled, torch.log(10 * sigma + 0.02)], dim=1)
        return pooled, self.estimator(pooled)

    def estimate(self, img: Tensor) -> dict[str, Tensor]:
        """The estimator's logits for ``img`` (``(B, 3, H, W)``), as :meth:`forward` returns them,
        from the encoder alone (no perturbation blocks or decoder: about 4x cheaper)."""
        z = self.prepare(img)[1]
        skips, latent = self.unet.encode(z)
        pooled, logits = self._estimate(z, [*skips[:3], latent])
        return {"logits": logits, "estimator_input": pooled}
