"""The training loop on the CPU with the tiny config: schedule, steps, learning, checkpoints, resume, export."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import restore.training.trainer as T
from restore.models import build_degrad, build_model
from restore.models.config import preset
from restore.models.weights import load_weights, read_config, read_metadata, read_state
from restore.synthesis.registry import DEGRADATION_TYPES, degrade
from restore.training import cli
from restore.training.config import TrainConfig, load_train_config
from restore.training.estimator_fit import refit

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.yaml"
# Training in tests stops at the tiny config's steps (3), never at a time limit: a minutes argument
# the trainer needs is given this much, which no machine takes for three tiny steps.
MINUTES = "60"


def textured_photo(seed: int, size: int = 96) -> np.ndarray:
    """A ``size x size`` RGB uint8 'photo': oriented waves, smooth colour blobs and grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    waves = np.stack(
        [np.sin(2 * np.pi * (xx * rng.uniform(1, 5) + yy * rng.uniform(1, 5)) + rng.uniform(0, 6)) for _ in range(3)],
        axis=-1,
    )
    blobs = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
    img = 0.5 + 0.2 * waves + 0.25 * (np.asarray(blobs) / 255 - 0.5) + 0.05 * rng.standard_normal((size, size, 3))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for split, n in (("train", 3), ("val", 1)):
        (root / split).mkdir()
        for i in range(n):
            Image.fromarray(textured_photo(100 * (split == "val") + i)).save(root / split / f"photo{i}.png")
    return root


def trainer(photos: Path, out: Path, **overrides) -> T.Trainer:
    cfg = load_train_config(TINY, **overrides)
    out.mkdir(parents=True, exist_ok=True)
    return T.Trainer(cfg, photos, out, torch.device("cpu"))


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --------------------------------------------------------------------------- schedule


def test_lr_warm_up_then_cosine():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, warmup=10, steps=110)
    assert T.lr_at(0, cfg) == pytest.approx(1e-4)
    assert T.lr_at(4, cfg) == pytest.approx(5e-4)
    assert T.lr_at(9, cfg) == pytest.approx(1e-3)
    assert T.lr_at(10, cfg) == pytest.approx(1e-3)
    assert T.lr_at(60, cfg) == pytest.approx((1e-3 + 1e-5) / 2)
    assert T.lr_at(110, cfg) == pytest.approx(1e-5)
    assert T.lr_at(500, cfg) == pytest.approx(1e-5), "past the end the schedule stays at min_lr"
    after = [T.lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(after, after[1:], strict=False))
    warm = [T.lr_at(s, cfg) for s in range(10)]
    assert all(a < b for a, b in zip(warm, warm[1:], strict=False))


def test_lr_time_budget_progress_and_no_warmup():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, warmup=10, steps=110)
    assert T.lr_at(20, cfg, progress=1.0) == pytest.approx(1e-5)
    assert T.lr_at(20, cfg, progress=0.5) == pytest.approx((1e-3 + 1e-5) / 2)
    assert T.lr_at(20, cfg, progress=0.0) == pytest.approx(1e-3)
    no_warm = TrainConfig(lr=1e-3, min_lr=0.0, warmup=0, steps=100)
    assert T.lr_at(0, no_warm) == pytest.approx(1e-3)
    assert T.lr_at(100, no_warm) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- steps


def test_three_steps_give_finite_losses(photos, tmp_path):
    tr = trainer(photos, tmp_path, steps=3)
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    stats = [tr.train_step() for _ in range(3)]
    assert tr.step == 3
    for s in stats:
        assert {"loss", "loss_restore", "loss_degrad", "bce", "lr", "grad_norm"} <= set(s)
        assert all(math.isfinite(v) for v in s.values()), s
        assert s["loss"] > 0
    changed = [k for k, v in tr.model.state_dict().items() if not torch.equal(v, before[k])]
    assert "dictionary" in changed and any(k.startswith("unet.") for k in changed)


