"""Tiled inference: where the tiles go, how their outputs blend, and the statistics they share.

Owns: the tile grid (start indices ``range(0, H - tile, stride) + [H - tile]``), each tile's own
part of the image, the linear-ramp blending of overlaps, when an image is tiled at all, and the
pass that gives every tile of NDR-Restore the whole image's CP-gate statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import numpy as np
from torch import Tensor, nn

#: Images up to this many pixels are restored in one piece when ``tile`` is None.
WHOLE_IMAGE_PIXELS = 1536 * 1536
#: Tile side used when tiling automatically.
AUTO_TILE = 768
#: Memory (bytes) NDR-Restore's tiled inference may spend keeping each tile's encoder output from
#: the statistics pass for the restoring pass (12 MB per 768-px tile, so a 12 MP photo fits);
#: tiles beyond it are encoded again: very large images trade some speed for bounded memory.
ENCODER_CACHE_BYTES = 384 * 2**20

#: Called as ``progress(done, total)`` after each step (a tile visited).
ProgressFn = Callable[[int, int], None]
#: A tile's encoder output, as NDR-Restore's ``encode_tile`` returns it: the skips and the latent
#: level's input.
Encoded = tuple[list[Tensor], Tensor]
#: Restores one tile: ``(tile, gate_means, encoded)`` -> ``(th, tw, 3)`` float32 in ``[0, 1]``, where
#: ``tile`` is the network's input ``(1, 3, th, tw)``, ``gate_means`` the whole image's CP-gate
#: means (None: the tile's own) and ``encoded`` the tile's kept encoder output (None: encode it).
TileFn = Callable[[Tensor, list[Tensor] | None, Encoded | None], np.ndarray]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with tiles of ``tile`` px overlapping by ``overlap``."""
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    return list(range(0, length - tile, stride)) + [length - tile]


def tile_count(height: int, width: int, tile: int | None, overlap: int = 32) -> int:
    """How many tiles :meth:`Restorer.restore` cuts an image of this size into (``tile`` as there;
    the size is after upscaling). Its progress counts steps: NDR-Restore visits each tile twice."""
    tile = auto_tile(height, width) if tile is None else tile
    if not tile or (height <= tile and width <= tile):
        return 1
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def auto_tile(height: int, width: int) -> int:
    """The tile side used when ``tile`` is None (0 = whole image)."""
    return 0 if height * width <= WHOLE_IMAGE_PIXELS else AUTO_TILE


def resolve_tile(height: int, width: int, tile: int | None, overlap: int) -> int:
    """The tile side for an image: :func:`auto_tile` when ``tile`` is None, else ``tile`` (0 = whole
    image) once checked against ``overlap``.

    Raises:
        ValueError: ``tile`` is under :func:`min_tile` for ``overlap``.
    """
    if tile is None:
        return auto_tile(height, width)
    if tile and tile < min_tile(overlap):
        raise ValueError(f"tile ({tile}) must be at least 2 * overlap + 8 = {min_tile(overlap)}")
    return tile


def min_tile(overlap: int) -> int:
    """The smallest tile side that leaves room for both ramps of ``overlap`` px and a core."""
    return 2 * overlap + 8


