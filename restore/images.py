"""Robust image loading for the app, the command line and the API: anything becomes RGB uint8.

:func:`load_image` accepts a path, raw bytes, a binary file object, a PIL image or a numpy array
and returns an ``HxWx3`` uint8 RGB array. It

- applies the EXIF orientation (files and PIL images alike), so phone photos come out upright;
- converts every common mode correctly: transparent images (RGBA, LA, PA and palette images with
  a transparent colour) are composited over **white**, the way a viewer shows them on a page;
  grayscale (L, 1) is repeated into three channels; 16-bit images (I;16, I, 16-bit PNG) are
  scaled to 8 bit (``round(v / 257)``), never clipped; palette (P) and CMYK images are converted
  by Pillow; animated and multi-frame files (GIF, APNG, TIFF) give their first frame;
- reads 32-bit float images (mode F TIFFs, float arrays) as ``[0, 1]``. **Float rule:** values
  must lie in ``[0, 1]`` (up to 0.01 of overshoot, clipped); anything else, 0-255 data included,
  is refused with a message saying so, because "over 1" cannot be told apart from overexposed
  ``[0, 1]`` data and a guessed scale would silently darken or brighten the photo;
- refuses, with an :class:`ImageError` whose message names the file and says what is wrong,
  missing paths, folders, empty files, files that are not images, corrupt or truncated files
  (a file that starts like a PNG, JPEG, GIF, TIFF or WebP but cannot be read is called corrupt,
  not "not an image"), images with zero width or height, and images over the size limit.

**Size policy** (one for the app, the command line and the API): the limit, in megapixels, is
the explicit argument when one is given (``max_megapixels=``, the command line's
``--max-megapixels``), else the environment variable ``RESTORE_MAX_MEGAPIXELS``, else
:data:`DEFAULT_MAX_MEGAPIXELS` (40); see :func:`resolve_max_megapixels`. A file's size is read
from its header before anything is decoded, so an oversized file costs no memory, and a file that
declares more pixels than it holds is called too large when the declared size is over the limit
and corrupt or truncated when it is not. Arrays are checked by their shape. Pillow's own guard
against decompression bombs (``PIL.Image.MAX_IMAGE_PIXELS``) is raised, never lowered, to at
least the limit, so it never refuses what the policy allows; what it still refuses is reported as
too large (:class:`ImageTooLargeError`) like everything else over the limit.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import math
import numbers
import os
import re
import secrets
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

log = logging.getLogger(__name__)

MAX_MEGAPIXELS_ENV = "RESTORE_MAX_MEGAPIXELS"
DEFAULT_MAX_MEGAPIXELS = 40.0
#: The formats named in messages (Pillow reads more; these are the ones we test).
SUPPORTED_FORMATS = "PNG, JPEG, WebP, TIFF, BMP, GIF"

ImageSource = str | os.PathLike | bytes | bytearray | BinaryIO | Image.Image | np.ndarray

# Float images may overshoot [0, 1] slightly after processing; more than this is a wrong range.
_FLOAT_TOLERANCE = 0.01
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


class ImageError(ValueError):
    """An input that cannot be used as an image; the message names it and says what to do."""


class ImageTooLargeError(ImageError):
    """An image over the megapixel limit.

    Attributes:
        name: the image's name in the message (file name, "the image", ...).
        pixels: the declared number of pixels.
        limit: the limit in megapixels.
        width, height: the declared size (None when only the pixel count is known, as for a file
            Pillow refused as a decompression bomb before telling its size).
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "the image",
        pixels: int = 0,
        limit: float = 0.0,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        super().__init__(message)
        self.name, self.pixels, self.limit, self.width, self.height = name, pixels, limit, width, height


def max_megapixels() -> float:
    """The megapixel limit from ``RESTORE_MAX_MEGAPIXELS`` (default 40), read at call time.

    Raises:
        ValueError: if the variable is set but is not a positive number.
    """
    raw = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_MEGAPIXELS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{MAX_MEGAPIXELS_ENV} must be a positive number of megapixels, got {raw!r}")
    return value


MAX_MEGAPIXELS: float = max_megapixels()
"""The limit in force when this module was imported (:func:`max_megapixels` re-reads it)."""


