"""The shipped models' outputs on crops of the example photos, pinned by hash.

A refactor must leave every output bit-identical. The hashes belong to one set of weights (their
fingerprints are stored beside them): after new weights ship, the test skips until the file is
rewritten with ``python tests/test_golden.py --write``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python tests/test_golden.py --write`
    sys.path.insert(0, str(ROOT))

from restore import Restorer, available_models  # noqa: E402
from restore.images import load_image  # noqa: E402
from restore.inference.restorer import ESTIMATOR_SOURCES  # noqa: E402
from restore.models.weights import fingerprint  # noqa: E402
from restore.resources import example_photos, package_assets  # noqa: E402
from restore.synthesis.registry import degrade_image  # noqa: E402

GOLDEN = Path(__file__).with_name("golden_outputs.json")
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


def _outputs(name: str) -> dict[str, str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the hashes were written with one thread
    try:
        return _restore_all(name)
    finally:
        torch.set_num_threads(threads)


def _restore_all(name: str) -> dict[str, str]:
    # fp32 whatever the CPU: the hashes must not depend on where they were written or checked
    r = Restorer.from_pretrained(name, device="cpu", directory=WEIGHTS, precision="fp32")
    out = {}
    for photo in example_photos():
        crop = load_image(photo)[:96, :96]
        for case, recipe, kw in CASES:
            img = degrade_image(crop, recipe, seed=3) if recipe else crop
            result = r.restore(img, **kw)
            out[f"{photo.stem}/{case}"] = hashlib.sha256(result.tobytes()).hexdigest()[:20]
        probs = r.analyze(crop).probabilities
        out[f"{photo.stem}/probabilities"] = json.dumps({k: round(v, 5) for k, v in probs.items()})
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
    changed = [k for k, v in golden["outputs"][name].items() if got.get(k) != v]
    assert not changed, f"{name}: outputs changed for {changed}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    names = available_models(WEIGHTS)
    data = {"fingerprints": _fingerprints(), "outputs": {n: _outputs(n) for n in names}}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