def test_loss_decreases_on_average(photos, tmp_path, monkeypatch):
    """Twelve real optimiser steps on fresh batches lower the loss.

    With all six types mixed, a tiny network's loss over 12 steps is dominated by which types each
    batch drew, and denoising is not learned visibly in 12 steps from the identity start. A dim
    exposure is: the sampler is swapped for low light at random gains (fresh patches and
    degradations every step, drawn from the trainer's generator); the step itself is unchanged.
    """

    def lowlight_only(x, generator, **_):
        gain = 0.1 + 0.3 * torch.rand(x.shape[0], generator=generator, device=x.device)
        return degrade(x, {"lowlight": {"gain": gain}}, generator=generator)

    monkeypatch.setattr(T, "sample", lowlight_only)
    tr = trainer(photos, tmp_path, steps=12, batch=4, lr=2e-3, warmup=1, seed=0)
    losses = [tr.train_step()["loss_restore"] for _ in range(12)]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.9 * first, f"loss did not fall: {np.round(losses, 3).tolist()}"


def test_alternating_mode_switches_losses(photos, tmp_path):
    tr = trainer(photos, tmp_path, alternate=True, steps=2)
    degrad_before = {k: v.clone() for k, v in tr.degrad.state_dict().items()}
    first = tr.train_step()
    assert "loss_degrad" not in first, "even steps update the restoration loss only"
    assert all(torch.equal(v, degrad_before[k]) for k, v in tr.degrad.state_dict().items())
    second = tr.train_step()
    assert "loss_degrad" in second and math.isfinite(second["loss"])
    assert any(not torch.equal(v, degrad_before[k]) for k, v in tr.degrad.state_dict().items())


def test_dfpir_tiny_trains_two_steps(photos, tmp_path):
    tr = trainer(photos, tmp_path, model="dfpir-tiny", steps=2)
    assert tr.degrad is None
    stats = [tr.train_step() for _ in range(2)]
    for s in stats:
        assert "loss_degrad" not in s and math.isfinite(s["loss"]) and math.isfinite(s["bce"])


def test_plain_tiny_trains_without_extras(photos, tmp_path):
    s = trainer(photos, tmp_path, model="plain-tiny", steps=1).train_step()
    assert "bce" not in s and "loss_degrad" not in s and math.isfinite(s["loss"])


# --------------------------------------------------------------------------- CLI, resume, export


@pytest.fixture(scope="module")
def run(photos, tmp_path_factory) -> Path:
    """A two-step run through ``main``, the way the README starts one."""
    out = tmp_path_factory.mktemp("run")
    assert (
        cli.main(["--config", str(TINY), "--data", str(photos), "--out", str(out), "--steps", "2", "--device", "cpu"])
        == 0
    )
    return out


def test_validation_lattice_spreads_crops_over_each_photo(tmp_path):
    img = np.zeros((90, 120, 3), np.uint8)
    img[:, :, 0] = np.arange(120)[None, :]  # red encodes the column, green the row
    img[:, :, 1] = np.arange(90)[:, None]
    Image.fromarray(img).save(tmp_path / "a.png")
    one = T.validation_set([tmp_path / "a.png"], 30, torch.device("cpu"))
    grid = T.validation_set([tmp_path / "a.png"], 30, torch.device("cpu"), grid=2)
    assert one.shape == (1, 3, 30, 30) and grid.shape == (4, 3, 30, 30)
    left = lambda t: round(float(t[0, 0, 0]) * 255)  # noqa: E731 - column of the crop's left edge
    top = lambda t: round(float(t[1, 0, 0]) * 255)  # noqa: E731
    assert (left(one[0]), top(one[0])) == (45, 30), "grid 1 is the centre crop"
    assert [(left(c), top(c)) for c in grid] == [(30, 20), (60, 20), (30, 40), (60, 40)]
    with pytest.raises(ValueError, match="val_grid"):
        TrainConfig(val_grid=0)


def test_validation_psnr_is_the_mean_of_per_crop_psnrs():
    from restore.training.validation import psnr_t

    clean = torch.full((2, 3, 8, 8), 0.5)
    noisy = clean.clone()
    noisy[0] += 0.1  # 20 dB
    noisy[1] += 0.001  # 60 dB
    assert psnr_t(noisy, clean) == pytest.approx(40.0, abs=1e-3), "dB averaged, not the pooled error (~23 dB)"
    assert psnr_t(clean, clean) == 100.0, "identical crops are capped, not infinite"


