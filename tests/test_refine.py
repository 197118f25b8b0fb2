"""The pilot-guided Wiener refinement (restore.refinements.wiener) and its wiring into Restorer, CLI, evaluator."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

import restore.refinements.wiener as R
from restore import Restorer
from restore.evaluation.evaluate import _model_method, load_restorers
from restore.models.config import preset
from restore.noise import grey_levels


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a.clamp(0, 1) - b).square().mean()))


def textured(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    """A clean ``(1, 3, h, w)`` test image with edges, gradients and fine texture."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.5 + 0.25 * torch.sin(2 * math.pi * (3 * xx + 2 * yy))
    fine = 0.12 * torch.sin(2 * math.pi * 17 * xx) * torch.cos(2 * math.pi * 13 * yy)
    blobs = torch.nn.functional.avg_pool2d(torch.rand(1, 3, h, w, generator=g), 3, 1, 1) - 0.5
    img = base + fine + 0.3 * blobs
    img[..., : h // 2, : w // 3] += 0.15  # an edge
    return img.clamp(0.02, 0.98)


def noisy(clean: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return clean + sigma / 255 * torch.randn(clean.shape, generator=g)


def oversmoothed(x: torch.Tensor) -> torch.Tensor:
    """A pilot that removed the noise and much of the texture with it (a Gaussian blur)."""
    arr = x[0].permute(1, 2, 0).numpy()
    return torch.from_numpy(cv2.GaussianBlur(arr, (0, 0), 1.5)).permute(2, 0, 1)[None]


@pytest.mark.parametrize(("h", "w"), [(37, 53), (5, 3), (8, 8), (130, 70)])
def test_any_size_keeps_shape_and_the_gate_is_a_weight(h: int, w: int) -> None:
    x = noisy(textured(max(h, 8), max(w, 8))[..., :h, :w], 10)
    z, gate = R.wiener_refine(x, oversmoothed(x))
    assert z.shape == x.shape and gate.shape == (1, 1, h, w)
    assert torch.isfinite(z).all()
    assert float(gate.min()) >= 0 and float(gate.max()) <= 1


def test_strips_give_the_same_result_as_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    x = noisy(textured(150, 90), 20)
    y = oversmoothed(x)
    one, g1 = R.wiener_refine(x, y)
    monkeypatch.setattr(R, "STRIP_ROWS", 12)
    strips, g2 = R.wiener_refine(x, y)
    assert torch.allclose(one, strips, atol=1e-5) and torch.allclose(g1, g2, atol=1e-6)


@pytest.mark.parametrize("sigma", [10, 25])
def test_it_gives_back_texture_an_oversmoothed_pilot_lost(sigma: int) -> None:
    clean = textured()
    x = noisy(clean, sigma)
    y = oversmoothed(x)
    z, gate = R.wiener_refine(x, y)
    assert float(gate.mean()) > 0.8  # the residual is noise-like almost everywhere
    assert _psnr(z, clean) > _psnr(y, clean) + 1.5
    assert _psnr(z, clean) > _psnr(x, clean) + 1.5


@pytest.mark.parametrize("sigma", [10, 25, 50])
def test_the_second_pass_on_16px_blocks_beats_one_pass(sigma: int) -> None:
    """The default passes (8x8, then 16x16 with the first result as the pilot) against one 8x8 pass."""
    assert R.PASSES[0] == (8, 4) and len(R.PASSES) == 2
    clean = textured(128, 160)
    x = noisy(clean, sigma)
    y = oversmoothed(x)
    one, _ = R.wiener_refine(x, y, passes=R.PASSES[:1])
    two, gate = R.wiener_refine(x, y)
    assert _psnr(two, clean) > _psnr(one, clean) + 0.5
    assert gate.shape == (1, 1, 128, 160) and float(gate.mean()) > 0.5


@pytest.mark.parametrize("sigma", [5, 15, 30])
def test_the_thresholded_input_denoises_and_keeps_texture(sigma: int) -> None:
    clean = textured(128, 160)
    x = noisy(clean, sigma)
    z = R.hard_threshold(x, torch.full((3,), sigma / 255))
    assert z.shape == x.shape
    assert _psnr(z, clean) > _psnr(x, clean) + 2.0
    assert _psnr(z, clean) > _psnr(oversmoothed(x), clean) + 1.0


def test_the_thresholded_input_of_a_clean_photo_is_that_photo() -> None:
    clean = textured(64, 80)
    z = R.hard_threshold(clean, torch.full((3,), 1e-5))
    assert float((z - clean).abs().max()) < 1e-4


def test_the_thresholded_input_in_strips_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    x = noisy(textured(150, 90), 20)
    whole = R.hard_threshold(x)
    monkeypatch.setattr(R, "STRIP_ROWS", 12)
    assert torch.allclose(whole, R.hard_threshold(x), atol=1e-5)


@pytest.mark.parametrize(("sigma", "margin"), [(5, 1.0), (10, 0.2)])
def test_the_thresholded_pilot_gives_back_what_an_oversmoothing_network_lost(sigma: int, margin: float) -> None:
    """Light noise: the network's smoothing costs more than the noise, and the thresholded input
    keeps the texture (on heavier noise the ramp hands the pilot back to the network)."""
    clean = textured(128, 160)
    x = noisy(clean, sigma)
    y = oversmoothed(x)
    plain, _ = R.wiener_refine(x, y)
    mixed, _ = R.wiener_refine(x, y, hard=1.0)
    assert _psnr(mixed, clean) > _psnr(plain, clean) + margin
    assert torch.equal(R.wiener_refine(x, y, hard=0.0)[0], plain)
    with pytest.raises(ValueError, match="hard"):
        R.wiener_refine(x, y, hard=1.5)


def test_the_thresholded_share_follows_the_noise_level_and_the_types() -> None:
    noise_only = {"noise": 1.0, "rain": 0.0, "haze": 0.0, "blur": 0.0, "lowres": 1.0, "lowlight": 0.0}
    assert R.hard_share(10.0, noise_only) == 1.0  # low resolution does not block it
    assert R.hard_share(R.HARD_NONE_GREY, noise_only) == 0.0
    middle = (R.HARD_FULL_GREY + R.HARD_NONE_GREY) / 2
    assert R.hard_share(middle, noise_only) == pytest.approx(0.5)
    assert R.hard_share(10.0, noise_only | {"noise": 0.4}) == pytest.approx(0.4)
    for blocker in R.HARD_BLOCKED_BY:
        assert R.hard_share(10.0, noise_only | {blocker: 1.0}) == 0.0
    assert R.hard_share(10.0, None) == 0.0 and R.hard_share(10.0, {}) == 0.0


def test_no_pass_is_refused() -> None:
    with pytest.raises(ValueError, match="pass"):
        R.wiener_refine(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8), passes=())


def test_it_keeps_a_restoration_that_is_not_input_plus_noise() -> None:
    """Brightening (low light) or dehazing moves every block mean by many sigmas: the gate
    closes and the network's output stands."""
    clean = textured()
    dark = noisy(0.3 * clean, 3)
    z, gate = R.wiener_refine(dark, clean)
    assert float(gate.max()) < 1e-3
    assert float((z - clean).abs().max()) < 1e-3


def test_a_clean_input_comes_back_closer_to_itself() -> None:
    """No noise: where the pilot softened a clean photo, the refinement returns the input's detail."""
    clean = (textured() * 255).round() / 255
    y = oversmoothed(clean)
    z, _ = R.wiener_refine(clean, y)
    assert _psnr(z, clean) > _psnr(y, clean) + 3.0


def test_given_sigma_is_used() -> None:
    clean = textured()
    x = noisy(clean, 25)
    y = oversmoothed(x)
    tiny = torch.full((3,), 1e-4)
    z, _ = R.wiener_refine(x, y, tiny)
    # with almost no noise assumed, every coefficient is kept from the input: back to the input
    # where the gate is open (it is nearly closed: block means differ by many such sigmas)
    assert not torch.allclose(z, R.wiener_refine(x, y)[0])


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        R.wiener_refine(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))


