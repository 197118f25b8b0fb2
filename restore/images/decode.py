"""Reading of :mod:`restore.images`: a path, bytes, a file object, a PIL image or an array, loaded as RGB uint8.

:func:`load_image` refuses missing, empty, corrupt, truncated, non-image and oversized inputs
with an :class:`~restore.images.limits.ImageError` that names them; a file's size is read from its
header before anything is decoded. The whole policy is in :mod:`restore.images`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from restore.images.convert import to_rgb_uint8
from restore.images.limits import (
    MAX_MEGAPIXELS_ENV,
    ImageError,
    ImageTooLargeError,
    check_megapixels,
    resolve_max_megapixels,
)

# The package's name, as before it was split: the logger users filter on and configure.
log = logging.getLogger("restore.images")

#: The formats named in messages (Pillow reads more; these are the ones we test).
SUPPORTED_FORMATS = "PNG, JPEG, WebP, TIFF, BMP, GIF"

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray

# How a file of each format starts: one that starts like this but cannot be read is damaged.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
# Errors Pillow's decoders raise on damaged data (besides its own exception types).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
# warnings.catch_warnings swaps process-wide state: our own threads take turns (see _pillow_warnings).
_WARNINGS_LOCK = threading.Lock()


def load_image(source: ImageSource, *, max_megapixels: float | None = None, name: str | None = None) -> np.ndarray:
    """Load any supported image as ``HxWx3`` uint8 RGB.

    Args:
        source: a path (``str`` or ``os.PathLike``), the file's bytes, a binary file object, a PIL
            image or a numpy array (``HxW``, ``HxWx1``, ``HxWx2``, ``HxWx3`` or ``HxWx4``; uint8,
            uint16, bool or float in ``[0, 1]``).
        max_megapixels: the size limit in megapixels; None means the policy's limit
            (``RESTORE_MAX_MEGAPIXELS``, else 40; see :mod:`restore.images`). Files are checked from
            their header before decoding, PIL images and arrays by their size.
        name: how messages name the image (default: the file's name, "the uploaded data", or
            "the image").

    Returns:
        ``(H, W, 3)`` uint8 RGB, EXIF orientation applied, a new array the caller may modify.

    Raises:
        ImageError: missing, empty, corrupt, truncated, non-image, zero-sized inputs;
            :class:`ImageTooLargeError` for inputs over the limit.
        ValueError: ``max_megapixels`` (or ``RESTORE_MAX_MEGAPIXELS``) is not a positive number.
    """
    limit = resolve_max_megapixels(max_megapixels)
    if isinstance(source, np.ndarray):
        label = name or "the image"
        if source.ndim >= 2:
            check_megapixels(source.shape[1], source.shape[0], limit, name=label)
        return to_rgb_uint8(source, name=label)
    _raise_pillow_guard(limit)
    if isinstance(source, Image.Image):
        label = name or _pil_name(source)
        check_megapixels(source.width, source.height, limit, name=label)
        with _pillow_warnings(label):
            return _decode(source, label, source.format, limit)
    label, stream, close = _open_source(source, name)
    try:
        fmt = _sniff(stream)
        with _pillow_warnings(label):
            im = _open_pillow(stream, label, fmt, limit)
            with im:
                check_megapixels(im.width, im.height, limit, name=label)
                return _decode(im, label, fmt or im.format, limit)
    finally:
        close()


def load_upscaled(
    source: ImageSource, upscale: int = 1, *, max_megapixels: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(enlarged, small)``: :func:`load_image`'s result bicubic-enlarged (OpenCV) to ``upscale`` x
    its size, and as read. The enlarged size is checked against the limit before it is made.

    Raises:
        ImageError: as :func:`load_image`; :class:`ImageTooLargeError` for a result over the limit.
    """
    small = load_image(source, max_megapixels=max_megapixels)
    if upscale == 1:
        return small, small
    h, w = small.shape[:2]
    check_megapixels(w * upscale, h * upscale, max_megapixels, name=f"the {upscale}x result")
    return cv2.resize(small, (w * upscale, h * upscale), interpolation=cv2.INTER_CUBIC), small


def _raise_pillow_guard(limit: float) -> None:
    """Pillow refuses images over ``2 * Image.MAX_IMAGE_PIXELS`` by itself (and warns over 1x):
    raise that bound (never lower it) to the policy's limit, so Pillow never refuses an image the
    policy allows. Images over the limit are refused by our own check before decoding."""
    pixels = math.ceil(limit * 1e6)
    if Image.MAX_IMAGE_PIXELS is not None and pixels > Image.MAX_IMAGE_PIXELS:
        log.debug("raising PIL.Image.MAX_IMAGE_PIXELS from %d to %d", Image.MAX_IMAGE_PIXELS, pixels)
        Image.MAX_IMAGE_PIXELS = pixels


