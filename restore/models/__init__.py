"""Model factory: one function builds any architecture from its config."""

from __future__ import annotations

from torch import nn

from restore.models.backbone import PlainNet, RestorationNet
from restore.models.config import ModelConfig
from restore.models.dfpir import DFPIR
from restore.models.ndr import NDRDegrad, NDRRestore

__all__ = ["build_model", "build_degrad", "count_parameters", "RestorationNet", "NDRRestore", "DFPIR", "PlainNet"]


def build_model(cfg: ModelConfig) -> RestorationNet:
    """The restoration network for ``cfg.arch`` ("ndr", "dfpir" or "plain")."""
    return {"ndr": NDRRestore, "dfpir": DFPIR, "plain": PlainNet}[cfg.arch](cfg)


def build_degrad(cfg: ModelConfig) -> NDRDegrad:
    """The training-only NDR-Degrad network that matches an NDR-Restore config."""
    if cfg.arch != "ndr":
        raise ValueError(f"NDR-Degrad belongs to arch 'ndr', not {cfg.arch!r}")
    return NDRDegrad(cfg)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
