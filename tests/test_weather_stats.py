"""The weather statistics: measured on pairs made by our own synthesis with known parameters, they
come back within a tolerance; the report, the coverage lines and the command line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from studio_env import single_thread_torch

from restore.evaluation.weather.haze import haze_stats
from restore.evaluation.weather.probe import PROBES, probe, rows_haze
from restore.evaluation.weather.rain import rain_stats
from restore.evaluation.weather.report import KEEP_MARKER, kept_text, report
from restore.evaluation.weather.samples import ORIGINAL, Measured, synthesise, training_draws
from restore.evaluation.weather_stats import main
from restore.synthesis import families
from restore.synthesis.ops import depth_map


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with single_thread_torch():
        yield


def scene(h: int = 192, w: int = 288, seed: int = 0) -> np.ndarray:
    """A clean uint8 RGB scene: smooth colour gradients, blobs and fine texture (no bright clipping)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([90 + 50 * np.sin(xx / 23), 100 + 45 * np.cos(yy / 17), 80 + 40 * np.sin((xx + yy) / 29)], -1)
    blobs = 25 * np.sin(xx / 5 + 3 * np.sin(yy / 11))[..., None]
    return np.clip(base + blobs + rng.normal(0, 6, base.shape), 5, 235).astype(np.uint8)


@pytest.mark.parametrize(
    ("angle", "width", "length"),
    [(15.0, 1.0, 24.0), (-20.0, 1.5, 16.0), (5.0, 0.8, 34.0)],
)
def test_streaks_of_known_shape_come_back(angle: float, width: float, length: float) -> None:
    clean = scene()
    params = {"density": 0.5, "length": length, "angle": angle, "width": width, "brightness": 0.8, "kind": 0}
    rainy = synthesise("rain", clean, params, seed=1)
    s = rain_stats(rainy, clean)
    # generator 0 jitters the angle by up to 3 degrees per image
    assert s.angle == pytest.approx(angle, abs=5.0)
    assert s.width == pytest.approx(width, rel=0.3)
    assert s.length == pytest.approx(length, rel=0.25)
    assert 0.05 < s.density < 0.6 and s.contrast > 10 and 0.5 < s.coherence <= 1.0


def test_angle_sign_is_the_synthesis_convention() -> None:
    clean = scene(seed=2)
    right = rain_stats(synthesise("rain", clean, {"angle": 25.0, "kind": 1}, seed=0), clean)
    left = rain_stats(synthesise("rain", clean, {"angle": -25.0, "kind": 1}, seed=0), clean)
    assert right.angle > 15 and left.angle < -15


def test_added_streaks_stay_strong_over_bright_ground() -> None:
    clean = scene(seed=3)
    # the right half bright, below the white that clips added streaks
    clean[:, 144:] = np.clip(clean[:, 144:].astype(int) + 70, 0, 190).astype(np.uint8)
    params = {"density": 0.6, "length": 20.0, "angle": 10.0, "width": 1.0, "brightness": 0.9}
    screen = rain_stats(synthesise("rain", clean, {**params, "kind": 0}, seed=4), clean)
    added_kind = families.names("rain").index("added")
    added = rain_stats(synthesise("rain", clean, {**params, "kind": added_kind}, seed=4), clean)
    assert screen.bright_ratio < 0.75 and added.bright_ratio > 0.85


def test_transmission_and_airlight_of_known_haze_come_back() -> None:
    clean = scene(seed=5)
    for beta, airlight in ((0.8, 0.8), (1.6, 0.9)):
        hazy = synthesise("haze", clean, {"beta": beta, "airlight": airlight, "kind": 0}, seed=7)
        # generator 0 draws its depth first from the same seed: the true transmission map
        x = torch.from_numpy(clean).permute(2, 0, 1)[None].float() / 255
        t = torch.exp(-beta * (0.2 + depth_map(x, torch.Generator().manual_seed(7))))[0, 0].numpy()
        s = haze_stats(hazy, clean)
        assert s.t_median == pytest.approx(float(np.median(t)), abs=0.05)
        assert s.t_p10 < s.t_median < s.t_p90
        # the airlight is tinted by up to 3 % per channel
        assert np.allclose(s.airlight, airlight, atol=0.04)
        assert s.t_rise > 0.1, "the scene prior puts the far at the top"
        assert s.veil > 0


