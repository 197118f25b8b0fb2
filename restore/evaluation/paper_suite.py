"""The paper suite: models scored on the public test images the papers report on, by their protocol.

Run ``python -m restore.evaluation.evaluate --suite paper [--paper-data PATH] [--models ...]
[--limit N] [--out docs/paper-suite.md] [--csv FILE] [--threads N]``. The images are read from
``--paper-data`` (default: ``$RESTORE_PAPER_DATA``, else ``../shared/paper_data`` beside the repository;
its ``SOURCES.md`` says where each image came from). They are evaluation data only.

Protocol (PromptIR / DFPIR test code):

* noise (CBSD68, Kodak24, McMaster): each clean image centre-cropped to a multiple of 16; one
  ``np.random.seed(0)`` per set, then for sigma 15, 25, 50 in turn and every image in sorted-name
  order ``clip(clean + sigma * randn(H, W, 3), 0, 255).astype(uint8)``. With ``--limit`` the noise is
  still drawn for the whole set, so the first N inputs are exactly those of a full run.
* pairs (Rain-NDR5, Rain-MFDNet3, SOTS-outdoor-NDR5): input vs target, both centre-cropped to a
  multiple of 16.
* super-resolution (Set5, Set14, x2 and x4): HR cropped (top-left) to a multiple of s, LR by PIL
  bicubic; the model gets LR with ``upscale=s``; PSNR / SSIM on the BT.601 luma (MATLAB ``rgb2ycbcr``,
  float in [16, 235]) with s pixels shaved from each border. The reference row is PIL-bicubic upscaling.
* elsewhere PSNR / SSIM on uint8 RGB, data range 255, full image (:mod:`restore.evaluation.metrics`).

Each image's ``gain`` is its PSNR over the input's (SR: over bicubic); ``shift`` is the mean of
output minus target over pixels and channels, in grey levels.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import platform
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from restore.evaluation.evaluate import (
    DOMINANT_SUFFIX,
    ORACLE_SUFFIX,
    RestorerLike,
    load_restorers,
    refine_argument,
)
from restore.evaluation.metrics import psnr, ssim

logger = logging.getLogger(__name__)

PAPER_DATA_ENV = "RESTORE_PAPER_DATA"
SIGMAS = (15, 25, 50)
SCALES = (2, 4)
CROP_BASE = 16
INPUT = "input"
BICUBIC = "bicubic"
DEFAULT_MODELS = ("ndr-restore", "ndr-restore:raw", "dfpir", "dfpir:raw")
#: A model's gain over its input (SR: over bicubic) below this many dB is flagged.
GAIN_FLAG_DB = 0.5
#: A mean brightness shift beyond this many grey levels is flagged (noise, rain and SR only:
#: removing haze legitimately changes the brightness).
SHIFT_FLAG = 8.0
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


class PaperDataError(FileNotFoundError):
    """The paper data folder, or one of its sets, is missing or malformed."""


@dataclass(frozen=True)
class PaperCase:
    """One column of the suite.

    Attributes:
        name: the column label, e.g. ``"CBSD68 s25"``.
        folder: the set's folder under the paper data.
        kind: ``"noise"``, ``"pair"`` or ``"sr"``.
        types: the true degradation types (what a ``:oracle`` model is told).
        sigma: noise level (noise cases).
        scale: super-resolution factor (1 elsewhere).
    """

    name: str
    folder: str
    kind: str
    types: tuple[str, ...]
    sigma: int = 0
    scale: int = 1

    @property
    def reference(self) -> str:
        """The row a model's gain is measured against."""
        return BICUBIC if self.kind == "sr" else INPUT

    @property
    def flags_shift(self) -> bool:
        return self.types != ("haze",)


