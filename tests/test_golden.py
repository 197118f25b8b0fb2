"""The shipped models' outputs on crops of the example photos, pinned by their 16-px block means.

A refactor must leave every output as it was. Not bit for bit: fp32 convolutions round differently
on different CPUs (the kernels oneDNN picks for AVX2, AVX-512 or AMX machines, and the thread
count, sum in other orders), which moves a few pixels by one grey level. So each output is kept as
the mean of every 16 x 16 block per channel, and a block may move by at most ``BLOCK_TOLERANCE``
grey levels: one pixel in a block off by one level moves it by 0.004, a real change of the
pipeline by far more. The type probabilities may move by ``PROBABILITY_TOLERANCE``.

The outputs belong to one set of weights (their fingerprints are stored beside them): after new
weights ship, the test skips until the file is rewritten with ``python tests/test_golden.py --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tests/test_golden.py --write`
    sys.path.insert(0, str(ROOT))

from restore import Restorer, available_models  # noqa: E402
from restore.images import load_image  # noqa: E402
from restore.inference.loading import ESTIMATOR_SOURCES  # noqa: E402
from restore.models.weights import fingerprint  # noqa: E402
from restore.resources import example_photos, package_assets  # noqa: E402
from restore.synthesis.registry import degrade_image  # noqa: E402

GOLDEN = Path(__file__).with_name("golden_outputs.json")
BLOCK = 16
BLOCK_TOLERANCE = 0.05  # grey levels, on a block's mean
PROBABILITY_TOLERANCE = 2e-4
WEIGHTS = package_assets() / "weights"
# (recipe applied to a 96-px crop, restore() keywords): the paths every refinement takes
CASES: tuple[tuple[str, dict, dict], ...] = (
    ("clean", {}, {}),
    ("noise", {"noise": {"sigma": 25}}, {}),
    ("noise-raw", {"noise": {"sigma": 25}}, {"refine": False}),
    ("haze", {"haze": {"beta": 1.6}}, {}),
    ("rain", {"rain": {}}, {}),
    ("x2", {}, {"upscale": 2}),
    ("tiled", {"lowlight": {}}, {"tile": 64, "overlap": 16}),
)


def block_means(img: np.ndarray, block: int = BLOCK) -> list[float]:
    """The mean of every ``block`` x ``block`` tile of ``img`` (H, W, 3) uint8 per channel, row-major,
    rounded to 0.01 grey levels (sides a multiple of ``block``)."""
    h, w, c = img.shape
    tiles = img.astype(np.float64).reshape(h // block, block, w // block, block, c).mean(axis=(1, 3))
    return [round(float(v), 2) for v in tiles.ravel()]


def _outputs(name: str) -> dict[str, list[float] | dict[str, float]]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the hashes were written with one thread
    try:
        return _restore_all(name)
    finally:
        torch.set_num_threads(threads)


def _restore_all(name: str) -> dict[str, list[float] | dict[str, float]]:
    # fp32 whatever the CPU: the hashes must not depend on where they were written or checked
    r = Restorer.from_pretrained(name, device="cpu", directory=WEIGHTS, precision="fp32")
    out = {}
    for photo in example_photos():
        crop = load_image(photo)[:96, :96]
        for case, recipe, kw in CASES:
            img = degrade_image(crop, recipe, seed=3) if recipe else crop
            result = r.restore(img, **kw)
            out[f"{photo.stem}/{case}"] = block_means(result)
        probs = r.analyze(crop).probabilities
        out[f"{photo.stem}/probabilities"] = {k: round(v, 5) for k, v in probs.items()}
    return out


def _fingerprints() -> dict[str, str]:
    """Each model's weights, and those of the model that lends it its estimator (its outputs
    depend on both)."""
    out = {}
    for n in available_models(WEIGHTS):
        files = [n, *([ESTIMATOR_SOURCES[n]] if n in ESTIMATOR_SOURCES else [])]
        out[n] = "+".join(fingerprint(WEIGHTS / f"{f}.safetensors") for f in files)
    return out


@pytest.mark.parametrize("name", available_models(WEIGHTS))
def test_outputs_are_unchanged(name: str) -> None:
    golden = json.loads(GOLDEN.read_text())
    if golden["fingerprints"].get(name) != _fingerprints()[name]:
        pytest.skip(f"{name}: the weights changed since {GOLDEN.name} was written; rewrite it (see the docstring)")
    got = _outputs(name)
    changed = [k for k, v in golden["outputs"][name].items() if k not in got or _moved(got[k], v)]
    assert not changed, f"{name}: outputs changed for {changed}"


def _moved(got: list[float] | dict[str, float], want: list[float] | dict[str, float]) -> bool:
    if isinstance(want, dict):
        return set(got) != set(want) or any(abs(got[k] - v) > PROBABILITY_TOLERANCE for k, v in want.items())
    return len(got) != len(want) or float(np.max(np.abs(np.subtract(got, want)))) > BLOCK_TOLERANCE


def test_block_means_and_tolerance() -> None:
    img = np.zeros((32, 48, 3), np.uint8)
    img[:16, :16, 0] = 255
    means = block_means(img)
    assert len(means) == 2 * 3 * 3 and means[0] == 255.0 and sum(means) == 255.0
    nudged = img.copy()
    nudged[20, 20, 1] = 1  # one pixel off by one level: within tolerance
    assert not _moved(block_means(nudged), means)
    shifted = img.copy()
    shifted[16:, :16] = 2  # a whole block brighter by 2 levels: caught
    assert _moved(block_means(shifted), means)
    assert _moved({"noise": 0.5}, {"noise": 0.501}) and not _moved({"noise": 0.5}, {"noise": 0.5001})


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    names = available_models(WEIGHTS)
    data = {"fingerprints": _fingerprints(), "outputs": {n: _outputs(n) for n in names}}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
