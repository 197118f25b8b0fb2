"""Gated back-projection after upscaling (restore.refinements.backproject)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import restore.refinements.backproject as B
from restore import Restorer
from restore.models.config import preset


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def scene(h: int, w: int) -> torch.Tensor:
    """A clean ``(1, 3, h, w)`` image with edges, a disc and detail near the small image's limit,
    but no noise-like texture (which the noise gate would rightly read as noise)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    # additive stripes: detail near the small image's limit without diagonal (noise-like) energy
    img = 0.45 + 0.2 * torch.sin(2 * math.pi * (2 * xx + yy)) + 0.1 * torch.sin(2 * math.pi * 9 * xx)
    img = img + 0.08 * torch.sin(2 * math.pi * 7 * yy)
    img = img.expand(1, 3, h, w).clone()
    img[:, 0] += 0.1 * torch.cos(2 * math.pi * 3 * yy)
    img[..., : h // 2, : w // 3] += 0.2  # an edge
    img[..., ((yy - 0.6) ** 2 + (xx - 0.6) ** 2) < 0.04] -= 0.25  # a disc
    return img.clamp(0.02, 0.98)


def _case(factor: int, h: int = 96, w: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean HxWx3 float, small uint8, bicubic enlargement of small as float)."""
    clean = scene(h, w)
    small = _u8(F.interpolate(clean, size=(h // factor, w // factor), mode="bicubic", antialias=True))
    big = F.interpolate(torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255, size=(h, w), mode="bicubic")
    return clean[0].permute(1, 2, 0).numpy(), small, big.clamp(0, 1)[0].permute(1, 2, 0).numpy()


def _down(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=size, mode="bicubic", antialias=True)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_a_merely_small_image_comes_closer_to_the_original(factor: int) -> None:
    clean, small, big = _case(factor)
    out, share = B.back_project(big, small)
    assert out.shape == big.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert share > 0.5
    assert _psnr(out, clean) > _psnr(big, clean) + 0.3
    # and, downscaled, it agrees with the input better than the enlargement did
    target = small.astype(np.float32) / 255
    before = np.abs(_down(big, small.shape[:2]) - target).mean()
    after = np.abs(_down(out, small.shape[:2]) - target).mean()
    assert after < 0.85 * before


def test_a_tone_change_is_kept() -> None:
    """What dehazing or brightening did (local means moved by tens of grey levels) stays."""
    _, small, big = _case(2)
    brighter = np.clip(big * 0.6 + 0.35, 0, 1).astype(np.float32)
    out, share = B.back_project(brighter, small)
    assert share < 0.01
    # only where the tone change happens to be under a few grey levels may the input pull
    assert np.abs(out - brighter).mean() < 0.002


def test_a_noisy_input_is_not_matched() -> None:
    _, small, big = _case(2)
    rng = np.random.default_rng(0)
    noisy = np.clip(small + rng.normal(0, 15, small.shape), 0, 255).astype(np.uint8)
    assert B.noise_weight(noisy) == 0.0
    assert B.noise_weight(small) == 1.0
    out, share = B.back_project(big, noisy)
    assert share == 0.0
    np.testing.assert_array_equal(out, big)


def test_strips_give_the_same_result_as_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    _, small, big = _case(2, 200, 72)
    whole, _ = B.back_project(big, small)
    monkeypatch.setattr(B, "STRIP_ROWS", 17)
    strips, _ = B.back_project(big, small)
    assert np.abs(whole - strips).max() < 2e-3


@pytest.mark.parametrize(
    ("restored", "small"),
    [((64, 64, 3), (33, 32, 3)), ((64, 64, 3), (32, 16, 3)), ((32, 32, 3), (32, 32, 3)), ((64, 64), (32, 32))],
)
def test_shapes_that_are_not_an_enlargement_are_refused(restored: tuple, small: tuple) -> None:
    with pytest.raises(ValueError):
        B.back_project(np.zeros(restored, np.float32), np.zeros(small, np.uint8))


def test_restorer_back_projects_when_upscaling_and_not_when_asked() -> None:
    tiny = Restorer.from_config(preset("ndr-tiny"), name="tiny")
    _, small, _ = _case(2, 64, 80)
    raw = tiny.restore(small, upscale=2, refine=False)
    refined = tiny.restore(small, upscale=2)
    assert refined.shape == raw.shape == (64, 80, 3)
    assert not np.array_equal(raw, refined)


def test_the_app_says_which_refinement_ran() -> None:
    from studio.restore_tab import _refine_note

    _, small, _ = _case(2)
    rng = np.random.default_rng(1)
    noisy = np.clip(small + rng.normal(0, 15, small.shape), 0, 255).astype(np.uint8)
    tiny = Restorer.from_config(preset("ndr-tiny"), name="tiny")

    def note(img: np.ndarray, upscale: int, refine: bool) -> str:
        done: dict[str, object] = {}
        tiny.restore(img, upscale=upscale, refine=refine, report=done)
        return _refine_note(upscale, refine, done)

    assert note(small, 2, False) == "Refinement off."
    assert note(small, 2, True).startswith("Back-projection on:")
    assert note(noisy, 2, True).startswith("Back-projection off")
    # the Wiener sentence comes first (a haze-pass sentence may follow: the tiny model's estimator is random)
    wiener = re.match(r"Wiener refinement on \(estimated noise: sigma ([\d.]+) grey levels\)\.", note(noisy, 1, True))
    assert wiener is not None and 12 < float(wiener.group(1)) < 18


def test_the_app_says_how_much_of_the_pilot_is_the_thresholded_photo() -> None:
    from studio.restore_tab import _refine_note

    done = {"noise_sigma": 12.0, "wiener_hard_share": 0.8}
    assert "Its pilot is 80% the thresholded photo, as noise looks like the only fault." in _refine_note(1, True, done)
    quiet = _refine_note(1, True, {"noise_sigma": 12.0, "wiener_hard_share": 0.0})
    assert quiet.startswith("Wiener refinement on") and "thresholded" not in quiet
