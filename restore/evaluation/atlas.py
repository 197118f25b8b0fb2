"""The dictionary atlas: what the NDR atoms respond to, measured on synthesised samples.

``python -m restore.evaluation.atlas [--model ndr-restore] [--samples-per-type 24] [--out FILE]``
(default ``restore/assets/atlas/<model>.npz``) degrades a fixed, seeded set of crops (of the
example photos in ``restore/assets/examples/``, or of
procedural textures when there are none; never benchmark images) with each single degradation
type at a random training-range severity, analyses every sample with the model, and stores:

- the mean pooled NDR activation per degradation type x atom, for each scale;
- the atoms' cosine-similarity matrix (from the dictionary tensor);
- every sample's pooled activation vector and type, plus a 2-component PCA (mean and components,
  by numpy SVD) so that the app can project a new image among them;
- the sha256 of the weights file (the fingerprint), so a test can tell a stale atlas.

Regenerate it whenever the weights change. ``RESTORE_ATLAS_DIR`` overrides where atlases live.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from restore.images import load_image
from restore.models.weights import fingerprint
from restore.resources import atlas_dir, example_photos, weights_dir
from restore.synthesis.registry import DEGRADATIONS, degrade_image
from restore.types import DEGRADATION_TYPES

if TYPE_CHECKING:
    from restore.inference.restorer import Restorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Atlas:
    """A model's dictionary atlas (see the module docstring).

    Attributes:
        model: model name. fingerprint: sha256 of its weights file.
        types: degradation types, the rows of ``mean_activation``. levels: the scales (1 = finest).
        mean_activation: ``(scales, types, atoms)`` float32, mean pooled softmax weights.
        similarity: ``(atoms, atoms)`` float32 cosine similarity of the dictionary atoms.
        pooled: ``(N, D)`` float32 pooled vectors of the samples. labels: ``(N,)`` index into ``types``.
        pca_mean: ``(D,)``; pca_components: ``(2, D)`` orthonormal rows; explained: ``(2,)`` variance shares.
        samples_per_type, seed, crop: how the samples were made.
    """

    model: str
    fingerprint: str
    types: tuple[str, ...]
    levels: tuple[int, ...]
    mean_activation: np.ndarray
    similarity: np.ndarray
    pooled: np.ndarray
    labels: np.ndarray
    pca_mean: np.ndarray
    pca_components: np.ndarray
    explained: np.ndarray
    samples_per_type: int
    seed: int
    crop: int

    def project(self, pooled_vector: np.ndarray) -> np.ndarray:
        """A pooled vector ``(D,)`` (``Analysis.pooled_vector``) -> its ``(2,)`` PCA coordinates."""
        v = np.asarray(pooled_vector, dtype=np.float64).ravel()
        if v.shape != self.pca_mean.shape:
            raise ValueError(f"pooled vector has {v.size} values, the atlas expects {self.pca_mean.size}")
        return (v - self.pca_mean) @ self.pca_components.T

    @property
    def points(self) -> np.ndarray:
        """``(N, 2)`` PCA coordinates of the samples."""
        return (self.pooled.astype(np.float64) - self.pca_mean) @ self.pca_components.T

    @property
    def sample_types(self) -> list[str]:
        """The degradation type of each sample."""
        return [self.types[i] for i in self.labels]

    def matches(self, weights_path: str | os.PathLike) -> bool:
        """Whether the atlas was computed from exactly this weights file."""
        return Path(weights_path).is_file() and fingerprint(weights_path) == self.fingerprint

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "model": self.model,
            "fingerprint": self.fingerprint,
            "types": list(self.types),
            "levels": list(self.levels),
            "samples_per_type": self.samples_per_type,
            "seed": self.seed,
            "crop": self.crop,
        }
        arrays = {k: getattr(self, k) for k in _ARRAYS}
        with open(path, "wb") as f:  # np.savez_compressed would append ".npz" to a str path
            np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays)
        return path


_ARRAYS = ("mean_activation", "similarity", "pooled", "labels", "pca_mean", "pca_components", "explained")


def read_atlas(path: str | os.PathLike) -> Atlas:
    """Read an atlas file written by :meth:`Atlas.save`."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        arrays = {k: data[k] for k in _ARRAYS}
    return Atlas(
        model=meta["model"],
        fingerprint=meta["fingerprint"],
        types=tuple(meta["types"]),
        levels=tuple(meta["levels"]),
        samples_per_type=int(meta["samples_per_type"]),
        seed=int(meta["seed"]),
        crop=int(meta["crop"]),
        **arrays,
    )


def load_atlas(model_name: str, directory: str | os.PathLike | None = None) -> Atlas | None:
    """The stored atlas of ``model_name`` (``<atlas dir>/<model_name>.npz``), or None if there is none."""
    path = Path(directory or atlas_dir()) / f"{model_name}.npz"
    return read_atlas(path) if path.is_file() else None


# --------------------------------------------------------------------------- computing


def texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A procedural colour texture ``(size, size, 3)`` uint8: smooth shading, edges and fine detail."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.zeros((size, size, 3))
    for _ in range(6):
        fx, fy = rng.uniform(-12, 12, 2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + phase)
        img += rng.uniform(0.05, 0.2) * wave[..., None] * rng.uniform(0.3, 1.0, 3)
    for _ in range(3):  # a few hard-edged discs
        cx, cy, r = rng.uniform(0, 1, 3)
        img += (((x - cx) ** 2 + (y - cy) ** 2) < (0.1 + 0.2 * r) ** 2)[..., None] * rng.uniform(-0.3, 0.3, 3)
    img += rng.normal(0, 0.03, img.shape)
    return np.clip(np.rint((img - img.min()) / (np.ptp(img) + 1e-8) * 220 + 20), 0, 255).astype(np.uint8)


