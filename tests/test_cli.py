"""The command line restores a folder, reports what it detected, survives bad files, refuses bad
arguments in one line and never writes over what it should not (see also test_bad_inputs.py)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore.cli import main, output_names
from restore.inference.restorer import Restorer
from restore.models.config import preset
from restore.models.weights import save_weights


@pytest.fixture()
def weights_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "weights"
    r = Restorer.from_config(preset("ndr-tiny"), name="ndr-restore")
    save_weights(r.model, d / "ndr-restore.safetensors", r.config)
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(d))
    monkeypatch.delenv("RESTORE_MAX_MEGAPIXELS", raising=False)
    return d


def _photo(path: Path, h: int = 16, w: int = 16, seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


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
    assert sorted(p.name for p in out.iterdir()) == ["a_restored.png", "b_restored.png"]
    assert Image.open(out / "a_restored.png").size == (82, 60)
    assert f"error: {src / 'broken.png'} is corrupt or truncated" in captured.err
    assert "2 written, 1 failed" in captured.err and "Traceback" not in captured.err
    assert "detected" in captured.out


def test_cli_all_good_exits_zero(weights_dir: Path, tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(img)
    assert main([str(img), "-o", str(tmp_path / "o"), "--quiet", "--strength", "0"]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o" / "x_restored.png")), np.full((16, 16, 3), 120))
    assert main([str(tmp_path / "missing.png"), "-o", str(tmp_path / "o")]) == 1


def test_cli_no_refine_gives_the_network_alone(weights_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    arr = np.clip(100 + 25 * rng.standard_normal((40, 48, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "n.png")
    assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / "ref"), "--quiet"]) == 0
    assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / "raw"), "--quiet", "--no-refine"]) == 0
    raw = np.asarray(Image.open(tmp_path / "raw" / "n_restored.png"))
    direct = Restorer.from_pretrained("ndr-restore", directory=weights_dir).restore(arr, refine=False)
    np.testing.assert_array_equal(raw, direct)
    assert not np.array_equal(raw, np.asarray(Image.open(tmp_path / "ref" / "n_restored.png")))


def test_noise_level_is_passed_and_reported(
    weights_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    arr = np.clip(100 + 20 * rng.standard_normal((40, 48, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "n.png")
    r = Restorer.from_pretrained("ndr-restore", directory=weights_dir)
    for name, extra in (("auto", ["--noise-level", "auto"]), ("absent", []), ("set", ["--noise-level", "30"])):
        assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / name), "--quiet", *extra]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "noise level" not in out[0] and "noise level" not in out[1]  # ndr-tiny has no noise map
    assert "; noise level 30.0 (set); 48x40 -> 48x40" in out[2], out[2]
    results = {n: np.asarray(Image.open(tmp_path / n / "n_restored.png")) for n in ("auto", "absent", "set")}
    np.testing.assert_array_equal(results["auto"], r.restore(arr))
    np.testing.assert_array_equal(results["absent"], results["auto"])
    np.testing.assert_array_equal(results["set"], r.restore(arr, noise_level=30))
    assert not np.array_equal(results["set"], results["auto"])


def test_a_noise_map_model_reports_its_estimate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Restorer.from_config(preset("ndr-detail-tiny"), name="ndr-restore")
    save_weights(r.model, tmp_path / "w" / "ndr-restore.safetensors", r.config)
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(tmp_path / "w"))
    rng = np.random.default_rng(4)
    arr = np.clip(120 + 15 * rng.standard_normal((32, 36, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "n.png")
    assert main([str(tmp_path / "n.png"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    line = capsys.readouterr().out
    assert f"; noise level {r.noise_estimate(arr):.1f} (estimated); 36x32 -> 36x32" in line, line


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--tile", "64"], None, r"--tile 64 is too small for --overlap 32: a tile must be at least .* = 72 px"),
        (["--tile", "-5"], None, r"--tile must be 0 \(whole image\) or a size in px"),
        (["--overlap", "-1"], None, r"--overlap must be 0 or more"),
        (["-o", "FILE"], None, r"-o .*taken\.png is a file; give a folder"),
        (["--model", "nope"], None, r"unknown model 'nope'; available: ndr-restore"),
        (["--max-megapixels", "0"], None, r"argument --max-megapixels: must be a positive number of megapixels"),
        (["--max-megapixels", "lots"], None, r"argument --max-megapixels: must be a positive number"),
        ([], "-3", r"RESTORE_MAX_MEGAPIXELS must be a positive number of megapixels, got '-3'"),
        (["--strength", "2"], None, r"--strength must be between 0 and 1, got 2"),
        (["--upscale", "5"], None, r"argument --upscale: invalid choice: 5"),
        (["--device", "toaster"], None, r"--device 'toaster' is not a device; use cpu or cuda"),
        (["--noise-level", "101"], None, r"argument --noise-level: must be auto or a number of grey levels "
                                         r"between 0 and 100, got '101'"),
        (["--noise-level=-1"], None, r"argument --noise-level: must be auto or a number .* got '-1'"),
        (["--noise-level", "nan"], None, r"argument --noise-level: must be auto or a number .* got 'nan'"),
        (["--noise-level", "lots"], None, r"argument --noise-level: must be auto or a number .* got 'lots'"),
    ],
    ids=["tile", "tile-negative", "overlap", "out-is-a-file", "model", "mp-zero", "mp-text", "mp-env", "strength",
         "upscale", "device", "noise-high", "noise-negative", "noise-nan", "noise-text"],
)  # fmt: skip
def test_bad_arguments_are_one_line_and_exit_2(
    args: list[str],
    env: str | None,
    message: str,
    weights_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    img = _photo(tmp_path / "x.png")
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"the user's file")
    if env is not None:
        monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", env)
    args = [str(taken) if a == "FILE" else a for a in args]
    out = [] if "-o" in args else ["-o", str(tmp_path / "out")]
    assert main([str(img), *out, "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("python -m restore: error: ") and err.rstrip().endswith("(see --help)")
    assert re.search(message, err), err
    assert taken.read_bytes() == b"the user's file" and not (tmp_path / "out").exists()


def test_help_states_the_naming_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "holiday.jpg -> holiday-jpg_restored.png" in out and "--overwrite" in out and "--max-megapixels" in out
    assert "--noise-level N" in out and "higher level smooths more" in out


def test_output_names_are_unique_and_traceable() -> None:
    files = [Path(p) for p in ("a/holiday.png", "a/photo.jpg", "a/photo.png", "b/photo.png", "a/Photo.PNG", "c/x")]
    assert output_names(files) == [
        "holiday_restored.png",
        "photo-jpg_restored.png",
        "photo-png-1_restored.png",
        "photo-png-2_restored.png",
        "Photo-png-3_restored.png",
        "x_restored.png",
    ]
    assert output_names([Path("a/x"), Path("b/x"), Path("x-1.png")]) == [
        "x-2_restored.png",  # "x-1" is taken by the third input's own name
        "x-3_restored.png",
        "x-1_restored.png",
    ]


def test_an_input_is_never_written_over_even_with_overwrite(
    weights_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _photo(tmp_path / "a.png")
    a_restored = _photo(tmp_path / "a_restored.png", seed=1)  # named explicitly: an input too
    digest = hashlib.sha256(a_restored.read_bytes()).hexdigest()
    for extra in ([], ["--overwrite"]):
        assert main([str(a), str(a_restored), "-o", str(tmp_path), "--quiet", *extra]) == 1
        err = capsys.readouterr().err
        assert f"error: {a}: its output {a_restored} is one of the inputs; not written" in err
        assert hashlib.sha256(a_restored.read_bytes()).hexdigest() == digest
        assert (tmp_path / "a_restored_restored.png").is_file()
        (tmp_path / "a_restored_restored.png").unlink()


def test_hard_links_to_an_input_are_inputs_too(weights_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    a = _photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_restored.png").hardlink_to(a)
    assert main([str(a), "-o", str(out), "--quiet", "--overwrite"]) == 1
    np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(out / "a_restored.png")))


def test_folders_skip_outputs_and_hidden_files(weights_dir: Path, tmp_path: Path) -> None:
    _photo(tmp_path / "a.png")
    _photo(tmp_path / "old_restored.png")
    (tmp_path / "._a.png").write_bytes(b"macOS resource fork")
    assert main([str(tmp_path), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_restored.png"]


def test_size_limit_and_upscaled_results(weights_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = _photo(tmp_path / "x.png", 20, 30)  # 600 pixels
    out = tmp_path / "out"
    assert main([str(img), "-o", str(out), "--quiet", "--max-megapixels", "0.0005"]) == 1
    err = capsys.readouterr().err
    assert (
        f"error: {img} is 30x20 (0.0 megapixels), too large" in err
        and "RESTORE_MAX_MEGAPIXELS or --max-megapixels." in err
    )
    assert main([str(img), "-o", str(out), "--quiet", "--max-megapixels", "0.001", "--upscale", "2"]) == 1
    err = capsys.readouterr().err
    assert (
        f"error: {img} upscaled 2x is 60x40 (0.0 megapixels), too large" in err
        and "Or choose a smaller --upscale." in err
    )
    assert not out.exists() or not any(out.iterdir())
    assert main([str(img), "-o", str(out), "--quiet", "--max-megapixels", "0.0024", "--upscale", "2"]) == 0


def test_a_real_fault_prints_its_traceback_and_the_rest_goes_on(
    weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad, good = _photo(tmp_path / "bad.png"), _photo(tmp_path / "good.png", 12, 12)
    original = Restorer.restore

    def flaky(self: Restorer, img: np.ndarray, **kw: object) -> np.ndarray:
        if img.shape[0] == 16:
            raise RuntimeError("simulated bug")
        return original(self, img, **kw)

    monkeypatch.setattr(Restorer, "restore", flaky)
    assert main([str(bad), str(good), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: unexpected failure" in err and "Traceback" in err and "RuntimeError: simulated bug" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good_restored.png"]


def test_writes_are_atomic(weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = _photo(tmp_path / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "x_restored.png").write_bytes(b"previous result")

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    assert main([str(img), "-o", str(out), "--quiet", "--overwrite"]) == 1
    assert [p.name for p in out.iterdir()] == ["x_restored.png"]  # no temporary file left behind
    assert (out / "x_restored.png").read_bytes() == b"previous result"  # the old file is whole
