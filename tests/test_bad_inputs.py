"""Every surface's answer to bad (and odd but valid) input: ``load_image``, ``Restorer.restore`` and
the command line, on one matrix of files made in ``tmp_path``; and the command line's data safety.

Each kind either names the file in a one-line message (a regex per kind) or gives a correct
image (shape, dtype, orientation, values). Nothing may leak Pillow's own exceptions or tracebacks.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from restore import ImageError, Restorer
from restore.cli import main
from restore.images import ImageTooLargeError, load_image
from restore.models.config import preset
from restore.models.weights import save_weights

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------- factories
def _noise(h: int, w: int, channels: int = 3) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, channels) if channels > 1 else (h, w), dtype=np.uint8)


def _save(tmp: Path, name: str, im: Image.Image, fmt: str | None = None, **kw: object) -> Path:
    path = tmp / name
    im.save(path, format=fmt, **kw)
    return path


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` RGB pixels but holds almost no data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + body


def _bytes_of(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def make_empty(tmp: Path) -> Path:
    return _write(tmp, "empty.png", b"")


def make_truncated_png(tmp: Path) -> Path:
    data = _bytes_of(Image.fromarray(_noise(32, 32)), "PNG")
    return _write(tmp, "cut.png", data[: len(data) // 2])


def make_truncated_jpeg(tmp: Path) -> Path:
    data = _bytes_of(Image.fromarray(_noise(32, 32)), "JPEG")
    return _write(tmp, "cut.jpg", data[: len(data) // 2])


def make_text_as_png(tmp: Path) -> Path:
    return _write(tmp, "notes.png", b"shopping list: eggs, milk\n")


def make_html_as_jpg(tmp: Path) -> Path:
    return _write(tmp, "page.jpg", b"<!DOCTYPE html><html><body>404 Not Found</body></html>\n")


def make_png_bad_crc(tmp: Path) -> Path:
    data = bytearray(_bytes_of(Image.fromarray(_noise(8, 8)), "PNG"))
    data[29] ^= 0xFF  # the last byte of IHDR's CRC
    return _write(tmp, "crc.png", bytes(data))


def make_rgba(tmp: Path) -> Path:
    rgba = np.dstack([np.full((6, 8, 3), (200, 0, 0), np.uint8), np.full((6, 8), 255, np.uint8)])
    rgba[0, 0, 3] = 0  # transparent -> white
    return _save(tmp, "rgba.png", Image.fromarray(rgba, "RGBA"))


def make_la(tmp: Path) -> Path:
    la = np.dstack([np.full((5, 4), 60, np.uint8), np.full((5, 4), 255, np.uint8)])
    la[0, 0, 1] = 0
    return _save(tmp, "la.png", Image.fromarray(la, "LA"))


def make_gray16(tmp: Path) -> Path:
    values = np.array([[0, 257, 32896, 65535]] * 3, dtype=np.uint16)
    return _save(tmp, "gray16.png", Image.fromarray(values))


def make_rgb16(tmp: Path) -> Path:
    rgb16 = np.zeros((4, 5, 3), np.uint16)
    rgb16[..., 0] = 65535  # red, full scale
    path = tmp / "rgb16.png"
    cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    return path


def make_palette_transparency(tmp: Path) -> Path:
    pal = Image.new("P", (4, 3), 1)
    pal.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    return _save(tmp, "palette.png", pal, transparency=0)


def make_cmyk_jpeg(tmp: Path) -> Path:
    return _save(tmp, "cmyk.jpg", Image.new("CMYK", (8, 6), (0, 255, 255, 0)), quality=95)


def make_exif_rotated(tmp: Path) -> Path:
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)  # left half red: after "rotate 90 CW to view" it is the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    return _save(tmp, "phone.jpg", Image.fromarray(rgb), quality=95, exif=exif.tobytes())


def make_1x1(tmp: Path) -> Path:
    return _save(tmp, "dot.png", Image.fromarray(np.full((1, 1, 3), 90, np.uint8)))


def make_2x3(tmp: Path) -> Path:
    return _save(tmp, "tiny.png", Image.fromarray(_noise(2, 3)))


def make_7x5000(tmp: Path) -> Path:
    return _save(tmp, "strip.png", Image.fromarray(_noise(7, 5000)))


def make_over_limit(tmp: Path) -> Path:
    return _save(tmp, "big.png", Image.fromarray(_noise(40, 50)))


def make_bomb(tmp: Path) -> Path:
    return _write(tmp, "bomb.png", _png_declaring(100_000, 100_000))


def make_header_100mp(tmp: Path) -> Path:
    return _write(tmp, "huge.png", _png_declaring(10_000, 10_000))


def make_lying_over_limit(tmp: Path) -> Path:
    return _write(tmp, "liar.png", _png_declaring(8000, 8000))


def make_lying_under_limit(tmp: Path) -> Path:
    return _write(tmp, "fib.png", _png_declaring(1500, 1000))


def _frames(path: Path, fmt: str) -> Path:
    first, *rest = (Image.new("RGB", (6, 5), c) for c in ((0, 0, 255), (0, 255, 0), (255, 0, 0)))
    first.save(path, format=fmt, save_all=True, append_images=rest)
    return path


def make_animated_gif(tmp: Path) -> Path:
    return _frames(tmp / "anim.gif", "GIF")


def make_multipage_tiff(tmp: Path) -> Path:
    return _frames(tmp / "pages.tif", "TIFF")


def make_webp(tmp: Path) -> Path:
    return _save(tmp, "web.webp", Image.new("RGB", (9, 7), (30, 140, 220)), lossless=True)


def make_float_tiff_01(tmp: Path) -> Path:
    return _save(tmp, "unit.tif", Image.fromarray(np.full((4, 6), 0.5, np.float32), "F"))


def make_float_tiff_255(tmp: Path) -> Path:
    return _save(tmp, "bytes.tif", Image.fromarray(np.full((4, 6), 200.0, np.float32), "F"))


def make_unicode_name(tmp: Path) -> Path:
    return _save(tmp, "ÿüñ 写真.png", Image.fromarray(_noise(5, 6)))


def make_directory(tmp: Path) -> Path:
    path = tmp / "folder.png"
    path.mkdir()
    return path


def make_missing(tmp: Path) -> Path:
    return tmp / "gone.png"


# ------------------------------------------------------------------------- the matrix
def _pixel(y: int, x: int, rgb: list[int]) -> Callable[[np.ndarray], bool]:
    return lambda img: img[y, x].tolist() == rgb


WHITE = [255, 255, 255]


@dataclass(frozen=True)
class Kind:
    """One bad or odd input: its factory and what every surface must answer.

    ``error``: a regex the message must match (None: the input is usable); ``shape``: ``(H, W)``
    of the result; ``check``: a pixel check of ``load_image``'s result (True when right); ``limit``: the megapixel
    limit to use (None: the policy's default); ``cli_error``: the command line's message where it
    differs (a folder is expanded there, a missing path is reported by the file collector).
    """

    make: Callable[[Path], Path]
    error: str | None = None
    shape: tuple[int, int] | None = None
    check: Callable[[np.ndarray], bool] | None = None
    limit: float | None = None
    cli_error: str | None = None


CORRUPT = r"is corrupt or truncated: it cannot be decoded as {fmt}"
KINDS: dict[str, Kind] = {
    "empty": Kind(make_empty, r"empty\.png is empty \(0 bytes\)"),
    "truncated-png": Kind(make_truncated_png, r"cut\.png " + CORRUPT.format(fmt="PNG")),
    "truncated-jpeg": Kind(make_truncated_jpeg, r"cut\.jpg " + CORRUPT.format(fmt="JPEG")),
    "text-as-png": Kind(make_text_as_png, r"notes\.png is not an image that can be read \(supported: PNG"),
    "html-as-jpg": Kind(make_html_as_jpg, r"page\.jpg is not an image that can be read"),
    "png-bad-crc": Kind(make_png_bad_crc, r"crc\.png " + CORRUPT.format(fmt="PNG") + r" \(its header is damaged\)"),
    "rgba": Kind(make_rgba, shape=(6, 8), check=lambda a: _pixel(0, 0, WHITE)(a) and _pixel(1, 1, [200, 0, 0])(a)),
    "la": Kind(make_la, shape=(5, 4), check=lambda a: _pixel(0, 0, WHITE)(a) and _pixel(2, 2, [60, 60, 60])(a)),
    "gray16": Kind(make_gray16, shape=(3, 4), check=lambda a: a[0, :, 0].tolist() == [0, 1, 128, 255]),
    "rgb16": Kind(make_rgb16, shape=(4, 5), check=_pixel(2, 2, [255, 0, 0])),
    "palette-transparency": Kind(
        make_palette_transparency,
        shape=(3, 4),
        check=lambda a: _pixel(0, 0, WHITE)(a) and _pixel(1, 1, [200, 100, 0])(a),
    ),
    "cmyk-jpeg": Kind(make_cmyk_jpeg, shape=(6, 8), check=lambda a: a[3, 3, 0] > 200 and a[3, 3, 1] < 60),
    "exif-rotated": Kind(
        make_exif_rotated, shape=(20, 10), check=lambda a: a[2, 5, 0] > 200 and a[17, 5, 0] < 60
    ),  # upright: H and W swapped, the red half on top
    "1x1": Kind(make_1x1, shape=(1, 1), check=_pixel(0, 0, [90, 90, 90])),
    "2x3": Kind(make_2x3, shape=(2, 3)),
    "7x5000": Kind(make_7x5000, shape=(7, 5000)),
    "over-limit": Kind(
        make_over_limit,
        r"big\.png is 50x40 \(0\.0 megapixels\), too large: more than the limit of 0\.001 megapixels",
        limit=0.001,
    ),
    "decompression-bomb": Kind(
        make_bomb, r"bomb\.png declares 10000\.0 megapixels \(a possible decompression bomb\), too large"
    ),
    "header-100mp": Kind(make_header_100mp, r"huge\.png is 10000x10000 \(100\.0 megapixels\), too large"),
    "lying-header-over-limit": Kind(make_lying_over_limit, r"liar\.png is 8000x8000 \(64\.0 megapixels\), too large"),
    "lying-header-under-limit": Kind(make_lying_under_limit, r"fib\.png " + CORRUPT.format(fmt="PNG")),
    "animated-gif": Kind(make_animated_gif, shape=(5, 6), check=_pixel(2, 2, [0, 0, 255])),
    "multipage-tiff": Kind(make_multipage_tiff, shape=(5, 6), check=_pixel(2, 2, [0, 0, 255])),
    "webp": Kind(make_webp, shape=(7, 9), check=_pixel(3, 3, [30, 140, 220])),
    "float-tiff-01": Kind(make_float_tiff_01, shape=(4, 6), check=_pixel(1, 1, [128, 128, 128])),
    "float-tiff-0-255": Kind(make_float_tiff_255, r"bytes\.tif holds floating-point values in \[200, 200\].*\[0, 1\]"),
    "unicode-name": Kind(make_unicode_name, shape=(5, 6)),
    "directory": Kind(
        make_directory, r"folder\.png is a folder, not an image file", cli_error=r"folder\.png: the folder has no image"
    ),
    "missing": Kind(make_missing, r"no such image file: .*gone\.png", cli_error=r"gone\.png: no such file or folder"),
}


def _checked(kind: Kind, img: np.ndarray) -> None:
    assert img.dtype == np.uint8 and img.shape == (*kind.shape, 3)
    assert kind.check is None or kind.check(img), img[:3, :3].tolist()


@pytest.fixture(scope="module")
def tiny() -> Restorer:
    return Restorer.from_config(preset("ndr-tiny"), name="ndr-restore")


@pytest.fixture()
def weights(tmp_path: Path, tiny: Restorer, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "weights"
    save_weights(tiny.model, d / "ndr-restore.safetensors", tiny.config)
    monkeypatch.setenv("RESTORE_WEIGHTS_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def _default_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESTORE_MAX_MEGAPIXELS", raising=False)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after each test


def test_the_matrix_is_wide_enough() -> None:
    assert len(KINDS) >= 25
    assert sum(k.error is None for k in KINDS.values()) >= 12 and sum(k.error is not None for k in KINDS.values()) >= 12


@pytest.mark.parametrize("name", KINDS)
def test_load_image(name: str, tmp_path: Path) -> None:
    kind = KINDS[name]
    path = kind.make(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's warnings (DecompressionBombWarning...) never reach the caller
        if kind.error is None:
            _checked(kind, load_image(path, max_megapixels=kind.limit))
        else:
            with pytest.raises(ImageError, match=kind.error):
                load_image(path, max_megapixels=kind.limit)


@pytest.mark.parametrize("name", KINDS)
def test_restorer_api(name: str, tmp_path: Path, tiny: Restorer) -> None:
    kind = KINDS[name]
    path = kind.make(tmp_path)
    if kind.error is None:
        out = tiny.restore(str(path), max_megapixels=kind.limit)  # a str path; test_load_image passes a Path
        assert out.dtype == np.uint8 and out.shape == (*kind.shape, 3)
    else:
        with pytest.raises(ImageError, match=kind.error):
            tiny.restore(path, max_megapixels=kind.limit)


@pytest.mark.parametrize("name", KINDS)
def test_command_line(name: str, tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kind = KINDS[name]
    src = tmp_path / "in"
    src.mkdir()
    path = kind.make(src)
    out = tmp_path / "out"
    limit = ["--max-megapixels", str(kind.limit)] if kind.limit else []
    code = main([str(path), "-o", str(out), "--quiet", *limit])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if kind.error is None:
        assert code == 0, err
        (result,) = out.iterdir()
        assert result.name == f"{path.stem}_restored.png"
        assert np.asarray(Image.open(result)).shape == (*kind.shape, 3)
    else:
        assert code == 1
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err
        assert re.search(kind.cli_error or kind.error, lines[0]), lines[0]
        assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------------- the API's inputs
def test_pil_images_are_stood_upright(tiny: Restorer, tmp_path: Path) -> None:
    path = make_exif_rotated(tmp_path)
    upright = load_image(path)
    with Image.open(path) as im:
        assert im.size == (20, 10)  # as stored: sideways
        np.testing.assert_array_equal(load_image(im), upright)
        np.testing.assert_array_equal(tiny.restore(im), tiny.restore(upright))
        assert tiny.analyze(im).probabilities == tiny.analyze(upright).probabilities


def test_arrays_follow_the_same_size_policy(tiny: Restorer, monkeypatch: pytest.MonkeyPatch) -> None:
    img = _noise(20, 30)  # 600 pixels
    with pytest.raises(ImageTooLargeError, match=r"the image is 30x20 \(0\.0 megapixels\), too large") as info:
        tiny.restore(img, max_megapixels=0.0005)
    assert (info.value.width, info.value.height, info.value.limit) == (30, 20, 0.0005)
    assert tiny.restore(img, max_megapixels=0.0006).shape == (20, 30, 3)
    with pytest.raises(ImageTooLargeError, match=r"the 2x result is 60x40 \(0\.0 megapixels\), too large"):
        tiny.restore(img, upscale=2, max_megapixels=0.001)
    monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", "0.0005")
    with pytest.raises(ImageTooLargeError, match="RESTORE_MAX_MEGAPIXELS"):
        tiny.analyze(img)
    assert tiny.analyze(img, max_megapixels=1).size == (20, 30)
    with pytest.raises(ValueError, match="max_megapixels must be a positive"):
        tiny.restore(img, max_megapixels=0)


def test_pillows_bomb_guard_follows_a_raised_limit(tmp_path: Path) -> None:
    Image.MAX_IMAGE_PIXELS = 1000
    path = _save(tmp_path, "ok.png", Image.fromarray(_noise(40, 50)))  # 2000 px: Pillow alone would refuse it
    assert load_image(path, max_megapixels=0.01).shape == (40, 50, 3)
    assert Image.MAX_IMAGE_PIXELS == 10_000
    with pytest.raises(ImageTooLargeError):  # our limit refuses it; Pillow's bound is never lowered
        load_image(path, max_megapixels=0.001)
    assert Image.MAX_IMAGE_PIXELS == 10_000


def test_pillow_warnings_are_logged_once_with_the_file_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = make_header_100mp(tmp_path)  # over Pillow's own warning threshold (89 MP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError):
            load_image(path)
    assert not [r for r in caplog.records if "DecompressionBomb" in r.getMessage()]


# ------------------------------------------------------------------------- data safety
def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_command_line_never_loses_data(weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    album = tmp_path / "album"
    album.mkdir()
    make_rgba(album).rename(album / "holiday.png")
    Image.fromarray(_noise(12, 10)).save(album / "photo.png")
    Image.fromarray(_noise(9, 14)).save(album / "photo.jpg")
    Image.fromarray(_noise(8, 8)).save(album / "Scan.TIF")
    (album / "notes.txt").write_text("not an image")
    Image.fromarray(_noise(5, 5)).save(album / "photo_restored.png")  # the user's own, unrelated file
    before = _hashes(album)
    outputs = {"holiday_restored.png", "photo-jpg_restored.png", "photo-png_restored.png", "Scan_restored.png"}

    assert main([str(album), "-o", str(album), "--quiet"]) == 0
    after = _hashes(album)
    assert set(after) == set(before) | outputs  # nothing else: no temporary files left behind
    assert {k: after[k] for k in before} == before  # every input and every other file: same bytes
    assert np.asarray(Image.open(album / "holiday_restored.png")).shape == (6, 8, 3)
    assert np.asarray(Image.open(album / "photo-jpg_restored.png")).shape == (9, 14, 3)
    out = capsys.readouterr().out
    assert f"{album / 'photo.jpg'}: detected" in out and str(album / "photo-jpg_restored.png") in out

    assert main([str(album), "-o", str(album), "--quiet"]) == 1  # again, without --overwrite
    err = capsys.readouterr().err
    assert _hashes(album) == after
    assert sum(line.startswith("skipped ") for line in err.splitlines()) == 4 and "0 written, 4 skipped" in err
    assert f"skipped {album / 'photo.png'}: {album / 'photo-png_restored.png'} exists already" in err

    for name in outputs:
        (album / name).write_bytes(b"stale")
    assert main([str(album), "-o", str(album), "--quiet", "--overwrite"]) == 0
    final = _hashes(album)
    assert {k: final[k] for k in before} == before
    assert final == after  # the outputs are replaced by the same results, and only they changed
