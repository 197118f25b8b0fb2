"""Helpers shared by the network tests (imported as a test helper, like ``studio_env``)."""

from __future__ import annotations

import torch


def randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn at random (the zero-initialised outputs too), so each path acts."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()
