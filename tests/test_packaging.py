"""Packaging: every import is declared, pyproject and the requirements files agree, binaries go to LFS.

The rule for where a third-party import must be declared follows what actually runs. The code is read
with :mod:`ast` (nothing is imported) and the first-party import graph is followed from entry points,
function-level imports included (a lazy import still runs), ``if TYPE_CHECKING:`` blocks excluded:

- **core**: what ``restore``, ``python -m restore`` / the ``restore`` command (``restore.cli``) and the
  public API (``restore.inference.restorer``) reach -> ``[project] dependencies`` in ``pyproject.toml``.
- **app**: what ``app.py`` and every ``studio/`` and ``ui/`` module reach (this pulls in the parts of
  ``restore.evaluation`` the app shows: atlas, metrics, baselines) -> ``requirements.txt``, which is what a
  Hugging Face Space installs, and which must equal ``dependencies`` plus the ``app`` extra.
- **train**: what ``restore.training`` reaches -> ``dependencies`` plus the ``train`` extra.
- **dev**: everything else in ``restore/`` (benchmarks, data fetchers, research scripts) and ``tests/``
  -> ``requirements-dev.txt`` (``-r requirements.txt`` plus the rest), which must equal ``dependencies``
  plus every extra.

Optional imports are exempt: those inside ``try: ... except ImportError`` (``spaces``, present only on a
ZeroGPU Space) and the modules in :data:`OPTIONAL`, which the code checks for before use.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"restore", "studio", "ui", "app", "tests"}
# Test helpers imported by name from tests/ (pytest puts tests/ on sys.path).
TEST_HELPERS = {"studio_env", "screenshots", "net_helpers"}

# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "gradio_client": "gradio",  # shipped with gradio, which pins it
}
# Imported only after checking it is installed; never a dependency.
OPTIONAL = {"bm3d": "CBM3D baseline, offered only when importlib.util.find_spec('bm3d') finds it"}

CORE_ENTRIES = ("restore", "restore.__main__", "restore.cli", "restore.inference.restorer")
TRAIN_ENTRIES = ("restore.training", "restore.training.__main__")

# Suffixes that are binary whatever their first bytes hold.
BINARY_SUFFIXES = {
    ".safetensors", ".npz", ".npy", ".pt", ".pth", ".ckpt", ".bin", ".onnx",
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".pdf", ".zip", ".gz", ".tar", ".xz", ".mp4", ".webm", ".wav",
}  # fmt: skip


@dataclass
class ModuleImports:
    """What one first-party module imports: first-party module names and third-party top-level names."""

    first_party: set[str] = field(default_factory=set)
    third_party: set[str] = field(default_factory=set)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> dict[str, Path]:
    files = [ROOT / "app.py"]
    for folder in ("restore", "studio", "ui", "tests"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return {_module_name(p): p for p in files}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
            return True
    return False


def _imports(nodes: Iterable[ast.AST], package: str) -> Iterable[str]:
    """Absolute dotted names imported at run time (both ``X`` and ``X.name`` for ``from X import name``)."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _imports(node.orelse, package)
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            yield from _imports([*node.handlers, *node.orelse, *node.finalbody], package)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        else:
            yield from _imports(ast.iter_child_nodes(node), package)


def _scan() -> dict[str, ModuleImports]:
    files = _source_files()
    out: dict[str, ModuleImports] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = ModuleImports()
        for imported in _imports([ast.parse(path.read_text(encoding="utf-8"))], package):
            top = imported.split(".")[0]
            if top in TEST_HELPERS:
                imported, top = f"tests.{imported}", "tests"
            if top in FIRST_PARTY:
                parts = imported.split(".")
                # Importing a.b.c runs a, a.b and a.b.c: keep each that is a module of ours.
                found.first_party |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & files.keys()
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.third_party.add(top)
        out[name] = found
    return out


