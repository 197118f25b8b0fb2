"""The Markdown report: per type, a table of the pairs and the generators and the coverage lines;
the probe's table, the pair sets' paper-suite report, and the hand-written text kept from the
report it replaces."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from restore.evaluation.weather.probe import PROBE_RAIN
from restore.evaluation.weather.samples import ORIGINAL, Measured, Stats

#: The columns of each type's table: (field, header, format).
COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "rain": (
        ("angle", "angle (deg)", "{:+.0f}"),
        ("coherence", "coherence", "{:.2f}"),
        ("width", "width (sigma, px)", "{:.2f}"),
        ("length", "length (px)", "{:.0f}"),
        ("contrast", "contrast (grey)", "{:.0f}"),
        ("density", "density", "{:.3f}"),
        ("variation", "variation", "{:.2f}"),
        ("bright_ratio", "bright / dark", "{:.2f}"),
    ),
    "haze": (
        ("t_p10", "t p10", "{:.2f}"),
        ("t_median", "t median", "{:.2f}"),
        ("t_p90", "t p90", "{:.2f}"),
        ("t_top", "t top third", "{:.2f}"),
        ("t_bottom", "t bottom third", "{:.2f}"),
        ("t_rise", "t bottom - top", "{:+.2f}"),
        ("airlight", "airlight (R, G, B)", "{:.2f}"),
        ("veil", "veil (grey)", "{:+.0f}"),
    ),
}


def _values(stats: Sequence[Stats], field: str) -> np.ndarray:
    v = np.array([getattr(s, field) for s in stats], dtype=np.float64)
    return v[np.all(np.isfinite(v), axis=-1)] if v.ndim > 1 else v[np.isfinite(v)]


def _cell(stats: Sequence[Stats], field: str, fmt: str) -> str:
    """One value, or over several samples ``median (p10 to p90)``; per channel for the airlight."""
    v = _values(stats, field)
    if len(v) == 0:
        return "—"
    if v.ndim > 1:
        med = np.median(v, axis=0)
        return (
            ", ".join(fmt.format(m) for m in med) if len(v) == 1 else "median " + ", ".join(fmt.format(m) for m in med)
        )
    if len(v) == 1:
        return fmt.format(v[0])
    lo, med, hi = np.percentile(v, (10, 50, 90))
    return f"{fmt.format(med)} ({fmt.format(lo)} to {fmt.format(hi)})"


def table(name: str, pairs: Sequence[Measured], generators: Sequence[Measured]) -> list[str]:
    """The Markdown table of type ``name``: the pairs one by one, then each generator."""
    cols = COLUMNS[name]
    lines = [
        "| row | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for row in (*pairs, *generators):
        label = f"**{row.label}**" if row.ranges else row.label
        if row.ranges:
            label += f" ({row.ranges}; {len(row.stats)} samples)"
        lines.append(f"| {label} | " + " | ".join(_cell(row.stats, f, fmt) for f, _, fmt in cols) + " |")
    return lines


def coverage(name: str, pairs: Sequence[Measured], generators: Sequence[Measured]) -> list[str]:
    """Per set and statistic: the pairs' span, and the share of each generator's samples inside it
    (by the generator's number; ``o``: the original synthesis)."""
    lines = []
    for group in dict.fromkeys(p.label.split(" ")[0] for p in pairs):
        members = [p for p in pairs if p.label.split(" ")[0] == group]
        cells = []
        for field, header, fmt in COLUMNS[name]:
            v = np.concatenate([_values(p.stats, field) for p in members])
            if v.ndim > 1 or len(v) == 0:
                continue
            lo, hi = float(v.min()), float(v.max())
            shares = []
            for g in generators:
                gv = _values(g.stats, field)
                key = "o" if g.label == ORIGINAL else g.label.split(":")[0]
                share = float(np.mean((gv >= lo) & (gv <= hi))) if len(gv) else 0.0
                shares.append(f"{key} {100 * share:.0f}")
            cells.append(f"  - {header} {fmt.format(lo)} to {fmt.format(hi)}: " + ", ".join(shares))
        lines += [f"- {group} ({len(members)} pairs): % of each generator's samples inside the pairs' span", *cells]
    return lines


#: Text after this line in an existing report is kept when the report is written again.
KEEP_MARKER = "<!-- written by hand below: kept when the measurements above are regenerated -->"


def report(
    pairs: dict[str, list[Measured]],
    generators: dict[str, list[Measured]],
    *,
    photos: Sequence[Path],
    suite: str = "",
    probed: Sequence[str] = (),
    kept: str = "",
) -> str:
    """The Markdown report: per type, the pairs and the generators, and the coverage lines; then
    the probe's table ``probed``, ``suite`` (the pair sets' paper-suite report) and ``kept`` (text
    after :data:`KEEP_MARKER`)."""
    lines = [
        "# Real rain and haze against our synthesis",
        "",
        "Written by `python -m restore.evaluation.weather_stats` (module doc: how each statistic is measured). "
        "The pairs are the paper suite's rain and haze sets: TEST data, measured here and never trained on; "
        "what these numbers may steer is a generator's parameter *range*, so that it covers real rain and haze "
        "in general. Each generator is drawn uniformly in its training ranges on "
        f"{len(photos)} validation photos ({', '.join(p.name for p in photos)}), shrunk and cropped to 480x320 "
        "(the rain pairs' size), one seeded sample each in turn; its cells give the median and the 10th to 90th "
        "percentile over its samples.",
    ]
    for name, intro in (
        (
            "rain",
            "Streaks from the white top-hat of `input - target`. angle: from vertical, positive leans the top right; "
            "width: Gaussian sigma with the streaks' autocorrelation across them (the synthesis' `width`); length: "
            "half-maximum width of the autocorrelation along them; contrast: mean streak strength (grey levels) on "
            "streak pixels; density: their share of the frame; variation: std / mean of the streak strength on them; "
            "bright / dark: the streaks' strength over bright ground over that over dark ground (1: added to the "
            "scene; a screen blend fades them over bright ground).",
        ),
        (
            "haze",
            "Per 16-px block with texture, `input ~ t target + A (1 - t)`, one `t` for the three channels; the "
            "airlight `A` is the median over the hazed blocks. t p10 / median / p90 over the blocks, and its "
            "medians in the top and bottom thirds of the frame; veil: mean of `input - target` (grey levels).",
        ),
    ):
        lines += ["", f"## {name.capitalize()}", "", intro, "", *table(name, pairs[name], generators[name]), ""]
        lines += ["Coverage (`o`: the original synthesis, then the generators by number):", ""]
        lines += coverage(name, pairs[name], generators[name])
    if probed:
        lines += [
            "",
            "## Probe: what the models recognise",
            "",
            "Mean gain (dB) over the input on the same clean photos, and (p) the estimator's mean probability "
            "of the true type; `:raw` the network alone, `:oracle` told the type. The haze cases have one "
            "transmission per row (airlight 0.85); the streak cases one setting of the rain generators "
            f"({', '.join(f'{k} {v:g}' for k, v in PROBE_RAIN.items())}), screen-blended or added.",
            "",
            *probed,
        ]
    if suite:
        demoted = "\n".join("#" + line if line.startswith("#") else line for line in suite.strip().splitlines())
        lines += ["", demoted]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + KEEP_MARKER + "\n" + kept if kept else "")


def kept_text(path: Path) -> str:
    """What follows :data:`KEEP_MARKER` in ``path`` (empty when there is no such file or marker)."""
    if not path.is_file():
        return ""
    text = path.read_text()
    return text.split(KEEP_MARKER, 1)[1].lstrip("\n") if KEEP_MARKER in text else ""
