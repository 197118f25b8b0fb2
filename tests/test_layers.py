"""The import layers, read from the source with ``ast`` (every import, lazy ones included).

models <- inference <- studio: the networks know nothing of how they are trained, evaluated or
shown; the product path (types, noise, images, resources, models, synthesis, refinements,
inference, cli, data) never needs matplotlib or gradio; nothing in ``restore`` knows the app.
No two modules of ``restore`` import each other, directly or round a longer circle, not even
lazily or for type hints only. ``docs/DEVELOPMENT.md`` states the same rules for people.
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


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
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


# --------------------------------------------------------------------------- import circles

TOP, LAZY, TYPING = "module level", "lazy", "TYPE_CHECKING"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_statements(path: Path) -> list[tuple[str, tuple[str, ...], int, str]]:
    """``(module, names, level, how)`` for every import statement of ``path``: ``how`` is
    :data:`TOP`, :data:`LAZY` (inside a function) or :data:`TYPING` (under ``if TYPE_CHECKING:``)."""
    out: list[tuple[str, tuple[str, ...], int, str]] = []

    def visit(node: ast.AST, how: str) -> None:
        if isinstance(node, ast.Import):
            out.extend((a.name, (), 0, how) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append((node.module or "", tuple(a.name for a in node.names), node.level, how))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, TYPING if how == TOP else how)
            for child in node.orelse:
                visit(child, how)
        else:
            inner = LAZY if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else how
            for child in ast.iter_child_nodes(node):
                visit(child, inner)

    visit(ast.parse(path.read_text(), filename=str(path)), TOP)
    return out


def _import_graph(package: Path) -> dict[str, dict[str, str]]:
    """Every module of the package folder ``package`` -> ``{module of the package it imports: how}``.

    Every import counts (module level, lazy, ``TYPE_CHECKING``, relative); ``from pkg import name``
    imports ``pkg`` and, where ``name`` is a submodule, ``pkg.name`` too.
    """
    files = {_module_name(p, package.parent): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, dict[str, str]] = {}
    for me, path in files.items():
        edges: dict[str, str] = {}
        for module, names, level, how in _import_statements(path):
            if level:  # relative: from the module's package, one level up per extra dot
                base = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
                module = ".".join(base[: len(base) - level + 1] + ([module] if module else []))
            for target in (module, *(f"{module}.{n}" for n in names)):
                if target in files and target != me:
                    edges.setdefault(target, how)
        graph[me] = edges
    return graph


def _circles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The import circles: each group of two or more modules that all reach one another (Tarjan's
    strongly connected components), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(circles)


def _describe(graph: dict[str, dict[str, str]], circles: list[list[str]]) -> str:
    lines = []
    for group in circles:
        lines.append("circle: " + ", ".join(group))
        lines += [f"  {a} -> {b} ({graph[a][b]})" for a in group for b in sorted(graph[a]) if b in group]
    return "\n".join(lines)


def test_no_import_circles_in_restore() -> None:
    graph = _import_graph(ROOT / "restore")
    assert graph["restore.inference.restorer"]["restore.inference.loading"] == TOP, "the detector sees imports"
    assert graph["restore.evaluation.evaluate"]["restore.evaluation.paper_suite"] == LAZY
    circles = _circles(graph)
    assert not circles, (
        "modules of restore/ import each other: give each pair one direction (move the shared names to a "
        "module both import, or describe what one needs of the other with a typing Protocol)\n"
        + _describe(graph, circles)
    )


def test_the_circle_detector_finds_lazy_typing_relative_and_longer_circles(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    files = {
        "__init__.py": '"""A package whose modules import each other."""\n',
        # a <-> b: b's import is lazy, inside a function
        "a.py": "from pkg.b import two\n",
        "b.py": "def two():\n    from pkg import a\n\n    return a\n",
        # c <-> d: c's import is for type hints only
        "c.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg.d import D\n",
        "d.py": "import pkg.c\n",
        # e -> f -> g -> e, relative imports
        "e.py": "from .f import x\n",
        "f.py": "from . import g\n\nx = 1\n",
        "g.py": "import typing\n\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from pkg.e import x\n",
        # one direction only: no circle
        "h.py": "from pkg.sub.i import y\n",
        "sub/__init__.py": "",
        "sub/i.py": "from ..a import two as y\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    graph = _import_graph(pkg)
    assert graph["pkg.b"] == {"pkg": LAZY, "pkg.a": LAZY}, "`from pkg import a` imports the package and a"
    assert graph["pkg.c"] == {"pkg.d": TYPING}
    assert graph["pkg.g"] == {"pkg.e": TOP}, "the else branch of TYPE_CHECKING runs"
    assert graph["pkg.sub.i"] == {"pkg.a": TOP}
    assert graph["pkg.h"] == {"pkg.sub.i": TOP}
    circles = _circles(graph)
    assert circles == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"], ["pkg.e", "pkg.f", "pkg.g"]]
    assert "pkg.c -> pkg.d (TYPE_CHECKING)" in _describe(graph, circles)
