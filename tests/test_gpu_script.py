"""The GPU training script and its photo pack, checked on the CPU with the tiny configs (the
developers' guide: try the GPU script on the CPU first), and the pack's size budget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restore.training.pack import pack, spread, thin

ROOT = Path(__file__).resolve().parents[1]


def test_spread_orders_are_even_prefixes_of_every_index():
    assert spread(1) == [0]
    assert spread(8) == [0, 4, 2, 6, 1, 5, 3, 7]
    for n in (3, 5, 12):
        order = spread(n)
        assert sorted(order) == list(range(n))
        assert max(order[:2]) >= n // 2, "the first two tiles are far apart"


def test_thin_takes_from_the_richest_photo_and_keeps_one_tile_each():
    keep = thin([[10] * 6, [10] * 2, [10] * 1], 50)
    assert [len(k) for k in keep] == [2, 2, 1]
    assert [len(k) for k in thin([[10] * 3, [10] * 3], 1)] == [1, 1], "never a photo's last tile"
    assert thin([[5, 5]], 100) == [[0, 1]], "under budget: everything"


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for split, n in (("train", 3), ("val", 1)):
        (root / split).mkdir()
        for i in range(n):
            img = (rng.random((160, 200, 3)) * 255).astype(np.uint8)
            Image.fromarray(img).save(root / split / f"p{i}.png")
    return root


def test_pack_fits_the_budget_and_keeps_the_layout(photos, tmp_path):
    out = tmp_path / "carry"
    report = pack(photos, out, tile=64, quality=90, budget_mb=0.05)
    files = sorted((out / "train").glob("*.jpg"))
    assert report["train_tiles"] == len(files) >= 3, "at least one tile of every photo"
    assert sum(f.stat().st_size for f in files) == report["train_bytes"] <= 0.05e6 * 0.9 or len(files) == 3
    assert {f.name.split("_")[0] for f in files} == {"p0", "p1", "p2"}
    assert all(Image.open(f).size == (64, 64) for f in files)
    again = pack(photos, out, tile=64, quality=90, budget_mb=10)
    assert again["train_tiles"] == 3 * 6 == len(list((out / "train").glob("*.jpg"))), "old tiles replaced"


def test_pack_says_when_there_are_no_photos(tmp_path):
    with pytest.raises(FileNotFoundError, match="restore.data.photos"):
        pack(tmp_path, tmp_path / "out")


def _log_rows(tar_path: Path) -> list[dict]:
    with tarfile.open(tar_path) as tar:
        member = next(m for m in tar.getmembers() if Path(m.name).name == "log.jsonl")
        return [json.loads(line) for line in tar.extractfile(member).read().decode().splitlines() if line.strip()]


def _run_script(work: Path, env: dict, stage: str, candidate: str) -> None:
    """One stage of scripts/gpu_train.sh: 20 minutes of a 40-minute schedule (far more than the
    STEPS bound takes on any machine)."""
    proc = subprocess.run(
        ["bash", "scripts/gpu_train.sh", stage, "20", "40", candidate],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against a hang only
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_script_trains_exports_and_resumes_on_the_cpu(photos, tmp_path):
    """Bounded by steps (STEPS), never by minutes: the minutes are far more than five tiny steps
    take on any machine, so a busy or slow one trains exactly as much as a fast one."""
    carry = tmp_path / "carry"
    pack(photos, carry, tile=96, quality=90, budget_mb=1)
    work = tmp_path / "repo"  # the script works in its repository's runs/: use a scratch copy
    for part in ("restore", "scripts", "configs"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    out = tmp_path / "out"
    env = dict(
        os.environ,
        CONFIGS="configs/gpu-tiny",
        INIT="none",
        DEVICE="cpu",
        OUT=str(out),
        DATA=str(carry),
        PYTHON=sys.executable,
        PYTHONPATH=str(work),
        OMP_NUM_THREADS="1",
        STEPS="5",  # the tiny configs log every 5 steps
    )
    for stage, last_step in (("1", 5), ("2", 10)):
        _run_script(work, env, stage, "tiny-ndr")
        with tarfile.open(out / "tiny-ndr.tar") as tar:
            names = {Path(n).name for n in tar.getnames()}
        assert {"ndr-restore.safetensors", "log.jsonl", f"stage{stage}.log"} <= names
        rows = _log_rows(out / "tiny-ndr.tar")
        assert [r["step"] for r in rows if "val" not in r] == list(range(5, last_step + 1, 5)), rows
        assert rows[-1]["step"] == last_step and "val" in rows[-1], "the last step is validated"
    summary = (out / "summary.txt").read_text()
    assert "stage 2" in summary and "at most 5 steps" in summary and "resume spent" in summary, summary
    assert "tiny-ndr: step 10 at" in summary, summary
    log = (work / "runs/gpu/tiny-ndr/stage2.log").read_text()
    assert "resumed" in log and "at step 5" in log


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_script_trains_the_detail_layout_from_the_start_its_config_names(photos, tmp_path):
    """``# gpu-init: none`` in a config: a random start even where shipped weights exist."""
    from restore.models.weights import read_config

    carry = tmp_path / "carry"
    pack(photos, carry, tile=96, quality=90, budget_mb=1)
    work = tmp_path / "repo"
    for part in ("restore", "scripts", "configs"):
        shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    env = dict(os.environ, CONFIGS="configs/gpu-tiny", DEVICE="cpu", OUT=str(out), DATA=str(carry))
    env.update(PYTHON=sys.executable, PYTHONPATH=str(work), OMP_NUM_THREADS="1", STEPS="5")
    env.pop("INIT", None)
    _run_script(work, env, "1", "tiny-detail")
    summary = (out / "summary.txt").read_text()
    assert "tiny-detail: a random start" in summary and "tiny-detail: step 5 at" in summary, summary
    with tarfile.open(out / "tiny-detail.tar") as tar:
        tar.extract("./ndr-restore.safetensors", tmp_path, filter="data")
    cfg = read_config(tmp_path / "ndr-restore.safetensors")
    assert cfg.outer_widths and cfg.noise_input and cfg.tone_head


def test_pack_leaves_the_held_out_photos_behind(photos, tmp_path):
    from restore.training.patches import split_holdout

    _, held = split_holdout(sorted((photos / "train").iterdir()), 1)
    pack(photos, tmp_path / "carry", tile=64, quality=90, budget_mb=10, holdout=1)
    packed = {f.name.rsplit("_", 1)[0] for f in (tmp_path / "carry" / "train").glob("*.jpg")}
    assert packed == {"p0", "p1", "p2"} - {held[0].stem}
