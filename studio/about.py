"""The app's About tab: ``docs/MODEL_CARD.md``, read when the tab is built, with what only the
running app knows (the models it serves, its upload limit, the training-photo table rebuilt from the
manifest) and how to call its API. Plain Markdown, no gradio.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from restore.data.photo_files import MANIFEST_PATH as MANIFEST
from restore.images import max_megapixels
from studio.common import APP_DIR, max_upload_mb

MODEL_CARD = APP_DIR / "docs" / "MODEL_CARD.md"
#: The card's copy of the training-photo table, replaced by one built from the manifest.
PHOTOS_BLOCK = re.compile(r"<!-- photos:start -->.*?<!-- photos:end -->", re.DOTALL)
#: Images and links to files of the repository, which the app does not serve.
LOCAL_IMAGE = re.compile(r"!\[([^\]]*)\]\((?!https?:)(?:\.\./)?([^)]+)\)")
LOCAL_LINK = re.compile(r"\[([^\]]+)\]\((?!https?:)(?:\.\./)?([^)]+)\)")


def training_sources(manifest: Path = MANIFEST) -> str:
    """A Markdown table of the training photographs per Debian package: counts and licences."""
    data = json.loads(manifest.read_text())
    rows: dict[str, dict] = {}
    for photo in data["photos"]:
        row = rows.setdefault(photo["package"], {"n": 0, "val": 0, "licences": set()})
        row["n"] += 1
        row["val"] += photo.get("split") == "val"
        row["licences"].add(photo["license"])
    lines = ["| Debian package | photos (of which validation) | licences |", "|---|---|---|"]
    for package, row in sorted(rows.items()):
        version = data["packages"].get(package, {}).get("version", "")
        lines.append(f"| `{package}` {version} | {row['n']} ({row['val']}) | {', '.join(sorted(row['licences']))} |")
    return "\n".join(lines)


def model_card(models: Sequence[str], *, playground_side: int = 768) -> str:
    """The About tab's Markdown: the app's own facts, ``docs/MODEL_CARD.md`` and the API.

    The card is read at call time, so an edited card shows on the next start without a code change.

    Args:
        models: the model names the app serves.
        playground_side: the longest side of the playground's working copy (px).
    """
    if MODEL_CARD.is_file():
        card = PHOTOS_BLOCK.sub(lambda _: training_sources(), MODEL_CARD.read_text())
    else:
        card = f"The model card (`docs/{MODEL_CARD.name}`) is missing here.\n\n" + training_sources()
    header = _HEADER.format(
        models=", ".join(f"`{m}`" for m in models) or "none yet (no weights shipped)",
        limit=max_megapixels(),
        upload=max_upload_mb(),
        side=playground_side,
    )
    return "\n\n".join((header, for_the_app(card), _API))


def for_the_app(markdown: str) -> str:
    """``markdown`` with repository images and links turned into their paths, which the app cannot
    serve (web links stay links; links within the page become plain text)."""
    markdown = LOCAL_IMAGE.sub(lambda m: f"*{m[1]}* (`{m[2]}`)", markdown)
    # a link within the page, or one whose text already is its path, keeps just its text
    return LOCAL_LINK.sub(
        lambda m: m[1] if m[2].startswith("#") or m[1].strip("`") == m[2] else f"{m[1]} (`{m[2]}`)", markdown
    )


_HEADER = """
## In this app
A studio for **all-in-one image restoration**: one network removes noise, rain, haze, blur, low
resolution and low light without being told which. Models in this app: {models}.

Uploads above {limit:g} megapixels or {upload} MB are refused (set `RESTORE_MAX_MEGAPIXELS` and
`RESTORE_MAX_UPLOAD_MB` to change that), and a refused file is deleted from the server at once;
large images are restored in tiles, never silently downscaled. The Playground and the analysis
plots work on a copy at most {side} px on the long side.
"""

_API = """
## API
Four named endpoints, for example with `gradio_client`. Send files with `handle_file(path)`: a plain
path string is not uploaded and is refused. A mistake in the input comes back as an `AppError` whose
message says what to change.
```python
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")
# image, model, upscale (1-4), strength in % (0-100), tile (0 = auto, else >= 64 px), tile overlap
# in px (at most (tile - 8) / 2)[, refinement: True] -> slider pair, <your file>_restored.png, details
(before, after), png, info = client.predict(
    handle_file("photo.jpg"), "ndr-restore", 1, 100, 0, 32, api_name="/restore"
)
# the same settings, no model: every model on the photo -> (left, right), each model's time
(left, right), timings = client.predict(handle_file("photo.jpg"), 1, 100, 0, 32, api_name="/compare")
# clean image, recipe {type: {parameter: value}}, seed -> ((clean, degraded), metrics)
(clean, degraded), metrics = client.predict(
    handle_file("clean.png"), {"noise": {"sigma": 25}, "haze": {"beta": 1.2}}, 0, api_name="/degrade"
)
# image, model -> probabilities per degradation type (a type counts as detected from 0.5), and the plots
probabilities, pca, weights, atoms = client.predict(handle_file("photo.jpg"), "ndr-restore", api_name="/analyze")
```
"""
