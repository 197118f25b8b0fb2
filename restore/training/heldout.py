"""The held-out validation: what the chain decides on, scored where users' photos are.

Twelve photos of the training pool never train (:func:`restore.training.patches.split_holdout`,
``TrainConfig.holdout``); never the paper data or the public benchmark's photos. On one crop of
each, the raw network (blind, no refinements) is scored on three groups of rows:

- ``case:<name>``: every case of the public benchmark (:data:`restore.evaluation.benchmark.CASES`)
  at its strengths and seeds (low resolution as the synthesis makes it: down and back up; a
  network with a scale map is told the case's enlargement, as ``restore(upscale=s)`` tells it);
- ``family:<type>``: every generator of each type's family at its example parameters, averaged
  per type (:func:`restore.training.validation.validate_families`);
- ``gauss<sigma>``: Gaussian noise of sigma 15, 25 and 50, clipped to the 8-bit range (the
  papers' denoising protocol, whose clipping the first network never saw).

The validation mean is the mean gain over the input across the rows; the brightness harm
(:func:`restore.training.validation.brightness_harm`) is reported beside it, and so is the
median gain: on every case and Gaussian row the median over the crops of each crop's gain,
averaged over those rows. A row's mean can be one bright crop's tone false alarm (10 dB lost
there is nearly 1 dB of the row); the median says whether a candidate lost broadly. The chain
decides on the mean. The 12 crops of the
3 ``val/`` photos that training validates on missed the benchmark's dense haze by 1.6 dB: these
rows carry the benchmark's own strengths.

``python -m restore.training.heldout SHIPPED.safetensors CANDIDATE.safetensors [--json scores.json]``;
``--crops case:blur`` shows one row crop by crop (input, output, brightness shift).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from restore.data.photos import list_photos
from restore.evaluation.benchmark import CASES
from restore.models import build_model
from restore.models.weights import load_weights, read_config
from restore.synthesis.registry import degrade
from restore.training.patches import HELD_OUT_PHOTOS, split_holdout, validation_set
from restore.training.validation import brightness_harm, crop_psnr, psnr_t, validate_families

#: The side of the held-out photos' crops (:data:`~restore.training.patches.HELD_OUT_PHOTOS` of them).
CROP = 256
#: The clipped Gaussian rows (grey levels).
GAUSS_SIGMAS = (15, 25, 50)


@dataclass(frozen=True)
class HeldOutScore:
    """PSNR (dB) per row of the restored and of the input crops, their mean gain, the harm."""

    psnr: dict[str, float]
    inputs: dict[str, float]
    mean_gain: float
    harm: float
    median_gain: float | None = None

    def gain(self, row: str) -> float:
        return self.psnr[row] - self.inputs[row]


def held_out_photos(data: Path, count: int | None = None) -> list[Path]:
    """The held-out photos of ``data/train`` (default :data:`HELD_OUT_PHOTOS`), in crop order."""
    return split_holdout(list_photos(data, "train"), HELD_OUT_PHOTOS if count is None else count)[1]


def heldout_crops(data: Path, count: int | None = None, size: int | None = None) -> Tensor:
    """The centre crops ``(count, 3, size, size)`` of the held-out photos of ``data/train``
    (default :data:`HELD_OUT_PHOTOS` and :data:`CROP`)."""
    return validation_set(held_out_photos(data, count), CROP if size is None else size, torch.device("cpu"), 1)


def row_inputs(crops: Tensor, types: tuple[str, ...]) -> dict[str, tuple[Tensor, int]]:
    """The degraded crops of every ``case:`` and ``gauss`` row and the enlargement each tells,
    ``{row: ((N, 3, H, W) in [0, 1], upscale)}``, for a network that knows ``types``."""
    rows = {
        f"case:{case.name}": (degrade(crops, case.spec, seed=case.seed).image, case.upscale)
        for case in CASES
        if set(case.spec) <= set(types)
    }
    g = torch.Generator().manual_seed(97)
    for sigma in GAUSS_SIGMAS:
        noise = torch.randn(crops.shape, generator=g) * (sigma / 255.0)
        rows[f"gauss{sigma}"] = ((crops + noise).clamp(0, 1), 1)
    return rows


def _restored(model: nn.Module, degraded: Tensor, upscale: int) -> Tensor:
    """The raw network's output, told the enlargement when it has a scale map."""
    told = {}
    if upscale > 1 and getattr(getattr(model, "cfg", None), "scale_input", False):
        told = {"scale": torch.full((degraded.shape[0],), float(upscale))}
    return model(degraded, **told)[0].float()


