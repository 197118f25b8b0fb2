"""The training recipe: :class:`TrainConfig` and its YAML files (only keys that differ from the defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from restore.models.config import ModelConfig, preset, replace_checked
from restore.synthesis.families import check_exclude
from restore.synthesis.registry import check_type_weights

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
        p_mixture, p_clean: the sampler's mix (see ``restore.synthesis.registry.sample``).
        scene_tone: share of clean patches given a random scene tone (dark, bright or saturated,
            :mod:`restore.synthesis.scenes`) before they are degraded, so the network keeps a
            dark or bright scene's own brightness (0: off, the shipped runs up to run 9).
        type_weights: relative odds of the single types (YAML: a mapping such as ``{haze: 3}``;
            unnamed types keep 1), to spend a fine-tune on the weakest type; empty: balanced.
        families: draw each sample's generator from its type's family, with wide parameter
            ranges (``sample(..., families=True)``, see ``restore.synthesis.families``), so the
            network learns the degradation rather than one synthesis of it; False: generator 0
            of every type, the draws of the runs before families existed.
        family_share: with ``families``, the share of each batch drawn from the families; the
            rest is drawn as without them (generator 0 at the original ranges), so the original
            synthesis (the app's, the public benchmark's) keeps its share of the training.
        exclude_generators: generators held out of the families, for leave-one-generator-out
            experiments (YAML: a mapping such as ``{blur: [defocus]}``; names from
            ``restore.synthesis.registry.generator_names``); needs ``families``.
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
        lr_scale: multipliers of the schedule's step for the parameters whose names start with a
            prefix (YAML: a mapping such as ``{blocks.: 5}``): parts that start fresh in a
            warm-started network (DFPIR's perturbation blocks on NDR-Restore's U-Net) move
            faster than the trained rest. Empty: one step for all.
        seed: seeds crops, synthesis and init.
        threads: torch CPU threads (0 = torch's default).
        compile: wrap the model in torch.compile (CUDA).
        bf16: ignored on the CPU since 2026-12-07 (kept so old configs load): the trainer picks
            bf16 autocast where the CPU computes bf16 natively (AVX-512 BF16, AMX) and fp32
            elsewhere, as inference does (``RESTORE_PRECISION`` overrides); always bf16 on CUDA.
            Emulated bf16 on an AVX2-only CPU made a step 20x slower.
        holdout: training photos held out of training for the held-out validation
            (:func:`restore.training.patches.split_holdout`, :mod:`restore.training.heldout`).
        flip_after: the share of samples turned upside down *after* the synthesis (with their
            clean targets): the crops' flips come before it, so without this the original haze
            always thickened towards the top, and the network dehazed nothing else (SOTS's even
            haze: +0.03 dB; docs/weather-stats.md).
        true_noise_share: networks with ``noise_input``: the share of samples whose noise map
            shows the true noise level of the synthesis (so a user's override means what it
            says); the rest get what the estimator reads on the degraded sample, as in use.
        known_scale_share: networks with ``scale_input``: the share of the low-resolution samples
            whose scale map shows the synthesis' factor (what ``restore(upscale=s)`` tells); the
            rest, and every sample without low resolution, show 0 (an enlargement nobody told of).
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
    families: bool = False
    family_share: float = 1.0
    exclude_generators: tuple[tuple[str, tuple[str, ...]], ...] = ()
    scene_tone: float = 0.0
    predicted_label_fraction: float = 0.2
    ema: float = 0.0
    val_every: int = 500
    save_every: int = 250
    log_every: int = 25
    val_size: int = 256
    val_grid: int = 2
    train_only: tuple[str, ...] = ()
    lr_scale: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    threads: int = 0
    compile: bool = False
    bf16: bool = False
    holdout: int = 0
    true_noise_share: float = 0.25
    known_scale_share: float = 0.75
    flip_after: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema={self.ema} must be in [0, 1)")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is not one of {LOSSES}")
        if self.val_grid < 1:
            raise ValueError(f"val_grid={self.val_grid} must be at least 1")
        if self.type_weights:
            check_type_weights(dict(self.type_weights))
        for key in ("flip_after", "known_scale_share", "true_noise_share"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}={getattr(self, key)} must be in [0, 1]")
        if not 0.0 <= self.family_share <= 1.0:
            raise ValueError(f"family_share={self.family_share} must be in [0, 1]")
        bad = [k for k, v in self.lr_scale if not v > 0]
        if bad:
            raise ValueError(f"lr_scale multipliers must be positive, not for {bad}")
        if self.exclude_generators:
            check_exclude(dict(self.exclude_generators))
            if not self.families:
                raise ValueError("exclude_generators holds generators out of the families: set families: true")


def load_train_config(path: str | Path | None, **overrides: Any) -> TrainConfig:
    """Read a YAML training config (only keys that differ from the defaults)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of config keys")
    data.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("model_overrides", "type_weights", "lr_scale"):
        if isinstance(data.get(key), dict):
            data[key] = tuple(sorted(data[key].items()))
    if isinstance(data.get("lr_scale"), list):  # a checkpoint's JSON: [[prefix, scale], ...]
        data["lr_scale"] = tuple((str(k), float(v)) for k, v in data["lr_scale"])
    held = data.get("exclude_generators")
    if held:  # a YAML mapping, or the pairs of a checkpoint's JSON: {type: [name, ...]}
        pairs = held.items() if isinstance(held, dict) else held
        data["exclude_generators"] = tuple(sorted((str(t), (n,) if isinstance(n, str) else tuple(n)) for t, n in pairs))
    return replace_checked(TrainConfig(), data)


def model_config(train: TrainConfig) -> ModelConfig:
    """The ModelConfig a TrainConfig asks for."""
    return preset(train.model, **dict(train.model_overrides))
