"""The model card shown in the app's About tab: the methods, the training data (from the photo
manifest), the evaluation, the known limits and how to call the API. Plain Markdown, no gradio.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from restore.data.photo_files import MANIFEST_PATH as MANIFEST
from restore.images import max_megapixels

ROOT = Path(__file__).resolve().parent.parent
EVALUATION = ROOT / "assets" / "evaluation.md"


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
    """The About tab's Markdown.

    Args:
        models: the model names the app serves.
        playground_side: the longest side of the playground's working copy (px).
    """
    evaluation = (
        EVALUATION.read_text()
        if EVALUATION.is_file()
        else "`python -m restore.evaluation.evaluate` scores every model and the classical baselines."
    )
    return _CARD.format(
        models=", ".join(f"`{m}`" for m in models) or "none yet (no weights shipped)",
        sources=training_sources(),
        evaluation=evaluation,
        limit=max_megapixels(),
        side=playground_side,
    )


_CARD = """
## What this is
A studio for **all-in-one image restoration**: one network removes noise, rain, haze, blur, low
resolution and low light without being told which. Models in this app: {models}.

- **NDR-Restore**: Yao et al., *Neural Degradation Representation Learning for All-In-One Image
  Restoration*, IEEE Transactions on Image Processing 2024, [arXiv:2310.12848](https://arxiv.org/abs/2310.12848).
  A learned dictionary of 32 *degradation atoms* (the NDR); at three scales the network asks which atoms
  explain the image (the activations this app plots) and injects the answer into the restoration.
- **DFPIR**: Tian et al., *Degradation-Aware Feature Perturbation for All-in-One Image Restoration*,
  CVPR 2025, [arXiv:2505.12630](https://arxiv.org/abs/2505.12630). Perturbs features per degradation type
  (channel permutations, sparse attention) so one set of weights routes differently per task; made blind
  here with our degradation estimator.

Both are re-implemented in this repository at a CPU-friendly size and trained from scratch. After
either network, a classical step refines the result. At 1x it gives back fine texture smoothed away
with the noise: the network's output guides an empirical Wiener filter of the input (as in the second
step of BM3D), only where the difference between input and output looks like noise
(`restore/refine.py`). On a photo the estimator finds hazy, the network also dehazes a copy shrunk
to 256 px, the size of its training crops, where it sees the whole scene; a guided filter carries
that correction back to the full-size photo's own pixels, or, where the photo also has noise or rain,
to its coarse tones only (`restore/hazedetail.py`). At 2x and 4x, back-projection makes the result
agree with your photo when downscaled again, only where the photo's one fault is its size
(`restore/backproject.py`). A checkbox under *Advanced* turns them all off.

## Training data
Only synthetic degradations (`restore/degradations.py`) of 38 photographs from Debian's wallpaper
packages (35 for training, 3 for validation; the example photos are crops of validation photos,
see `assets/examples/SOURCES.md`). Licences as stated in each package's copyright file:

{sources}

## Evaluation
{evaluation}

## Known limits
- Trained on synthetic degradations only: real rain, real low-light sensor noise, JPEG artefacts or
  lens flare can differ from what the model has seen.
- A small network: fine texture is often smoothed, strong blur and 4x low resolution are only partly
  undone, and mixtures of three degradations are hard. The Playground shows where it breaks.
- The Wiener refinement assumes white noise. Noise that was blurred or resampled after it arose
  (spatially correlated, as after demosaicking or resizing) leaves it 0.3-0.6 dB below the network
  alone; untick the refinement checkbox under *Advanced* for such photos.
- Dense haze (beta 2.4 on the validation photos) is still better removed by the classical dark
  channel prior (20.3 dB against 18.0). Dark hazy photos get no haze pass. Haze with hard depth
  edges (a near object before a uniformly far background) can come out hazier with the haze pass
  than without it; untick the refinement for such photos.
- Upscaling is bicubic followed by restoration and back-projection, not a dedicated super-resolution
  network: on the benchmark, bicubic + back-projection alone scores as well at 2x and 4x.
- Uploads above {limit:g} megapixels are refused (set `RESTORE_MAX_MEGAPIXELS` to change that); large
  images are restored in tiles, never silently downscaled. The Playground and the analysis plots work on
  a copy at most {side} px on the long side.

## API
Three named endpoints, for example with `gradio_client`:
```python
from gradio_client import Client, handle_file

client = Client("http://127.0.0.1:7860/")
# image, model, upscale (1, 2 or 4), strength in %, tile (0 = auto), tile overlap[, refinement: True]
(before, after), png, info = client.predict(
    handle_file("photo.jpg"), "ndr-restore", 1, 100, 0, 32, api_name="/restore"
)
# clean image, recipe {{type: {{parameter: value}}}}, seed -> ((clean, degraded), metrics)
(clean, degraded), metrics = client.predict(
    handle_file("clean.png"), {{"noise": {{"sigma": 25}}, "haze": {{"beta": 1.2}}}}, 0, api_name="/degrade"
)
# image, model -> probabilities per degradation type, and the plots
probabilities, pca, weights, atoms = client.predict(handle_file("photo.jpg"), "ndr-restore", api_name="/analyze")
```
"""
