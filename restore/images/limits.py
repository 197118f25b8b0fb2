"""The size policy and the errors of :mod:`restore.images`: what is refused, and how it is said.

The megapixel limit is the explicit argument when one is given, else the environment variable
``RESTORE_MAX_MEGAPIXELS``, else :data:`DEFAULT_MAX_MEGAPIXELS` (40); see :func:`resolve_max_megapixels`.
"""

from __future__ import annotations

import math
import numbers
import os

MAX_MEGAPIXELS_ENV = "RESTORE_MAX_MEGAPIXELS"
DEFAULT_MAX_MEGAPIXELS = 40.0


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
