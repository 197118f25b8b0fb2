"""Helpers the generator modules share: per-sample broadcasting and per-sample Gaussian blur."""

from __future__ import annotations

import torch
from torch import Tensor

from restore.synthesis.ops import _conv_per_sample
from restore.synthesis.resample import gaussian_kernels


def _v(t: Tensor) -> Tensor:
    return t.view(-1, 1, 1, 1)


def _blur_each(x: Tensor, sigma: Tensor) -> Tensor:
    """Gaussian blur of each sample with its own ``sigma`` ``(B,)`` (px); 0 leaves a sample alone."""
    return torch.where(_v(sigma) > 0, _conv_per_sample(x, gaussian_kernels(sigma)), x)