def resolve_max_megapixels(limit: float | None = None) -> float:
    """The megapixel limit in force: ``limit`` when given, else :func:`max_megapixels` (the
    environment variable ``RESTORE_MAX_MEGAPIXELS``, else 40).

    Raises:
        ValueError: ``limit`` (or the environment variable) is not a positive, finite number.
    """
    if limit is None:
        return max_megapixels()
    if isinstance(limit, bool) or not isinstance(limit, numbers.Real) or not (0 < limit < math.inf):
        raise ValueError(f"max_megapixels must be a positive, finite number of megapixels, got {limit!r}")
    return float(limit)


def check_megapixels(width: int, height: int, limit: float | None = None, *, name: str = "the image") -> None:
    """Refuse a ``width`` x ``height`` image that is empty or over the limit.

    Args:
        width, height: the size in pixels (e.g. from a header, or after upscaling).
        limit: megapixels; None means the policy's limit (:func:`resolve_max_megapixels`).
        name: how the message names the image.

    Raises:
        ImageError: zero width or height.
        ImageTooLargeError: more than ``limit`` megapixels.
    """
    if width <= 0 or height <= 0:
        raise ImageError(f"{name} has no pixels ({width}x{height})")
    limit = resolve_max_megapixels(limit)
    megapixels = width * height / 1e6
    if megapixels > limit:
        raise ImageTooLargeError(
            f"{name} is {width}x{height} ({megapixels:.1f} megapixels), too large: more than the limit of "
            f"{limit:g} megapixels. Downscale it, or raise the limit with the environment variable "
            f"{MAX_MEGAPIXELS_ENV}.",
            name=name,
            pixels=width * height,
            limit=limit,
            width=width,
            height=height,
        )


