"""The paper suite's results and how they are reported: per-image rows, worst images, Markdown and CSV.

Each image's ``gain`` is its PSNR over the input's (SR: over bicubic); ``shift`` is the mean of
output minus target over pixels and channels, in grey levels. The cases and the protocol are
:mod:`restore.evaluation.paper_data`'s; the run is :mod:`restore.evaluation.paper_suite`'s.
"""

from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from restore.evaluation.paper_data import BICUBIC, INPUT, PaperCase

#: A model's gain over its input (SR: over bicubic) below this many dB is flagged.
GAIN_FLAG_DB = 0.5
#: A mean brightness shift beyond this many grey levels is flagged (noise, rain and SR only:
#: removing haze legitimately changes the brightness).
SHIFT_FLAG = 8.0

#: The repository's root: the report names its data folder relative to it.
REPO_ROOT = Path(__file__).resolve().parents[2]

#: Published PSNR (dB) for reference; a dagger marks full test sets on other images than the proxies here.
PUBLISHED: dict[str, dict[str, str]] = {
    "NDR-Restore (paper)": {
        "CBSD68 s15": "34.01",
        "CBSD68 s25": "31.36",
        "CBSD68 s50": "28.10",
        "Rain-NDR5": "35.42†",
        "SOTS-NDR5": "28.64†",
    },
    "DFPIR (paper)": {
        "CBSD68 s15": "34.14",
        "CBSD68 s25": "31.47",
        "CBSD68 s50": "28.25",
        "Rain-NDR5": "38.65†",
        "SOTS-NDR5": "31.87†",
    },
}


@dataclass(frozen=True)
class ImageResult:
    """One method on one image of one case.

    Attributes:
        psnr, ssim: against the target (SR: on Y, shaved).
        gain: PSNR minus the reference row's (input; SR: bicubic) on the same image; None for the
            reference rows themselves.
        shift: mean of output minus target over pixels and channels, grey levels (RGB, full image).
        height, width: the target's size as scored (after cropping, before any shave).
        seconds: restore time (0 for ``input`` / ``bicubic``); megapixels: output size.
        p_true: the probability the model's estimator gave the case's true type on the input (pair
            sets; None where not read); likeliest: its likeliest type and probability
            (``"rain 0.99"``); estimator: whose estimator read it (DFPIR borrows NDR-Restore's).
    """

    case: str
    kind: str
    method: str
    image: str
    psnr: float
    ssim: float
    gain: float | None
    shift: float
    height: int
    width: int
    seconds: float = 0.0
    megapixels: float = 0.0
    p_true: float | None = None
    likeliest: str = ""
    estimator: str = ""


@dataclass(frozen=True)
class WorstImage:
    """For one model and case: the image it gains least on, and the one it shifts most in brightness."""

    method: str
    case: str
    low_image: str
    low_gain: float
    shift_image: str
    shift: float
    gain_flagged: bool
    shift_flagged: bool
    #: the reference row's (input; SR: bicubic) own shift on ``shift_image``; None where not scored.
    #: As large as ``shift``, it says that the pair differs in brightness, not that the model moved it.
    input_shift: float | None = None


@dataclass(frozen=True)
class PaperReport:
    """Every per-image result of a run, with what is needed to describe it."""

    results: tuple[ImageResult, ...]
    cases: tuple[PaperCase, ...]
    methods: tuple[str, ...]
    data: Path
    limit: int | None
    machine: str
    seconds_total: float

    def rows(self, case: str, method: str) -> list[ImageResult]:
        """The results of ``method`` on the images of ``case``, in run order."""
        return [r for r in self.results if r.case == case and r.method == method]

    def mean(self, case: str, method: str) -> tuple[float, float] | None:
        """Mean (PSNR, SSIM) over the case's images, or None where the method was not scored."""
        rows = self.rows(case, method)
        if not rows:
            return None
        return float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows]))

    def seconds_per_megapixel(self, method: str) -> float | None:
        """Restore seconds per output megapixel over the whole run; None for the reference rows."""
        rows = [r for r in self.results if r.method == method]
        mp = sum(r.megapixels for r in rows)
        return sum(r.seconds for r in rows) / mp if mp > 0 and method not in (INPUT, BICUBIC) else None

    def worst(self) -> list[WorstImage]:
        """Per model and case: lowest gain and largest absolute brightness shift, with flags."""
        out = []
        for m in self.methods:
            for c in self.cases:
                gains = [(r.gain, r) for r in self.rows(c.name, m) if r.gain is not None]
                if not gains:
                    continue
                low_gain, low = min(gains, key=lambda g: g[0])
                far = max((r for _, r in gains), key=lambda r: abs(r.shift))
                flag_shift = c.flags_shift and abs(far.shift) > SHIFT_FLAG
                ref = [r.shift for r in self.rows(c.name, c.reference) if r.image == far.image]
                worst = WorstImage(
                    m,
                    c.name,
                    low.image,
                    low_gain,
                    far.image,
                    far.shift,
                    low_gain < GAIN_FLAG_DB,
                    flag_shift,
                    ref[0] if ref else None,
                )
                out.append(worst)
        return out


