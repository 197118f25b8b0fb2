"""Model configs: the typed :class:`ModelConfig` and the named presets (no YAML, no training).

Configs are frozen dataclasses whose defaults are the shipped recipe; unknown keys raise with the
list of valid ones.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from restore.types import DEGRADATION_TYPES

T = TypeVar("T")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a restoration network (NDR-Restore, DFPIR or the plain backbone).

    Attributes:
        arch: "ndr" (NDR-Restore), "dfpir", or "plain" (backbone only, the no-NDR ablation).
        block: backbone block, "restormer" (MDTA + GDFN, the papers') or "resconv" (two dense
            3x3 convolutions with a residual: much faster on CPUs).
        width: channels at level 1; level l has ``width * mults[l]``.
        mults: channel multipliers of the 4 levels.
        enc_blocks: blocks in encoder levels 1-3; ``latent_blocks`` at level 4.
        dec_blocks: blocks in decoder levels 3, 2, 1 (deepest first).
        refine_blocks: refinement blocks at full resolution after the decoder.
        wide_top: the top decoder level keeps the concatenated 2x width (Restormer) instead of
            reducing it with a 1x1 convolution (cheaper).
        heads: attention heads per level (restormer blocks only).
        ffn_expansion: feed-forward expansion (restormer blocks only).
        unshuffle: pixel-unshuffle factor applied to the input (1 = none); the network then works
            at 1/unshuffle resolution and pixel-shuffles its output back.
        atoms, atom_dim: size of the NDR dictionary D (atoms x dims).
        query_dim: channels of the queried degradation feature E.
        cp_rank: rank R of the CP gate.
        injection: "di" (Degradation Injection), "concat" (DQ output concatenated, an ablation).
        cp_gate: use the low-rank CP gate inside DI (False: identity gate, an ablation).
        di_residual: add the un-modulated skip back after DI (trains more stably).
        degrad_width: width of the NDR-Degrad auxiliary network.
        types: the degradation types the model was trained on, in the order of its estimator's
            outputs and DFPIR's permutations (stored with the weights, so a new type registered in
            the synthesis never changes what an old file means; files without it have the six).
        keep_ratio: DFPIR: share of attention logits kept per row.
        alpha_init: DFPIR: initial output scale of the perturbed attention.
        perm_seed: DFPIR: seed of the per-type channel permutations.
        dgpb_gate: DFPIR: every DGPB's change to its input passes a per-channel gain that starts
            at zero, so the blocks start as the exact identity: DFPIR warm-started from
            NDR-Restore's trained U-Net computes that U-Net without its injections, and its
            training moves the blocks in as they earn their place.
        estimator_hidden: hidden units of the degradation estimator head.
        estimator_texture: the estimator also reads how finely each pooled map varies (mean
            absolute neighbour difference), besides its mean and std: each atom's activation map
            (NDR) or each encoder channel (DFPIR).
        estimator_noise: DFPIR: the estimator also reads a robust estimate of the input's
            white-noise level per colour channel (the median absolute finest-scale diagonal Haar
            coefficient, at full resolution, on a log scale). Pooled at a quarter of the
            resolution, the encoder features barely see noise of sigma 15 on a textured photo.
        up_kernel: kernel of the decoder's upsampling convolutions (3: Restormer's; 1: 9x fewer
            weights, for the size-capped CPU presets).
        fine_width: channels of the fine branch (0: none). The branch reads the input at twice the
            resolution of the backbone's first level (pixel-unshuffled by ``unshuffle // 2``),
            runs ``fine_blocks`` blocks, meets the decoder's last features upsampled 2x, runs
            ``fine_blocks`` more and adds its own residual to the output. Its output convolution
            starts at zero, so a trained backbone warm-starts unchanged. Detail the backbone's
            coarse grid cannot draw (texture under noise, edges for SR and deblurring) lives there.
        fine_blocks: blocks on each side (encoder, decoder) of the fine branch.
        outer_widths: channels of the detail levels around the body, finest first (empty: none).
            Two widths give a full- and a half-resolution level of dense 3x3 residual blocks; the
            body (the four levels above, with the NDR modules or DFPIR's DGPBs) then sits below
            them, so ``unshuffle`` must be ``2 ** len(outer_widths)``. The levels read the image
            at full resolution, hand their features to the body's first level through a 1x1
            convolution that starts at zero, and draw a residual from the body's top features and
            their own skips whose output convolution starts at zero: weights of the same body
            without detail levels warm-start to exactly their own network.
        outer_blocks: residual blocks on each side (encoder, decoder) of every detail level.
        noise_input: the first detail level also reads a noise-level map: the input's white-noise
            sigma per colour channel (:func:`restore.noise.noise_level`, or a level the caller
            gives, ``forward(img, noise_sigma=...)``), FFDNet's idea. Needs ``outer_widths``.
        scale_input: the first detail level also reads the known enlargement: a map of
            ``(s - 1) / 3`` where the caller enlarged the image ``s`` times before the network
            (``forward(img, scale=...)``, ``restore(upscale=s)``), 0 where nothing is known (blind
            use). The network need not guess how soft a bicubic enlargement left the image. Needs
            ``outer_widths``.
        tone_head: global tone outside the body: a gated head predicts a smooth per-pixel log-gain
            and offset (from the body's top features, averaged over 16-px cells and upsampled
            bilinearly), scaled by two gates per image from the latent's pooled features, and the
            body's residual loses its own 16-px local mean, so brightness and contrast change
            only through the head: ``out = x * exp(g1 * gain) + g2 * offset + detail``.
            Replaces ``affine_head``.
        affine_head: the decoder also predicts a smooth per-pixel gain and offset (at the
            unshuffled resolution, upsampled bilinearly): ``out = x * exp(gain) + offset +
            residual``. Haze (``J = (I - A(1 - t)) / t``) and low light are near-affine in the
            input, which a purely additive residual can only approximate.
    """

    arch: str = "ndr"
    block: str = "resconv"
    width: int = 48
    mults: tuple[int, ...] = (1, 2, 3, 3)
    enc_blocks: tuple[int, ...] = (2, 2, 1)
    latent_blocks: int = 1
    dec_blocks: tuple[int, ...] = (1, 2, 2)
    refine_blocks: int = 0
    wide_top: bool = False
    heads: tuple[int, ...] = (1, 2, 4, 8)
    ffn_expansion: float = 2.66
    unshuffle: int = 4
    atoms: int = 32
    atom_dim: int = 128
    query_dim: int = 64
    cp_rank: int = 16
    injection: str = "di"
    cp_gate: bool = True
    di_residual: bool = True
    degrad_width: int = 24
    keep_ratio: float = 0.9
    alpha_init: float = 0.2
    perm_seed: int = 0
    dgpb_gate: bool = False
    estimator_hidden: int = 64
    estimator_texture: bool = False
    estimator_noise: bool = False
    up_kernel: int = 3
    affine_head: bool = False
    fine_width: int = 0
    fine_blocks: int = 1
    outer_widths: tuple[int, ...] = ()
    outer_blocks: int = 2
    noise_input: bool = False
    scale_input: bool = False
    tone_head: bool = False
    types: tuple[str, ...] = DEGRADATION_TYPES

    def __post_init__(self) -> None:
        choices = {"arch": ("ndr", "dfpir", "plain"), "block": ("restormer", "resconv"), "injection": ("di", "concat")}
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise ValueError(f"{key}={getattr(self, key)!r} is not one of {valid}")
        if len(self.mults) != 4 or len(self.enc_blocks) != 3 or len(self.dec_blocks) != 3 or len(self.heads) != 4:
            raise ValueError("mults and heads need 4 entries, enc_blocks and dec_blocks 3")
        if not 0 < self.keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")
        if self.fine_width and self.unshuffle % 2:
            raise ValueError(
                f"fine_width needs an even unshuffle (the branch works at unshuffle // 2), got {self.unshuffle}"
            )
        if self.outer_widths and self.unshuffle != 2 ** len(self.outer_widths):
            need = 2 ** len(self.outer_widths)
            raise ValueError(f"{len(self.outer_widths)} detail levels need unshuffle {need}, got {self.unshuffle}")
        for key in ("noise_input", "scale_input"):
            if getattr(self, key) and not self.outer_widths:
                raise ValueError(f"{key} feeds the first detail level: set outer_widths")
        if self.tone_head and self.multiple % 16:
            raise ValueError(f"tone_head smooths over 16-px cells: needs unshuffle of at least 2, got {self.unshuffle}")
        if self.tone_head and self.affine_head:
            raise ValueError("tone_head replaces affine_head: set one of them")
        if not self.types or len(set(self.types)) != len(self.types):
            raise ValueError(f"types must be distinct names, at least one, got {self.types}")

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (three 2x downsamplings + unshuffle)."""
        return 8 * self.unshuffle


# The tests' tiny NDR body (seconds to train), shared by the presets built on it.
_TINY_NDR: dict[str, Any] = {
    "width": 8,
    "mults": (1, 2, 2, 2),
    "enc_blocks": (1, 1, 1),
    "dec_blocks": (1, 1, 1),
    "unshuffle": 2,
    "degrad_width": 8,
    "estimator_hidden": 16,
}

PRESETS: dict[str, ModelConfig] = {
    # The paper's dimensions: Restormer blocks, width 48, [4, 6, 6, 8] / [6, 6, 4], 3 refinement.
    "ndr-paper": ModelConfig(
        arch="ndr",
        block="restormer",
        width=48,
        mults=(1, 2, 4, 8),
        enc_blocks=(4, 6, 6),
        latent_blocks=8,
        dec_blocks=(6, 6, 4),
        refine_blocks=3,
        wide_top=True,
        heads=(1, 2, 4, 6),
        unshuffle=1,
        degrad_width=48,
    ),
    "ndr-small": ModelConfig(affine_head=True, estimator_texture=True),
    "ndr-tiny": ModelConfig(affine_head=True, estimator_texture=True, **_TINY_NDR),
    "dfpir-paper": ModelConfig(
        arch="dfpir",
        block="restormer",
        width=48,
        mults=(1, 2, 4, 8),
        enc_blocks=(4, 6, 6),
        latent_blocks=8,
        dec_blocks=(6, 6, 4),
        refine_blocks=4,
        wide_top=True,
        heads=(1, 2, 4, 8),
        unshuffle=1,
    ),
    "dfpir-small": ModelConfig(arch="dfpir", heads=(1, 1, 2, 2), estimator_texture=True, estimator_noise=True),
    "dfpir-tiny": ModelConfig(
        arch="dfpir",
        width=8,
        mults=(1, 2, 2, 2),
        enc_blocks=(1, 1, 1),
        dec_blocks=(1, 1, 1),
        unshuffle=2,
        heads=(1, 1, 1, 1),
        estimator_hidden=16,
        estimator_texture=True,
        estimator_noise=True,
    ),
    # The detail-capable layout: full- and half-resolution levels of dense residual blocks around
    # the quarter-resolution body, the noise level as an input, tone in a gated head (the known
    # enlargement as an input too: ``model_overrides: {scale_input: true}``, see
    # configs/detail-ndr-scale.yaml; runs of these presets read their layout from the preset).
    "ndr-detail": ModelConfig(estimator_texture=True, outer_widths=(16, 32), noise_input=True, tone_head=True),
    "ndr-detail-tiny": ModelConfig(
        estimator_texture=True, outer_widths=(4,), outer_blocks=1, noise_input=True, tone_head=True, **_TINY_NDR
    ),
    "dfpir-detail": ModelConfig(
        arch="dfpir",
        heads=(1, 1, 2, 2),
        estimator_texture=True,
        estimator_noise=True,
        outer_widths=(16, 32),
        noise_input=True,
        tone_head=True,
        dgpb_gate=True,
    ),
    "plain-small": ModelConfig(arch="plain", affine_head=True),
    "plain-tiny": ModelConfig(
        arch="plain", width=8, mults=(1, 2, 2, 2), enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 1), unshuffle=2
    ),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A named preset, optionally with some fields replaced."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return replace_checked(PRESETS[name], overrides)


def replace_checked(obj: T, overrides: dict[str, Any]) -> T:
    """``dataclasses.replace`` that names the valid keys when one is unknown; lists become tuples."""
    valid = {f.name for f in fields(obj)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise KeyError(f"unknown config keys {unknown}; valid: {sorted(valid)}")
    clean = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(obj, **clean)  # type: ignore[type-var]


def to_json(cfg: Any) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def model_config_from_json(text: str) -> ModelConfig:
    return replace_checked(ModelConfig(), json.loads(text))