@pytest.mark.parametrize("sigma", [5.0, 15.0, 40.0])
def test_image_noise_sigma_reads_white_noise(sigma: float) -> None:
    rng = np.random.default_rng(0)
    img = np.clip(128 + sigma * rng.standard_normal((200, 300, 3)), 0, 255).round().astype(np.uint8)
    est = R.image_noise_sigma(img) * 255
    assert est.shape == (3,)
    np.testing.assert_allclose(est.numpy(), sigma, rtol=0.1)
    np.testing.assert_allclose(R.image_noise_sigma(img, strip=16).numpy(), (est / 255).numpy(), rtol=1e-6)


def test_image_noise_sigma_of_tiny_and_flat_images() -> None:
    assert torch.equal(R.image_noise_sigma(np.zeros((1, 5, 3), np.uint8)), torch.zeros(3))
    assert float(R.image_noise_sigma(np.full((40, 40, 3), 90, np.uint8)).max()) == 0.0


def test_opponent_transform_is_orthonormal() -> None:
    x = torch.rand(2, 3, 5, 7)
    assert torch.allclose(R.from_opponent(R.to_opponent(x)), x, atol=1e-6)
    assert torch.allclose(R.to_opponent(x).square().sum(1), x.square().sum(1), atol=1e-5)


# ----------------------------------------------------------------------------- wiring