def test_curve_draws_logs_whose_rows_lack_a_loss(tmp_path):
    """With ``alternate``, restore-only steps log no re-degrade loss: the curve still draws."""
    from restore.training.validation import plot_curve

    rows = [
        {"step": 1, "loss": 0.2, "loss_restore": 0.2},
        {"step": 2, "loss": 0.3, "loss_restore": 0.1, "loss_degrad": 0.2},
    ]
    rows.append({"step": 2, "val": {"noise": 30.0, "noise_input": 25.0}})
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    plot_curve(log, tmp_path / "curve.png")
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_main_writes_checkpoint_log_and_curve(run):
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 2
    assert json.loads(ckpt["train_config"])["model"] == "ndr-tiny"
    rows = read_log(run / "log.jsonl")
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    val = [r for r in rows if "val" in r]
    assert [r["step"] for r in val] == [2]
    assert set(val[0]["val"]) == set(DEGRADATION_TYPES) | {t + "_input" for t in DEGRADATION_TYPES}
    assert val[0]["crops"] == 4, "one validation photo, a 2 x 2 lattice of crops"
    assert (run / "curve.png").stat().st_size > 1000


def test_resume_continues_from_the_saved_step(run, photos, tmp_path):
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    for name in ("last.pt", "log.jsonl"):
        (resumed / name).write_bytes((run / name).read_bytes())
    before = torch.load(resumed / "last.pt", map_location="cpu", weights_only=True)
    assert (
        cli.main(
            ["--config", str(TINY), "--data", str(photos), "--out", str(resumed), "--steps", "4", "--device", "cpu"]
        )
        == 0
    )
    after = torch.load(resumed / "last.pt", map_location="cpu", weights_only=True)
    assert after["step"] == 4
    steps = [r["step"] for r in read_log(resumed / "log.jsonl") if "loss" in r]
    assert steps == [1, 2, 3, 4], "the resumed run logs steps 3 and 4 after the first run's 1 and 2"
    opt_steps = {int(s["step"]) for s in after["opt"]["state"].values()}
    assert opt_steps == {4}, "the optimiser state continued too"
    assert any(not torch.equal(after["model"][k], v) for k, v in before["model"].items())
    # Nothing left to do: a second call at --steps 4 is a no-op.
    assert (
        cli.main(
            ["--config", str(TINY), "--data", str(photos), "--out", str(resumed), "--steps", "4", "--device", "cpu"]
        )
        == 0
    )
    assert torch.load(resumed / "last.pt", map_location="cpu", weights_only=True)["step"] == 4


def test_export_loads_strictly_with_its_own_config(run, tmp_path):
    paths = T.export(run, "tiny-test", tmp_path)
    assert [p.name for p in paths] == ["tiny-test.safetensors", "tiny-test-degrad.safetensors"]
    cfg = read_config(paths[0])
    assert cfg == preset("ndr-tiny")
    model = load_weights(build_model(cfg), paths[0])
    ckpt = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    for k, v in model.state_dict().items():
        assert v.dtype == ckpt["model"][k].dtype
        assert torch.allclose(v.float(), ckpt["model"][k].float(), atol=1e-3, rtol=1e-3), k
    load_weights(build_degrad(read_config(paths[1])), paths[1])
    facts = json.loads(read_metadata(paths[0])["training"])
    assert facts["steps"] == 2 and facts["batch"] == 2
    assert read_metadata(paths[1])["role"] == "ndr-degrad"
    # ... and through the CLI
    assert cli.main(["--export", str(run), "--name", "cli", "--export-dir", str(tmp_path / "cli")]) == 0
    assert (tmp_path / "cli" / "cli.safetensors").is_file()


