"""Typed configs: model presets and the training recipe.

Configs are frozen dataclasses whose defaults are the shipped recipe; YAML files override only
what differs, and unknown keys raise with the list of valid ones.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from restore.degradations import check_type_weights

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
        keep_ratio: DFPIR: share of attention logits kept per row.
        alpha_init: DFPIR: initial output scale of the perturbed attention.
        perm_seed: DFPIR: seed of the per-type channel permutations.
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
    estimator_hidden: int = 64
    estimator_texture: bool = False
    estimator_noise: bool = False
    up_kernel: int = 3
    affine_head: bool = False

    def __post_init__(self) -> None:
        choices = {"arch": ("ndr", "dfpir", "plain"), "block": ("restormer", "resconv"), "injection": ("di", "concat")}
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise ValueError(f"{key}={getattr(self, key)!r} is not one of {valid}")
        if len(self.mults) != 4 or len(self.enc_blocks) != 3 or len(self.dec_blocks) != 3 or len(self.heads) != 4:
            raise ValueError("mults and heads need 4 entries, enc_blocks and dec_blocks 3")
        if not 0 < self.keep_ratio <= 1:
            raise ValueError(f"keep_ratio must be in (0, 1], got {self.keep_ratio}")

    @property
    def multiple(self) -> int:
        """Input sides are padded to a multiple of this (three 2x downsamplings + unshuffle)."""
        return 8 * self.unshuffle


LOSSES = ("l1", "l2", "psnr")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (defaults: the shipped `small` run on a CPU).

    Attributes:
        model: preset name or a full ModelConfig (YAML: a preset name plus ``model_overrides``).
        patch: training patch side (px). batch: patches per step.
        steps: optimiser steps; warmup: linear warm-up steps; lr / min_lr: cosine schedule ends.
        weight_decay, grad_clip: AdamW decay and gradient-norm clip.
        loss: restoration loss per sample, "l1" (the papers') or "l2" (mean squared error: under
            doubt about the type the L2 optimum is the posterior mean, which already corrects
            partly, while the L1 optimum, a median, does nothing until one type is more likely
            than all the rest together; L2 is also what PSNR measures), or "psnr" (minus each
            sample's PSNR, in units of 100 dB: the benchmark's own measure, averaged in dB, so a
            mild case gains as much from one dB as a severe one; its gradient is L2's scaled by
            1 / MSE, which replaces ``loss_balance``; 1e-4 is added to each MSE, a 40 dB ceiling).
        l1_from: with ``loss: l2`` or ``psnr``, switch to L1 from this share of the schedule on (1 = never):
            L2 first, to learn every correction; then L1, so the network commits to a correction
            only where it is sure and leaves ambiguous, nearly clean inputs alone.
        loss_balance: weight each sample's restoration loss by 1 / (its input's L1 + balance_floor),
            so mild degradations count as much as severe ones (False: the paper's plain mean L1);
            a larger floor gives the severe ones (haze, low light) more of the gradient.
        degrad_weight: lambda of the re-degradation L1; estimator_weight: the estimator's BCE.
        alternate: alternate restoration and degradation updates (paper text) instead of one
            joint step (public code).
        p_mixture, p_clean: the sampler's mix (see ``restore.degradations.sample``).
        type_weights: relative odds of the single types (YAML: a mapping such as ``{haze: 3}``;
            unnamed types keep 1), to spend a fine-tune on the weakest type; empty: balanced.
        predicted_label_fraction: DFPIR: share of samples routed by the estimator's prediction
            instead of the true label, so the network tolerates estimator mistakes.
        ema: decay of an exponential moving average of the restoration network's weights (0 = off,
            e.g. 0.999); validation, the estimator refit, warm starts and the export then use the
            average, which smooths the step-to-step swings of the hard cases (haze).
        val_every, save_every, log_every: intervals in steps.
        val_size: side of the validation crops; val_grid: a ``val_grid x val_grid`` lattice of
            crops per validation photo (1: the centre crop only).
        train_only: train only the parameters whose names start with one of these prefixes
            (e.g. ``unet.affine``): the rest of the network, NDR-Degrad and the estimator stay as
            warm-started. Empty: train everything.
        seed: seeds crops, synthesis and init.
        threads: torch CPU threads (0 = torch's default).
        compile: wrap the model in torch.compile (CUDA).
    """

    model: str = "ndr-small"
    model_overrides: tuple[tuple[str, Any], ...] = ()
    patch: int = 96
    batch: int = 8
    steps: int = 6000
    warmup: int = 300
    lr: float = 5e-4
    min_lr: float = 2e-5
    weight_decay: float = 1e-4
    grad_clip: float = 0.5
    loss: str = "l1"
    l1_from: float = 1.0
    loss_balance: bool = True
    balance_floor: float = 0.02
    degrad_weight: float = 1.0
    estimator_weight: float = 0.1
    alternate: bool = False
    p_mixture: float = 0.25
    p_clean: float = 0.02
    type_weights: tuple[tuple[str, float], ...] = ()
    predicted_label_fraction: float = 0.2
    ema: float = 0.0
    val_every: int = 500
    save_every: int = 250
    log_every: int = 25
    val_size: int = 256
    val_grid: int = 2
    train_only: tuple[str, ...] = ()
    seed: int = 0
    threads: int = 0
    compile: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema={self.ema} must be in [0, 1)")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not one of {LOSSES}")
        if self.val_grid < 1:
            raise ValueError(f"val_grid={self.val_grid} must be at least 1")
        if self.type_weights:
            check_type_weights(dict(self.type_weights))


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
    "ndr-tiny": ModelConfig(
        affine_head=True,
        estimator_texture=True,
        width=8,
        mults=(1, 2, 2, 2),
        enc_blocks=(1, 1, 1),
        dec_blocks=(1, 1, 1),
        unshuffle=2,
        degrad_width=8,
        estimator_hidden=16,
    ),
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


def load_train_config(path: str | Path | None, **overrides: Any) -> TrainConfig:
    """Read a YAML training config (only keys that differ from the defaults)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of config keys")
    data.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("model_overrides", "type_weights"):
        if isinstance(data.get(key), dict):
            data[key] = tuple(sorted(data[key].items()))
    return replace_checked(TrainConfig(), data)


def model_config(train: TrainConfig) -> ModelConfig:
    """The ModelConfig a TrainConfig asks for."""
    return preset(train.model, **dict(train.model_overrides))


def to_json(cfg: Any) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def model_config_from_json(text: str) -> ModelConfig:
    return replace_checked(ModelConfig(), json.loads(text))
