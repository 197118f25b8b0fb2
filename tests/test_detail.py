"""The detail-capable layout: detail levels, the noise-level input, the gated tone head, and the
training pieces that come with it (true noise levels, the machine's precision, held-out photos)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from net_helpers import randomised
from PIL import Image
from torch import nn

from restore.models import build_degrad, build_model
from restore.models.backbone import PlainNet
from restore.models.config import _TINY_NDR, ModelConfig, preset
from restore.training.config import load_train_config
from restore.training.heldout import heldout_crops, per_crop, validate_heldout
from restore.training.patches import split_holdout
from restore.training.trainer import Trainer, true_noise_level

BODY = {k: v for k, v in _TINY_NDR.items() if k != "unshuffle"}  # the tests' tiny body, at any unshuffle


@pytest.mark.parametrize("arch", ["ndr", "dfpir", "plain"])
def test_detail_levels_pad_themselves_and_keep_the_shape(arch: str) -> None:
    cfg = ModelConfig(arch=arch, unshuffle=4, outer_widths=(4, 8), outer_blocks=1, noise_input=True, **BODY)
    model = randomised(build_model(cfg))
    for h, w in ((37, 45), (64, 64), (1, 70)):
        out, _ = model(torch.rand(2, 3, h, w))
        assert out.shape == (2, 3, h, w)


def test_new_detail_levels_start_at_zero_so_a_warm_start_is_the_old_network() -> None:
    old_cfg = ModelConfig(unshuffle=2, affine_head=True, **BODY)
    old = randomised(build_model(old_cfg))
    new = build_model(ModelConfig(unshuffle=2, affine_head=True, outer_widths=(4,), noise_input=True, **BODY)).eval()
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("unet.outer.") for k in missing)
    x = torch.rand(1, 3, 40, 52)
    with torch.no_grad():
        torch.testing.assert_close(new(x)[0], old(x)[0])


def test_the_noise_map_is_read_and_a_given_level_replaces_the_measured_one() -> None:
    model = randomised(build_model(preset("ndr-detail-tiny")))
    x = (torch.rand(1, 3, 48, 48) * 0.5 + 0.25 + torch.randn(1, 3, 48, 48) * 0.08).clamp(0, 1)
    with torch.no_grad():
        auto, _ = model(x)
        quiet, _ = model(x, noise_sigma=torch.zeros(1, 3))
        loud, _ = model(x, noise_sigma=torch.full((1, 3), 0.2))
    assert not torch.allclose(quiet, loud)
    assert (auto - quiet).abs().mean() > 0 and (auto - loud).abs().mean() > 0


def test_the_tone_head_alone_changes_brightness_the_body_only_detail() -> None:
    cfg = preset("ndr-detail-tiny")
    model = randomised(build_model(cfg))
    with torch.no_grad():
        model.unet.tone.maps.weight.zero_()
        model.unet.tone.maps.bias.zero_()
        x = torch.rand(1, 3, 64, 64)
        body_only, _ = model(x)
        # the same body without the tone head's rule lets its residual move the brightness
        free = build_model(ModelConfig(**{**cfg.__dict__, "tone_head": False}))
        free.load_state_dict(model.state_dict(), strict=False)
        shifted, _ = free.eval()(x)
        model.unet.tone.maps.bias.copy_(torch.tensor([0.3, 0.3, 0.3, 0.0, 0.0, 0.0]))
        brighter, _ = model(x)
    kept = (body_only.mean() - x.mean()).abs()
    moved = (shifted.mean() - x.mean()).abs()
    assert kept < 0.25 * moved and kept < 2 / 255, (kept, moved)
    # the gates (randomised: about 0.5) pass a share of exp(0.3): some 10-20 % brighter
    assert brighter.mean() > body_only.mean() * 1.05


def test_tone_head_and_detail_levels_check_their_settings() -> None:
    with pytest.raises(ValueError, match="detail levels need unshuffle"):
        ModelConfig(outer_widths=(8,), unshuffle=4)
    with pytest.raises(ValueError, match="noise_input"):
        ModelConfig(noise_input=True)
    with pytest.raises(ValueError, match="replaces affine_head"):
        ModelConfig(tone_head=True, affine_head=True)


def test_true_noise_level_adds_the_noise_type_and_low_lights_read_noise() -> None:
    types = ("noise", "rain", "lowlight")
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 1]])
    params = {"noise": {"sigma": torch.tensor([30.0, 40.0])}, "lowlight": {"noise": torch.tensor([30.0, 6.0])}}
    got = true_noise_level(labels, params, types) * 255
    torch.testing.assert_close(got, torch.tensor([30.0, 0.0, 50.0, 6.0]))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 1)):
        (root / split).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (72, 80, 3), dtype=np.uint8)).save(root / split / f"p{i:02d}.png")
    return root


def test_held_out_photos_are_the_same_whatever_the_order_and_never_train(photos: Path) -> None:
    paths = sorted((photos / "train").iterdir())
    train, held = split_holdout(paths, 4)
    assert len(held) == 4 and len(train) == 12 and not set(train) & set(held)
    assert split_holdout(paths[::-1], 4) == (train, held)
    assert split_holdout(paths, 0) == (paths, [])
    with pytest.raises(ValueError, match="leaves none"):
        split_holdout(paths, 16)


def make_trainer(photos: Path, tmp_path: Path, **overrides: object) -> Trainer:
    cfg = load_train_config(
        None, model="ndr-detail-tiny", patch=32, batch=4, steps=2, val_size=32, holdout=4, **overrides
    )
    return Trainer(cfg, photos, tmp_path, torch.device("cpu"))


def test_the_trainer_holds_photos_out_and_picks_its_precision_by_the_machine(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESTORE_PRECISION", "fp32")
    t = make_trainer(photos, tmp_path, bf16=True)
    assert t.precision == "fp32", "a config's bf16 does not override the machine"
    assert len(t.sampler.images) == 12 and len(t.held_out) == 4
    monkeypatch.setenv("RESTORE_PRECISION", "bf16")
    assert make_trainer(photos, tmp_path, bf16=False).precision == "bf16"


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_the_noise_map_shows_the_measured_or_the_true_level(photos: Path, tmp_path: Path, share: float) -> None:
    t = make_trainer(photos, tmp_path, true_noise_share=share)
    clean = torch.full((4, 3, 32, 32), 0.5)  # flat: the measured level is the added noise
    deg = (clean + torch.randn(clean.shape) * 0.1).clamp(0, 1)
    true = torch.tensor([0.1, 0.1, 0.0, 0.2])
    levels = t.noise_map_levels(deg, true)
    if share == 1.0:
        torch.testing.assert_close(levels, true[:, None].expand(4, 3))
    else:
        assert levels.shape == (4, 3) and (levels - 0.1).abs().max() < 0.03


def test_a_training_step_logs_where_its_time_went(photos: Path, tmp_path: Path) -> None:
    t = make_trainer(photos, tmp_path)
    t.train_step()
    assert t.timing["synth"] > 0 and t.timing["forward"] > 0 and t.timing["backward"] > 0


def test_held_out_validation_scores_benchmark_cases_clipped_noise_and_families(photos: Path) -> None:
    crops = heldout_crops(photos, count=2, size=48)
    assert crops.shape == (2, 3, 48, 48)
    model = build_model(preset("ndr-detail-tiny")).eval()  # the identity: gains are 0 by construction
    score = validate_heldout(model, crops)
    rows = set(score.psnr)
    assert {"case:noise25", "case:haze", "case:lowres-x2", "gauss15", "gauss50", "family:rain"} <= rows
    assert all(abs(score.gain(r)) < 0.05 for r in rows)
    assert score.median_gain is not None and abs(score.median_gain) < 0.05
    moved = randomised(build_model(preset("ndr-detail-tiny")))
    assert validate_heldout(moved, crops).mean_gain != score.mean_gain


def test_the_median_gain_sees_past_one_crops_false_alarm(photos: Path) -> None:
    crops = heldout_crops(photos, count=3, size=48)
    identity = build_model(preset("ndr-detail-tiny")).eval()

    class DarkensOneCrop(nn.Module):
        """The identity, but the first crop of every batch comes out 40 grey levels darker."""

        cfg = identity.cfg

        def forward(self, img: torch.Tensor, **_: object) -> tuple[torch.Tensor, dict]:
            out = img.clone()
            out[0] = out[0] - 40 / 255
            return out, {}

    score = validate_heldout(DarkensOneCrop(), crops)
    assert score.mean_gain < -0.3, "the row means carry the one dark crop"
    assert abs(score.median_gain) < 0.05, "two crops of three are untouched on every row"


def test_held_out_row_crop_by_crop_agrees_with_its_mean_and_shows_a_tone_shift(photos: Path) -> None:
    crops = heldout_crops(photos, count=2, size=48)
    model = build_model(preset("ndr-detail-tiny")).eval()  # the identity
    rows = per_crop(model, crops, "case:blur")
    assert len(rows) == 2 and all(abs(pin - pout) < 0.05 and abs(shift) < 0.5 for pin, pout, shift in rows)
    mean = validate_heldout(model, crops).psnr["case:blur"]
    assert abs(sum(pout for _, pout, _ in rows) / 2 - mean) < 0.01

    class Darker(torch.nn.Module):  # the identity, 10 grey levels darker
        cfg = model.cfg

        def forward(self, x: torch.Tensor, **_: object) -> tuple[torch.Tensor, dict]:
            return x - 10 / 255, {}

    dark = per_crop(Darker(), crops, "gauss25")
    assert all(abs(shift + 10) < 1.5 for *_, shift in dark), "clipping at black moves a dark crop's shift a little"
    with pytest.raises(ValueError, match="no row 'family:rain' to show crop by crop; one of: case:"):
        per_crop(model, crops, "family:rain")


def test_held_out_command_shows_a_row_crop_by_crop_with_the_photo_names(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from restore.models.weights import save_weights
    from restore.training import heldout

    monkeypatch.setattr(heldout, "HELD_OUT_PHOTOS", 2)
    monkeypatch.setattr(heldout, "CROP", 48)
    cfg = preset("ndr-detail-tiny")
    weights = save_weights(build_model(cfg), tmp_path / "ndr-restore.safetensors", cfg)
    assert heldout.main([str(weights), "--data", str(photos), "--crops", "case:lowres-x2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [p.stem for p in heldout.held_out_photos(photos)]
    assert lines[1].startswith("| crop | photo | input | output |") and len(lines) == 3 + len(names)
    assert [line.split(" | ")[1] for line in lines[3:]] == names


def test_a_new_layout_is_judged_on_held_out_photos_then_the_benchmark(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from restore.models.weights import save_weights
    from restore.training import chain, heldout

    files = {}
    for side, name in (("shipped", "ndr-tiny"), ("candidate", "ndr-detail-tiny")):
        (tmp_path / side).mkdir()
        cfg = preset(name)
        files[side] = save_weights(build_model(cfg), tmp_path / side / "ndr-restore.safetensors", cfg)
    calls = []

    def bench(name: str, shipped: Path, candidate: Path, limit: float) -> tuple[bool, str, dict]:
        calls.append(limit)
        return True, "benchmark held", {}

    monkeypatch.setattr(chain, "benchmark_check", bench)
    monkeypatch.setattr(heldout, "HELD_OUT_PHOTOS", 4)
    monkeypatch.setattr(heldout, "CROP", 48)
    # both networks are the identity: no gain, so the benchmark is not even asked
    shipped, candidate = files["shipped"], files["candidate"]
    ok, reason, record = chain.new_layout_check("ndr-restore", shipped, candidate, photos, paper=False)
    assert not ok and "held-out mean gain" in reason and not calls
    assert set(record["heldout"]) == {"shipped", "candidate"}
    # a candidate that gains on the held-out photos goes on to the benchmark, at the new layout's limit
    real = heldout.score_file

    def better(weights: Path, crops: torch.Tensor) -> heldout.HeldOutScore:
        s = real(weights, crops)
        return s if weights == files["shipped"] else heldout.HeldOutScore(s.psnr, s.inputs, s.mean_gain + 1, s.harm)

    monkeypatch.setattr(heldout, "score_file", better)
    ok, reason, _ = chain.new_layout_check("ndr-restore", shipped, candidate, photos, paper=False)
    assert ok and "benchmark held" in reason and calls == [chain.MAX_NEW_LAYOUT_BENCHMARK_LOSS_DB]


def test_flip_after_turns_samples_and_their_targets_upside_down_after_the_synthesis(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = make_trainer(photos, tmp_path, flip_after=1.0, scene_tone=0.0)
    clean = torch.rand(4, 3, 32, 32)
    seen = {}
    monkeypatch.setattr(t, "degrade", lambda c: (c * 0.5, torch.zeros(4, 6), torch.zeros(4), torch.ones(4)))

    def objective(restored, deg, target, loss, cfg):
        seen["deg"], seen["target"] = deg, target
        return restored.float().mean() * 0

    monkeypatch.setattr("restore.training.trainer.restoration_objective", objective)
    t.losses(clean)
    torch.testing.assert_close(seen["target"], clean.flip(2))
    torch.testing.assert_close(seen["deg"], (clean * 0.5).flip(2))
    with pytest.raises(ValueError, match="flip_after"):
        load_train_config(None, flip_after=1.5)


def test_the_in_progress_file_is_one_file_and_resumes_with_the_shipped_re_degrader(
    photos: Path, tmp_path: Path
) -> None:
    from restore.models.weights import read_state, save_weights
    from restore.training.cli import main as train_main

    run = tmp_path / "run"
    train_main(
        ["--config", "configs/gpu-tiny/tiny-detail.yaml", "--data", str(photos), "--out", str(run), "--steps", "2"]
    )
    assert (
        train_main(["--export", str(run), "--name", "ndr-detail", "--no-degrad", "--export-dir", str(tmp_path / "wip")])
        == 0
    )
    assert [p.name for p in (tmp_path / "wip").iterdir()] == ["ndr-detail.safetensors"]
    cfg = preset("ndr-detail-tiny")
    degrad_file = save_weights(randomised(build_degrad(cfg)), tmp_path / "ndr-restore-degrad.safetensors", cfg)
    again = tmp_path / "again"
    args = ["--config", "configs/gpu-tiny/tiny-detail.yaml", "--data", str(photos), "--out", str(again), "--steps", "1"]
    train_main([*args, "--init", str(tmp_path / "wip" / "ndr-detail.safetensors"), "--init-degrad", str(degrad_file)])
    resumed = torch.load(again / "last.pt", map_location="cpu", weights_only=True)
    shipped = read_state(degrad_file)
    key = next(k for k in shipped if k.endswith("weight"))
    # one step of AdamW moves each weight by about the learning rate at most
    assert (resumed["degrad"][key] - shipped[key].float()).abs().max() < 1e-3


def test_dfpir_starts_from_ndr_restores_detail_backbone_and_its_own_blocks_and_estimator(
    photos: Path, tmp_path: Path
) -> None:
    from restore.training.run_files import final_weights, read_checkpoint, warm_start_weights

    def saved_run(name: str, model: str, seed: int, **overrides: object) -> Path:
        cfg = load_train_config(None, model=model, model_overrides=overrides, patch=32, batch=2)
        (tmp_path / name).mkdir()
        run = Trainer(cfg, photos, tmp_path / name, torch.device("cpu"))
        randomised(run.model, seed=seed)
        run.save()
        return tmp_path / name / "last.pt"

    detail = {"outer_widths": (4,), "outer_blocks": 1, "noise_input": True, "tone_head": True}
    ndr, old = saved_run("ndr", "ndr-detail-tiny", 1), saved_run("dfpir", "dfpir-tiny", 2)
    cfg = load_train_config(None, model="dfpir-tiny", model_overrides=detail, patch=32, batch=2)
    trainer = Trainer(cfg, photos, tmp_path / "run", torch.device("cpu"))
    warm_start_weights(trainer, ndr, rest=old)
    got = trainer.model.state_dict()
    ndr_state, old_state = (final_weights(read_checkpoint(p)) for p in (ndr, old))
    unet = [k for k in got if k.startswith("unet.")]
    assert any(k.startswith("unet.outer.") for k in unet) and any(k.startswith("unet.tone.") for k in unet)
    for k in unet:  # the whole U-Net, detail levels and tone head included, is NDR-Restore's
        torch.testing.assert_close(got[k], ndr_state[k].to(got[k].dtype))
    own = [k for k in got if k.startswith(("blocks.", "estimator."))]
    assert any(k.startswith("blocks.") for k in own)
    # NDR-Restore's estimator reads another input: DFPIR's comes whole, not layer by layer
    assert ndr_state["estimator.net.0.weight"].shape != got["estimator.net.0.weight"].shape
    for k in own:
        torch.testing.assert_close(got[k], old_state[k].to(got[k].dtype))
    assert trainer.init_from["rest_from"].endswith("last.pt") and "dfpir" in trainer.init_from["rest_from"]


def test_init_rest_without_init_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restore.training.cli import main as train_main

    with pytest.raises(SystemExit) as exit_info:
        train_main(["--init-rest", str(tmp_path / "dfpir.safetensors"), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2 and "give --init too" in capsys.readouterr().err
    assert not (tmp_path / "run").exists(), "nothing is written before the arguments are checked"


def test_gated_perturbation_blocks_start_as_the_identity_so_dfpir_starts_as_ndr_restores_u_net(
    photos: Path, tmp_path: Path
) -> None:
    from restore.training.run_files import warm_start_weights

    detail = {"outer_widths": (4,), "outer_blocks": 1, "noise_input": True, "tone_head": True}
    (tmp_path / "ndr").mkdir()
    ndr_cfg = load_train_config(None, model="ndr-detail-tiny", patch=32, batch=2)
    ndr = Trainer(ndr_cfg, photos, tmp_path / "ndr", torch.device("cpu"))
    randomised(ndr.model, seed=3)
    ndr.save()
    cfg = load_train_config(
        None, model="dfpir-tiny", model_overrides={**detail, "dgpb_gate": True}, patch=32, batch=2, lr=1e-2, warmup=1
    )
    run = Trainer(cfg, photos, tmp_path / "run", torch.device("cpu"))
    warm_start_weights(run, tmp_path / "ndr" / "last.pt")
    model = run.model.eval()
    x = torch.rand(2, 3, 24, 40)
    z = model.prepare(x)[1]
    skips, latent = model.unet.encode(z)
    weights = torch.softmax(torch.randn(2, len(model.cfg.types)), dim=1)
    for block, f in zip(model.blocks, [*skips[:3], latent], strict=True):
        assert torch.equal(block(f, weights), f), "a gated block starts as the exact identity"
    plain = PlainNet(model.cfg).eval()  # the same U-Net with nothing at the blocks' places
    plain.unet = model.unet
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], plain(x)[0], rtol=0, atol=0)
    run.model.train()
    run.train_step()
    gains = [block.gain.detach().abs().max().item() for block in run.model.blocks]
    assert all(g > 0 for g in gains), "training opens the gates"
    for block, f in zip(run.model.blocks, [*skips[:3], latent], strict=True):
        assert not torch.equal(block(f, weights), f)
