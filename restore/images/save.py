"""Writing of :mod:`restore.images`: an image saved as PNG, atomically, never half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path

import numpy as np
from PIL import Image

from restore.images.convert import to_rgb_uint8


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
