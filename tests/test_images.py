"""restore.images: every input mode becomes correct HxWx3 uint8 RGB; bad inputs get clear errors."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore import images
from restore.images import ImageError, fit_within, load_image, save_png, to_rgb_uint8


def _png_bytes(im: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _gradient(h: int = 24, w: int = 32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 128)], axis=-1).astype(np.uint8)


def _check_rgb(out: np.ndarray, shape: tuple[int, int]) -> None:
    assert out.dtype == np.uint8
    assert out.shape == (*shape, 3)


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file", "pil", "array"])
def test_rgb_round_trip_from_every_source(tmp_path: Path, kind: str) -> None:
    rgb = _gradient()
    path = save_png(rgb, tmp_path / "sub" / "x.png")
    source = {
        "path": path,
        "str": str(path),
        "bytes": path.read_bytes(),
        "file": io.BytesIO(path.read_bytes()),
        "pil": Image.open(path),
        "array": rgb,
    }[kind]
    out = load_image(source)
    np.testing.assert_array_equal(out, rgb)


def test_rgba_is_composited_over_white() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200  # red-ish colour
    rgba[0, 0, 3] = 255  # opaque
    rgba[0, 1, 3] = 0  # fully transparent -> white
    rgba[0, 2, 3] = 128  # half -> halfway to white
    out = load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    _check_rgb(out, (4, 4))
    assert out[0, 0].tolist() == [200, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    half = 128 / 255
    assert out[0, 2].tolist() == [
        round(200 * half + 255 * (1 - half)),
        round(255 * (1 - half)),
        round(255 * (1 - half)),
    ]


def test_la_and_palette_with_transparency_over_white() -> None:
    la = np.zeros((3, 3, 2), np.uint8)
    la[..., 0] = 50
    la[1, 1, 1] = 255
    out = load_image(_png_bytes(Image.fromarray(la, "LA")))
    assert out[1, 1].tolist() == [50, 50, 50]
    assert out[0, 0].tolist() == [255, 255, 255]

    pal = Image.new("P", (3, 3), 0)
    pal.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.info["transparency"] = 0
    out = load_image(_png_bytes(pal, transparency=0))
    assert out[1, 1].tolist() == [200, 100, 0]
    assert out[0, 0].tolist() == [255, 255, 255]


def test_palette_without_transparency_keeps_colours() -> None:
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 12, 34, 56] + [0] * 762)
    out = load_image(_png_bytes(pal))
    assert (out == np.array([12, 34, 56], np.uint8)).all()


def test_grayscale_and_bilevel() -> None:
    gray = np.arange(16, dtype=np.uint8).reshape(4, 4) * 16
    out = load_image(_png_bytes(Image.fromarray(gray, "L")))
    _check_rgb(out, (4, 4))
    np.testing.assert_array_equal(out[..., 0], gray)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    bilevel = Image.fromarray(gray > 100).convert("1")
    out = load_image(_png_bytes(bilevel))
    assert set(np.unique(out).tolist()) == {0, 255}


def test_16bit_grayscale_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    data = _png_bytes(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = load_image(data)
    assert out[0, :, 0].tolist() == [0, 1, 128, 255]


def test_mode_i_and_f_images() -> None:
    out = to_rgb_uint8(Image.fromarray(np.array([[0, 65535]], dtype=np.int32), "I"))
    assert out[0, :, 0].tolist() == [0, 255]
    out = to_rgb_uint8(Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F"))
    assert out[0, :, 1].tolist() == [0, 128, 255]


def test_16bit_rgb_png_keeps_its_range(tmp_path: Path) -> None:
    import cv2

    rgb16 = np.zeros((2, 3, 3), np.uint16)
    rgb16[0, 0] = (65535, 0, 0)
    rgb16[0, 1] = (32896, 32896, 32896)
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), rgb16[..., ::-1])  # OpenCV writes BGR
    out = load_image(path)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert abs(int(out[0, 1, 0]) - 128) <= 1


def test_cmyk_jpeg_is_converted() -> None:
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    out = load_image(_png_bytes(cmyk, "JPEG", quality=95))
    _check_rgb(out, (8, 8))
    r, g, b = out[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_exif_orientation_is_applied() -> None:
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)  # left half red
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    out = load_image(_png_bytes(im, "JPEG", quality=95, exif=exif.tobytes()))
    assert out.shape == (20, 10, 3)
    # After rotating 90 degrees clockwise the old left half is at the top.
    assert out[2, 5, 0] > 200 and out[17, 5, 0] < 60


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((2, 2), 7, np.uint8), [7, 7, 7]),
        (np.full((2, 2, 1), 9, np.uint8), [9, 9, 9]),
        (np.full((2, 2, 3), 0.5, np.float32), [128, 128, 128]),
        (np.full((2, 2), 1.0, np.float64), [255, 255, 255]),
        (np.full((2, 2, 3), 65535, np.uint16), [255, 255, 255]),
        (np.ones((2, 2), bool), [255, 255, 255]),
        (np.dstack([np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8)]), [255, 255, 255]),
    ],
    ids=["gray2d", "gray1ch", "float01", "float64", "uint16", "bool", "rgba-transparent"],
)
def test_arrays(array: np.ndarray, expected: list[int]) -> None:
    out = load_image(array)
    _check_rgb(out, array.shape[:2])
    assert out[1, 1].tolist() == expected


def test_array_input_is_copied() -> None:
    rgb = _gradient()
    out = load_image(rgb)
    out[:] = 0
    assert rgb.any()


def test_float_array_out_of_range_is_refused() -> None:
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        load_image(np.full((4, 4, 3), 200.0, np.float32))
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan, np.float32))


def test_empty_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="no pixels|empty"):
        load_image(np.zeros((0, 5, 3), np.uint8))
    with pytest.raises(ImageError, match="no pixels"):
        load_image(Image.new("RGB", (0, 0)))


def test_non_image_file(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("this is a text file, not a picture\n")
    with pytest.raises(ImageError, match="notes.png is not an image"):
        load_image(fake)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such image file"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = _png_bytes(Image.fromarray(noise), fmt)
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(data[: len(data) // 2])


def test_corrupt_body() -> None:
    data = bytearray(_png_bytes(Image.fromarray(_gradient(64, 64))))
    data[60:200] = b"\x00" * 140
    with pytest.raises(ImageError, match="corrupt|could not be read"):
        load_image(bytes(data))


def test_megapixel_limit_message() -> None:
    data = _png_bytes(Image.new("RGB", (2000, 1500)))
    with pytest.raises(ImageError) as info:
        load_image(data, max_megapixels=2.0)
    message = str(info.value)
    assert "2000x1500" in message and "3.0 megapixels" in message
    assert "limit of 2 megapixels" in message and "RESTORE_MAX_MEGAPIXELS" in message
    assert load_image(data, max_megapixels=3.0).shape == (1500, 2000, 3)
    with pytest.raises(ImageError, match="RESTORE_MAX_MEGAPIXELS"):
        load_image(np.zeros((2000, 1500, 3), np.uint8), max_megapixels=1)


def test_max_megapixels_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(images.MAX_MEGAPIXELS_ENV, raising=False)
    assert images.max_megapixels() == images.DEFAULT_MAX_MEGAPIXELS == 40.0
    monkeypatch.setenv(images.MAX_MEGAPIXELS_ENV, "2.5")
    assert images.max_megapixels() == 2.5
    monkeypatch.setenv(images.MAX_MEGAPIXELS_ENV, "lots")
    with pytest.raises(ValueError, match="RESTORE_MAX_MEGAPIXELS must be a positive number"):
        images.max_megapixels()


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)


def test_fit_within() -> None:
    img = np.zeros((100, 300, 3), np.uint8)
    assert fit_within(img, 150).shape == (50, 150, 3)
    assert fit_within(img, 300) is img


def test_the_size_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(images.MAX_MEGAPIXELS_ENV, "2.5")
    assert images.resolve_max_megapixels() == images.resolve_max_megapixels(None) == 2.5  # the environment
    assert images.resolve_max_megapixels(7) == 7.0  # an explicit limit wins
    for bad in (0, -1, float("inf"), float("nan"), "3", True):
        with pytest.raises(ValueError, match="max_megapixels must be a positive, finite number"):
            images.resolve_max_megapixels(bad)  # type: ignore[arg-type]
    images.check_megapixels(1000, 2500)  # None: the policy's 2.5 MP
    with pytest.raises(images.ImageTooLargeError) as info:
        images.check_megapixels(1000, 2501, name="scan.tif")
    err = info.value
    assert isinstance(err, ImageError) and (err.name, err.width, err.height, err.pixels, err.limit) == (
        "scan.tif",
        1000,
        2501,
        2_501_000,
        2.5,
    )
    assert str(err).startswith("scan.tif is 1000x2501 (2.5 megapixels), too large: more than the limit of 2.5")


def test_messages_name_the_input(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^in/holiday\.png is not an image"):
        load_image(b"plain text", name="in/holiday.png")
    with pytest.raises(ImageError, match=r"^snap\.jpg is empty"):
        load_image(io.BytesIO(b""), name="snap.jpg")
    named = io.BytesIO(b"plain text")
    named.name = str(tmp_path / "upload.webp")
    with pytest.raises(ImageError, match=r"^upload\.webp is not an image"):
        load_image(named)
    with pytest.raises(ImageError, match=r"^the image holds floating-point values in \[0, 200\]"):
        load_image(np.linspace(0, 200, 12, dtype=np.float32).reshape(3, 4))
    with pytest.raises(ImageError, match=f"^{tmp_path} is a folder, not an image file"):
        load_image(tmp_path)
    if Path("/dev/null").exists():
        with pytest.raises(ImageError, match="is not a regular file"):
            load_image("/dev/null")


def test_pillow_warnings_are_logged_with_the_file_name(caplog: pytest.LogCaptureFixture) -> None:
    data = _png_bytes(Image.fromarray(_gradient()), "TIFF")[:20]  # its first directory cut short
    with pytest.raises(ImageError, match=r"scan\.tif is corrupt or truncated: it cannot be decoded as TIFF"):
        load_image(data, name="scan.tif")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]  # once, though seen twice
    assert warning.startswith("scan.tif: Corrupt EXIF data")


def test_save_png_is_atomic_and_can_refuse_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out" / "a.png"
    save_png(_gradient(), path)
    assert Image.open(path).size == (32, 24)
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()  # like any new file, not a private temp file
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        save_png(_gradient(), path, overwrite=False)
    assert path.read_bytes() == b"mine"
    save_png(_gradient(), path)  # overwrite=True (the default) replaces it
    np.testing.assert_array_equal(load_image(path), _gradient())
    assert save_png(_gradient(), tmp_path / "out" / "b.png", overwrite=False).is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.png", "b.png"]  # no temporary files


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