def source_crops(n: int, size: int, rng: np.random.Generator, photos: Sequence[Path] | None = None) -> list[np.ndarray]:
    """``n`` random ``size`` x ``size`` crops of the example photos (or textures if there are none)."""
    paths = list(photos) if photos is not None else example_photos()
    sources = [load_image(p) for p in paths]
    sources = [s for s in sources if min(s.shape[:2]) >= size]
    crops = []
    for i in range(n):
        if not sources:
            crops.append(texture(rng, size))
            continue
        src = sources[i % len(sources)]
        y = int(rng.integers(0, src.shape[0] - size + 1))
        x = int(rng.integers(0, src.shape[1] - size + 1))
        crops.append(np.ascontiguousarray(src[y : y + size, x : x + size]))
    return crops


def random_params(name: str, rng: np.random.Generator) -> dict[str, float]:
    """One degradation's parameters, uniform in their training ranges (low-res factor from {2, 3, 4});
    the family parameters (``kind``, ...) keep their defaults: generator 0, as the atlas always had."""
    params = {p.name: float(rng.uniform(*p.train)) for p in DEGRADATIONS[name].params if not p.family}
    if name == "lowres":
        params["scale"] = float(rng.integers(2, 5))
    return params


def compute_atlas(
    restorer: Restorer,
    weights_path: str | os.PathLike,
    *,
    samples_per_type: int = 24,
    crop: int = 128,
    seed: int = 0,
    photos: Sequence[Path] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Atlas:
    """Analyse ``samples_per_type`` synthesised samples per degradation type with ``restorer``.

    Args:
        restorer: a ``restore.Restorer`` (``analyze`` and ``dictionary``) with an NDR dictionary.
        weights_path: its weights file, for the fingerprint.
        samples_per_type: samples of each single type.
        crop: side of the square crops (px).
        seed: fixes crops, parameters and degradation noise.
        photos: source photos (default: the example photos, :func:`restore.resources.example_photos`).
        progress: optional ``progress(done, total)`` callback.
    """
    rng = np.random.default_rng(seed)
    types = tuple(getattr(restorer, "types", DEGRADATION_TYPES))
    total = samples_per_type * len(types)
    crops = source_crops(total, crop, rng, photos)
    pooled, labels, per_scale = [], [], []
    levels: tuple[int, ...] = ()
    for i in range(total):
        t = i // samples_per_type
        name = types[t]
        degraded = degrade_image(crops[i], {name: random_params(name, rng)}, seed=seed * 100_003 + i)
        a = restorer.analyze(degraded)
        levels = tuple(s.level for s in a.activations)
        per_scale.append(np.stack([np.asarray(s.pooled, dtype=np.float32) for s in a.activations]))
        pooled.append(np.asarray(a.pooled_vector, dtype=np.float32))
        labels.append(t)
        if progress is not None:
            progress(i + 1, total)
    per_scale_arr = np.stack(per_scale)  # (N, scales, atoms)
    labels_arr = np.asarray(labels, dtype=np.int64)
    mean_activation = np.stack(
        [per_scale_arr[labels_arr == t].mean(axis=0) for t in range(len(types))], axis=1
    )  # (scales, types, atoms)
    pooled_arr = np.stack(pooled)
    mean, components, explained = pca(pooled_arr)
    return Atlas(
        model=restorer.name,
        fingerprint=fingerprint(weights_path),
        types=types,
        levels=levels,
        mean_activation=mean_activation.astype(np.float32),
        similarity=cosine_similarity(restorer.dictionary()),
        pooled=pooled_arr,
        labels=labels_arr,
        pca_mean=mean,
        pca_components=components,
        explained=explained,
        samples_per_type=samples_per_type,
        seed=seed,
        crop=crop,
    )


def cosine_similarity(dictionary: np.ndarray) -> np.ndarray:
    """``(atoms, dim)`` -> ``(atoms, atoms)`` float32 cosine similarities."""
    d = np.asarray(dictionary, dtype=np.float64)
    unit = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return (unit @ unit.T).astype(np.float32)


def pca(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA by SVD of ``(N, D)`` data: mean ``(D,)``, components ``(k, D)`` and variance shares ``(k,)``.

    Each component's sign is fixed so that its largest-magnitude loading is positive (SVD signs
    are arbitrary), making the plot reproducible.
    """
    data = np.asarray(x, dtype=np.float64)
    mean = data.mean(axis=0)
    _, s, vt = np.linalg.svd(data - mean, full_matrices=False)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(comps.shape[0]), np.abs(comps).argmax(axis=1)])
    comps = comps * signs[:, None]
    var = s**2
    explained = var[:k] / max(var.sum(), 1e-12)
    return mean, comps, explained


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restore.evaluation.atlas", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="ndr-restore", help="model name with weights in restore/assets/weights")
    parser.add_argument("--samples-per-type", type=int, default=24)
    parser.add_argument("--crop", type=int, default=128, help="side of the sample crops (px)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: restore/assets/atlas/<model>.npz")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from tqdm import tqdm

    from restore.inference.restorer import Restorer

    restorer = Restorer.from_pretrained(name=args.model, device="cpu")
    bar = tqdm(total=args.samples_per_type * len(restorer.types), desc="atlas", unit="sample")
    atlas = compute_atlas(
        restorer,
        weights_dir() / f"{args.model}.safetensors",
        samples_per_type=args.samples_per_type,
        crop=args.crop,
        seed=args.seed,
        progress=lambda done, total: bar.update(done - bar.n),
    )
    bar.close()
    out = atlas.save(args.out or atlas_dir() / f"{args.model}.npz")
    log.info("wrote %s (%d samples, PC1+PC2 explain %.0f %%)", out, len(atlas.labels), 100 * atlas.explained.sum())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
