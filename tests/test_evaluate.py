"""Classical baselines, the benchmark cases and the runner, on tiny images (the real run is a CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from restore.evaluation import baselines as B
from restore.evaluation import benchmark as BM
from restore.evaluation import classical as C
from restore.evaluation import evaluate as E
from restore.evaluation.metrics import psnr
from restore.images import to_tensor, to_uint8
from restore.synthesis.ops import downscale
from restore.synthesis.registry import degrade, degrade_image


def _smooth(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, colourful test photo: bicubic-upsampled coarse noise (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(30, 225, (6, 6, 3)).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return _smooth()


@pytest.mark.parametrize("name", list(B.BASELINES))
def test_baselines_shape_and_dtype(name: str, photo: np.ndarray) -> None:
    b = B.BASELINES[name]
    kernel = np.full((5, 5), 1 / 25, np.float32)
    out = b(photo, kernel=kernel)
    assert out.shape == photo.shape and out.dtype == np.uint8
    small = photo[:32, :48]
    up = b(small, upscale=2, kernel=kernel)
    assert up.shape == (64, 96, 3) and up.dtype == np.uint8


def test_oracle_without_kernel_raises(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="true blur kernel"):
        B.BASELINES["rl-oracle"](photo)


def test_nlmeans_improves_noisy_image(photo: np.ndarray) -> None:
    noisy = degrade_image(photo, {"noise": {"sigma": 25}}, seed=1)
    assert psnr(photo, C.nlmeans(noisy)) > psnr(photo, noisy) + 4
    assert psnr(photo, C.nlmeans(noisy, sigma=25)) > psnr(photo, noisy) + 4


def test_noise_estimate_is_close(photo: np.ndarray) -> None:
    big = _smooth(96, 96, seed=2)
    for sigma in (10, 30):
        noisy = degrade_image(big, {"noise": {"sigma": sigma}}, seed=3)
        assert C.estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.15)
    assert C.estimate_noise_sigma(photo) < 3


def test_noise_estimate_sees_through_clipping() -> None:
    """Sigma 50 on a photo with dark and bright parts: clipping at 0 and 255 hides part of the
    noise, and the plain Haar estimate reads it about 10 % low; the baselines' estimate does not."""
    from restore.noise import image_noise_level

    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 255, 256, dtype=np.float32)[None, :, None].repeat(256, 0).repeat(3, 2)
    noisy = np.clip(ramp + 50 * rng.standard_normal(ramp.shape), 0, 255).astype(np.uint8)
    plain = float(image_noise_level(noisy).mean()) * 255
    assert plain < 46, "the plain estimate is fooled by the clipped ends"
    assert C.estimate_noise_sigma(noisy) == pytest.approx(50, rel=0.06)
    clean = ramp.astype(np.uint8)
    assert C.estimate_noise_sigma(clean) < 1, "a clean ramp (all of it clipped-free) has no noise"


def test_dcp_improves_hazy_image() -> None:
    clean = _smooth(96, 96, seed=4)
    hazy = degrade_image(clean, {"haze": {"beta": 1.5, "airlight": 0.9}}, seed=5)
    assert psnr(clean, C.dehaze_dcp(hazy)) > psnr(clean, hazy) + 3


def test_rl_oracle_improves_blurred_image() -> None:
    clean = _smooth(96, 96, seed=6)
    clean = np.clip(clean.astype(np.int16) + np.indices((96, 96)).sum(0)[..., None] % 16 * 6, 0, 255).astype(np.uint8)
    d = degrade(to_tensor(clean), {"blur": {"length": 9, "shake": 0.3}}, seed=7)
    blurred, kernel = to_uint8(d.image), d.extras["blur_kernel"][0].numpy()
    assert psnr(clean, C.richardson_lucy(blurred, kernel)) > psnr(clean, blurred) + 2


def test_gamma_improves_dark_image(photo: np.ndarray) -> None:
    dark = degrade_image(photo, {"lowlight": {"gain": 0.2, "gamma": 1.6, "noise": 1}}, seed=8)
    assert psnr(photo, C.brighten(dark)) > psnr(photo, dark) + 6


def test_baseline_choice_and_chain(photo: np.ndarray) -> None:
    assert B.baseline_for(("noise", "lowlight")) == "nlmeans"
    assert B.baseline_for(("lowlight", "noise")) == "gamma"
    assert B.baseline_for(("rain", "haze")) == "dcp"
    assert B.baseline_for(("blur",)) is None  # the only blur method is an oracle
    assert B.chain_for(("lowlight", "noise")) == ("nlmeans", "gamma")
    assert B.chain_for(("haze", "noise")) == ("nlmeans", "dcp")
    assert B.restore_classical(photo[:32, :32], ("lowres", "noise"), upscale=2).shape == photo.shape