CASES: tuple[PaperCase, ...] = (
    *(
        PaperCase(f"{folder} s{s}", folder, "noise", ("noise",), sigma=s)
        for folder in ("CBSD68", "Kodak24", "McMaster")
        for s in SIGMAS
    ),
    PaperCase("Rain-NDR5", "Rain-NDR5", "pair", ("rain",)),
    PaperCase("Rain-MFDNet3", "Rain-MFDNet3", "pair", ("rain",)),
    PaperCase("SOTS-NDR5", "SOTS-outdoor-NDR5", "pair", ("haze",)),
    *(PaperCase(f"{folder} x{s}", folder, "sr", ("lowres",), scale=s) for folder in ("Set5", "Set14") for s in SCALES),
)

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
class Sample:
    """One scored image: what the model gets, the ground truth and (SR) the bicubic reference."""

    image: str
    input: np.ndarray
    target: np.ndarray
    bicubic: np.ndarray | None = None


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
        return [r for r in self.results if r.case == case and r.method == method]

    def mean(self, case: str, method: str) -> tuple[float, float] | None:
        """Mean (PSNR, SSIM) over the case's images, or None where the method was not scored."""
        rows = self.rows(case, method)
        if not rows:
            return None
        return float(np.mean([r.psnr for r in rows])), float(np.mean([r.ssim for r in rows]))

    def seconds_per_megapixel(self, method: str) -> float | None:
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
                worst = WorstImage(
                    m, c.name, low.image, low_gain, far.image, far.shift, low_gain < GAIN_FLAG_DB, flag_shift
                )
                out.append(worst)
        return out


# --------------------------------------------------------------------------- data