def test_weight_average_follows_the_schedule_and_is_what_ships(photos, tmp_path, monkeypatch):
    # Off by default: no average, and checkpoints stand for the raw weights.
    plain = trainer(photos, tmp_path / "plain")
    plain.train_step()
    assert plain.ema is None and plain.final_model is plain.model
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.0)

    t = trainer(photos, tmp_path / "ema", ema=0.5)
    t.train_step()  # the first step starts the average at the weights it produced
    first = {k: v.clone() for k, v in t.model.state_dict().items()}
    assert all(torch.equal(v, first[k]) for k, v in t.ema.state_dict().items())
    t.train_step()  # step 1: keep = min(0.5, 2 / 11) of the old average
    keep = 2 / 11
    for k, v in t.ema.state_dict().items():
        now = t.model.state_dict()[k]
        if v.dtype.is_floating_point:
            assert torch.allclose(v, keep * first[k] + (1 - keep) * now, atol=1e-6), k
    assert any(not torch.equal(v, t.model.state_dict()[k]) for k, v in t.ema.state_dict().items())
    assert not any(p.requires_grad for p in t.ema.parameters())

    # Validation reads the average, and leaves it in eval mode.
    seen = []
    real = T.validate
    monkeypatch.setattr(T, "validate", lambda model, clean: seen.append(model) or real(model, clean))
    t.cfg = TrainConfig(**{**t.cfg.__dict__, "steps": 3, "val_every": 1})
    t.fit()
    assert seen and all(m is t.ema for m in seen) and not t.ema.training

    # The checkpoint keeps both; resume restores the average; export and warm starts use it.
    ckpt = torch.load(t.out / "last.pt", map_location="cpu", weights_only=True)
    assert T.final_weights(ckpt) is ckpt["ema"]
    again = trainer(photos, t.out, ema=0.5)
    assert again.resume()
    assert all(torch.equal(v, ckpt["ema"][k]) for k, v in again.ema.state_dict().items())
    (path,) = T.export(t.out, "avg", tmp_path / "w", half=False)[:1]
    shipped = load_weights(build_model(read_config(path)), path)
    assert all(torch.equal(v, ckpt["ema"][k]) for k, v in shipped.state_dict().items())
    warm = trainer(photos, tmp_path / "warm")
    warm.warm_start(t.out / "last.pt")
    assert all(torch.equal(v, ckpt["ema"][k]) for k, v in warm.model.state_dict().items())
    # The estimator refit changes the head of the average (what ships), not the raw weights.
    refit(t.out, photos, samples=32, batch=8, patch=32)
    after = torch.load(t.out / "last.pt", map_location="cpu", weights_only=True)
    assert "estimator_fit" in after
    assert all(torch.equal(v, ckpt["model"][k]) for k, v in after["model"].items())
    assert any(not torch.equal(v, ckpt["ema"][k]) for k, v in after["ema"].items() if k.startswith("estimator."))


def test_refit_samples_clean_crops_labelled_with_no_type(photos):
    from restore.data.photos import list_photos
    from restore.training.estimator_fit import collect

    g = torch.Generator().manual_seed(0)
    model = build_model(preset("ndr-tiny"))
    sampler = T.PatchSampler(list_photos(photos, "train"), 32, torch.device("cpu"), g)
    x, y = collect(model, sampler, g, 8, 4, 0.25, p_clean=1.0)
    assert x.shape[0] == 8 and torch.equal(y, torch.zeros(8, len(DEGRADATION_TYPES)))
    _, y = collect(model, sampler, g, 8, 4, 0.25, p_clean=0.0)
    assert bool((y.sum(1) >= 1).all()), "without clean crops every sample has a type"


def test_warm_start_copies_an_older_network_and_keeps_new_zero_heads(run, photos, tmp_path):
    # The fixture's run has the tiny preset; an older network without the affine head and with
    # the plain estimator input is what a warm start upgrades from.
    old = tmp_path / "old"
    old_cfg = {"affine_head": False, "estimator_texture": False}
    t_old = trainer(photos, old, model_overrides=tuple(old_cfg.items()))
    t_old.train_step()
    t_old.save()
    new = trainer(photos, tmp_path / "new")
    new.warm_start(old / "last.pt")
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.allclose(new.model(x)[0], t_old.model(x)[0], atol=1e-6)
    assert new.step == 0, "a warm start is a new run: step, optimiser and schedule start afresh"
    # The origin travels with the checkpoint and ends up in the exported file's training facts.
    new.train_step()
    new.save()
    paths = T.export(tmp_path / "new", "warm", tmp_path / "export")
    facts = json.loads(read_metadata(paths[0])["training"])
    assert facts["warm_started_from"]["steps"] == 1
    assert facts["total_steps"] == 2
    resumed = trainer(photos, tmp_path / "new")
    assert resumed.resume() and resumed.init_from == facts["warm_started_from"]
    # A shipped file (fp16) is a valid origin too, and its own chain carries over.
    shipped = trainer(photos, tmp_path / "from-shipped")
    shipped.warm_start(paths[0])
    assert shipped.init_from["steps"] == 1 and shipped.init_from["init_from"]["steps"] == 1
    with torch.no_grad():
        assert torch.allclose(shipped.model(x)[0], new.model(x)[0], atol=2e-2)
    # A different backbone cannot be warm-started from.
    wide = trainer(photos, tmp_path / "wide", model_overrides=(("width", 12),))
    with pytest.raises(ValueError, match="same backbone"):
        wide.warm_start(old / "last.pt")