def tile_cores(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """Each tile's own part ``[lo, hi)`` along one axis: overlaps are split at their middle, so
    the parts cover ``[0, length)`` exactly once."""
    bounds = [0] + [(starts[k] + tile + starts[k + 1]) // 2 for k in range(len(starts) - 1)] + [length]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D blending weights: linear ramps over ``overlap`` px at inner tile edges."""
    w = np.ones(length, dtype=np.float32)
    if overlap > 0:
        r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        n = min(overlap, length)
        if not at_start:
            w[:n] = np.minimum(w[:n], r[:n])
        if not at_end:
            w[-n:] = np.minimum(w[-n:], r[:n][::-1])
    return w


def blend_tiles(height: int, width: int, overlap: int, tiles: Iterable[tuple[int, int, np.ndarray]]) -> np.ndarray:
    """Blend restored tiles into one image, in float32 accumulators (memory ~ 16 bytes per pixel).

    Each tile is weighted by linear ramps over ``overlap`` px at its inner edges; the weighted sum
    is divided by the summed weights. ``tiles`` is consumed lazily, one tile at a time.

    Args:
        height: the image's height in px.
        width: the image's width in px.
        overlap: overlap of neighbouring tiles in px.
        tiles: ``(y, x, out)``: a tile's origin and its output, ``(th, tw, 3)`` float32 in ``[0, 1]``.

    Returns:
        ``(height, width, 3)`` float32 in ``[0, 1]``.
    """
    acc = np.zeros((height, width, 3), dtype=np.float32)
    norm = np.zeros((height, width, 1), dtype=np.float32)
    for y, x, out in tiles:
        th, tw = out.shape[:2]
        wy = _ramp(th, overlap, y == 0, y + th >= height)
        wx = _ramp(tw, overlap, x == 0, x + tw >= width)
        wgt = (wy[:, None] * wx[None, :])[..., None]
        acc[y : y + th, x : x + tw] += out * wgt
        norm[y : y + th, x : x + tw] += wgt
    acc /= np.maximum(norm, 1e-8)
    return acc


def gate_statistics(
    model: nn.Module,
    rgb: np.ndarray,
    tile: int,
    ys: list[int],
    xs: list[int],
    *,
    to_tensor: Callable[[np.ndarray], Tensor],
    progress: ProgressFn | None,
    total: int,
    conditions: Mapping[str, Tensor] | None = None,
) -> tuple[list[Tensor], dict[tuple[int, int], Encoded]]:
    """The whole image's pooled input of every CP gate, read tile by tile (encoder only).

    Each tile contributes the sums over its own part (its core, :func:`tile_cores`), so every
    tile can then be gated as the whole image would be. The tiles' encoder outputs are kept for
    the restoring pass while they fit in :data:`ENCODER_CACHE_BYTES`.

    Args:
        model: a network with ``encode_tile`` and ``gate_input_sums`` (NDR-Restore).
        rgb: the image, ``HxWx3`` uint8 RGB.
        tile: tile side in px.
        ys: the tiles' row starts (:func:`tile_starts`).
        xs: the tiles' column starts.
        to_tensor: a tile ``(th, tw, 3)`` uint8 -> the network's input ``(1, 3, th, tw)``.
        progress: called as ``progress(done, total)`` after each tile.
        total: the steps ``progress`` reports out of.
        conditions: what the encoder reads besides the tile, for the whole image (``encode_tile``'s
            keywords: ``noise_sigma`` ``(1, 3)``, ``scale`` ``(1,)``).

    Returns:
        The mean input of every CP gate over the whole image, and the kept encoder outputs by
        tile origin ``(y, x)``.
    """
    h, w = rgb.shape[:2]
    totals: list[tuple[Tensor, int]] | None = None  # (sum, count) per gate
    kept: dict[tuple[int, int], Encoded] = {}
    budget = ENCODER_CACHE_BYTES
    done = 0
    for y, (r0, r1) in zip(ys, tile_cores(ys, tile, h), strict=True):
        for x, (c0, c1) in zip(xs, tile_cores(xs, tile, w), strict=True):
            patch = to_tensor(rgb[y : y + tile, x : x + tile])
            enc = model.encode_tile(patch, **(conditions or {}))
            parts = model.gate_input_sums(patch, (r0 - y, r1 - y, c0 - x, c1 - x), enc)
            size = sum(t.numel() * t.element_size() for t in (*enc[0], enc[1]))
            if size <= budget:
                kept[(y, x)] = enc
                budget -= size
            if totals is not None:
                parts = [(s + p, n + m) for (s, n), (p, m) in zip(totals, parts, strict=True)]
            totals = parts
            done += 1
            if progress:
                progress(done, total)
    return [s / max(n, 1) for s, n in totals or []], kept


def restore_tiled(
    model: nn.Module,
    rgb: np.ndarray,
    tile: int,
    overlap: int,
    *,
    to_tensor: Callable[[np.ndarray], Tensor],
    restore_tile: TileFn,
    progress: ProgressFn | None,
    conditions: Mapping[str, Tensor] | None = None,
) -> np.ndarray:
    """Restore an image tile by tile and blend the overlaps (:func:`blend_tiles`).

    A network with CP gates (NDR-Restore) first reads the whole image's CP-gate statistics, tile
    by tile (encoder only, :func:`gate_statistics`), so that every tile is gated as the whole image
    would be: judged alone, a tile of featureless sky looks hazy. Progress then counts each tile
    twice. The encoder outputs of that first pass are kept for the second (up to
    :data:`ENCODER_CACHE_BYTES`), so the encoder runs once per tile.

    Args:
        model: the restoration network (read for its CP gates only).
        rgb: the image, ``HxWx3`` uint8 RGB.
        tile: tile side in px.
        overlap: overlap of neighbouring tiles in px.
        to_tensor: a tile ``(th, tw, 3)`` uint8 -> the network's input ``(1, 3, th, tw)``.
        restore_tile: the network (and whatever follows it per tile) on one tile.
        progress: called as ``progress(done, total)`` after each tile of each pass.
        conditions: the whole image's ``noise_sigma`` ``(1, 3)`` and ``scale`` ``(1,)``, which the
            encoder of a network with a noise map or a scale map reads in the first pass (a noise
            level left out: each tile measures its own).

    Returns:
        ``(H, W, 3)`` float32 in ``[0, 1]``.
    """
    h, w = rgb.shape[:2]
    ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
    shared = hasattr(model, "gate_input_sums") and model.gates_per_skip > 0
    total = len(ys) * len(xs) * (2 if shared else 1)
    gate_means, encoded = None, {}
    if shared:
        gate_means, encoded = gate_statistics(
            model, rgb, tile, ys, xs, to_tensor=to_tensor, progress=progress, total=total, conditions=conditions
        )

    def restored() -> Iterator[tuple[int, int, np.ndarray]]:
        done = total // 2 if shared else 0
        for y in ys:
            for x in xs:
                enc = encoded.pop((y, x), None)
                yield y, x, restore_tile(to_tensor(rgb[y : y + tile, x : x + tile]), gate_means, enc)
                done += 1  # resumed once the tile is blended
                if progress:
                    progress(done, total)

    return blend_tiles(h, w, overlap, restored())
