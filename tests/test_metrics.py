"""PSNR / SSIM agree with scikit-image (a dev dependency) and between numpy and torch."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from restore.evaluation.metrics import psnr, psnr_torch, ssim, ssim_torch

skm = pytest.importorskip("skimage.metrics")


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return skm.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1
    )


def _pair(kind: str, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "random":
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        # Smooth structure: upsampled coarse noise plus a ramp and an edge.
        coarse = rng.uniform(0, 255, (max(h // 8, 2), max(w // 8, 2), 3)).astype(np.float32)
        a = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        a += np.linspace(-40, 40, w, dtype=np.float32)[None, :, None]
        a[: h // 2] += 30
        a = np.clip(a, 0, 255).astype(np.uint8)
    b = np.clip(a.astype(np.float64) + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    return a, b


def _t(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).float() / 255.0


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("shape", [(16, 20), (11, 11), (37, 64), (96, 72)])
def test_ssim_matches_skimage(kind: str, shape: tuple[int, int]) -> None:
    a, b = _pair(kind, *shape, seed=shape[0])
    assert ssim(a, b) == pytest.approx(_sk_ssim(a, b), abs=1e-6)
    assert ssim_torch(_t(a), _t(b)).item() == pytest.approx(_sk_ssim(a, b), abs=1e-5)


def test_ssim_identical_and_constant_images() -> None:
    a, _ = _pair("structured", 32, 40, seed=0)
    assert ssim(a, a) == pytest.approx(1.0)
    flat = np.full((24, 24, 3), 128, np.uint8)
    assert ssim(flat, flat) == pytest.approx(1.0)
    assert ssim(flat, flat + 10) == pytest.approx(_sk_ssim(flat, flat + 10), abs=1e-9)


@pytest.mark.parametrize("kind", ["random", "structured"])
def test_psnr_matches_skimage(kind: str) -> None:
    a, b = _pair(kind, 40, 52, seed=3)
    assert psnr(a, b) == pytest.approx(skm.peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)


def test_psnr_known_values() -> None:
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 10, np.uint8)  # MSE 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == float("inf")
    assert torch.isinf(psnr_torch(_t(a), _t(a))).all()


def test_torch_batch_matches_numpy() -> None:
    pairs = [_pair("structured", 48, 40, seed=s) for s in range(3)]
    xa = torch.cat([_t(a) for a, _ in pairs])
    xb = torch.cat([_t(b) for _, b in pairs])
    got_p = psnr_torch(xa, xb)
    got_s = ssim_torch(xa, xb)
    assert got_p.shape == got_s.shape == (3,)
    for i, (a, b) in enumerate(pairs):
        assert got_p[i].item() == pytest.approx(psnr(a, b), abs=1e-4)
        assert got_s[i].item() == pytest.approx(ssim(a, b), abs=1e-5)


def test_errors_are_actionable() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(a, a[:8])
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(a[:8, :8], a[:8, :8])
    with pytest.raises(ValueError, match="differ in shape"):
        ssim_torch(_t(a), _t(a[:12]))