def shown_path(path: Path, root: Path = REPO_ROOT) -> str:
    """``path`` as the report names it, never the machine's absolute path.

    Relative to ``root`` when inside it or in the folder beside it (``../shared/paper_data``, the
    default data); any other folder by its name only, since a path up several levels says where the
    run happened rather than what it read.

    Args:
        path: the data folder the run read.
        root: the repository's root.
    """
    try:
        rel = Path(os.path.relpath(Path(path).resolve(), Path(root).resolve()))
    except ValueError:  # another drive (Windows): no relative path exists
        return f"{Path(path).name} (outside the repository)"
    if rel.parts.count("..") > 1:
        return f"{Path(path).resolve().name} (outside the repository)"
    return rel.as_posix()


def _fmt_gain(v: float, flagged: bool) -> str:
    return f"**{v:+.2f}** !" if flagged else f"{v:+.2f}"


def _reading(report: PaperReport, case: str, image: str, estimator: str) -> ImageResult | None:
    """A row of ``case`` / ``image`` that ``estimator`` read (None where it read nothing there)."""
    for r in report.results:
        if r.case == case and r.image == image and r.estimator == estimator and r.p_true is not None:
            return r
    return None


def pair_table(report: PaperReport) -> list[str]:
    """The pair sets image by image: what each estimator read (the true type's probability, the
    likeliest type) and every row's PSNR, so that a blind row sits beside its ``:oracle`` row.
    Empty when the report has no pair set."""
    pairs = [c for c in report.cases if c.kind == "pair"]
    if not pairs:
        return []
    names = {c.name for c in pairs}
    models = [m for m in report.methods if m not in (INPUT, BICUBIC)]
    readers = list(dict.fromkeys(r.estimator for r in report.results if r.case in names and r.estimator))
    lines = [
        "## The pair sets, image by image",
        "",
        "PSNR (dB) per image. `p(true)`: the probability the estimator gave the set's true type (rain, haze) on "
        "the input, then its likeliest type; DFPIR borrows NDR-Restore's estimator. A blind row decides by that "
        "reading, its `:oracle` row is told the true type (NDR-Restore: the haze pass and the tone lock follow "
        "it; DFPIR: its routing too). The mean line counts the images where p(true) >= 0.5.",
        "",
        "| set | image | " + "".join(f"p(true) ({e}) | " for e in readers) + "input | " + " | ".join(models) + " |",
        "|---|---|" + "---|" * (len(readers) + 1 + len(models)),
    ]
    for c in pairs:
        refs = report.rows(c.name, INPUT)
        for ref in refs:
            cells = []
            for e in readers:
                read = _reading(report, c.name, ref.image, e)
                cells.append(f"{read.p_true:.2f} ({read.likeliest})" if read and read.p_true is not None else "—")
            cells.append(f"{ref.psnr:.2f}")
            for m in models:
                row = [r for r in report.rows(c.name, m) if r.image == ref.image]
                cells.append(f"{row[0].psnr:.2f}" if row else "—")
            lines.append(f"| {c.name} | {ref.image} | " + " | ".join(cells) + " |")
        cells = []
        for e in readers:
            reads = [_reading(report, c.name, r.image, e) for r in refs]
            named = sum(1 for r in reads if r is not None and r.p_true is not None and r.p_true >= 0.5)
            cells.append(f"{named} of {len(refs)} named")
        for m in (INPUT, *models):
            v = report.mean(c.name, m)
            cells.append("—" if v is None else f"**{v[0]:.2f}**")
        lines.append(f"| {c.name} | mean | " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(report: PaperReport, note: str = "") -> str:
    """The report: PSNR and SSIM tables (rows: reference rows, models, published numbers), time per
    model, the worst-image table with its flags, and the pair sets image by image (:func:`pair_table`)."""
    cols = [c.name for c in report.cases]
    header = "| row | " + " | ".join(cols) + " | s/MP |\n|---|" + "---|" * (len(cols) + 1)
    per_set = {}
    for c in report.cases:
        rows = report.rows(c.name, c.reference)
        sizes = sorted({f"{r.width}x{r.height}" for r in rows}, key=lambda t: -int(t.split("x")[0]))
        shown = ", ".join(sizes) if len(sizes) <= 2 else f"{len(sizes)} sizes"
        per_set.setdefault(c.folder, f"{c.folder} {len(rows)} ({shown})")
    scope = f"the first {report.limit} images of each set (`--limit {report.limit}`)" if report.limit else "all images"
    lines = [
        "# Paper suite: the papers' test images, the papers' protocol",
        "",
        f"Data: `{shown_path(report.data)}` (see its `SOURCES.md`), {scope}, with their sizes as scored (W x H): "
        + ", ".join(per_set.values())
        + ".",
        f"Machine: {report.machine}; the whole run took {report.seconds_total / 60:.1f} min.",
        *([note] if note else []),
        "",
        "Protocol as PromptIR / DFPIR test it: noise: clean centre-cropped to a multiple of 16, one "
        "`np.random.seed(0)` per set, sigma 15, 25, 50 in turn over the sorted names, "
        "`clip(clean + sigma * randn(H, W, 3), 0, 255).astype(uint8)`; pairs: input and target centre-cropped "
        "to a multiple of 16; SR: HR cropped to a multiple of s, LR by PIL bicubic, scored on Y (BT.601, "
        "MATLAB `rgb2ycbcr`) with s pixels shaved, reference row PIL bicubic. Elsewhere uint8 RGB, full image. "
        "`:raw` is the network alone (`refine=False`). s/MP: restore seconds per output megapixel.",
    ]
    for metric, idx, fmt in (("PSNR (dB)", 0, "{:.2f}"), ("SSIM", 1, "{:.4f}")):
        lines += ["", f"## {metric}", "", header]
        for m in report.methods:
            cells = [fmt.format(v[idx]) if (v := report.mean(c, m)) is not None else "—" for c in cols]
            spm = report.seconds_per_megapixel(m)
            lines.append(f"| {m} | " + " | ".join(cells) + f" | {'—' if spm is None else f'{spm:.2f}'} |")
        if idx == 0:
            for label, values in PUBLISHED.items():
                lines.append(f"| *{label}* | " + " | ".join(values.get(c, "") for c in cols) + " | |")
    lines += [
        "",
        "Published rows: the papers' tables, CBSD68 on the same 68 images and protocol. † Rain100L (100 pairs) and "
        "SOTS-outdoor (500 pairs): full-set numbers on *different images* from the 5-pair proxies here (Rain-NDR5 "
        "is RainTrainL-style light rain, Rain-MFDNet3 heavy rain); compare only loosely.",
        "",
        "## Worst images",
        "",
        f"Per model and column: the image with the lowest PSNR gain over its input (SR: over bicubic), and the one "
        f"with the largest mean brightness shift (output minus target, grey levels, RGB). `!` marks a gain under "
        f"+{GAIN_FLAG_DB} dB, or a shift beyond {SHIFT_FLAG:g} grey levels (noise, rain and SR only). "
        "The last column is the input's own shift on that image (SR: bicubic's): where it is as large as the "
        "output's, the pair differs in brightness and the model left it so.",
        "",
        "| model | column | lowest gain: image | gain (dB) | largest shift: image | shift | input's shift |",
        "|---|---|---|---|---|---|---|",
    ]
    worst = report.worst()
    for w in worst:
        shift = f"**{w.shift:+.1f}** !" if w.shift_flagged else f"{w.shift:+.1f}"
        lines.append(
            f"| {w.method} | {w.case} | {w.low_image} | {_fmt_gain(w.low_gain, w.gain_flagged)} | "
            f"{w.shift_image} | {shift} | {'—' if w.input_shift is None else f'{w.input_shift:+.1f}'} |"
        )
    flagged = [w for w in worst if w.gain_flagged or w.shift_flagged]
    lines += ["", f"Flagged: {len(flagged)} of {len(worst)} model/column pairs.", "", *pair_table(report)]
    return "\n".join(lines) + "\n"


def write_csv(report: PaperReport, path: Path) -> None:
    """One line per :class:`ImageResult`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ImageResult.__dataclass_fields__))
        writer.writeheader()
        for r in report.results:
            writer.writerow(asdict(r))
