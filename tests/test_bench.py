"""The benchmark prints one row per model with parameters, GMACs and timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from restore.evaluation.bench import main


def test_bench_reports_a_row_per_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "--models",
                "plain-tiny,ndr-tiny",
                "--sizes",
                "0.01",
                "--repeats",
                "1",
                "--big",
                "0",
                "--device",
                "cpu",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "| plain-tiny |" in text and "| ndr-tiny |" in text
    rows = json.loads(out.read_text())["rows"]
    assert [r["model"] for r in rows] == ["plain-tiny", "ndr-tiny"]
    assert all(r["gmac_per_mp"] > 0 and r["s_per_mp_0.01"] > 0 for r in rows)
    assert rows[1]["params_m"] > rows[0]["params_m"]  # the NDR modules add parameters


def test_bench_times_a_noisy_photo_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    args = ["--models", "ndr-tiny", "--sizes", "0.01", "--repeats", "1", "--big", "0", "--device", "cpu"]
    assert main([*args, "--noisy", "15", "--json", str(out)]) == 0
    assert "timed on a photo with noise sigma 15" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["content"] == "a photo with noise sigma 15" and data["rows"][0]["s_per_mp_0.01"] > 0


def test_the_noisy_photo_is_a_photo_with_that_noise() -> None:
    from restore.evaluation.bench import noisy_photo
    from restore.refinements.wiener import image_noise_sigma

    img = noisy_photo(200, 15.0)
    assert img.shape == (200, 200, 3) and img.dtype.name == "uint8"
    assert 12 < float(image_noise_sigma(img).max()) * 255 < 19
    assert not (noisy_photo(64, 0.0) == noisy_photo(64, 15.0)).all()
