"""A throw-away environment for testing the app: tiny random-weight models, never the shipped weights.

``studio_app()`` writes seeded random ``ndr-tiny`` and ``dfpir-tiny`` weights under the names the
app expects (``ndr-restore``, ``dfpir``) into a temporary folder, computes a small atlas for the
NDR model there, points ``RESTORE_WEIGHTS_DIR`` and ``RESTORE_ATLAS_DIR`` at it and imports
``app``; ``studio_demo()`` builds the app's page once. Once per process, shared by every test file.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tests/screenshots.py` starts in tests/
    sys.path.insert(0, str(ROOT))
EXAMPLE = ROOT / "restore" / "assets" / "examples" / "mountains.jpg"
_STATE: dict[str, ModuleType] = {}


def make_tiny_models(directory: Path) -> None:
    """Seeded random tiny models saved as ``ndr-restore`` (+ NDR-Degrad) and ``dfpir``, plus an atlas."""
    from restore.evaluation.atlas import compute_atlas
    from restore.inference.restorer import Restorer
    from restore.models.config import preset
    from restore.models.weights import save_weights

    directory.mkdir(parents=True, exist_ok=True)
    for name, cfg_name in (("ndr-restore", "ndr-tiny"), ("dfpir", "dfpir-tiny")):
        cfg = preset(cfg_name)
        r = Restorer.from_config(cfg, name=name, seed=0)
        save_weights(r.model, directory / f"{name}.safetensors", cfg)
        if r.degrad is not None:
            save_weights(r.degrad, directory / f"{name}-degrad.safetensors", cfg)
    ndr = Restorer.from_pretrained("ndr-restore", device="cpu", directory=directory)
    atlas = compute_atlas(ndr, directory / "ndr-restore.safetensors", samples_per_type=3, crop=64, seed=0)
    atlas.save(directory / "ndr-restore.npz")


def studio_app() -> ModuleType:
    """The ``app`` module, imported with tiny test models (prepared once per process)."""
    if "app" not in _STATE:
        directory = Path(tempfile.mkdtemp(prefix="studio-test-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        make_tiny_models(directory)
        os.environ["RESTORE_WEIGHTS_DIR"] = str(directory)
        os.environ["RESTORE_ATLAS_DIR"] = str(directory)
        os.environ["GRADIO_EXAMPLES_CACHE"] = str(directory / "cached_examples")  # keep the app's cache clean
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        _STATE["app"] = importlib.import_module("app")
    return _STATE["app"]


def studio_demo():
    """The app's ``gr.Blocks``, built once per process with the tiny test models."""
    if "demo" not in _STATE:
        _STATE["demo"] = studio_app().build_demo()
    return _STATE["demo"]


@contextmanager
def single_thread_torch() -> Iterator[None]:
    """Run torch on one thread inside the block (restored after).

    The tiny models and small images of these tests gain nothing from a second thread, and on a
    busy two-core machine a second thread makes every operation wait for a free core.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
