"""Where a :class:`Restorer`'s networks come from: shipped weights, or seeded random ones.

Owns: the shipped models' names and which lends which its estimator, what
:meth:`Restorer.from_pretrained` reads from a weights folder (``NAME.safetensors`` and, for
NDR-Restore, ``NAME-degrad.safetensors``), the device it picks by default, and the random
networks of :meth:`Restorer.from_config`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from restore.models import build_degrad, build_model
from restore.models.config import ModelConfig
from restore.models.weights import WeightsError, degrad_path, load_weights, read_config, read_metadata
from restore.resources import weights_dir

log = logging.getLogger(__name__)

#: Shipped model names, in the order the app offers them.
MODEL_NAMES: tuple[str, ...] = ("ndr-restore", "dfpir")
#: Models whose blind decisions (DFPIR's routing, the haze pass, the tone lock, ``analyze``) take
#: the type probabilities of another shipped model's estimator, loaded from the same folder (else
#: the shipped one) by :meth:`Restorer.from_pretrained`. NDR-Restore's estimator reads the dictionary's
#: activation maps and names the degradation more reliably than DFPIR's own head, which reads
#: encoder statistics: routed by it, DFPIR no longer takes mild noise on dark or flat photos for low
#: light or rain (the model card's "One estimator for both models").
ESTIMATOR_SOURCES: dict[str, str] = {"dfpir": "ndr-restore"}


def available_models(directory: Path | None = None) -> list[str]:
    """Names of the models whose weights are present (known names first)."""
    d = directory or weights_dir()
    found = {p.stem for p in d.glob("*.safetensors") if not p.stem.endswith("-degrad")} if d.is_dir() else set()
    return [n for n in MODEL_NAMES if n in found] + sorted(found - set(MODEL_NAMES))


def load_network(name: str, directory: Path) -> tuple[nn.Module, ModelConfig, nn.Module | None, dict[str, str]]:
    """Build model ``name`` from ``directory`` and load its weights strictly.

    Args:
        name: the model's name: its weights are ``directory / f"{name}.safetensors"``.
        directory: the weights folder.

    Returns:
        ``(model, config, degrad, metadata)``: the network, its config (read from the weights),
        its NDR-Degrad network (None unless an NDR model has a ``NAME-degrad`` file) and the weight
        file's metadata.

    Raises:
        ValueError: unknown model name (the message lists the available ones).
        WeightsError: the file is missing, corrupt or does not match its config.
    """
    path = directory / f"{name}.safetensors"
    if not path.is_file():
        avail = available_models(directory)
        if name not in MODEL_NAMES:
            raise ValueError(f"unknown model {name!r}; available: {', '.join(avail) or 'none'}")
        raise WeightsError(
            f"weights for {name!r} not found at {path}; available: {', '.join(avail) or 'none'} "
            f"(train and export them with `python -m restore.training ... --export RUN --name {name}`)"
        )
    config = read_config(path)
    model = load_weights(build_model(config), path)
    degrad = None
    dpath = degrad_path(path)
    if config.arch == "ndr" and dpath.is_file():
        degrad = load_weights(build_degrad(config), dpath)
    return model, config, degrad, read_metadata(path)


def random_network(config: ModelConfig, seed: int) -> tuple[nn.Module, nn.Module | None]:
    """The networks for ``config`` with random weights drawn after ``torch.manual_seed(seed)``.

    The zero-initialised output convolutions (which make a fresh network the identity) get
    random weights too, so an untrained model really transforms its input.

    Returns:
        ``(model, degrad)``: the restoration network and, for NDR models, NDR-Degrad (else None).
    """
    torch.manual_seed(seed)
    model = build_model(config)
    degrad = build_degrad(config) if config.arch == "ndr" else None
    for net in (model, degrad):
        for m in net.modules() if net is not None else ():
            if isinstance(m, nn.Conv2d) and not bool(m.weight.any()):
                m.reset_parameters()
    return model, degrad


def default_device() -> torch.device:
    """CUDA where it is available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def lender_folder(name: str, directory: Path) -> tuple[str, Path] | None:
    """The model :data:`ESTIMATOR_SOURCES` names to lend ``name`` its estimator, and the folder to
    load it from: ``directory`` where it holds the lender's file, else the shipped weights. None
    where ``name`` borrows no estimator or no folder has the file (then it keeps its own head, and
    a warning says so)."""
    source = ESTIMATOR_SOURCES.get(name)
    if source is None:
        return None
    for folder in dict.fromkeys((directory, weights_dir())):
        if (folder / f"{source}.safetensors").is_file():
            return source, folder
    log.warning("%s: no %s weights to lend their estimator; using %s's own head", name, source, name)
    return None


class Lender(Protocol):
    """What :func:`check_lender` reads of a loaded model (a :class:`~restore.inference.restorer.Restorer`;
    described here so that this module, which the restorer imports, needs nothing of it)."""

    name: str

    @property
    def has_estimator(self) -> bool: ...

    @property
    def estimator(self) -> object | None: ...

    @property
    def types(self) -> tuple[str, ...]: ...


def check_lender(lender: Lender, name: str, types: tuple[str, ...]) -> None:
    """Raise ValueError unless the loaded restorer ``lender`` can lend model ``name`` (degradation
    ``types``) its estimator: it has a head of its own (it borrows none) and names the same types."""
    if not lender.has_estimator or lender.estimator is not None:
        raise ValueError(f"model {lender.name!r} has no estimator of its own to lend")
    if tuple(lender.types) != tuple(types):
        raise ValueError(f"model {lender.name!r} estimates types {lender.types}, {name!r} needs {types}")