@pytest.fixture(scope="module")
def tiny() -> Restorer:
    return Restorer.from_config(preset("ndr-tiny"), name="tiny")


def test_restorer_refines_by_default_and_not_when_asked(tiny: Restorer) -> None:
    clean = (textured(64, 80)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    rng = np.random.default_rng(3)
    img = np.clip(clean + 20 * rng.standard_normal(clean.shape), 0, 255).astype(np.uint8)
    raw = tiny.restore(img, refine=False)
    refined = tiny.restore(img)
    assert refined.shape == raw.shape == img.shape
    assert not np.array_equal(raw, refined)
    # upscaled, a noisy input is not back-projected either (that would bring the noise back)
    assert np.array_equal(
        tiny.restore(img, upscale=2, refine=["backproject"]), tiny.restore(img, upscale=2, refine=False)
    )


def test_evaluator_raw_suffix_turns_the_refinement_off() -> None:
    seen: list[dict[str, object]] = []

    class Spy:
        def restore(self, img: np.ndarray, **kwargs: object) -> np.ndarray:
            seen.append(kwargs)
            return img

    class Case:
        upscale = 1
        types = ("noise",)

    class Sample:
        image = np.zeros((4, 4, 3), np.uint8)

    _model_method("m:raw", Spy()).run(Sample(), Case())
    _model_method("m", Spy()).run(Sample(), Case())
    assert seen == [{"upscale": 1, "refine": False}, {"upscale": 1}]
    assert load_restorers([]) == {}


@pytest.mark.parametrize("tile", [None, 48])
def test_restorer_mixes_the_thresholded_pilot_only_for_noise_alone(tiny: Restorer, tile: int | None) -> None:
    """Told the photo is noisy (``task``), whole or in tiles, the pilot's share is the ramp's at the
    estimated level; told it is rainy, the share is 0 (the thresholded input keeps the streaks)."""
    clean = (textured(64, 80)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    img = np.clip(clean + 10 * np.random.default_rng(4).standard_normal(clean.shape), 0, 255).astype(np.uint8)
    level = grey_levels(R.image_noise_sigma(img))
    shares: dict[str, float] = {}
    outs: dict[str, np.ndarray] = {}
    for task in ("noise", "rain", ["noise", "haze"]):
        report: dict[str, object] = {}
        outs[str(task)] = tiny.restore(img, task=task, tile=tile, overlap=16, report=report)
        shares[str(task)] = float(report["wiener_hard_share"])
    assert shares["noise"] == pytest.approx(R.hard_ramp(level)) and shares["noise"] > 0.5
    assert shares["rain"] == 0.0 and shares[str(["noise", "haze"])] == 0.0
    report = {}
    tiny.restore(img, task="noise", refine=["wiener"], report=report)
    assert report["wiener_hard_share"] == shares["noise"]
    report = {}
    tiny.restore(img, task="noise", refine=False, report=report)
    assert "wiener_hard_share" not in report
