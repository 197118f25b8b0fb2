"""Matplotlib figures for the app: built as ``matplotlib.figure.Figure`` objects (no pyplot, so no
global state and no GUI backend in a server). Every function takes plain numpy data and returns a
Figure with a title, axis labels and, where colour carries a value, a colour bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from restore.types import DEGRADATION_TYPES

# One fixed colour per degradation type, shared by every plot.
TYPE_COLORS: dict[str, str] = {
    "noise": "#1f77b4",
    "rain": "#17becf",
    "haze": "#7f7f7f",
    "blur": "#9467bd",
    "lowres": "#ff7f0e",
    "lowlight": "#2c2c54",
}
_ATOM_COLORS = [
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
]  # fmt: skip


def probability_bars(probabilities: Mapping[str, float], true_types: Sequence[str] | None = None) -> Figure:
    """Horizontal bars of the detected degradation probabilities (0-1), the 0.5 threshold marked.

    Args:
        probabilities: type -> probability, e.g. ``Analysis.probabilities``.
        true_types: when known (the playground), these types are marked "true" in the labels.
    """
    types = [t for t in DEGRADATION_TYPES if t in probabilities] + [
        t for t in probabilities if t not in DEGRADATION_TYPES
    ]
    values = [float(probabilities[t]) for t in types]
    fig = Figure(figsize=(5.2, 3.0), layout="constrained")
    ax = fig.add_subplot()
    truth = set(true_types or ())
    labels = [f"{t}  (true)" if t in truth else t for t in types]
    bars = ax.barh(labels, values, color=[TYPE_COLORS.get(t, "#444444") for t in types])
    for bar, t in zip(bars, types, strict=True):
        if t in truth:
            bar.set_edgecolor("black")
            bar.set_linewidth(2)
    for y, v in enumerate(values):
        ax.text(min(v + 0.02, 0.9), y, f"{v:.0%}", va="center", fontsize=9)
    ax.axvline(0.5, color="black", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("probability (independent per type; dotted line = 0.5)")
    if true_types is not None:
        title = "Detected vs true degradations (outlined = true)"
    elif values and max(values) < 0.5:
        title = "Detected degradations: none clear (every type under 50 %)"
    else:
        title = "Detected degradations"
    ax.set_title(title, fontsize=11)
    return fig


def atom_weights(pooled: Sequence[np.ndarray], levels: Sequence[int] | None = None) -> Figure:
    """Per scale, the image's pooled NDR activation over the dictionary atoms (bars).

    Args:
        pooled: one ``(atoms,)`` float array per scale (softmax weights averaged over pixels).
        levels: the U-Net level of each entry (1 = full resolution), for the labels.
    """
    levels = list(levels or range(1, len(pooled) + 1))
    fig = Figure(figsize=(7.5, 1.1 + 1.5 * len(pooled)), layout="constrained")
    axes = fig.subplots(len(pooled), 1, sharex=True, squeeze=False)[:, 0]
    for ax, level, weights in zip(axes, levels, pooled, strict=True):
        w = np.asarray(weights, dtype=np.float64)
        top = set(np.argsort(w)[-3:].tolist())
        colors = ["#d62728" if i in top else "#4c72b0" for i in range(len(w))]
        ax.bar(np.arange(len(w)), w, color=colors)
        ax.axhline(1.0 / len(w), color="black", linestyle=":", linewidth=1)
        ax.set_ylabel(f"scale {level}\nweight")
        ax.set_ylim(0, max(float(w.max()) * 1.15, 2.0 / len(w)))
    axes[-1].set_xlabel("dictionary atom (red: the 3 strongest; dotted: uniform weight)")
    axes[-1].set_xticks(np.arange(0, len(np.asarray(pooled[0])), 2))
    axes[0].set_title("How much of each dictionary atom the image uses, per scale", fontsize=11)
    return fig


def dominant_atoms(
    image: np.ndarray,
    activation: np.ndarray,
    *,
    top: int = 6,
    level: int | None = None,
    size: tuple[int, int] | None = None,
) -> Figure:
    """Where the dominant atoms fire: the per-pixel argmax atom drawn over the image.

    Args:
        image: ``HxWx3`` uint8 RGB (what the network saw, possibly a shrunk copy of the photo).
        activation: ``(h, w, atoms)`` float, the softmax over atoms per pixel at one scale.
        top: atoms that win the most pixels get their own colour; the rest are grey.
        level: the scale of ``activation``, for the title.
        size: ``(width, height)`` of the photo ``image`` stands for: the axes count its pixels
            (default: ``image``'s own size).
    """
    winner = np.asarray(activation).argmax(axis=-1)  # (h, w) atom index
    counts = np.bincount(winner.ravel(), minlength=activation.shape[-1])
    ranked = [int(a) for a in np.argsort(counts)[::-1][:top] if counts[a] > 0]
    palette = _ATOM_COLORS[: len(ranked)] + ["#999999"]
    index = np.full(winner.shape, len(ranked), dtype=np.int64)
    for k, atom in enumerate(ranked):
        index[winner == atom] = k
    fig = Figure(figsize=(6.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    w, h = size or (image.shape[1], image.shape[0])
    ax.imshow(image, extent=(0, w, h, 0))
    ax.imshow(
        index,
        cmap=ListedColormap(palette),
        vmin=-0.5,
        vmax=len(ranked) + 0.5,
        alpha=0.45,
        interpolation="nearest",
        extent=(0, w, h, 0),
    )
    share = counts / max(counts.sum(), 1)
    handles = [Patch(color=palette[k], label=f"atom {a} ({share[a]:.0%})") for k, a in enumerate(ranked)]
    if len(ranked) < np.count_nonzero(counts):
        handles.append(Patch(color=palette[-1], label="other atoms"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="dominant atom")
    ax.set_xlabel("x (px of your photo)")
    ax.set_ylabel("y (px of your photo)")
    where = f" at scale {level}" if level is not None else ""
    ax.set_title(f"Where the dominant atoms fire{where}", fontsize=11)
    return fig


def atlas_heatmaps(mean_activation: np.ndarray, types: Sequence[str], levels: Sequence[int]) -> Figure:
    """The dictionary atlas: mean pooled activation per degradation type x atom, one panel per scale.

    Args:
        mean_activation: ``(scales, types, atoms)`` float.
        types: row labels. levels: the scale of each panel.
    """
    data = np.asarray(mean_activation, dtype=np.float64)
    fig = Figure(figsize=(9.0, 1.0 + 1.9 * len(levels)), layout="constrained")
    axes = fig.subplots(len(levels), 1, squeeze=False)[:, 0]
    # Relative to a uniform use of the atoms, so that the three scales share one colour scale.
    ratio = data * data.shape[-1]
    vmax = max(float(ratio.max()), 1.01)
    image = None
    for ax, level, panel in zip(axes, levels, ratio, strict=True):
        image = ax.imshow(panel, aspect="auto", cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_yticks(range(len(types)), list(types))
        ax.set_ylabel(f"scale {level}")
        ax.set_xticks(range(0, panel.shape[1], 2))
    axes[-1].set_xlabel("dictionary atom")
    fig.colorbar(image, ax=list(axes), label="mean weight / uniform weight", shrink=0.9)
    fig.suptitle("Dictionary atlas: which atoms each degradation type uses", fontsize=11)
    return fig


def similarity_matrix(similarity: np.ndarray) -> Figure:
    """The atoms' pairwise cosine similarity ``(atoms, atoms)`` in ``[-1, 1]``."""
    sim = np.asarray(similarity, dtype=np.float64)
    fig = Figure(figsize=(5.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(sim, cmap="coolwarm", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xlabel("atom")
    ax.set_ylabel("atom")
    ax.set_xticks(range(0, sim.shape[0], 4))
    ax.set_yticks(range(0, sim.shape[0], 4))
    fig.colorbar(image, ax=ax, label="cosine similarity")
    ax.set_title("How similar the dictionary atoms are", fontsize=11)
    return fig


def pca_scatter(
    points: np.ndarray,
    labels: Sequence[str],
    *,
    explained: Sequence[float] | None = None,
    star: np.ndarray | None = None,
    star_label: str = "your image",
) -> Figure:
    """2-D PCA of pooled NDR activations, coloured by degradation type, with an optional star.

    Args:
        points: ``(N, 2)`` projected samples. labels: the type of each sample.
        explained: share of variance of the two components, for the axis labels.
        star: ``(2,)`` the current image's projection.
    """
    pts = np.asarray(points, dtype=np.float64)
    fig = Figure(figsize=(6.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    names = list(dict.fromkeys(labels))
    labels_arr = np.asarray(labels)
    for name in names:
        sel = labels_arr == name
        ax.scatter(pts[sel, 0], pts[sel, 1], s=18, alpha=0.75, color=TYPE_COLORS.get(name, "#444444"), label=name)
    if star is not None:
        ax.scatter([star[0]], [star[1]], marker="*", s=320, color="gold", edgecolor="black", zorder=5, label=star_label)
    ev = list(explained) if explained is not None else None
    ax.set_xlabel("PC 1" + (f" ({ev[0]:.0%} of variance)" if ev else ""))
    ax.set_ylabel("PC 2" + (f" ({ev[1]:.0%} of variance)" if ev else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title="degradation")
    ax.set_title("Pooled NDR activations of synthesised samples (PCA)", fontsize=11)
    return fig
