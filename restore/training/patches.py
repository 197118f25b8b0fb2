"""Training crops of the photos: random, texture-preferring patches for the steps and the fixed
validation crops, both held on the training device."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor


class PatchSampler:
    """Random, texture-preferring, augmented crops from photos held on the training device."""

    def __init__(self, paths: list[Path], patch: int, device: torch.device, generator: torch.Generator) -> None:
        self.images = [self._load(p, device) for p in paths]
        self.images = [im for im in self.images if min(im.shape[-2:]) >= patch]
        if not self.images:
            raise ValueError(f"no photo is at least {patch}x{patch} px")
        areas = torch.tensor([im.shape[-1] * im.shape[-2] for im in self.images], dtype=torch.float)
        self.weights = areas / areas.sum()
        self.patch = patch
        self.g = generator

    @staticmethod
    def _load(path: Path, device: torch.device) -> Tensor:
        arr = np.array(Image.open(path).convert("RGB"))
        return torch.from_numpy(arr).permute(2, 0, 1).contiguous().to(device)  # (3, H, W) uint8

    def __call__(self, batch: int) -> Tensor:
        """``(batch, 3, patch, patch)`` float in [0, 1]: the most textured of 1.5x candidates."""
        n = batch + batch // 2
        idx = torch.multinomial(self.weights, n, replacement=True, generator=self.g)
        p = self.patch
        crops = []
        for i in idx.tolist():
            im = self.images[i]
            y = int(torch.randint(0, im.shape[1] - p + 1, (1,), generator=self.g))
            x = int(torch.randint(0, im.shape[2] - p + 1, (1,), generator=self.g))
            crops.append(im[:, y : y + p, x : x + p])
        x = torch.stack(crops).float() / 255.0
        texture = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        x = x[texture.argsort(descending=True)[:batch]]
        x = x[torch.randperm(batch, generator=self.g)]
        k = int(torch.randint(0, 4, (1,), generator=self.g))
        x = torch.rot90(x, k, dims=(2, 3))
        if int(torch.randint(0, 2, (1,), generator=self.g)):
            x = x.flip(3)
        return x.contiguous()


def validation_set(paths: list[Path], size: int, device: torch.device, grid: int = 1) -> Tensor:
    """Crops ``(N * grid², 3, size, size)`` of the validation photos: a ``grid x grid`` lattice of
    evenly spaced crops per photo (``grid=1``: the centre crop), so no one crop decides a type."""
    out = []
    for p in paths:
        im = PatchSampler._load(p, device)
        h, w = im.shape[-2:]
        s = min(size, h, w)
        for gy in range(grid):
            for gx in range(grid):
                y, x = (h - s) * (gy + 1) // (grid + 1), (w - s) * (gx + 1) // (grid + 1)
                crop = im[None, :, y : y + s, x : x + s].float() / 255.0
                out.append(F.interpolate(crop, size=(size, size), mode="area"))
    return torch.cat(out)


#: Training photos held out for the held-out validation (the configs' ``holdout``, the pack's).
HELD_OUT_PHOTOS = 12


def split_holdout(paths: list[Path], count: int) -> tuple[list[Path], list[Path]]:
    """Split the training photos into those trained on and ``count`` held out for validation.

    The held-out photos are those whose file stem has the smallest SHA-1: the same photos on
    every machine and in every session, whatever order the folder lists them in, and a photo
    added to the pool moves at most one other out. Returns ``(train, held_out)``, both sorted.
    """
    if count <= 0:
        return list(paths), []
    if count >= len(paths):
        raise ValueError(f"holding out {count} of {len(paths)} training photos leaves none to train on")
    ranked = sorted(paths, key=lambda p: hashlib.sha1(p.stem.encode()).hexdigest())
    held = set(ranked[:count])
    return sorted(p for p in paths if p not in held), sorted(held)
