"""The contact-sheet command: one photo, every type mild and strong, three mixtures, in a labelled grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from restore.evaluation import contact_sheet as C
from restore.synthesis.registry import DEGRADATION_TYPES, validate_spec

SIZE = 48


@pytest.fixture
def photo(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:60, 0:80]
    img = np.stack([xx * 3, yy * 4, (xx + yy) * 2], -1) % 256
    img = np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path


def cell_box(i: int, columns: int = 4, size: int = SIZE) -> tuple[int, int, int, int]:
    left = C.PAD + (i % columns) * (size + C.PAD)
    top = C.PAD + (i // columns) * (size + C.CAPTION + C.PAD)
    return left, top, left + size, top + size


def test_cells_cover_every_type_twice_and_three_mixtures():
    singles = [c for c in C.CELLS if len(c.spec) == 1]
    mixtures = [c for c in C.CELLS if len(c.spec) >= 2]
    assert sorted(name for c in singles for name in c.spec) == sorted(DEGRADATION_TYPES * 2)
    assert {frozenset(c.spec) for c in mixtures} == {
        frozenset({"lowlight", "noise"}),
        frozenset({"haze", "noise"}),
        frozenset({"rain", "haze"}),
    }
    assert sum(not c.spec for c in C.CELLS) == 1, "one clean reference cell"
    for c in C.CELLS:
        validate_spec(c.spec)  # explicit values inside the documented ranges
    for name in DEGRADATION_TYPES:
        mild, strong = (c for c in singles if name in c.spec)
        assert "mild" in mild.title and "strong" in strong.title and mild.spec != strong.spec


def test_main_writes_the_grid(photo, tmp_path, capsys):
    out = tmp_path / "sheet" / "contact.jpg"
    assert C.main(["--image", str(photo), "--out", str(out), "--size", str(SIZE)]) == 0
    assert "wrote" in capsys.readouterr().out
    sheet = Image.open(out)
    assert sheet.format == "JPEG"
    assert sheet.size == C.grid_shape(len(C.CELLS), SIZE, 4)
    assert sheet.size == (4 * (SIZE + C.PAD) + C.PAD, 4 * (SIZE + C.CAPTION + C.PAD) + C.PAD)
    arr = np.asarray(sheet.convert("RGB")).astype(np.float32)
    cells = [arr[t:b, l:r] for l, t, r, b in (cell_box(i) for i in range(len(C.CELLS)))]
    clean = cells[[i for i, c in enumerate(C.CELLS) if not c.spec][0]]
    reference = C.load_crop(photo, SIZE).astype(np.float32)
    assert np.abs(clean - reference).mean() < 6, "the clean cell shows the centre crop (up to JPEG loss)"
    for cell, spec in zip(cells, C.CELLS, strict=True):
        if spec.spec:
            assert np.abs(cell - reference).mean() > 1.5, f"{spec.title} looks like the clean photo"
    # Captions are drawn in the white strip under each cell.
    left, _, right, bottom = cell_box(0)
    caption = arr[bottom + 2 : bottom + C.CAPTION - 2, left:right]
    assert caption.min() < 100 and np.median(caption) > 200


def test_default_sheet_is_small_enough():
    # The shipped sheet at its default size stays under the README's budget.
    sheet = C.DEFAULT_OUT
    if not sheet.exists():
        pytest.skip("assets/contact_sheet.jpg not generated yet")
    assert sheet.stat().st_size < 400_000


def test_unreadable_image_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert C.main(["--image", str(bad), "--out", str(tmp_path / "x.jpg")]) == 1
    assert "cannot read image" in capsys.readouterr().err
    assert C.main(["--image", str(tmp_path / "missing.png"), "--out", str(tmp_path / "x.jpg")]) == 1
    assert not (tmp_path / "x.jpg").exists()


def test_describe_and_wrap():
    assert C.describe({}) == "no degradation"
    assert C.describe({"noise": {"sigma": 15}}) == "sigma=15"
    assert C.describe({"haze": {"beta": 1.5}, "noise": {"sigma": 25}}) == "haze: beta=1.5; noise: sigma=25"
    d = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    font = C.default_font(11)
    lines = C.wrap("density=0.3, length=14, angle=8, width=0.8, brightness=0.6", d, font, 120)
    assert len(lines) >= 2 and all(d.textlength(line, font=font) <= 120 for line in lines)