def _reach(graph: dict[str, ModuleImports], entries: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [e for e in entries if e in graph]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph[name].first_party - seen
    return seen


def _distributions(graph: dict[str, ModuleImports], modules: Iterable[str]) -> dict[str, list[str]]:
    """Distribution name -> the modules that import it (optional imports left out)."""
    out: dict[str, set[str]] = {}
    for m in modules:
        for top in graph[m].third_party - OPTIONAL.keys():
            out.setdefault(_canonical(DISTRIBUTIONS.get(top, top)), set()).add(m)
    return {dist: sorted(mods) for dist, mods in out.items()}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


def _parse_requirement(line: str) -> tuple[str, str, str]:
    """``name[extras] specifier`` -> (canonical name, extras, specifier without spaces)."""
    match = _REQUIREMENT.match(line)
    assert match, f"cannot read requirement {line!r}"
    return _canonical(match[1]), (match[2] or "").replace(" ", ""), match[3].replace(" ", "")


def _requirements_file(path: Path) -> dict[str, str]:
    """Canonical name -> specifier of a requirements file, following ``-r`` includes."""
    out: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(("-r ", "--requirement ")):
            out.update(_requirements_file(path.parent / line.split(maxsplit=1)[1]))
            continue
        assert not line.startswith("-"), f"{path.name}: option {line!r} is not expected here"
        name, _, spec = _parse_requirement(line)
        assert name not in out, f"{path.name}: {name} is declared twice"
        out[name] = spec
    return out


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _as_dict(requirements: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in requirements:
        name, _, spec = _parse_requirement(line)
        out[name] = spec
    return out


def _undeclared(needed: dict[str, list[str]], declared: dict[str, str]) -> list[str]:
    return [f"{dist} (imported by {', '.join(mods)})" for dist, mods in sorted(needed.items()) if dist not in declared]


def test_every_import_is_declared_where_it_runs() -> None:
    graph = _scan()
    project = _pyproject()["project"]
    core = _reach(graph, CORE_ENTRIES)
    app = _reach(graph, ["app", *(m for m in graph if m.split(".")[0] in ("studio", "ui"))])
    train = _reach(graph, TRAIN_ENTRIES)
    assert "restore.inference.restorer" in core and "studio.common" in app and "restore.training.trainer" in train

    dependencies = _as_dict(project["dependencies"])
    runtime = _requirements_file(ROOT / "requirements.txt")
    dev = _requirements_file(ROOT / "requirements-dev.txt")
    train_declared = dependencies | _as_dict(project["optional-dependencies"]["train"])

    assert not _undeclared(_distributions(graph, core), dependencies), "missing from pyproject dependencies"
    assert not _undeclared(_distributions(graph, app | core), runtime), "missing from requirements.txt"
    assert not _undeclared(_distributions(graph, train), train_declared), "missing from the train extra"
    assert not _undeclared(_distributions(graph, graph), dev), "missing from requirements-dev.txt"

    # requirements.txt is the Space's install: nothing in it that the app and the command never import.
    unused = sorted(runtime.keys() - _distributions(graph, app | core).keys())
    assert not unused, f"requirements.txt declares {unused}, which neither the app nor the CLI imports"


def test_pyproject_agrees_with_the_requirements_files() -> None:
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    name = _canonical(project["name"])
    dependencies = _as_dict(project["dependencies"])
    runtime = _requirements_file(ROOT / "requirements.txt")
    dev = _requirements_file(ROOT / "requirements-dev.txt")

    assert runtime == dependencies | _as_dict(extras["app"]), "requirements.txt != dependencies + [app]"
    self_refs = [_parse_requirement(r) for r in extras["dev"] if _parse_requirement(r)[0] == name]
    assert self_refs == [(name, "[app,train]", "")], "the dev extra should pull in restore-studio[app,train]"
    everything = dependencies.copy()
    for extra, group in extras.items():
        for dist, spec in _as_dict(group).items():
            assert everything.get(dist, spec) == spec, f"[{extra}] asks {dist}{spec}, elsewhere {everything[dist]}"
            if dist != name:
                everything[dist] = spec
    assert dev == everything, "requirements-dev.txt != dependencies + every extra"
    # Torch unpinned (or a range) would pull a multi-GB CUDA build instead of the CPU wheel.
    assert dependencies["torch"].startswith("=="), "pin torch exactly"


def test_the_console_script_and_packages_are_configured() -> None:
    config = _pyproject()
    assert config["project"]["scripts"] == {"restore": "restore.cli:main"}
    assert config["build-system"]["build-backend"] == "setuptools.build_meta"
    setuptools = config["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["restore", "restore.*"]
    packages = {_module_name(p.parent) for p in (ROOT / "restore").rglob("__init__.py")}
    assert {"restore.models", "restore.training", "restore.evaluation", "restore.data"} <= packages
    for path in (ROOT / "restore").rglob("*"):
        if (
            not path.is_file()
            or path.suffix in (".py", ".pyc")
            or path.name.startswith(".")
            or path.parent.name == "__pycache__"
        ):
            continue
        package = _module_name(path.parent)
        while package not in packages:
            package = package.rpartition(".")[0]
        relative = path.relative_to(ROOT / package.replace(".", "/")).as_posix()
        globs = setuptools["package-data"].get(package, [])
        assert any(Path(relative).match(g) for g in globs), f"{path.relative_to(ROOT)} is not package data"


def _git(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=ROOT, input=stdin, capture_output=True, check=True).stdout


def _is_binary(path: Path) -> bool:
    if path.suffix.lower() in BINARY_SUFFIXES:
        return True
    with path.open("rb") as f:
        return b"\0" in f.read(8192)


def test_every_tracked_binary_file_goes_to_lfs() -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip(f"{ROOT} is not a git checkout (no .git)")
    tracked = [p for p in _git("ls-files", "-z").decode().split("\0") if p]
    binaries = [p for p in tracked if (ROOT / p).is_file() and _is_binary(ROOT / p)]
    assert binaries, "expected the shipped weights and photos among the tracked files"
    # -z output: path, attribute, value, each NUL-terminated.
    fields = _git("check-attr", "-z", "--stdin", "filter", stdin="\0".join(binaries).encode() + b"\0")
    values = fields.decode().split("\0")
    filters = dict(zip(values[0::3], values[2::3], strict=False))
    missing = [p for p in binaries if filters.get(p) != "lfs"]
    assert not missing, f"binary files without filter=lfs in .gitattributes: {missing}"


def _front_matter() -> dict[str, str]:
    """The README's YAML front matter (the Space's settings), values as written, quotes included."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "---", "README.md must start with the Space's YAML front matter"
    return {
        key.strip(): value.strip() for key, _, value in (x.partition(":") for x in lines[1 : lines.index("---", 1)])
    }


def test_the_space_runs_the_installed_gradio_and_a_supported_python() -> None:
    meta = {key: value.strip("\"'") for key, value in _front_matter().items()}
    assert meta["sdk"] == "gradio"
    assert meta["sdk_version"] == importlib.metadata.version("gradio")
    assert meta["app_file"] == "app.py"
    # A quoted "3.11", not 3.11 (YAML would read 3.10 as 3.1), and no older than requires-python.
    assert re.fullmatch(r'"3\.\d+"', _front_matter()["python_version"]), "python_version: a quoted major.minor"
    requires = _pyproject()["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.fullmatch(r">=\s*(\d+)\.(\d+)", requires).groups())
    assert tuple(int(x) for x in meta["python_version"].split(".")) >= minimum