def default_paper_data() -> Path:
    """``$RESTORE_PAPER_DATA``, else ``../shared/paper_data`` relative to the repository root."""
    env = os.environ.get(PAPER_DATA_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "paper_data"


def read_rgb(path: Path) -> np.ndarray:
    """An image file as ``HxWx3`` uint8 RGB (greyscale is repeated into three channels)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def center_crop(img: np.ndarray, base: int = CROP_BASE) -> np.ndarray:
    """Crop ``img`` to sides divisible by ``base``, the odd pixel (if any) taken from the bottom / right."""
    h, w = img.shape[:2]
    dh, dw = h % base, w % base
    return img[dh // 2 : h - dh + dh // 2, dw // 2 : w - dw + dw // 2]


def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom / right so both sides divide by ``scale`` (the SR convention)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def pil_bicubic(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """PIL ``BICUBIC`` resize of uint8 RGB to ``width x height``."""
    return np.asarray(Image.fromarray(img).resize((width, height), Image.Resampling.BICUBIC))


def y_channel(img: np.ndarray) -> np.ndarray:
    """BT.601 luma as MATLAB's ``rgb2ycbcr``: ``HxWx3`` uint8 RGB -> ``HxW`` float64 in [16, 235]."""
    rgb = img.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def y_scores(out: np.ndarray, target: np.ndarray, shave: int) -> tuple[float, float]:
    """(PSNR, SSIM) on Y with ``shave`` pixels dropped from every border."""
    ya, yb = y_channel(out), y_channel(target)
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    # metrics.ssim averages over three channels: three copies of Y give Y's own SSIM.
    return psnr(ya, yb), ssim(np.repeat(ya[..., None], 3, -1), np.repeat(yb[..., None], 3, -1))


def image_files(folder: Path) -> list[Path]:
    """The images in ``folder``, sorted by file name."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: p.name)


def _pair_target(target_dir: Path, name: str) -> Path:
    """The target of input ``name``: the same name, else the id before the first ``_``
    (SOTS: ``0001_0.8_0.2.png`` -> ``0001.png``)."""
    for candidate in (name, name.split("_")[0] + Path(name).suffix):
        if (target_dir / candidate).is_file():
            return target_dir / candidate
    raise PaperDataError(f"no target for {name} in {target_dir}")


def check_sets(root: Path, cases: Sequence[PaperCase] = CASES) -> None:
    """Raise :class:`PaperDataError` (one line) if ``root`` or any set the cases need is missing."""
    if not root.is_dir():
        raise PaperDataError(f"paper data folder {root} not found; pass --paper-data PATH or set {PAPER_DATA_ENV}")
    missing = []
    for folder, kind in dict.fromkeys((c.folder, c.kind) for c in cases):
        dirs = (root / folder / "input", root / folder / "target") if kind == "pair" else (root / folder,)
        if not all(d.is_dir() and image_files(d) for d in dirs):
            missing.append(folder + ("/{input,target}" if kind == "pair" else ""))
    if missing:
        raise PaperDataError(f"paper data set(s) missing or empty under {root}: {', '.join(missing)}")


def build_samples(root: Path, cases: Sequence[PaperCase] = CASES, limit: int | None = None) -> dict[str, list[Sample]]:
    """Every case's samples, ``{case name: [Sample]}``, in sorted-name order, first ``limit`` per set."""
    check_sets(root, cases)
    out: dict[str, list[Sample]] = {}
    for folder in dict.fromkeys(c.folder for c in cases):
        group = [c for c in cases if c.folder == folder]
        kind = group[0].kind
        if kind == "noise":
            clean = {p.name: center_crop(read_rgb(p)) for p in image_files(root / folder)}
            # One stream for the whole set, all sigmas (PromptIR's test script seeds once).
            rng = np.random.RandomState(0)  # the same stream as np.random.seed(0); np.random.randn
            for sigma in SIGMAS:
                noisy = {
                    n: np.clip(c.astype(np.float64) + sigma * rng.randn(*c.shape), 0, 255).astype(np.uint8)
                    for n, c in clean.items()
                }
                for case in (c for c in group if c.sigma == sigma):
                    out[case.name] = [Sample(n, noisy[n], clean[n]) for n in list(clean)[:limit]]
        elif kind == "pair":
            samples = []
            for p in image_files(root / folder / "input")[:limit]:
                inp, tgt = read_rgb(p), read_rgb(_pair_target(root / folder / "target", p.name))
                if inp.shape != tgt.shape:
                    raise PaperDataError(f"{folder}: {p.name} input {inp.shape} and target {tgt.shape} differ")
                samples.append(Sample(p.name, center_crop(inp), center_crop(tgt)))
            for case in group:
                out[case.name] = samples
        else:
            files = image_files(root / folder)[:limit]
            for case in group:
                s = case.scale
                out[case.name] = []
                for p in files:
                    hr = mod_crop(read_rgb(p), s)
                    h, w = hr.shape[:2]
                    lr = pil_bicubic(hr, w // s, h // s)
                    out[case.name].append(Sample(p.name, lr, hr, pil_bicubic(lr, w, h)))
    return out


# --------------------------------------------------------------------------- scoring


def _restore(name: str, restorer: RestorerLike, case: PaperCase, img: np.ndarray) -> np.ndarray:
    kwargs: dict[str, object] = {"upscale": case.scale}
    refine = refine_argument(name)
    if refine is not True:
        kwargs["refine"] = refine
    elif name.endswith(ORACLE_SUFFIX):
        kwargs["task"] = case.types
    elif name.endswith(DOMINANT_SUFFIX):
        kwargs["routing"] = "dominant"
    return np.asarray(restorer.restore(img, **kwargs))


def _score(case: PaperCase, out: np.ndarray, target: np.ndarray) -> tuple[float, float, float]:
    """(PSNR, SSIM, brightness shift) of ``out`` against ``target``."""
    shift = float(np.mean(out.astype(np.float64) - target.astype(np.float64)))
    if case.kind == "sr":
        return (*y_scores(out, target, case.scale), shift)
    return psnr(out, target), ssim(out, target), shift


def machine_description(restorers: Mapping[str, RestorerLike] | None = None) -> str:
    """E.g. ``"2-core x86_64 CPU, torch 2.13.0 CPU, 1 thread"``."""
    import torch

    devices = {str(getattr(r, "device", "cpu")).split(":")[0] for r in (restorers or {}).values()}
    where = "CUDA" if "cuda" in devices else "CPU"
    n = torch.get_num_threads()
    version = torch.__version__.split("+")[0]
    return f"{os.cpu_count()}-core {platform.machine()} CPU, torch {version} {where}, {n} thread{'s' * (n != 1)}"


def run_suite(
    root: Path,
    restorers: Mapping[str, RestorerLike],
    *,
    cases: Sequence[PaperCase] = CASES,
    limit: int | None = None,
    progress: bool = False,
) -> PaperReport:
    """Score the ``input`` / ``bicubic`` reference rows and every model on every case's images.

    Args:
        root: the paper data folder.
        restorers: ``{row name: model}``; a name ending in ``:raw`` runs with ``refine=False``, ``:oracle``
            with the true types, ``:dominant`` with dominant routing.
        cases: the columns to score.
        limit: only the first N images (sorted names) of every set.
        progress: a tqdm bar on stderr.

    Returns:
        The :class:`PaperReport`.

    Raises:
        PaperDataError: the folder or a set is missing.
        ValueError: a model returned the wrong shape or dtype.
    """
    start = time.perf_counter()
    samples = build_samples(root, cases, limit)
    results: list[ImageResult] = []
    bar = tqdm(
        total=sum(len(samples[c.name]) for c in cases) * max(1, len(restorers)),
        file=sys.stderr,
        disable=not progress,
        unit="img",
    )
    for case in cases:
        bar.set_description(case.name)
        for s in samples[case.name]:
            ref_out = s.bicubic if case.kind == "sr" else s.input
            size = s.target.shape[:2]
            assert ref_out is not None
            ref_psnr, ref_ssim, ref_shift = _score(case, ref_out, s.target)
            results.append(
                ImageResult(case.name, case.kind, case.reference, s.image, ref_psnr, ref_ssim, None, ref_shift, *size)
            )
            for name, restorer in restorers.items():
                t0 = time.perf_counter()
                out = _restore(name, restorer, case, s.input)
                seconds = time.perf_counter() - t0
                if out.shape != s.target.shape or out.dtype != np.uint8:
                    raise ValueError(
                        f"{name} returned {out.dtype} {out.shape} on {case.name}/{s.image}; "
                        f"expected uint8 {s.target.shape}"
                    )
                p, q, shift = _score(case, out, s.target)
                mp = out.shape[0] * out.shape[1] / 1e6
                results.append(
                    ImageResult(case.name, case.kind, name, s.image, p, q, p - ref_psnr, shift, *size, seconds, mp)
                )
                bar.update(1)
            if not restorers:
                bar.update(1)
    bar.close()
    methods = (INPUT, *((BICUBIC,) if any(c.kind == "sr" for c in cases) else ()), *restorers)
    return PaperReport(
        tuple(results), tuple(cases), methods, root, limit, machine_description(restorers), time.perf_counter() - start
    )


# --------------------------------------------------------------------------- output


def _fmt_gain(v: float, flagged: bool) -> str:
    return f"**{v:+.2f}** !" if flagged else f"{v:+.2f}"


def markdown(report: PaperReport, note: str = "") -> str:
    """The report: PSNR and SSIM tables (rows: reference rows, models, published numbers), time per
    model, and the worst-image table with its flags."""
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
        f"Data: `{report.data}` (see its `SOURCES.md`), {scope}, with their sizes as scored (W x H): "
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
        f"+{GAIN_FLAG_DB} dB, or a shift beyond {SHIFT_FLAG:g} grey levels (noise, rain and SR only).",
        "",
        "| model | column | lowest gain: image | gain (dB) | largest shift: image | shift |",
        "|---|---|---|---|---|---|",
    ]
    worst = report.worst()
    for w in worst:
        shift = f"**{w.shift:+.1f}** !" if w.shift_flagged else f"{w.shift:+.1f}"
        lines.append(
            f"| {w.method} | {w.case} | {w.low_image} | {_fmt_gain(w.low_gain, w.gain_flagged)} | "
            f"{w.shift_image} | {shift} |"
        )
    flagged = [w for w in worst if w.gain_flagged or w.shift_flagged]
    lines += ["", f"Flagged: {len(flagged)} of {len(worst)} model/column pairs."]
    return "\n".join(lines) + "\n"


def write_csv(report: PaperReport, path: Path) -> None:
    """One line per :class:`ImageResult`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(ImageResult.__dataclass_fields__))
        writer.writeheader()
        for r in report.results:
            writer.writerow(asdict(r))


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    """CLI: run the paper suite, print the Markdown report and write it (and optionally a CSV)."""
    parser = argparse.ArgumentParser(
        prog="python -m restore.evaluation.evaluate --suite paper", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--paper-data",
        type=Path,
        default=None,
        help=f"the paper data folder (default: ${PAPER_DATA_ENV}, else ../shared/paper_data beside the repository)",
    )
    parser.add_argument(
        "--models", type=_csv_list, default=list(DEFAULT_MODELS), help=f"default {','.join(DEFAULT_MODELS)}"
    )
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of every set (smoke runs)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/paper-suite.md"),
        help="the Markdown report (default docs/paper-suite.md)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="also write the per-image results here")
    parser.add_argument("--threads", type=int, default=None, help="torch / OpenCV threads (default: torch's)")
    parser.add_argument("--note", default="", help="a line added to the report's header")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.threads is not None:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    root = args.paper_data or default_paper_data()
    try:
        check_sets(root)  # before loading any model
        restorers = load_restorers([] if args.models == ["none"] else args.models)
        report = run_suite(root, restorers, limit=args.limit, progress=True)
    except PaperDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = markdown(report, args.note)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    logger.info("wrote %s", args.out)
    if args.csv is not None:
        write_csv(report, args.csv)
        logger.info("wrote %s", args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