@torch.no_grad()
def validate_heldout(model: nn.Module, crops: Tensor) -> HeldOutScore:
    """Score the raw network, blind (but for a told enlargement), on every row (see the module's
    docstring)."""
    was_training = model.training
    model.eval()
    psnr, inputs, medians = {}, {}, []
    for name, (degraded, upscale) in row_inputs(crops, getattr(getattr(model, "cfg", None), "types", ())).items():
        restored = _restored(model, degraded, upscale)
        psnr[name] = round(psnr_t(restored, crops), 3)
        inputs[name] = round(psnr_t(degraded, crops), 3)
        crop_gains = crop_psnr(restored, crops) - crop_psnr(degraded, crops)
        medians.append(float(crop_gains.median()))
    fam = validate_families(model, crops)
    for t in [k for k in fam if f"{k}_input" in fam]:
        psnr[f"family:{t}"], inputs[f"family:{t}"] = fam[t], fam[f"{t}_input"]
    gains = [psnr[k] - inputs[k] for k in psnr]
    harm = brightness_harm(model, crops)
    model.train(was_training)
    median = round(sum(medians) / len(medians), 4)
    return HeldOutScore(psnr, inputs, round(sum(gains) / len(gains), 4), harm, median)


def network_file(weights: Path) -> nn.Module:
    """The restoration network of a shipped or exported weight file, in eval mode."""
    return load_weights(build_model(read_config(weights)), weights).eval()


def score_file(weights: Path, crops: Tensor) -> HeldOutScore:
    """:func:`validate_heldout` of a shipped or exported weight file."""
    return validate_heldout(network_file(weights), crops)


@torch.no_grad()
def per_crop(model: nn.Module, crops: Tensor, row: str) -> list[tuple[float, float, float]]:
    """One ``case:`` or ``gauss`` row crop by crop: ``(input PSNR, output PSNR, shift)`` per crop,
    dB and the output's mean brightness minus the target's in grey levels, for a row's mean that
    one or two crops decide (a tone false alarm on a bright, flat crop costs 10 dB there).

    Raises:
        ValueError: ``row`` is not a case or Gaussian row of this network (the message lists them).
    """
    rows = row_inputs(crops, getattr(getattr(model, "cfg", None), "types", ()))
    if row not in rows:
        raise ValueError(f"no row {row!r} to show crop by crop; one of: {', '.join(rows)}")
    was_training = model.training
    model.eval()
    degraded, upscale = rows[row]
    restored = _restored(model, degraded, upscale).clamp(0, 1)
    model.train(was_training)
    shift = (restored - crops).mean(dim=(1, 2, 3)) * 255.0
    return [
        (psnr_t(degraded[i : i + 1], crops[i : i + 1]), psnr_t(restored[i : i + 1], crops[i : i + 1]), float(shift[i]))
        for i in range(crops.shape[0])
    ]


def table(scores: dict[str, HeldOutScore]) -> str:
    """A Markdown table: one row per validation row, a column of gains per scored file."""
    names = list(scores)
    first = scores[names[0]]
    lines = ["| row | input | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for r in first.psnr:
        cells = " | ".join(f"{s.psnr[r]:.2f}" if r in s.psnr else "" for s in scores.values())
        lines.append(f"| {r} | {first.inputs[r]:.2f} | {cells} |")
    lines.append("| **mean gain** | | " + " | ".join(f"{s.mean_gain:+.3f}" for s in scores.values()) + " |")
    lines.append("| brightness harm | | " + " | ".join(f"{s.harm:.2f}" for s in scores.values()) + " |")
    medians = " | ".join("" if s.median_gain is None else f"{s.median_gain:+.3f}" for s in scores.values())
    lines.append(f"| median gain (case and gauss rows) | | {medians} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restore.training.heldout", description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", type=Path, nargs="+", help="weight files (.safetensors) to score")
    parser.add_argument("--data", type=Path, default=Path("data/photos"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, help="also write the scores here")
    parser.add_argument("--crops", metavar="ROW", help="show one case or gauss row crop by crop (e.g. case:blur)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    crops = heldout_crops(args.data)
    if args.crops:
        names = [p.stem for p in held_out_photos(args.data)]
        for w in args.weights:
            print(f"{w}, {args.crops}\n| crop | photo | input | output | brightness shift |\n|---|---|---|---|---|")
            for i, (pin, pout, shift) in enumerate(per_crop(network_file(w), crops, args.crops)):
                print(f"| {i} | {names[i]} | {pin:.2f} | {pout:.2f} | {shift:+.1f} |")
        return 0
    scores = {str(w): score_file(w, crops) for w in args.weights}
    print(table(scores))
    if args.json:
        args.json.write_text(json.dumps({k: asdict(v) for k, v in scores.items()}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
