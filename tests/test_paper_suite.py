"""The paper suite on a tiny fake paper-data folder and a random-weight model: protocol, metrics, rows."""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from studio_env import single_thread_torch

from restore import Restorer
from restore.evaluation import evaluate as E
from restore.evaluation import paper_data as PD
from restore.evaluation import paper_report as PR
from restore.evaluation import paper_suite as PS
from restore.evaluation.metrics import psnr
from restore.models.config import preset


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """One torch thread here, restored afterwards (other test files depend on the default)."""
    with single_thread_torch():
        yield


CBSD_NAMES = ("3096.png", "101085.png", "12084.png")  # sorted by name: 101085, 12084, 3096


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth colour gradients plus a little texture (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([120 + 80 * np.sin(xx / 7 + seed), 128 + 70 * np.cos(yy / 9), 110 + 60 * np.sin((xx + yy) / 11)], -1)
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("paper_data")
    sizes = ((40, 40), (41, 47), (40, 52))
    for k, name in enumerate(CBSD_NAMES):
        _save(_photo(*sizes[k], seed=k), root / "CBSD68" / name)
    for folder in ("Kodak24", "McMaster"):
        for k in range(2):
            _save(_photo(40, 40, seed=10 + k), root / folder / f"{k + 1}.png")
    for folder in ("Rain-NDR5", "Rain-MFDNet3"):
        for k in range(2):
            clean = _photo(40, 44, seed=20 + k)
            rain = np.clip(clean.astype(np.int16) + (np.arange(44)[:, None] % 9 == 0) * 60, 0, 255).astype(np.uint8)
            _save(rain, root / folder / "input" / f"{k + 1}.png")
            _save(clean, root / folder / "target" / f"{k + 1}.png")
    for k, name in enumerate(("0001_0.8_0.2", "0002_0.8_0.08")):
        clean = _photo(40, 40, seed=30 + k)
        _save((clean * 0.6 + 90).astype(np.uint8), root / "SOTS-outdoor-NDR5" / "input" / f"{name}.png")
        _save(clean, root / "SOTS-outdoor-NDR5" / "target" / f"{name[:4]}.png")
    for folder in ("Set5", "Set14"):
        _save(_photo(42, 46, seed=40), root / folder / "a.png")
        _save(_photo(41, 40, seed=41), root / folder / "b.png")
    return root


@pytest.fixture(scope="module")
def tiny() -> Restorer:
    return Restorer.from_config(preset("ndr-tiny"), name="ndr-restore")


@pytest.fixture(scope="module")
def report(data: Path, tiny: Restorer) -> PR.PaperReport:
    return PS.run_suite(data, {"tiny": tiny, "tiny:raw": tiny})


def _promptir_crop(img: np.ndarray, base: int = 16) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = h % base, w % base
    return img[ch // 2 : h - ch + ch // 2, cw // 2 : w - cw + cw // 2, :]


def _y(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(np.float64) / 255 for i in range(3))
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


def test_noise_protocol_is_promptirs(data: Path, report: PR.PaperReport) -> None:
    names = sorted(p.name for p in (data / "CBSD68").iterdir())
    np.random.seed(0)
    expected = None
    for sigma in (15, 25, 50):
        for k, name in enumerate(names):
            clean = _promptir_crop(np.asarray(Image.open(data / "CBSD68" / name).convert("RGB")))
            h, w = clean.shape[:2]
            noisy = np.clip(clean.astype(np.float64) + sigma * np.random.randn(h, w, 3), 0, 255).astype(np.uint8)
            if sigma == 25 and k == 1:
                expected = (name, clean, noisy)
    assert expected is not None and expected[0] == "12084.png"
    sample = PD.build_samples(data)["CBSD68 s25"][1]
    assert sample.image == "12084.png" and sample.input.shape == (32, 48, 3)
    np.testing.assert_array_equal(sample.target, expected[1])
    np.testing.assert_array_equal(sample.input, expected[2])
    # A --limit run scores exactly the full run's inputs.
    limited = PD.build_samples(data, limit=1)["CBSD68 s25"]
    assert len(limited) == 1
    np.testing.assert_array_equal(limited[0].input, PD.build_samples(data)["CBSD68 s25"][0].input)
    (row,) = [r for r in report.rows("CBSD68 s25", "input") if r.image == "12084.png"]
    assert row.psnr == pytest.approx(psnr(expected[2], expected[1]))


def test_y_psnr_with_shave_matches_hand_computation() -> None:
    assert _y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    assert PD.y_channel(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    a, b = _photo(30, 34, seed=1), _photo(30, 34, seed=2)
    s = 3
    ya, yb = _y(a)[s:-s, s:-s], _y(b)[s:-s, s:-s]
    hand = 10 * math.log10(255**2 / np.mean((ya - yb) ** 2))
    p, q = PD.y_scores(a, b, s)
    assert p == pytest.approx(hand, abs=1e-9)
    assert 0 < q < 1


def test_reference_rows(data: Path, report: PR.PaperReport) -> None:
    sr = {c.name for c in PD.CASES if c.kind == "sr"}
    for c in PD.CASES:
        assert bool(report.rows(c.name, "input")) == (c.name not in sr)
        assert bool(report.rows(c.name, "bicubic")) == (c.name in sr)
    assert report.methods == ("input", "bicubic", "tiny", "tiny:raw")
    # Pairs: cropped input against cropped target, matched by SOTS id.
    (row,) = [r for r in report.rows("SOTS-NDR5", "input") if r.image == "0001_0.8_0.2.png"]
    pair = [
        _promptir_crop(np.asarray(Image.open(data / "SOTS-outdoor-NDR5" / d / n)))
        for d, n in (
            ("input", "0001_0.8_0.2.png"),
            ("target", "0001.png"),
        )
    ]
    assert row.psnr == pytest.approx(psnr(pair[0], pair[1]))
    assert row.gain is None and row.shift == pytest.approx(float(np.mean(pair[0] - pair[1].astype(float))))
    # SR: HR cropped to a multiple of 4, PIL bicubic down and up, Y PSNR with 4 pixels shaved.
    hr = np.asarray(Image.open(data / "Set5" / "b.png"))[:40, :40]
    lr = Image.fromarray(hr).resize((10, 10), Image.BICUBIC)
    up = np.asarray(lr.resize((40, 40), Image.BICUBIC))
    (row,) = [r for r in report.rows("Set5 x4", "bicubic") if r.image == "b.png"]
    ya, yb = _y(up)[4:-4, 4:-4], _y(hr)[4:-4, 4:-4]
    assert row.psnr == pytest.approx(10 * math.log10(255**2 / np.mean((ya - yb) ** 2)))
    # Models: gain over the reference row of the same image, output the target's size.
    for c in PD.CASES:
        ref = {r.image: r.psnr for r in report.rows(c.name, c.reference)}
        models = report.rows(c.name, "tiny")
        assert len(models) == len(ref) > 0
        for r in models:
            assert r.gain == pytest.approx(r.psnr - ref[r.image]) and r.megapixels > 0


def test_worst_rows(report: PR.PaperReport) -> None:
    worst = report.worst()
    assert len(worst) == 2 * len(PD.CASES)
    for w in worst:
        rows = report.rows(w.case, w.method)
        low = min(rows, key=lambda r: r.gain)
        far = max(rows, key=lambda r: abs(r.shift))
        assert (w.low_image, w.low_gain, w.shift_image, w.shift) == (low.image, low.gain, far.image, far.shift)
        assert w.gain_flagged == (low.gain < PR.GAIN_FLAG_DB)

    def result(case: str, image: str, gain: float | None, shift: float, method: str = "m") -> PR.ImageResult:
        return PR.ImageResult(case, "x", method, image, 30.0, 0.9, gain, shift, 32, 32)

    made = PR.PaperReport(
        (
            result("CBSD68 s15", "a", 3.0, 9.5),
            result("CBSD68 s15", "b", 0.2, -1.0),
            result("SOTS-NDR5", "c", 2.0, -20.0),
            result("SOTS-NDR5", "d", 0.6, 1.0),
            result("CBSD68 s15", "a", None, 9.0, PD.INPUT),
        ),
        PD.CASES,
        (PD.INPUT, "m"),
        Path("."),
        None,
        "test",
        0.0,
    )
    noise, haze = made.worst()
    assert (noise.low_image, noise.gain_flagged, noise.shift_image, noise.shift_flagged) == ("b", True, "a", True)
    # Dehazing may move the brightness: no shift flag for haze.
    assert (haze.low_image, haze.gain_flagged, haze.shift_image, haze.shift_flagged) == ("d", False, "c", False)
    text = PR.markdown(made)
    assert noise.input_shift == 9.0 and haze.input_shift is None, "the input's own shift on that image"
    assert "| m | CBSD68 s15 | b | **+0.20** ! | a | **+9.5** ! | +9.0 |" in text
    assert "| m | SOTS-NDR5 | d | +0.60 | c | -20.0 | — |" in text


def test_missing_data_is_one_line_error(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere"
    assert E.main(["--suite", "paper", "--paper-data", str(missing), "--models", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(missing) in err and "--paper-data" in err
    partial = tmp_path / "partial"
    shutil.copytree(data, partial)
    shutil.rmtree(partial / "Set14")
    shutil.rmtree(partial / "Rain-NDR5" / "target")
    assert E.main(["--suite", "paper", "--paper-data", str(partial), "--models", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Set14" in err and "Rain-NDR5/{input,target}" in err
    with pytest.raises(PD.PaperDataError, match="Set14"):
        PD.build_samples(partial)


def test_cli_writes_report_and_csv(
    data: Path, tiny: Restorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(PS, "load_restorers", lambda names: dict.fromkeys(names, tiny))
    monkeypatch.setenv(PD.PAPER_DATA_ENV, str(data))
    out, table = tmp_path / "suite.md", tmp_path / "rows.csv"
    argv = ["--suite", "paper", "--models", "ndr-restore,ndr-restore:raw", "--limit", "1"]
    assert E.main([*argv, "--out", str(out), "--csv", str(table)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    assert (
        "the first 1 images of each set" in text
        and "CBSD68 1 (32x32), Kodak24 1 (32x32)" in text
        and "| *DFPIR (paper)* | 34.14 | 31.47 | 28.25 |" in text
    )
    assert "| ndr-restore:raw |" in text and "38.65†" in text
    with table.open() as f:
        rows = list(csv.DictReader(f))
    # one image per case: the reference row plus two models
    assert len(rows) == 3 * len(PD.CASES)
    assert {r["method"] for r in rows} == {"input", "bicubic", "ndr-restore", "ndr-restore:raw"}


def test_oracle_rows_on_the_pair_sets_and_the_estimators_reading(data: Path, tiny: Restorer) -> None:
    report = PS.run_suite(data, {"tiny": tiny, "tiny:oracle": tiny}, limit=1)
    pairs = {c.name for c in PD.CASES if c.kind == "pair"}
    assert {r.case for r in report.results if r.method == "tiny:oracle"} == pairs
    for r in report.results:
        if r.method == "tiny" and r.case in pairs:
            assert 0.0 <= r.p_true <= 1.0 and r.estimator == "ndr-restore" and r.likeliest
        elif r.method == "tiny":
            assert r.p_true is None and r.likeliest == ""
    everywhere = PS.run_suite(data, {"tiny:oracle": tiny}, limit=1, oracle_kinds=None)
    assert {r.case for r in everywhere.results if r.method == "tiny:oracle"} == {c.name for c in PD.CASES}
    text = PR.markdown(report)
    assert "## The pair sets, image by image" in text
    assert "| set | image | p(true) (ndr-restore) | input | tiny | tiny:oracle |" in text
    (row,) = [r for r in report.rows("SOTS-NDR5", "tiny") if r.image == "0001_0.8_0.2.png"]
    (oracle,) = [r for r in report.rows("SOTS-NDR5", "tiny:oracle") if r.image == "0001_0.8_0.2.png"]
    line = f"| SOTS-NDR5 | 0001_0.8_0.2.png | {row.p_true:.2f} ({row.likeliest}) | "
    assert line in text and f"| {row.psnr:.2f} | {oracle.psnr:.2f} |" in text
    assert "| SOTS-NDR5 | mean | " in text and " named |" in text
    assert PR.pair_table(PS.run_suite(data, {}, cases=[PD.CASES[0]], limit=1)) == []


class TaskRecorder:
    """Records the task each call was told (no estimator: no reading)."""

    def __init__(self) -> None:
        self.tasks: list[object] = []

    def restore(self, img: np.ndarray, **kwargs: object) -> np.ndarray:
        self.tasks.append(kwargs.get("task"))
        return img


def test_oracle_is_told_the_cases_types(data: Path) -> None:
    rec = TaskRecorder()
    pairs = [c for c in PD.CASES if c.kind == "pair"]
    report = PS.run_suite(data, {"m:oracle": rec}, cases=pairs, limit=1)
    assert rec.tasks == [("rain",), ("rain",), ("haze",)]
    assert all(r.p_true is None for r in report.results)


def test_cli_runs_only_the_kinds_asked(
    data: Path, tiny: Restorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PS, "load_restorers", lambda names: dict.fromkeys(names, tiny))
    out, table = tmp_path / "pairs.md", tmp_path / "pairs.csv"
    argv = ["--suite", "paper", "--paper-data", str(data), "--kinds", "pair", "--limit", "1"]
    assert E.main([*argv, "--out", str(out), "--csv", str(table)]) == 0
    text = out.read_text()
    assert "| row | Rain-NDR5 | Rain-MFDNet3 | SOTS-NDR5 | s/MP |" in text
    assert "| ndr-restore:oracle | " in text and "| dfpir:oracle | " in text, "oracle rows by default"
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["case"] for r in rows} == {"Rain-NDR5", "Rain-MFDNet3", "SOTS-NDR5"} and "p_true" in rows[0]
    with pytest.raises(SystemExit):
        E.main([*argv, "--kinds", "fog"])
