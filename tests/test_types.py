"""Degradation types travel with the weights: a type registered later never breaks a shipped model,
and a model trained with it stores it in its weight file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from restore import DEGRADATION_TYPES, Restorer, available_models
from restore.models import build_model
from restore.models.config import preset
from restore.models.weights import read_config, save_weights
from restore.resources import package_assets
from restore.synthesis import registry
from restore.synthesis.registry import Degradation, Param, degrade_image, register, sample, unregister

SEVENTH = "tint"


def _tint(x: Tensor, generator: torch.Generator, *, amount: Tensor) -> Tensor:
    """A warm colour cast: red up, blue down, by ``amount`` (``(B,)``)."""
    shift = torch.tensor([1.0, 0.0, -1.0], device=x.device).view(1, 3, 1, 1)
    return (x + amount.view(-1, 1, 1, 1) * shift).clamp(0, 1)


@pytest.fixture
def seventh() -> Iterator[Degradation]:
    d = Degradation(
        SEVENTH,
        _tint,
        (Param("amount", 0.0, 0.3, 0.1, 0.01, (0.05, 0.25), "Cast strength"),),
        lambda p: p["amount"] / 0.3,
        "A warm colour cast.",
    )
    register(d, before="noise")  # a cast happens before the sensor adds its noise
    try:
        yield d
    finally:
        unregister(SEVENTH)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    g = np.random.default_rng(0)
    base = np.linspace(40, 200, 64, dtype=np.float32)[None, :, None] * np.ones((48, 1, 3), np.float32)
    return np.clip(base + g.normal(0, 3, base.shape), 0, 255).astype(np.uint8)


def test_register_places_the_type_in_the_physical_order(seventh: Degradation, photo: np.ndarray) -> None:
    assert registry.physical_order() == ("haze", "rain", "blur", "lowres", "lowlight", SEVENTH, "noise")
    out = degrade_image(photo, {SEVENTH: {"amount": 0.2}})
    assert out[..., 0].mean() > photo[..., 0].mean() + 30 and out[..., 2].mean() < photo[..., 2].mean() - 30
    with pytest.raises(ValueError, match="already registered"):
        register(seventh)
    with pytest.raises(ValueError, match="standard type"):
        unregister("noise")


def test_unregister_restores_the_six() -> None:
    assert registry.physical_order() == registry.ORDER
    assert tuple(registry.DEGRADATIONS) == DEGRADATION_TYPES


@pytest.mark.parametrize("name", available_models(package_assets() / "weights"))
def test_shipped_weights_load_and_run_with_a_seventh_type_registered(
    seventh: Degradation, photo: np.ndarray, name: str
) -> None:
    r = Restorer.from_pretrained(name, device="cpu", directory=package_assets() / "weights")
    assert r.types == DEGRADATION_TYPES, "files without a type list are the six standard types"
    img = degrade_image(photo, {SEVENTH: {"amount": 0.15}, "noise": {"sigma": 10}}, seed=1)
    out = r.restore(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    probs = r.analyze(img).probabilities
    assert tuple(probs) == DEGRADATION_TYPES and all(0.0 <= p <= 1.0 for p in probs.values())
    with pytest.raises(ValueError, match="unknown degradation type"):
        r.restore(img, task=SEVENTH)


@pytest.mark.parametrize("arch", ["ndr-tiny", "dfpir-tiny"])
def test_a_model_trained_with_the_seventh_type_stores_it(
    seventh: Degradation, photo: np.ndarray, arch: str, tmp_path: Path
) -> None:
    types = (*DEGRADATION_TYPES, SEVENTH)
    cfg = preset(arch, types=types)
    g = torch.Generator().manual_seed(0)
    batch = sample(torch.rand(4, 3, 32, 32, generator=g), g, p_mixture=0.0, p_clean=0.0, types=types)
    assert batch.labels.shape == (4, 7) and batch.types == types
    model = build_model(cfg).eval()
    _, aux = model(batch.image)
    assert aux["logits"].shape == (4, 7)
    path = save_weights(model, tmp_path / "seven.safetensors", cfg)
    assert read_config(path).types == types
    r = Restorer.from_pretrained("seven", device="cpu", directory=tmp_path)
    assert tuple(r.analyze(photo).probabilities) == types
    assert r.restore(photo, task=SEVENTH).shape == photo.shape
    if arch == "dfpir-tiny":  # one more permutation per block; the six others unchanged
        six = build_model(preset(arch))
        for new, old in zip(model.blocks, six.blocks, strict=True):
            assert new.perms.shape[0] == 7 and torch.equal(new.perms[:6], old.perms)