def load_image(source: ImageSource, *, max_megapixels: float | None = None, name: str | None = None) -> np.ndarray:
    """Load any supported image as ``HxWx3`` uint8 RGB.

    Args:
        source: a path (``str`` or ``os.PathLike``), the file's bytes, a binary file object, a PIL
            image or a numpy array (``HxW``, ``HxWx1``, ``HxWx2``, ``HxWx3`` or ``HxWx4``; uint8,
            uint16, bool or float in ``[0, 1]``).
        max_megapixels: the size limit in megapixels; None means the policy's limit
            (``RESTORE_MAX_MEGAPIXELS``, else 40; see the module docstring). Files are checked from
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


def to_rgb_uint8(image: np.ndarray | Image.Image, *, name: str = "the image") -> np.ndarray:
    """Convert a PIL image or a numpy array to ``HxWx3`` uint8 RGB (no EXIF handling, no size limit).

    Transparency is composited over white; 16-bit data is scaled by 1/257; floats are read as
    ``[0, 1]``. See the module docstring for every mode. ``name`` names the image in messages.

    Raises:
        ImageError: zero-sized images, unsupported shapes or modes, float data outside ``[0, 1]``.
    """
    if isinstance(image, Image.Image):
        return _pil_to_rgb(image, name)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
    arr = image
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise ImageError(f"expected an HxW or HxWxC (C = 1-4) image array, got shape {image.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{name} is empty (shape {image.shape})")
    values = _to_unit_float(arr, name) if arr.dtype != np.uint8 else None
    if values is None and arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr).copy()
    if values is None:
        values = arr.astype(np.float32) / 255.0
    if values.ndim == 2:
        values = values[..., None]
    channels = values.shape[2]
    if channels in (2, 4):
        color, alpha = values[..., :-1], values[..., -1:]
        values = color * alpha + (1.0 - alpha)  # over a white page
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return to_uint8(values)


def to_tensor(img: np.ndarray, device: torch.device | str | None = None) -> Tensor:
    """``HxWx3`` uint8 RGB -> ``(1, 3, H, W)`` float32 in ``[0, 1]`` on ``device`` (a private copy:
    the input may be a read-only view)."""
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(
            f"expected an HxWx3 uint8 RGB array, got {getattr(img, 'dtype', type(img))} {getattr(img, 'shape', '')}"
        )
    x = torch.from_numpy(np.array(img, copy=True))
    if device is not None:
        x = x.to(device)
    return x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_uint8(x: Tensor | np.ndarray) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` tensor, or ``HxWxC`` float array, in ``[0, 1]`` ->
    ``HxWxC`` uint8: clipped to ``[0, 1]``, then rounded half up."""
    if isinstance(x, Tensor):
        x = x[0] if x.dim() == 4 else x
        x = x.detach().float().permute(1, 2, 0).cpu().numpy()
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def save_png(image: np.ndarray | Image.Image, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write an image as PNG (lossless), atomically, creating parent folders; returns the path.

    The PNG is written to a hidden temporary file next to ``path`` and renamed over it
    (``os.replace``), so ``path`` is never left half-written: a crash or a full disk leaves
    either the old file or the new one.

    Args:
        image: anything :func:`to_rgb_uint8` accepts.
        path: destination; the ``.png`` suffix is not added for you.
        overwrite: replace an existing file; when False an existing ``path`` is never touched,
            not even by a file that appears while this one is being written.

    Raises:
        FileExistsError: ``overwrite`` is False and ``path`` exists (nothing is written).
        OSError: the folder or the file cannot be written.
    """
    path = Path(path)
    rgb = to_rgb_uint8(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "exists already, not overwritten", str(path))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        # os.open honours the umask, so the result gets the same permissions as any new file.
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as fh:
            Image.fromarray(rgb).save(fh, format="PNG")
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _rename_no_clobber(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return path


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink an ``HxWxC`` image so its longer side is at most ``max_side`` (OpenCV's area filter);
    never enlarges (a smaller image is returned as it is)."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def resize_bicubic(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bicubic resize of ``HxWx3`` uint8 to ``height`` x ``width`` (e.g. the "before" of an upscale)."""
    return np.array(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


# --------------------------------------------------------------------------------- internals
def _rename_no_clobber(tmp: Path, path: Path) -> None:
    """Give ``tmp``'s file the name ``path`` unless ``path`` exists (a hard link fails atomically
    on an existing name; where links are unsupported, check and rename)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "exists already, not overwritten", str(path)) from None
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(errno.EEXIST, "exists already, not overwritten", str(path)) from None
        os.replace(tmp, path)


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
        return _pil_to_rgb(_upright(im), name)
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


def _pil_to_rgb(im: Image.Image, name: str) -> np.ndarray:
    mode = im.mode
    if im.width == 0 or im.height == 0:
        raise ImageError(f"{name} has no pixels ({im.width}x{im.height})")
    if mode == "RGB":
        return np.array(im, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit grayscale (PNG, TIFF) and 32-bit integer/float images go through numpy so that the
        # full range is scaled to 8 bit instead of Pillow's clipping conversion.
        arr = np.array(im)
        if mode == "I":
            arr = np.clip(arr, 0, 65535).astype(np.uint16)  # 16-bit data read by older Pillow versions
        return to_rgb_uint8(arr, name=name)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode in ("L", "1"):
        im = im.convert("L")
    else:
        try:
            im = im.convert("RGB")  # CMYK, YCbCr, HSV, ...
        except ValueError as err:
            raise ImageError(f"{name} is in mode {mode}, which is not supported; save it as RGB") from err
    return to_rgb_uint8(np.array(im), name=name)


def _to_unit_float(arr: np.ndarray, name: str) -> np.ndarray:
    """Non-uint8 pixel data as float32 in [0, 1] (uint16 by 1/65535, bool, floats as given)."""
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageError(f"{name} contains NaN or infinite values")
        lo, hi = float(values.min()), float(values.max())
        if lo < -_FLOAT_TOLERANCE or hi > 1 + _FLOAT_TOLERANCE:
            raise ImageError(
                f"{name} holds floating-point values in [{lo:g}, {hi:g}], but float images must hold values "
                "in [0, 1]: scale the data to [0, 1] (divide 0-255 data by 255) or save it as an 8- or "
                "16-bit image"
            )
        return np.clip(values, 0.0, 1.0)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise ImageError(f"{name} holds integer values in [{lo}, {hi}], but images must hold values in [0, 65535]")
        # uint16 (and wider integer types holding more than 8-bit data) span 0..65535.
        full = 65535.0 if arr.dtype == np.uint16 or hi > 255 else 255.0
        return arr.astype(np.float32) / full
    raise ImageError(f"{name} has an unsupported pixel type {arr.dtype}")
