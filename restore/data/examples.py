"""The app's example photos: crops of the validation photographs, with their sources and licences.

``python -m restore.data.photos --examples`` calls :func:`make_examples`, which reads the validation
photos that :mod:`restore.data.photos` fetched (never training ones) and writes the JPEGs and
``SOURCES.md`` under ``assets/examples``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from restore.data.photo_files import ManifestMismatchError, load_manifest, save_image

# (file name, validation photo, crop box as fractions (left, top, right, bottom), longest side).
EXAMPLE_CROPS: tuple[tuple[str, str, tuple[float, float, float, float], int], ...] = (
    ("mountains.jpg", "picosdeeuropa_by_Aitzol_Berasategi", (0.0, 0.0, 1.0, 1.0), 640),
    ("rock_face.jpg", "picosdeeuropa_by_Aitzol_Berasategi", (0.4, 0.15, 0.9, 0.55), 640),
    ("dandelion.jpg", "seeding_by_Clements_Engelhardt", (0.05, 0.0, 0.55, 0.75), 640),
    ("fig.jpg", "Picture_0B_by_freespace", (0.3, 0.25, 0.8, 0.85), 640),
)
_LICENSE_URLS = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-3.0": "https://creativecommons.org/licenses/by-sa/3.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "GPL-2+": "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
}


def make_examples(photos: Path, dest: Path, manifest: Mapping[str, Any] | None = None) -> list[Path]:
    """Write the app's example JPEGs (quality 92) and ``SOURCES.md`` from validation photos only.

    Raises:
        FileNotFoundError: if a validation photo named in :data:`EXAMPLE_CROPS` is missing.
        ManifestMismatchError: if a crop would come from a training photo.
    """
    manifest = manifest if manifest is not None else load_manifest()
    entries = {p["name"]: p for p in manifest["photos"]}
    written = []
    for file_name, source, (left, top, right, bottom), longest in EXAMPLE_CROPS:
        if entries[source]["split"] != "val":
            raise ManifestMismatchError(f"example {file_name} must come from a validation photo, not {source}")
        path = photos / "val" / f"{source}.png"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `python -m restore.data.photos --out {photos}` first")
        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
        h, w = img.shape[:2]
        crop = img[round(top * h) : round(bottom * h), round(left * w) : round(right * w)]
        ratio = longest / max(crop.shape[:2])
        size = (round(crop.shape[1] * ratio), round(crop.shape[0] * ratio))
        save_image(cv2.resize(crop, size, interpolation=cv2.INTER_AREA), dest / file_name, format="JPEG", quality=92)
        written.append(dest / file_name)
    (dest / "SOURCES.md").write_text(_sources_markdown(entries, manifest["packages"]), encoding="utf-8")
    return written


def _sources_markdown(entries: Mapping[str, Mapping[str, Any]], packages: Mapping[str, Any]) -> str:
    lines = [
        "# Example photos",
        "",
        "Crops of the validation photographs (never of training ones): the original was downsized by 2",
        "with an area filter, cropped to the box given (fractions of width and height), resized to a",
        "longest side of 640 px and saved as JPEG quality 92. Regenerate them with",
        "`python -m restore.data.photos --examples`.",
        "",
        "| file | crop box | original, in its Debian package | copyright | licence |",
        "|---|---|---|---|---|",
    ]
    used = []
    for file_name, source, box, _ in EXAMPLE_CROPS:
        e = entries[source]
        origin = f"`{e['member']}` in `{e['package']}` {packages[e['package']]['version']}"
        lines.append(f"| {file_name} | {box} | {origin} | {e['copyright']} | {e['license']} |")
        used += [e["license"]] if e["license"] not in used else []
    lines += ["", "Licences as stated for each file in `usr/share/doc/<package>/copyright`:", ""]
    lines += [f"- {name}: {_LICENSE_URLS.get(name, 'see the package copyright file')}" for name in used]
    return "\n".join(lines) + "\n"