def test_train_only_updates_the_named_parameters_alone(photos, tmp_path):
    t = trainer(photos, tmp_path / "head", train_only=("unet.affine", "unet.out"), lr=1e-2, warmup=1)
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    degrad_before = {k: v.clone() for k, v in t.degrad.state_dict().items()}
    for _ in range(2):
        stats = t.train_step()
    assert math.isfinite(stats["loss"]) and "loss_degrad" not in stats, "a frozen NDR-Degrad is not run"
    after = t.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("unet.affine.", "unet.out.")) for k in changed)
    assert "unet.out.weight" in changed
    assert all(torch.equal(v, t.degrad.state_dict()[k]) for k, v in degrad_before.items())
    with pytest.raises(ValueError, match="matches no parameter"):
        trainer(photos, tmp_path / "none", train_only=("no.such.module",))


def test_balance_floor_changes_the_weighting(photos, tmp_path):
    losses = {}
    for floor in (0.02, 0.5):
        t = trainer(photos, tmp_path / f"floor{floor}", balance_floor=floor)
        torch.manual_seed(0)
        losses[floor] = t.losses(t.sampler(2))[0].item()
    assert losses[0.02] != losses[0.5]


def test_l2_loss_trains_and_unknown_losses_are_rejected(photos, tmp_path):
    t = trainer(photos, tmp_path / "l2", loss="l2")
    stats = t.train_step()
    assert math.isfinite(stats["loss"]) and math.isfinite(stats["loss_restore"])
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l3")


def test_psnr_loss_is_minus_the_mean_psnr_and_weights_samples_by_their_error():
    cfg = TrainConfig(loss="psnr", balance_floor=0.5)
    clean = torch.full((2, 3, 8, 8), 0.5)
    err = torch.tensor([0.01, 0.1]).view(2, 1, 1, 1)  # MSE 1e-4 and 1e-2
    restored = (clean + err).requires_grad_()
    loss = T.restoration_objective(restored, clean + 0.3, clean, "psnr", cfg)
    expected = np.mean([0.1 * math.log10(1e-4 + T.PSNR_FLOOR), 0.1 * math.log10(1e-2 + T.PSNR_FLOOR)])
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # Same objective whatever the balance floor (loss_balance does not apply to it).
    other = T.restoration_objective(restored, clean + 0.3, clean, "psnr", TrainConfig(loss="psnr"))
    assert other.item() == pytest.approx(loss.item())
    # Gradient per pixel ~ err / (MSE + floor): the better sample pulls ~5x harder, unlike L2.
    loss.backward()
    g = restored.grad.abs().mean(dim=(1, 2, 3))
    assert g[0] / g[1] == pytest.approx((0.01 / 2e-4) / (0.1 / 1.01e-2), rel=1e-3)
    # The L2 objective (no balance) is the plain mean squared error.
    l2 = T.restoration_objective(restored, clean, clean, "l2", TrainConfig(loss="l2", loss_balance=False))
    assert l2.item() == pytest.approx((1e-4 + 1e-2) / 2, rel=1e-5)


def test_psnr_loss_trains_then_switches_to_l1(photos, tmp_path, monkeypatch):
    t = trainer(photos, tmp_path / "psnr", loss="psnr", l1_from=0.5)
    stats = t.train_step()
    assert math.isfinite(stats["loss"])
    used = []
    real = T.restoration_objective
    monkeypatch.setattr(T, "restoration_objective", lambda *a: used.append(a[3]) or real(*a))
    t.losses(t.sampler(2), progress=0.2)
    t.losses(t.sampler(2), progress=0.7)
    assert used == ["psnr", "l1"]