def test_cases_are_consistent() -> None:
    assert len({c.name for c in BM.CASES}) == len(BM.CASES)
    with pytest.raises(ValueError, match="upscale"):
        BM.Case("bad", {"lowres": {"scale": 2}}, 0, upscale=1, types=("lowres",))
    with pytest.raises(ValueError, match="types"):
        BM.Case("bad", {"noise": {"sigma": 5}}, 0, types=("rain",))


def test_samples_are_deterministic(photo: np.ndarray) -> None:
    case = BM.CASES[0]
    a, b = BM.make_sample(photo, case, "x"), BM.make_sample(photo, case, "x")
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, BM.make_sample(photo, case, "y").image)
    lowres = next(c for c in BM.CASES if c.upscale == 4)
    s = BM.make_sample(photo, lowres, "x")
    assert s.image.shape == (16, 16, 3) and s.input_view.shape == photo.shape
    assert np.array_equal(s.image, to_uint8(downscale(to_tensor(photo), 4)))


def test_center_crop_is_a_multiple_of_four() -> None:
    img = np.zeros((301, 455, 3), np.uint8)
    assert BM.center_crop(img, 384).shape == (300, 384, 3)
    assert BM.center_crop(img, 64).shape == (64, 64, 3)


class FakeRestorer:
    """Bicubic upscale, then a light blur; records the task it was told."""

    def __init__(self) -> None:
        self.tasks: list[object] = []

    def restore(self, img: np.ndarray, *, upscale: int = 1, task: tuple[str, ...] | None = None) -> np.ndarray:
        self.tasks.append(task)
        return cv2.GaussianBlur(C.bicubic(img, upscale), (3, 3), 0)


def test_evaluate_end_to_end(photo: np.ndarray) -> None:
    cases = [c for c in BM.CASES if c.name in ("noise25", "lowres-x2")]
    fake, oracle = FakeRestorer(), FakeRestorer()
    report = E.evaluate(
        {"tiny": photo},
        cases=cases,
        restorers={"fake": fake, "fake:oracle": oracle},
        baselines=("nlmeans", "bicubic", "dcp", "chain"),
    )
    assert fake.tasks == [None, None]
    assert oracle.tasks == [("noise",), ("lowres",)]
    assert set(report.scores["noise25"]) == {"input", "nlmeans", "fake", "fake:oracle"}
    assert set(report.scores["lowres-x2"]) == {"input", "bicubic", "fake", "fake:oracle"}

    table = E.markdown(report)
    lines = table.splitlines()
    header = next(line for line in lines if line.startswith("| case"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "case",
        "input",
        "nlmeans",
        "bicubic",
        "fake",
        "fake:oracle",
        "best",
    ]
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    assert {"noise25", "lowres-x2", "**mean** (cases)", "seconds / MP"} <= set(rows)
    assert rows["noise25"].count("—") == 1 and "**" in rows["noise25"]

    data = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert set(data) == {"meta", "results", "mean", "seconds_per_megapixel"}
    assert (
        data["results"]["noise25"]["nlmeans"]["per_image"]["tiny"]["psnr"] > data["results"]["noise25"]["input"]["psnr"]
    )
    assert set(data["seconds_per_megapixel"]) == {"nlmeans", "bicubic", "dcp", "chain", "fake", "fake:oracle"}


def test_evaluate_rejects_wrong_output_size(photo: np.ndarray) -> None:
    class Lazy:
        def restore(self, img: np.ndarray, *, upscale: int = 1) -> np.ndarray:
            return img  # forgets to upscale

    case = next(c for c in BM.CASES if c.name == "lowres-x2")
    with pytest.raises(ValueError, match="expected uint8"):
        E.evaluate({"tiny": photo}, cases=[case], restorers={"lazy": Lazy()}, baselines=())


def test_cli_writes_json_and_markdown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    md = tmp_path / "table.md"
    rc = E.main(
        [
            "--images",
            "1",
            "--size",
            "48",
            "--cases",
            "noise15,lowlight",
            "--baselines",
            "gamma",
            "--out",
            str(tmp_path),
            "--markdown",
            str(md),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| lowlight |" in printed and md.read_text() == printed.strip("\n") + "\n"
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["meta"]["images"] == ["astronaut"]
    assert set(data["results"]) == {"noise15", "lowlight"}
