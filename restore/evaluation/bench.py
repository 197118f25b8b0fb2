"""Speed and memory benchmark: ``python -m restore.evaluation.bench``.

For each preset: parameters, GMACs per megapixel (counted by torch's FLOP counter on a 256x256
input), and the median seconds per megapixel of ``Restorer.restore`` at 1 MP and 4 MP, on the
current device; plus the peak resident memory of a separate 24-megapixel restoration (run in a
subprocess so each measurement starts clean). Untrained presets use random weights: speed does
not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from restore.inference.loading import available_models
from restore.inference.restorer import Restorer
from restore.models.config import preset
from restore.resources import examples_dir


def gmacs_per_megapixel(restorer: Restorer, side: int = 256) -> float:
    x = torch.rand(1, 3, side, side, device=restorer.device)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        restorer.model(x)
    return fc.get_total_flops() / 2 / (side * side) * 1e6 / 1e9


def noisy_photo(side: int, sigma: float) -> np.ndarray:
    """The first example photo resized to ``side`` x ``side`` with white Gaussian noise of ``sigma``
    grey levels (clipped): an input the estimator reads as noisy, for which the Wiener refinement
    also thresholds the input (:func:`restore.refinements.wiener.hard_share`)."""
    path = sorted(p for p in examples_dir().iterdir() if p.suffix.lower() in (".jpg", ".png"))[0]
    with Image.open(path) as im:
        photo = np.asarray(im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC), np.float32)
    noise = np.random.default_rng(0).normal(0.0, sigma, photo.shape)
    return np.clip(photo + noise, 0, 255).round().astype(np.uint8)


def seconds_per_megapixel(restorer: Restorer, megapixels: float, repeats: int, noisy: float = 0.0) -> float:
    """Median seconds per megapixel of ``restorer.restore`` on random pixels (the default), or on a
    photo with ``noisy`` grey levels of noise (:func:`noisy_photo`)."""
    side = int(round((megapixels * 1e6) ** 0.5))
    if noisy > 0:
        img = noisy_photo(side, noisy)
    else:
        img = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    restorer.restore(img[:256, :256])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        restorer.restore(img)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / (side * side / 1e6)


def make(name: str, device: str) -> Restorer:
    if name in available_models():
        return Restorer.from_pretrained(name, device=device)
    return Restorer.from_config(preset(name), name=name, device=device)


def peak_rss_child(name: str, megapixels: float, device: str) -> float:
    """Peak RSS (MB) of a fresh process restoring one ``megapixels`` image with model ``name``."""
    code = (
        "import resource, numpy as np, sys\n"
        "from restore.evaluation.bench import make\n"
        f"r = make({name!r}, {device!r})\n"
        f"side = int(({megapixels} * 1e6) ** 0.5)\n"
        "img = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)\n"
        "r.restore(img)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restore.evaluation.bench", description=__doc__)
    parser.add_argument(
        "--models", default="ndr-restore,dfpir,ndr-paper", help="shipped model names or preset names, comma-separated"
    )
    parser.add_argument("--sizes", default="1,4", help="megapixels to time, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big", type=float, default=24.0, help="megapixels of the peak-memory run (0 = skip)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument(
        "--noisy",
        type=float,
        default=0.0,
        help="time a photo with this much noise (grey levels) instead of random pixels (0 = random pixels)",
    )
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    cpu = platform.processor() or platform.machine()
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({cpu}, {torch.get_num_threads()} threads)"
    content = f"a photo with noise sigma {args.noisy:g}" if args.noisy > 0 else "random pixels"
    print(f"device: {dev}; torch {torch.__version__}; timed on {content}\n")
    header = "| model | params (M) | GMAC/MP | " + " | ".join(f"s/MP @ {s:g} MP" for s in sizes)
    header += f" | peak RSS @ {args.big:g} MP (MB) |" if args.big else " |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        r = make(name, args.device)
        # The paper-size model takes minutes per megapixel on a CPU: one run on a 0.25 MP image,
        # reported per megapixel in the first column (time grows linearly with the pixel count).
        big_model = r.num_parameters > 10e6 and args.device == "cpu"
        row = {"model": name, "params_m": r.num_parameters / 1e6, "gmac_per_mp": gmacs_per_megapixel(r)}
        for s in sizes:
            if big_model:
                row[f"s_per_mp_{s:g}"] = seconds_per_megapixel(r, 0.25, 1) if s == min(sizes) else None
                continue
            row[f"s_per_mp_{s:g}"] = seconds_per_megapixel(r, s, args.repeats, args.noisy)
        row["peak_rss_mb"] = peak_rss_child(name, args.big, args.device) if args.big and not big_model else None
        rows.append(row)
        cells = [f"{row['params_m']:.2f}", f"{row['gmac_per_mp']:.1f}"]
        cells += ["—" if row[f"s_per_mp_{s:g}"] is None else f"{row[f's_per_mp_{s:g}']:.2f}" for s in sizes]
        if big_model:
            cells[2] += " (timed at 0.25 MP)"
        if args.big:
            cells.append("—" if row["peak_rss_mb"] is None else f"{row['peak_rss_mb']:.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": dev, "content": content, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
