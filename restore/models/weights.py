"""Safetensors I/O with the model config (and training facts) stored in the file's metadata."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors.torch import safe_open as _safe_open
from torch import nn

from restore.models.config import ModelConfig, model_config_from_json, to_json

log = logging.getLogger(__name__)


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt, or does not match its model."""


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``module.`` (DDP) and ``_orig_mod.`` (torch.compile) prefixes."""
    return {re.sub(r"^(?:(?:module|_orig_mod)\.)+", "", k).replace("._orig_mod.", "."): v for k, v in state.items()}


def save_weights(
    module: nn.Module,
    path: str | Path,
    config: ModelConfig,
    *,
    dtype: torch.dtype | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``module``'s state dict as safetensors with ``config`` in the metadata.

    Args:
        dtype: store floating tensors in this dtype (e.g. ``torch.float16`` to halve the file);
            integer buffers (permutations) keep theirs.
        extra: more metadata (training facts), stored as JSON strings.
    """
    state = clean_state_dict(module.state_dict())
    tensors = {}
    for key, t in state.items():
        t = t.detach().cpu()
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        tensors[key] = t.contiguous()
    meta = {"config": to_json(config), "format": "restore-studio/1"}
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta)
    path.chmod(0o644)  # safetensors writes owner-only files; shipped weights must be readable by all
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (raises :class:`WeightsError` if unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        with _safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors file ({exc}); re-download or retrain it") from exc


def read_config(path: str | Path) -> ModelConfig:
    meta = read_metadata(path)
    if "config" not in meta:
        raise WeightsError(f"{path} has no model config in its metadata; it was not written by restore.models.weights")
    return model_config_from_json(meta["config"])


def degrad_path(path: str | Path) -> Path:
    """Where NDR-Degrad's weights sit beside ``NAME.safetensors``: ``NAME-degrad.safetensors``."""
    path = Path(path)
    return path.with_name(f"{path.stem}-degrad.safetensors")


def read_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a file written by :func:`save_weights` (raises :class:`WeightsError`)."""
    read_metadata(path)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is corrupt ({exc})") from exc


def load_weights(module: nn.Module, path: str | Path) -> nn.Module:
    """Load a file into ``module`` strictly (every key, every shape), casting to its dtype."""
    path = Path(path)
    state = read_state(path)
    own = module.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    try:
        module.load_state_dict(clean_state_dict(state), strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path} does not match the model built from its config: {exc}") from exc
    return module


def fingerprint(path: str | Path) -> str:
    """sha256 of a file (hex), used to tie derived assets to the weights they came from."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