def test_haze_of_one_transmission_per_row() -> None:
    clean = scene(seed=6)
    even = haze_stats(rows_haze(clean, 0.6, 0.6, airlight=0.8), clean)
    assert even.t_median == pytest.approx(0.6, abs=0.02) and abs(even.t_rise) < 0.03
    assert np.allclose(even.airlight, 0.8, atol=0.02)
    up = haze_stats(rows_haze(clean, 0.3, 0.8), clean)
    down = haze_stats(rows_haze(clean, 0.8, 0.3), clean)
    assert up.t_rise > 0.25 and down.t_rise < -0.25


def test_errors() -> None:
    clean = scene(32, 32)
    with pytest.raises(ValueError, match="one size"):
        rain_stats(clean, clean[:16])
    with pytest.raises(ValueError, match="one size"):
        haze_stats(clean, clean[..., :2])
    flat = np.full((64, 64, 3), 120, np.uint8)
    with pytest.raises(ValueError, match="textured"):
        haze_stats(flat, flat)


def test_training_draws_stay_in_the_generators_ranges() -> None:
    draws, text = training_draws("haze", families.names("haze").index("uniform"), 20, seed=1)
    r = families.FAMILIES["haze"][families.names("haze").index("uniform")].ranges["beta"]
    assert all(r.low <= d["beta"] <= r.high for d in draws) and f"beta {r.low:g}-{r.high:g}" in text
    original, text = training_draws("rain", None, 5)
    assert all(d["kind"] == 0 for d in original) and "density 0.2-1" in text


def _measured(label: str, stats: list, ranges: str = "") -> Measured:
    return Measured(label, ranges, tuple(stats))


def test_report_tables_coverage_and_kept_text(tmp_path: Path) -> None:
    clean = scene()
    rain = [rain_stats(synthesise("rain", clean, {"kind": 0}, seed=i), clean) for i in range(3)]
    haze = [haze_stats(rows_haze(clean, t, t), clean) for t in (0.4, 0.6, 0.8)]
    pairs = {"rain": [_measured("Rain-X a.png", rain[:1])], "haze": [_measured("SOTS-X b.png", haze[1:2])]}
    gens = {"rain": [_measured(ORIGINAL, rain, "density 0.2-1")], "haze": [_measured("5: veil", haze, "beta 0.1-1")]}
    text = report(pairs, gens, photos=[Path("a.png")], probed=["| probe |"], kept="by hand\n")
    assert "| Rain-X a.png | " in text and "**original synthesis** (density 0.2-1; 3 samples)" in text
    assert "- SOTS-X (1 pairs)" in text and "t median 0.60 to 0.60: 5 33" in text
    assert "| probe |" in text and text.endswith(KEEP_MARKER + "\nby hand\n")
    out = tmp_path / "r.md"
    out.write_text(text)
    assert kept_text(out) == "by hand\n" and kept_text(tmp_path / "none.md") == ""


class Identity:
    def restore(self, img: np.ndarray, **kwargs: object) -> np.ndarray:
        return img


def test_probe_table_on_an_identity_model() -> None:
    lines = probe({"id": Identity(), "id:oracle": Identity()}, [scene(64, 96)])
    assert len(lines) == 2 + len(PROBES)
    assert all(line.count("+0.00") == 2 for line in lines[2:]), "the identity gains nothing"


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, photos = tmp_path / "paper", tmp_path / "photos"
    clean = scene(96, 144)
    for folder, degraded in (
        ("Rain-NDR5", synthesise("rain", clean, {"kind": 0}, seed=1)),
        ("Rain-MFDNet3", synthesise("rain", clean, {"kind": 2}, seed=2)),
        ("SOTS-outdoor-NDR5", rows_haze(clean, 0.5, 0.7)),
    ):
        name = "0001_0.85_0.1.png" if folder.startswith("SOTS") else "1.png"
        for sub, img in (("input", degraded), ("target", clean)):
            (data / folder / sub).mkdir(parents=True)
            Image.fromarray(img).save(data / folder / sub / (name if sub == "input" else name.split("_")[0] + ".png"))
    photos.mkdir()
    Image.fromarray(np.tile(scene(320, 480), (1, 1, 1))).save(photos / "p.png")
    out = tmp_path / "stats.md"
    argv = ["--paper-data", str(data), "--photos", str(photos), "--n", "1", "--models", "none"]
    assert main([*argv, "--probe-models", "none", "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    assert "| SOTS-NDR5 0001_0.85_0.1.png |" in text and "| Rain-MFDNet3 1.png |" in text
    assert text.count("**5: ") == 2, "every generator, the new ones included"
    assert main([*argv, "--probe-models", "none", "--out", str(out), "--paper-data", str(tmp_path / "no")]) == 2