@contextlib.contextmanager
def _pillow_warnings(name: str) -> Iterator[None]:
    """Pillow's warnings while reading ``name``, logged as one line each that names the file.

    Its DecompressionBombWarning is dropped: our own size check, made before decoding, decides.
    ``warnings.catch_warnings`` swaps process-wide state, so our threads (the app's requests)
    take turns through it rather than restore each other's filters out of order.
    """
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            messages = [str(w.message) for w in caught if not issubclass(w.category, Image.DecompressionBombWarning)]
            for message in dict.fromkeys(messages):  # once each: Pillow may try a file with several readers
                log.warning("%s: %s", name, message)


def _open_source(source: ImageSource, name: str | None) -> tuple[str, BinaryIO, Callable[[], None]]:
    """A readable, seekable binary stream, a name for messages and how to close the stream;
    refuses missing, unreadable and empty inputs."""
    if isinstance(source, bytes | bytearray | memoryview):
        label = name or "the uploaded data"
        if not source:
            raise ImageError(f"{label} is empty (0 bytes)")
        return label, io.BytesIO(source), _nothing
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        label = name or path.name or str(path)
        if path.is_dir():
            raise ImageError(f"{name or path} is a folder, not an image file")
        if not path.exists():
            raise ImageError(f"no such image file: {name or path}")
        if not path.is_file():  # a device or a pipe: reading it could block or never end
            raise ImageError(f"{name or path} is not a regular file")
        try:
            fh = path.open("rb")
        except OSError as err:
            raise ImageError(f"cannot read {label}: {err.strerror or err}") from err
        if os.fstat(fh.fileno()).st_size == 0:
            fh.close()
            raise ImageError(f"{label} is empty (0 bytes)")
        return label, fh, fh.close
    if hasattr(source, "read"):
        label = name or Path(str(getattr(source, "name", "") or "the uploaded file")).name
        try:
            data = source.read()
        except OSError as err:
            raise ImageError(f"cannot read {label}: {err}") from err
        if not data:
            raise ImageError(f"{label} is empty (0 bytes)")
        return label, io.BytesIO(data), _nothing
    raise ImageError(f"cannot load an image from a {type(source).__name__}")


def _nothing() -> None:
    """Closing a stream we made in memory."""


def _sniff(stream: BinaryIO) -> str | None:
    """The format a file's first bytes announce (None if none we know); the stream is rewound."""
    head = stream.read(16)
    stream.seek(0)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((fmt for magic, fmt in _SIGNATURES if head.startswith(magic)), None)


def _open_pillow(stream: BinaryIO, name: str, fmt: str | None, limit: float) -> Image.Image:
    """``Image.open`` (the header only, nothing decoded), with Pillow's errors as ours."""
    try:
        return Image.open(stream)
    except Image.DecompressionBombError as err:
        raise _bomb_error(name, err, limit) from err
    except UnidentifiedImageError as err:
        if fmt:
            raise _corrupt_error(name, fmt, "its header is damaged") from err
        raise ImageError(f"{name} is not an image that can be read (supported: {SUPPORTED_FORMATS})") from err
    except _DECODE_ERRORS as err:
        if fmt:
            raise _corrupt_error(name, fmt, err) from err
        raise ImageError(f"{name} could not be read as an image: {err}") from err


def _decode(im: Image.Image, name: str, fmt: str | None, limit: float) -> np.ndarray:
    """Decode ``im`` (its first frame), stand it upright and convert it, with Pillow's errors as ours."""
    try:
        im.load()
        return to_rgb_uint8(_upright(im), name=name)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:  # GIF frames are checked when they are decoded
        raise _bomb_error(name, err, limit) from err
    except _DECODE_ERRORS as err:
        raise _corrupt_error(name, fmt or "image", err) from err


def _corrupt_error(name: str, fmt: str, detail: object) -> ImageError:
    return ImageError(
        f"{name} is corrupt or truncated: it cannot be decoded as {fmt} ({detail}). Export or download it again."
    )


def _bomb_error(name: str, err: Image.DecompressionBombError, limit: float) -> ImageTooLargeError:
    """Pillow refused a file before telling its size: only the pixel count is in its message."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    pixels = int(found.group(1)) if found else 0
    size = f"{pixels / 1e6:.1f} megapixels" if pixels else "far more pixels than the limit"
    return ImageTooLargeError(
        f"{name} declares {size} (a possible decompression bomb), too large: more than the limit of "
        f"{limit:g} megapixels. Downscale it, or raise the limit with the environment variable "
        f"{MAX_MEGAPIXELS_ENV}.",
        name=name,
        pixels=pixels,
        limit=limit,
    )


def _pil_name(im: Image.Image) -> str:
    filename = getattr(im, "filename", "")
    return Path(filename).name if isinstance(filename, str) and filename else "the image"


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a malformed EXIF block leaves the image as stored (logged)."""
    try:
        return ImageOps.exif_transpose(im)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, struct.error) as err:
        log.warning("ignoring malformed EXIF orientation: %s", err)
        return im
