"""What a training step minimises and at which rate: the learning-rate schedule (a pure function
of the step) and the restoration term of the loss."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from restore.training.config import TrainConfig

PSNR_FLOOR = 1e-4  # MSE added inside the log of the "psnr" loss (a 40 dB ceiling)


def lr_at(step: int, cfg: TrainConfig, progress: float | None = None) -> float:
    """Linear warm-up to ``cfg.lr``, then cosine decay to ``cfg.min_lr`` at ``cfg.steps``.

    ``progress`` (0-1) replaces ``step / steps`` for the cosine when a run has a time budget, so
    the schedule still ends at ``min_lr`` when time, not steps, runs out.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup) if progress is None else progress
    t = min(1.0, max(0.0, t))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def restoration_objective(restored: Tensor, degraded: Tensor, clean: Tensor, loss: str, cfg: TrainConfig) -> Tensor:
    """The restoration term of the loss for one batch (see ``TrainConfig.loss``)."""
    err = restored - clean
    if loss == "psnr":
        # -PSNR / 100 per sample: 0.1 * log10(MSE + 1e-4); the 1e-4 (40 dB) keeps nearly clean
        # samples from taking the whole gradient. Balanced already: no loss_balance weights.
        return (0.1 * torch.log10(err.square().mean(dim=(1, 2, 3)) + PSNR_FLOOR)).mean()
    per_sample = (err.square() if loss == "l2" else err.abs()).mean(dim=(1, 2, 3))
    if not cfg.loss_balance:
        return per_sample.mean()
    # Mild degradations (input error ~0.02) must count as much as severe ones (~0.25): the
    # benchmark averages PSNR over cases, and plain L1 is dominated by the severe.
    w = 1.0 / ((degraded - clean).abs().mean(dim=(1, 2, 3)) + cfg.balance_floor)
    return (per_sample * w / w.mean()).mean()