def test_type_weights_are_read_from_yaml_and_checked(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("model: ndr-tiny\ntype_weights: {haze: 3, rain: 2}\n")
    assert dict(load_train_config(good).type_weights) == {"haze": 3, "rain": 2}
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: ndr-tiny\ntype_weights: {fog: 3}\n")
    with pytest.raises(ValueError, match="type_weights"):
        load_train_config(bad)


def test_unknown_config_key_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: ndr-tiny\nlearning_rate: 0.1\n")
    with pytest.raises(KeyError, match="learning_rate.*valid"):
        load_train_config(bad)


# --------------------------------------------------------------------------- the chain command


def _shipped_tiny(run: Path, directory: Path) -> Path:
    """The tiny two-step run exported as if it shipped."""
    assert cli.main(["--export", str(run), "--name", "ndr-restore", "--export-dir", str(directory)]) == 0
    return directory / "ndr-restore.safetensors"


def test_chain_rule_needs_a_mean_gain_and_no_large_loss():
    from restore.training.chain import Score, is_better

    shipped = Score({"noise": 30.0, "haze": 20.0}, 5.0)
    assert is_better(Score({"noise": 30.2, "haze": 20.0}, 5.1), shipped)[0]
    assert not is_better(Score({"noise": 30.01, "haze": 20.0}, 5.005), shipped)[0], "too small a gain"
    ok, reason = is_better(Score({"noise": 31.0, "haze": 19.5}, 5.25), shipped)
    assert not ok and "haze" not in reason and "loses -0.500" in reason
    harmful = Score({"noise": 30.0, "haze": 20.0}, 5.0, harm=10.0)
    assert not is_better(Score({"noise": 30.5, "haze": 20.0}, 5.2, harm=1.0), shipped)[0], "harm rose by 1 level"
    assert is_better(Score({"noise": 30.0, "haze": 19.95}, 4.97, harm=8.0), harmful)[0], "less harm, same quality"
    assert not is_better(Score({"noise": 30.0, "haze": 19.9}, 4.9, harm=8.0), harmful)[0], "less harm, 0.1 dB less"


def test_chain_rule_judges_the_families_when_both_scores_have_them():
    from restore.training.chain import Score, is_better

    shipped = Score({"noise": 30.0, "rain": 28.0}, 5.0, family_psnr={"noise": 25.0, "rain": 24.0}, family_gain=3.0)
    # Worse on the one original synthesis, better over the whole families: the families decide.
    broader = Score({"noise": 30.5, "rain": 27.6}, 4.8, family_psnr={"noise": 26.0, "rain": 24.1}, family_gain=3.5)
    ok, reason = is_better(broader, shipped)
    assert ok, reason
    narrower = Score({"noise": 31.0, "rain": 29.0}, 6.0, family_psnr={"noise": 25.0, "rain": 23.0}, family_gain=2.5)
    assert not is_better(narrower, shipped)[0]
    # An old score without the family validation: the original synthesis decides.
    assert not is_better(broader, Score({"noise": 30.0, "rain": 28.0}, 5.0))[0]
    # ... but not at any price: the original synthesis (the public benchmark's) may lose 0.5 dB a type.
    lopsided = Score({"noise": 30.5, "rain": 27.3}, 4.8, family_psnr={"noise": 26.0, "rain": 24.1}, family_gain=3.5)
    ok, reason = is_better(lopsided, shipped)
    assert not ok and "original synthesis loses -0.700 dB on rain" in reason, reason


def test_family_validation_scores_every_generator():
    from restore.synthesis import families
    from restore.training.validation import validate, validate_families

    class Identity(torch.nn.Module):
        def forward(self, x):
            return x, {}

    crops = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    val = validate_families(Identity(), crops)
    assert set(val) == {t for t in families.FAMILIES} | {f"{t}_input" for t in families.FAMILIES}
    for t in families.FAMILIES:
        assert val[t] == val[f"{t}_input"], "the identity restores nothing"
    assert validate_families(Identity(), crops) == val, "fixed seeds"
    assert val != {k: v for k, v in validate(Identity(), crops).items()}, "more than generator 0"


def test_scene_tones_keep_shape_range_and_untouched_samples():
    from restore.synthesis.scenes import tone_scenes

    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = tone_scenes(x, torch.Generator().manual_seed(1), 0.5)
    same = (y == x).flatten(1).all(1)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert 16 < int(same.sum()) < 48, "about half the samples toned"
    means = (y.mean((1, 2, 3)) - x.mean((1, 2, 3)))[~same]
    assert float(means.min()) < -0.1 and float(means.max()) > 0.1, "dark and bright scenes both drawn"
    assert torch.equal(y, tone_scenes(x, torch.Generator().manual_seed(1), 0.5)), "same seed, same tones"
    assert torch.equal(tone_scenes(x, torch.Generator().manual_seed(1), 0.0), x)


def test_brightness_harm_is_zero_for_the_identity_and_large_for_a_brightener():
    from restore.training.validation import brightness_harm

    class Net(torch.nn.Module):
        def __init__(self, lift: float) -> None:
            super().__init__()
            self.lift = lift

        def forward(self, x):
            return x + self.lift, {}

    crops = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert brightness_harm(Net(0.0), crops) < 1.0, "only the noise's clipping moves the mean"
    assert brightness_harm(Net(0.1), crops) > 20


@pytest.mark.parametrize("better", [False, True])
def test_chain_resumes_or_starts_from_the_shipped_weights_and_ships_only_when_better(
    photos, run, tmp_path, monkeypatch, caplog, better
):
    import restore.training.chain as C

    weights = tmp_path / "weights"
    weights.mkdir()
    shipped = _shipped_tiny(run, weights)
    before = shipped.read_bytes()
    monkeypatch.setattr(C, "is_better", lambda after, before: (better, "forced for the test"))
    chain = tmp_path / "chain"
    argv = ["--name", "ndr-restore", "--config", str(TINY), "--minutes", MINUTES, "--run", str(chain)]
    argv += ["--data", str(photos), "--weights-dir", str(weights), "--ship"]
    assert C.main(argv) == 0
    verdict = json.loads((chain / "chain.json").read_text())
    assert verdict["step"] == 3 and verdict["better"] is better and verdict["shipped_now"] is better
    assert set(verdict["candidate"]["psnr"]) == set(DEGRADATION_TYPES)
    origin = json.loads(read_metadata(chain / "export" / "ndr-restore.safetensors")["training"])["warm_started_from"]
    assert origin["checkpoint"].endswith("ndr-restore.safetensors"), "a new chain run starts from the shipped file"
    assert (shipped.read_bytes() == before) is not better
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="restore.training"):
        assert C.main([*argv[:-1]]) == 0
    assert f"resumed {chain / 'last.pt'} at step 3" in caplog.text, "a second call resumes the run folder"
    assert json.loads((chain / "chain.json").read_text())["step"] == 3, "nothing left to train past the config's steps"


