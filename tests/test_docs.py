"""The documents: every relative link resolves, the README and the model card keep their size and
shape, the configs they name exist, and no report names the absolute path of the machine it ran on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from restore.evaluation.paper_report import shown_path

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
MODEL_CARD = ROOT / "docs" / "MODEL_CARD.md"
#: The Hub's model-card sections, each a heading of the card.
HUB_SECTIONS = ("Model details", "Intended use", "Training data", "Training procedure", "Evaluation", "Limitations")

FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`[^`]+`")  # may run over a line break, as in CommonMark
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CONFIG_PATH = re.compile(r"configs/[\w./-]+\.yaml")
#: An absolute path of a machine: a Unix home, root or work folder, or a Windows drive.
ABSOLUTE = re.compile(r"(?<![\w.~])(?:/(?:home|root|work|Users|mnt|srv|opt)/|[A-Za-z]:\\)")


def _prose(path: Path) -> str:
    """The file's Markdown without code blocks, and with code spans blanked (a link's text may be one)."""
    return CODE_SPAN.sub("code", FENCE.sub("", path.read_text()))


def _relative_links(path: Path) -> list[str]:
    targets = [m[1] for m in LINK.finditer(_prose(path))]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE) and not t.startswith("#")]


def test_the_documents_exist() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "CHANGELOG.md", "docs/MODEL_CARD.md", "docs/training-log.md", "docs/DEVELOPMENT.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    missing = [t for t in _relative_links(doc) if not (doc.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{doc.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_link_scanner_reads_links_not_code() -> None:
    text = "[`a.md`](docs/a.md) ![x](../b.png) [web](https://x.org/c.md) [here](#top) `[no](c.md)`"
    targets = [m[1] for m in LINK.finditer(CODE_SPAN.sub("code", text))]
    assert targets == ["docs/a.md", "../b.png", "https://x.org/c.md", "#top"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_configs_exist(doc: Path) -> None:
    """Every ``configs/....yaml`` a document names (in prose or code) is in the repository."""
    missing = sorted({p for p in CONFIG_PATH.findall(doc.read_text()) if not (ROOT / p).is_file()})
    assert not missing, f"{doc.relative_to(ROOT)} names configs that do not exist: {missing}"


def test_readme_is_short() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines; the history belongs in CHANGELOG.md"
    assert lines[0] == "---" and "sdk: gradio" in lines and "app_file: app.py" in lines, "the Space's front matter"


def test_model_card_shape() -> None:
    text = MODEL_CARD.read_text()
    assert len(text.splitlines()) < 320, "the runs belong in docs/training-log.md"
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")]
    for section in HUB_SECTIONS:
        assert any(section.lower() in h.lower() for h in headings), f"no heading for {section!r}"
    assert "<!-- photos:start -->" in text and "<!-- photos:end -->" in text, "the About tab fills this block"


@pytest.mark.parametrize(
    "doc",
    [*DOCS, *sorted((ROOT / "assets").glob("*.md"))],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_no_absolute_machine_paths(doc: Path) -> None:
    found = [line for line in doc.read_text().splitlines() if ABSOLUTE.search(line)]
    assert not found, f"{doc.relative_to(ROOT)} names a machine's absolute path: {found[:3]}"


def test_report_names_its_data_relative_to_the_repository(tmp_path: Path) -> None:
    root = tmp_path / "clone"
    (root / "data").mkdir(parents=True)
    assert shown_path(tmp_path / "shared" / "paper_data", root) == "../shared/paper_data"
    assert shown_path(root / "data", root) == "data"
    outside = shown_path(tmp_path.parent / "elsewhere" / "paper_data", root)
    assert outside == "paper_data (outside the repository)" and str(tmp_path.parent) not in outside
