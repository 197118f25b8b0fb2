"""Where the shipped files are: weights, the NDR atlas and the example photos.

They are package data under ``restore/assets/`` (found through :mod:`importlib.resources`, so an
installed package finds them as a clone does). Each folder has an environment variable that
overrides it, for tests and for weights kept elsewhere.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

WEIGHTS_ENV = "RESTORE_WEIGHTS_DIR"
ATLAS_ENV = "RESTORE_ATLAS_DIR"
EXAMPLES_ENV = "RESTORE_EXAMPLES_DIR"


def package_assets() -> Path:
    """``restore/assets`` inside the installed (or cloned) package."""
    return Path(str(resources.files("restore").joinpath("assets")))


def _folder(env: str, name: str) -> Path:
    return Path(os.environ.get(env) or package_assets() / name)


def weights_dir() -> Path:
    """Shipped weights: ``$RESTORE_WEIGHTS_DIR`` or ``restore/assets/weights``."""
    return _folder(WEIGHTS_ENV, "weights")


def atlas_dir() -> Path:
    """NDR atlases: ``$RESTORE_ATLAS_DIR`` or ``restore/assets/atlas``."""
    return _folder(ATLAS_ENV, "atlas")


def examples_dir() -> Path:
    """Example photos: ``$RESTORE_EXAMPLES_DIR`` or ``restore/assets/examples``."""
    return _folder(EXAMPLES_ENV, "examples")


def example_photos() -> list[Path]:
    """The example photos (JPEG and PNG), sorted by name."""
    d = examples_dir()
    return sorted(p for p in d.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}) if d.is_dir() else []