def test_a_chain_link_of_zero_minutes_only_refits_the_estimator(photos, run, tmp_path):
    """``--minutes 0 --refit-samples N``: the network as shipped, a new estimator head fitted on
    toned scenes, recorded in the export's metadata."""
    import restore.training.chain as C

    weights = tmp_path / "weights"
    weights.mkdir()
    shipped = _shipped_tiny(run, weights)
    chain = tmp_path / "refit"
    argv = ["--name", "ndr-restore", "--config", str(TINY), "--minutes", "0", "--run", str(chain)]
    argv += ["--data", str(photos), "--weights-dir", str(weights), "--refit-samples", "16"]
    argv += ["--refit-patch", "32", "--refit-scene-tone", "0.5", "--refit-family-share", "0.5"]
    assert C.main(argv) == 0
    verdict = json.loads((chain / "chain.json").read_text())
    facts = json.loads(read_metadata(shipped)["training"])
    assert verdict["step"] == facts["steps"], "nothing was trained"
    assert verdict["estimator_refit"]["scene_tone"] == 0.5 and verdict["estimator_refit"]["family_share"] == 0.5
    before = read_state(shipped)
    after = read_state(chain / "export" / "ndr-restore.safetensors")
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.startswith("estimator."))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("estimator."))
    exported = json.loads(read_metadata(chain / "export" / "ndr-restore.safetensors")["training"])
    assert exported["estimator_refit"]["scene_tone"] == 0.5


def test_refit_crops_can_be_toned_scenes(photos):
    """Toned clean crops keep the label "no type": a dark scene is not low light."""
    from restore.data.photos import list_photos
    from restore.training.estimator_fit import collect

    g = torch.Generator().manual_seed(0)
    model = build_model(preset("ndr-tiny"))
    sampler = T.PatchSampler(list_photos(photos, "train"), 32, torch.device("cpu"), g)
    x, y = collect(model, sampler, g, 8, 4, 0.25, p_clean=1.0, scene_tone=1.0, family_share=0.5)
    assert x.shape[0] == 8 and torch.equal(y, torch.zeros(8, len(DEGRADATION_TYPES)))


