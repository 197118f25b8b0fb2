"""The command line restores a folder, reports what it detected and survives bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore.cli import main
from restore.inference.restorer import Restorer
from restore.models.config import preset
from restore.models.weights import save_weights


@pytest.fixture()
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "weights"
    r = Restorer.from_config(preset("ndr-tiny"), name="ndr-restore")
    save_weights(r.model, d / "ndr-restore.safetensors", r.config)
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(d))
    return d


def test_cli_restores_a_folder_and_reports_a_corrupt_file(
    weights_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (30, 41, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 255, (25, 20), dtype=np.uint8)).save(src / "b.jpg")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    code = main([str(src), "-o", str(out), "--upscale", "2", "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    assert Image.open(out / "a.png").size == (82, 60)
    assert "broken.png" in captured.err and "1 input(s) failed" in captured.err
    assert "detected" in captured.out


def test_cli_all_good_exits_zero_and_unknown_model_fails(
    weights_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(img)
    assert main([str(img), "-o", str(tmp_path / "o"), "--quiet", "--strength", "0"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "x.png")), np.full((16, 16, 3), 120))
    assert main([str(img), "-o", str(tmp_path / "o"), "--model", "nope"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 1


def test_cli_no_refine_gives_the_network_alone(weights_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    arr = np.clip(100 + 25 * rng.standard_normal((40, 48, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "n.png")
    assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / "ref"), "--quiet"]) == 0
    assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / "raw"), "--quiet", "--no-refine"]) == 0
    raw = np.asarray(Image.open(tmp_path / "raw" / "n.png"))
    direct = Restorer.from_pretrained("ndr-restore", directory=weights_dir).restore(arr, refine=False)
    np.testing.assert_array_equal(raw, direct)
    assert not np.array_equal(raw, np.asarray(Image.open(tmp_path / "ref" / "n.png")))
