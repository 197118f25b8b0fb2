"""Every surface of the app against bad input, through its API as a client sees it.

The app runs in-process with the tiny test models (``studio_env``) and is called through
``gradio_client`` on /restore, /degrade and /analyze with a matrix of awkward files (made here, in
``tmp_path``, by small factories): each either gives a result or an ``AppError`` whose title and
message say what is wrong, the server keeps serving, a refused upload is deleted at once, and the
server's log holds one line per refusal and no traceback.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import struct
import sys
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from studio_env import free_port, single_thread_torch, studio_app, studio_demo

from restore import DEGRADATION_TYPES
from restore.images import load_image

UPLOAD_CAP_MB = 1  # the test server's RESTORE_MAX_UPLOAD_MB


# --------------------------------------------------------------------------- the server and its log


class Capture(io.TextIOBase):
    """Everything written to ``sys.stderr`` and every log record while the server runs, as text."""

    def __init__(self, echo: io.TextIOBase) -> None:
        self.echo, self.parts = echo, []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        self.echo.flush()

    @property
    def text(self) -> str:
        return "".join(self.parts)


class LogLines(logging.Handler):
    def __init__(self, capture: Capture) -> None:
        super().__init__(logging.INFO)
        self.capture, self.records = capture, []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.capture.write(self.format(record) + "\n")  # with its traceback, if it has one


@dataclass
class Server:
    client: object
    log: Capture
    records: list[logging.LogRecord]
    upload_root: Path

    def app_lines(self, since: int) -> list[str]:
        return [r.getMessage() for r in self.records[since:] if r.name == "app"]


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    from gradio.utils import get_upload_folder
    from gradio_client import Client

    studio_app()
    demo = studio_demo()
    capture = Capture(sys.stderr)
    handler = LogLines(capture)
    app_log = logging.getLogger("app")
    level = app_log.level
    app_log.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    stderr, sys.stderr = sys.stderr, capture
    port = free_port()
    with pytest.MonkeyPatch.context() as mp, single_thread_torch():
        mp.setenv("RESTORE_MAX_UPLOAD_MB", str(UPLOAD_CAP_MB))
        demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=True)
            yield Server(client, capture, handler.records, Path(get_upload_folder()))
        finally:
            demo.close()
            sys.stderr = stderr
            logging.getLogger().removeHandler(handler)
            app_log.setLevel(level)


# --------------------------------------------------------------------------- small factories


def _rgb(w: int = 24, h: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_bytes(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but whose data holds 100 zero bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def _write(path: Path, data: bytes | str) -> Path:
    (path.write_text if isinstance(data, str) else path.write_bytes)(data)
    return path


def _save(path: Path, im: Image.Image, **options) -> Path:
    im.save(path, **options)
    return path


def _bad_crc(path: Path) -> Path:
    data = bytearray(_png_bytes(_rgb()))
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    return _write(path, bytes(data))


def _rgba(path: Path) -> Path:
    a = np.zeros((16, 24, 4), np.uint8)
    a[..., 0] = 255
    a[:, :12, 3] = 255  # left half opaque red, right half transparent
    return _save(path, Image.fromarray(a, "RGBA"))


def _palette_transparent(path: Path) -> Path:
    im = Image.new("P", (24, 16), 0)
    im.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    im.paste(1, (0, 0, 12, 16))
    return _save(path, im, transparency=0)


def _exif_rotated(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 24x16, shown rotated 90 degrees: 16x24
    return _save(path, Image.fromarray(_rgb()), exif=exif.tobytes())


def _animated_gif(path: Path) -> Path:
    frames = [Image.new("L", (24, 16), v) for v in (200, 20, 90)]
    return _save(path, frames[0], save_all=True, append_images=frames[1:], duration=50, loop=0)


def _float_tiff(scale: float) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        values = np.linspace(0, scale, 16 * 24, dtype=np.float32).reshape(16, 24)
        return _save(path, Image.fromarray(values, "F"))

    return make


def _cv2(img: np.ndarray) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        cv2.imwrite(str(path), img)
        return path

    return make


@dataclass(frozen=True)
class Kind:
    """One awkward input: its file name, a factory, and what the app must answer.

    ``shape``: the ``(height, width)`` the image loads as, when it is usable; else ``refused`` is a
    regex the error message must match (``title`` its heading).
    """

    name: str
    make: Callable[[Path], Path]
    shape: tuple[int, int] | None = None
    refused: str = ""
    title: str = "Cannot use this image"
    check: Callable[[np.ndarray], bool] | None = None  # on the loaded ("clean") image
    limit_mp: float | None = None  # RESTORE_MAX_MEGAPIXELS for this case


KINDS = [
    Kind("zero-byte.png", lambda p: _write(p, b""), refused=r"zero-byte\.png is empty \(0 bytes\)"),
    Kind("cut.png", lambda p: _write(p, _png_bytes(_rgb())[:60]), refused=r"cut\.png is corrupt or truncated"),
    Kind("notes.png", lambda p: _write(p, "definitely not a PNG\n"), refused=r"notes\.png is not an image"),
    Kind("page.jpg", lambda p: _write(p, "<!doctype html><p>hello</p>"), refused=r"page\.jpg is not an image"),
    Kind("crc.png", _bad_crc, refused=r"crc\.png is corrupt or truncated"),
    Kind("rgba.png", _rgba, (16, 24), check=lambda im: (im[:, 12:] == 255).all() and (im[:, :12, 0] == 255).all()),
    Kind(
        "la.png", lambda p: _save(p, Image.new("LA", (24, 16), (50, 0))), (16, 24), check=lambda im: (im == 255).all()
    ),
    Kind("grey16.png", _cv2(np.full((16, 24), 65535, np.uint16)), (16, 24), check=lambda im: (im == 255).all()),
    Kind("rgb16.png", _cv2(np.full((16, 24, 3), 32896, np.uint16)), (16, 24), check=lambda im: (im == 128).all()),
    Kind("palette.png", _palette_transparent, (16, 24), check=lambda im: (im[:, 12:] == 255).all()),
    Kind("cmyk.jpg", lambda p: _save(p, Image.new("CMYK", (24, 16), (0, 255, 255, 0))), (16, 24)),
    Kind("rotated.jpg", _exif_rotated, (24, 16)),
    Kind("one.png", lambda p: _save(p, Image.new("RGB", (1, 1), (10, 20, 30))), (1, 1)),
    Kind("two.png", lambda p: _save(p, Image.new("RGB", (2, 3), (10, 20, 30))), (3, 2)),
    Kind("strip.png", lambda p: _save(p, Image.new("RGB", (7, 5000), (90, 90, 90))), (5000, 7)),
    Kind(
        "big.png",
        lambda p: _save(p, Image.new("RGB", (200, 100))),
        refused=r"big\.png .*200x100.*limit of 0\.01 megapixels.*RESTORE_MAX_MEGAPIXELS",
        limit_mp=0.01,
    ),
    Kind("bomb.png", lambda p: _write(p, _png_declaring(40_000, 40_000)), refused=r"bomb\.png .*too large"),
    Kind("liar.png", lambda p: _write(p, _png_declaring(300, 300)), refused=r"liar\.png is corrupt or truncated"),
    Kind("anim.gif", _animated_gif, (16, 24), check=lambda im: (im == 200).all()),  # the first frame
    Kind(
        "pages.tif",
        lambda p: _save(p, Image.fromarray(_rgb()), save_all=True, append_images=[Image.fromarray(_rgb(seed=1))]),
        (16, 24),
        check=lambda im: np.array_equal(im, _rgb()),
    ),
    Kind("photo.webp", lambda p: _save(p, Image.fromarray(_rgb()), lossless=True), (16, 24)),
    Kind("unit.tif", _float_tiff(1.0), (16, 24), check=lambda im: im.max() == 255 and im.min() == 0),
    Kind("bytes.tif", _float_tiff(255.0), refused=r"bytes\.tif .*\[0, 255\].*\[0, 1\]"),
    Kind("фото été 😀.png", lambda p: _save(p, Image.fromarray(_rgb())), (16, 24)),
    Kind("grey.png", lambda p: _save(p, Image.new("L", (24, 16), 77)), (16, 24), check=lambda im: (im == 77).all()),
    Kind("bits.png", lambda p: _save(p, Image.new("1", (24, 16), 1)), (16, 24), check=lambda im: (im == 255).all()),
]
ENDPOINTS = {
    "/restore": lambda f: (f, "ndr-restore", 1, 100, 0, 32),
    "/degrade": lambda f: (f, {"noise": {"sigma": 10}}, 0),
    "/analyze": lambda f: (f, "ndr-restore"),
}


def _still_serves(server: Server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    ok = _save(tmp_path / f"ok-{uuid.uuid4().hex[:6]}.png", Image.fromarray(_rgb(8, 8)))
    (clean, _), _ = server.client.predict(handle_file(str(ok)), {"noise": {"sigma": 5}}, 0, api_name="/degrade")
    assert load_image(clean).shape == (8, 8, 3)


def _refusal(server: Server, api: str, *args) -> object:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        server.client.predict(*args, api_name=api)
    return caught.value


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_endpoint_answers_an_awkward_file(server: Server, kind: Kind, tmp_path: Path, monkeypatch) -> None:
    from gradio_client import handle_file

    if kind.limit_mp is not None:
        monkeypatch.setenv("RESTORE_MAX_MEGAPIXELS", str(kind.limit_mp))
    path = kind.make(tmp_path / kind.name)
    start = len(server.records)
    for api, args in ENDPOINTS.items():
        if kind.shape is None:
            err = _refusal(server, api, *args(handle_file(str(path))))
            assert re.search(kind.refused, err.message), f"{api}: {err.message}"
            assert err.title == kind.title, api
            left = [p for p in server.upload_root.rglob("*") if p.name == path.name]
            assert not left, f"{api} kept the refused upload: {left}"  # deleted at once, not in an hour
            continue
        result = server.client.predict(*args(handle_file(str(path))), api_name=api)
        if api == "/restore":
            (before, after), png, info = result
            assert load_image(after).shape[:2] == kind.shape, api
            assert Path(png).name == f"{Path(kind.name).stem}_restored.png"
            assert "restored" in info
        elif api == "/degrade":
            (clean, degraded), table = result
            clean = load_image(clean)
            h, w = kind.shape
            scale = min(1.0, 768 / max(h, w))
            assert clean.shape[:2] == (max(1, round(h * scale)), max(1, round(w * scale))), api
            assert kind.check is None or scale < 1 or kind.check(clean), api
            assert "PSNR" in table
            assert ("SSIM skipped" in table) == (min(clean.shape[:2]) < 11), table
        else:
            label, *_ = result
            assert {c["label"] for c in label["confidences"]} == set(DEGRADATION_TYPES)
    if kind.shape is None:
        assert len(server.app_lines(start)) == len(ENDPOINTS)  # one line per refusal
        _still_serves(server, tmp_path)
    assert "Traceback" not in server.log.text


# --------------------------------------------------------------------------- what is not a file


def test_no_image_at_all(server: Server) -> None:
    for api, args in ENDPOINTS.items():
        err = _refusal(server, api, *args(None))
        assert (err.title, err.message) == ("No image", "Add an image first: drag and drop, paste, or pick an example.")


def test_paths_that_are_not_uploads_are_refused_without_reading_them(server: Server, tmp_path: Path) -> None:
    from gradio_client import handle_file

    photo = _save(tmp_path / "server-side.png", Image.fromarray(_rgb()))
    payloads = {
        "a plain path string": str(photo),  # gradio_client sends it as text: not an upload
        "an existing file on the server": {"path": str(photo)},
        "a folder": {"path": str(tmp_path)},
        "a missing path": {"path": str(tmp_path / "missing.png")},
    }
    for what, payload in payloads.items():
        err = _refusal(server, "/restore", payload, "ndr-restore", 1, 100, 0, 32)
        assert "handle_file" in err.message, what
        assert err.title in ("Not an upload", "Bad request"), what
    err = _refusal(server, "/degrade", {"url": "http://example.com/x.png"}, {"noise": {}}, 0)
    assert (err.title, err.message.split(".")[0]) == ("No image", "The request carried no file")
    with pytest.raises((IsADirectoryError, PermissionError, ValueError)):  # the client itself refuses
        server.client.predict(handle_file(str(tmp_path)), {"noise": {}}, 0, api_name="/degrade")
    with pytest.raises((FileNotFoundError, ValueError)):
        server.client.predict(handle_file(str(tmp_path / "missing.png")), {"noise": {}}, 0, api_name="/degrade")
    assert "Traceback" not in server.log.text


def test_uploads_over_the_cap_are_refused_and_leave_no_file(server: Server) -> None:
    port = server.client.src.rstrip("/").rsplit(":", 1)[1]
    before = set(server.upload_root.glob("tmp*"))
    junk = np.random.default_rng(0).bytes(int(1.25 * UPLOAD_CAP_MB * 2**20))  # small: the 413 arrives whole
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="junk.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + junk
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert "maximum allowed size" in caught.value.read().decode()
    assert set(server.upload_root.glob("tmp*")) <= before  # the partial file is gone
    assert not list(server.upload_root.rglob("junk.png"))


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("api", "args", "message"),
    [
        ("/restore", ("ndr-restore", 1, 150, 0, 32), r"strength must be between 0 and 100 %, got 150"),
        ("/restore", ("ndr-restore", 1, -5, 0, 32), r"strength must be between 0 and 100 %"),
        ("/restore", ("ndr-restore", 1, 100, 128, 128), r"overlap of 128 px is too large for 128-px tiles.*60 px"),
        ("/restore", ("ndr-restore", 8, 100, 0, 32), r"upscale must be"),
        ("/restore", ("ndr-restore", 1, 100, 16, 0), r"tile size must be 0 \(automatic\) or at least 64 px"),
        ("/restore", ("ndr-restore", 1, "lots", 0, 32), r"strength must be between 0 and 100 %, got 'lots'"),
        ("/restore", ("nope", 1, 100, 0, 32), r"Unknown model 'nope'; available: ndr-restore, dfpir"),
        ("/compare", (1, 101, 0, 32), r"strength must be between 0 and 100 %"),
        ("/degrade", ("noise", 0), r"recipe must be a JSON object"),
        ("/degrade", ({"snow": {}}, 0), r"unknown degradation 'snow'"),
        ("/degrade", ({"noise": {"sigma": "loud"}}, 0), r"Invalid degradation recipe"),
        ("/degrade", ({"noise": {}}, -1), r"seed must be a whole number between 0 and"),
        ("/degrade", ({"noise": {}}, 2.5), r"seed must be a whole number"),
        ("/analyze", ("nope",), r"Unknown model 'nope'"),
    ],
)
def test_bad_settings_get_messages_in_the_units_the_user_sees(
    server: Server, tmp_path: Path, api: str, args: tuple, message: str
) -> None:
    from gradio_client import handle_file

    photo = _save(tmp_path / "fine.png", Image.fromarray(_rgb()))
    err = _refusal(server, api, handle_file(str(photo)), *args)
    assert re.search(message, err.message), err.message
    assert err.title != "Internal error"
    assert "Traceback" not in server.log.text


# --------------------------------------------------------------------------- the log


def test_the_log_has_one_line_per_refusal_and_tracebacks_only_for_faults(
    server: Server, tmp_path: Path, monkeypatch
) -> None:
    from gradio_client import handle_file

    bad = _write(tmp_path / "holiday.png", "not a picture")
    start = len(server.records)
    _refusal(server, "/restore", handle_file(str(bad)), "ndr-restore", 1, 100, 0, 32)
    lines = server.app_lines(start)
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "restore_image" in lines[0] and "'holiday.png'" in lines[0] and "not an image" in lines[0]
    assert not any(r.exc_info for r in server.records[start:])
    assert "Traceback" not in server.log.text  # ... after the whole matrix above

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(importlib.import_module("studio.restore_tab").Restorer, "restore", broken)
    mark = len(server.log.text)
    photo = _save(tmp_path / "fine.png", Image.fromarray(_rgb()))
    err = _refusal(server, "/restore", handle_file(str(photo)), "ndr-restore", 1, 100, 0, 32)
    assert err.title == "Internal error" and "RuntimeError" in err.message and "not of your input" in err.message
    fault = server.log.text[mark:]
    assert fault.count("Traceback") == 1 and "RuntimeError: a bug" in fault  # logged once, by the app
