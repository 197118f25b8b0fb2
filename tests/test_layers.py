"""The import layers, read from the source with ``ast`` (every import, lazy ones included).

models <- inference <- studio: the networks know nothing of how they are trained, evaluated or
shown; the product path (types, noise, images, resources, models, synthesis, refinements,
inference, cli, data) never needs matplotlib or gradio; nothing in ``restore`` knows the app.
``docs/DEVELOPMENT.md`` states the same rules for people.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each part of `restore` may import from the project (prefix match on module names).
ALLOWED: dict[str, tuple[str, ...]] = {
    "restore.types": (),
    "restore.noise": (),
    "restore.resources": (),
    "restore.images": ("restore.images", "restore.types"),
    "restore.models": ("restore.models", "restore.types", "restore.noise"),
    "restore.synthesis": ("restore.synthesis", "restore.types", "restore.images"),
    "restore.refinements": ("restore.refinements", "restore.types", "restore.noise", "restore.images"),
    "restore.inference": (
        "restore.inference",
        "restore.models",
        "restore.refinements",
        "restore.images",
        "restore.resources",
        "restore.types",
        "restore.noise",
    ),
    "restore.cli": ("restore.inference", "restore.images", "restore.models", "restore.types", "restore.resources"),
    "restore.__main__": ("restore.cli",),
    "restore.data": ("restore.data", "restore.images", "restore.resources"),
    "restore.training": ("restore",),
    "restore.evaluation": ("restore",),
    "restore": ("restore",),  # restore/__init__.py (lazy re-exports)
}
# Runtime parts: never matplotlib or gradio, not even lazily.
RUNTIME = (
    "restore.types",
    "restore.noise",
    "restore.resources",
    "restore.images",
    "restore.models",
    "restore.synthesis",
    "restore.refinements",
    "restore.inference",
    "restore.cli",
    "restore.data",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, id(node) in top))
            # `from restore import x` may name a submodule: check it as one
            out += [(f"{node.module}.{a.name}", id(node) in top) for a in node.names if node.module == "restore"]
    return out


def _part(name: str) -> str:
    best = ""
    for key in ALLOWED:
        if (name == key or name.startswith(key + ".")) and len(key) > len(best):
            best = key
    return best


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _is(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("path", _files("restore"), ids=lambda p: str(p.relative_to(ROOT)))
def test_restore_layers(path: Path) -> None:
    me = _module_name(path)
    part = _part(me)
    assert part, f"{me} belongs to no layer: add it to ALLOWED in tests/test_layers.py and to docs/DEVELOPMENT.md"
    for name, at_top in _imports(path):
        assert not _is(name, "gradio") and not _is(name, "studio") and not _is(name, "app"), f"{me} imports {name}"
        if any(_is(me, r) for r in RUNTIME):
            assert not _is(name, "matplotlib"), f"{me} (runtime) imports {name}"
        elif _is(name, "matplotlib"):
            assert not at_top, f"{me} imports matplotlib at module level (import it inside the function that plots)"
        if _is(name, "restore") and name != "restore":
            target = name
            # `from restore import Restorer` names an attribute, not a module: it is the inference API
            if name.count(".") == 1 and name.split(".")[1][:1].isupper() or name == "restore.available_models":
                target = "restore.inference"
            assert any(_is(target, ok) for ok in ALLOWED[part]), f"{me} may not import {name} (layer {part})"


def test_models_need_only_torch_numpy_and_safetensors() -> None:
    allowed = {"torch", "numpy", "safetensors", "restore"} | set(sys.stdlib_module_names)
    for path in _files("restore/models"):
        for name, _ in _imports(path):
            assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


@pytest.mark.parametrize(
    "path", [*_files("studio"), *_files("ui"), ROOT / "app.py"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_studio_and_app_layers(path: Path) -> None:
    me = _module_name(path)
    for name, _ in _imports(path):
        if _is(me, "studio"):
            assert not _is(name, "gradio"), f"{me}: the callbacks never import gradio (ui/ adapts them)"
        if _is(me, "studio") or _is(me, "ui"):
            assert not _is(name, "app"), f"{me} imports the app"
        if _is(name, "restore"):
            for private in ("restore.training",):
                assert not _is(name, private), f"{me} imports {name}: the app needs no training code"