def test_benchmark_check_compares_the_two_files_case_by_case(run, tmp_path, monkeypatch):
    import restore.evaluation.benchmark as B
    import restore.training.chain as C
    from restore.inference.restorer import Restorer
    from restore.models.weights import save_weights

    shipped = _shipped_tiny(run, tmp_path / "a")
    same = _shipped_tiny(run, tmp_path / "b")
    img = (np.random.default_rng(0).random((48, 48, 3)) * 255).astype(np.uint8)
    monkeypatch.setattr(B, "benchmark_images", lambda size=384, limit=None: {"random": img})
    ok, facts, table = C.benchmark_check("ndr-restore", shipped, same)
    assert ok and "worst case" in facts and len(table) == 12
    assert all(set(v) == {"shipped", "candidate"} for v in table.values()), "no DFPIR shipped beside it"
    assert all(v["shipped"] == v["candidate"] for v in table.values()), "the same weights score the same"

    # A DFPIR shipped beside NDR-Restore borrows its estimator: it is scored with both estimators.
    cfg = preset("dfpir-tiny")
    save_weights(Restorer.from_config(cfg, name="dfpir", seed=0).model, shipped.parent / "dfpir.safetensors", cfg)
    ok, facts, table = C.benchmark_check("ndr-restore", shipped, same)
    assert ok and "ndr-restore benchmark mean" in facts and "dfpir benchmark mean" in facts
    assert all(set(v) == {"shipped", "candidate", "dfpir/shipped", "dfpir/candidate"} for v in table.values())
    assert all(v["dfpir/shipped"] == v["dfpir/candidate"] for v in table.values())

    # An estimator that moves DFPIR's routing is judged on DFPIR's cases too.
    real = Restorer.from_pretrained
    candidates: list[Restorer] = []

    def worse_dfpir_with_the_candidate(name, *a, directory=None, estimator="auto", **k):
        r = real(name, *a, directory=directory, estimator=estimator, **k)
        if name == "ndr-restore" and Path(directory) == same.parent:
            candidates.append(r)
        if name == "dfpir" and any(estimator is c for c in candidates):
            r.model = _Darker(r.model)
        return r

    monkeypatch.setattr(Restorer, "from_pretrained", staticmethod(worse_dfpir_with_the_candidate))
    ok, facts, table = C.benchmark_check("ndr-restore", shipped, same)
    assert not ok and "dfpir benchmark mean" in facts
    assert all(v["shipped"] == v["candidate"] for v in table.values()), "NDR-Restore itself did not move"


class _Darker(torch.nn.Module):
    """A network wrapper whose output is 0.3 darker: a routing that went wrong, for the test."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args, **kwargs):
        out = self.inner(*args, **kwargs)
        if isinstance(out, tuple):
            return (out[0] - 0.3, *out[1:])
        return out - 0.3

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def test_chain_with_benchmark_keeps_a_candidate_that_loses_a_case(photos, run, tmp_path, monkeypatch):
    import restore.training.chain as C

    weights = tmp_path / "weights"
    weights.mkdir()
    shipped = _shipped_tiny(run, weights)
    before = shipped.read_bytes()
    monkeypatch.setattr(C, "is_better", lambda after, before: (True, "forced for the test"))
    monkeypatch.setattr(C, "benchmark_check", lambda *a, **k: (False, "haze -1.00 dB", {"haze": {}}))
    chain = tmp_path / "chain"
    argv = ["--name", "ndr-restore", "--config", str(TINY), "--minutes", MINUTES, "--run", str(chain)]
    argv += ["--data", str(photos), "--weights-dir", str(weights), "--benchmark", "--ship"]
    assert C.main(argv) == 0
    verdict = json.loads((chain / "chain.json").read_text())
    assert verdict["better"] is False and verdict["shipped_now"] is False
    assert "haze -1.00 dB" in verdict["reason"] and verdict["benchmark"] == {"haze": {}}
    assert shipped.read_bytes() == before


def test_lr_scale_gives_named_parameters_their_own_step(photos, tmp_path):
    t = trainer(photos, tmp_path / "scaled", lr_scale={"unet.out": 4.0}, lr=1e-3, warmup=1)
    groups = {g["scale"]: g for g in t.opt.param_groups}
    assert set(groups) == {1.0, 4.0}
    names = {id(p): n for n, p in t.model.named_parameters()}
    assert {names[id(p)] for p in groups[4.0]["params"]} == {"unet.out.weight", "unet.out.bias"}
    t.train_step()
    assert groups[4.0]["lr"] == pytest.approx(4 * groups[1.0]["lr"]) and groups[1.0]["lr"] > 0
    with pytest.raises(ValueError, match="names no trained parameter"):
        trainer(photos, tmp_path / "none", lr_scale={"no.such.module": 2.0})
    with pytest.raises(ValueError, match="positive"):
        TrainConfig(lr_scale=(("unet.", 0.0),))
