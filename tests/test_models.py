"""Networks on the CPU with tiny presets: shapes, the NDR modules, ablations, DFPIR routing, weights I/O."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch

from restore.models import build_degrad, build_model, count_parameters
from restore.models.blocks import topk_mask
from restore.models.config import PRESETS, preset
from restore.models.dfpir import DGPB, routing_weights, type_permutations
from restore.models.ndr import CPGate, DegradationInjection
from restore.models.weights import WeightsError, clean_state_dict, load_weights, read_config, save_weights
from restore.noise import noise_level
from restore.synthesis.registry import DEGRADATION_TYPES

H, W = 37, 53
TINY = ("ndr-tiny", "dfpir-tiny", "plain-tiny")


def image(b: int = 2, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


def tiny(name: str, seed: int = 0, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(preset(name, **overrides)).eval()


def not_identity(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give the zero-initialised output convolution random weights, so the path taken shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model.unet.out.weight
        w.copy_(torch.randn(w.shape, generator=g) * 0.05)
    return model


def names(model: torch.nn.Module) -> set[str]:
    return {n for n, _ in model.named_parameters()}


# --------------------------------------------------------------------------- shapes and presets


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("size", [(H, W), (16, 16), (1, 9), (70, 33)])
def test_output_shape_equals_input(name, size):
    x = image(2, *size)
    with torch.no_grad():
        y, aux = tiny(name)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert isinstance(aux, dict)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds(name):
    cfg = PRESETS[name]
    model = build_model(cfg)
    assert model.cfg == cfg
    assert count_parameters(model) > 10_000
    if cfg.arch == "ndr":
        assert model.dictionary.shape == (32, 128), "the NDR is 32 atoms x 128 dims in every preset"
        assert count_parameters(build_degrad(cfg)) > 0


@pytest.mark.parametrize(("name", "target"), [("ndr-paper", 27.3e6), ("dfpir-paper", 31.1e6)])
def test_paper_presets_have_the_papers_size(name, target):
    n = count_parameters(build_model(PRESETS[name]))
    assert abs(n - target) <= 0.05 * target, f"{name}: {n / 1e6:.2f} M parameters, paper {target / 1e6:.1f} M"


def test_small_and_tiny_are_smaller_than_paper():
    counts = {n: count_parameters(build_model(c)) for n, c in PRESETS.items() if "paper" not in n}
    assert all(v < 10e6 for v in counts.values()), counts
    assert counts["ndr-tiny"] < counts["ndr-small"] and counts["dfpir-tiny"] < counts["dfpir-small"]


def test_plain_preset_has_no_extras():
    with torch.no_grad():
        _, aux = tiny("plain-tiny")(image())
    assert aux == {}


# --------------------------------------------------------------------------- NDR modules


def test_dq_activations_are_a_softmax_over_atoms_at_three_scales():
    model = tiny("ndr-tiny")
    with torch.no_grad():
        _, aux = model(image())
    maps = aux["activations"]
    assert len(maps) == 3
    for level, a in enumerate(maps):
        assert a.shape[:2] == (2, model.cfg.atoms)
        assert (a >= 0).all()
        assert torch.allclose(a.sum(1), torch.ones_like(a.sum(1)), atol=1e-5), f"level {level}"
    # fine to coarse: each scale halves the previous one
    assert [m.shape[-1] for m in maps] == [maps[0].shape[-1] // 2**i for i in range(3)]
    assert [m.shape[-2] for m in maps] == [maps[0].shape[-2] // 2**i for i in range(3)]
    assert [q.shape[1] for q in aux["queries"]] == [model.cfg.query_dim] * 3
    assert aux["logits"].shape == (2, len(DEGRADATION_TYPES))


def test_estimator_observes_the_dictionary_without_steering_it():
    model = tiny("ndr-tiny").train()
    _, aux = model(image())
    aux["logits"].sum().backward()
    assert model.dictionary.grad is None or float(model.dictionary.grad.abs().max()) == 0.0
    assert all(p.grad is not None and float(p.grad.abs().max()) > 0 for p in model.estimator.parameters())


@pytest.mark.parametrize("name", ["ndr-tiny", "dfpir-tiny"])
def test_estimate_gives_the_forward_pass_estimate_from_the_encoder_alone(name):
    net = tiny(name)
    for m in net.modules():  # random output convolutions, so the decoder would matter if it were run
        if isinstance(m, torch.nn.Conv2d) and not bool(m.weight.any()):
            m.reset_parameters()
    x = image()
    with torch.inference_mode():
        _, aux = net(x)
        est = net.estimate(x)
    assert torch.allclose(est["logits"], aux["logits"], atol=1e-5)
    if name.startswith("ndr"):
        assert len(est["activations"]) == 3
        for a, b in zip(est["activations"], aux["activations"], strict=True):
            assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("hw", [(1, 1), (1, 17), (17, 1), (5, 9), (13, 31), (32, 32)])
def test_cp_gate_in_unit_interval_at_any_size(hw):
    torch.manual_seed(0)
    gate = CPGate(12, 16)
    x = torch.randn(2, 12, *hw) * 3
    with torch.no_grad():
        g = gate.gate(x)
    assert g.shape == x.shape
    assert float(g.min()) > 0 and float(g.max()) < 1
    assert torch.allclose(gate(x), x * g)


def test_degradation_injection_shapes_and_residual():
    torch.manual_seed(0)
    f, e = torch.randn(2, 16, 9, 11), torch.randn(2, 8, 9, 11)
    with_res = DegradationInjection(16, query_dim=8, rank=4, cp_gate=True, residual=True)
    no_res = DegradationInjection(16, query_dim=8, rank=4, cp_gate=True, residual=False)
    no_res.load_state_dict(with_res.state_dict())
    assert with_res(f, e).shape == f.shape
    assert torch.allclose(with_res(f, e), no_res(f, e) + f, atol=1e-6)


def test_ndr_degrad_output_shape():
    cfg = preset("ndr-tiny")
    model, degrad = tiny("ndr-tiny"), build_degrad(cfg)
    x, clean = image(), image(seed=1)
    with torch.no_grad():
        _, aux = model(x)
        out = degrad(clean, aux["queries"])
    assert out.shape == clean.shape and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="ndr"):
        build_degrad(preset("dfpir-tiny"))


# --------------------------------------------------------------------------- ablations


def test_concat_injection_has_no_gate_gamma_or_beta():
    di, cat = names(tiny("ndr-tiny")), names(tiny("ndr-tiny", injection="concat"))
    inj = {n for n in cat if n.startswith("injections.")}
    assert inj and all(".fuse." in n for n in inj)
    assert not any(k in n for n in cat for k in ("gate_", "gamma", "beta"))
    assert any("gamma" in n for n in di) and any("gate_f" in n for n in di)
    assert {n for n in cat if not n.startswith("injections.")} == {n for n in di if not n.startswith("injections.")}


def test_no_cp_gate_removes_only_the_gates():
    full, nocp = tiny("ndr-tiny"), tiny("ndr-tiny", cp_gate=False)
    assert not any(isinstance(m, CPGate) for m in nocp.modules())
    assert sum(isinstance(m, CPGate) for m in full.modules()) == 6  # gate_e and gate_f per skip
    removed = names(full) - names(nocp)
    assert removed and all(".gate_" in n for n in removed)
    assert names(nocp) <= names(full)
    degrad = build_degrad(preset("ndr-tiny", cp_gate=False))
    assert not any(isinstance(m, CPGate) for m in degrad.modules())


def test_plain_arch_is_the_bare_backbone():
    ndr, plain = names(tiny("ndr-tiny")), names(tiny("ndr-tiny", arch="plain"))
    assert "dictionary" in ndr and "dictionary" not in plain
    assert plain == {n for n in ndr if n.startswith("unet.")}


def test_di_residual_switch_keeps_parameters():
    assert names(tiny("ndr-tiny", di_residual=False)) == names(tiny("ndr-tiny"))


def test_invalid_config_values_are_rejected():
    with pytest.raises(ValueError, match="injection"):
        preset("ndr-tiny", injection="add")
    with pytest.raises(KeyError, match="valid"):
        preset("ndr-tiny", widht=8)
    with pytest.raises(KeyError, match="ndr-tiny"):
        preset("ndr-huge")


# --------------------------------------------------------------------------- DFPIR


def test_type_permutations_are_fixed_true_and_distinct():
    p = type_permutations(32, seed=0, block=1)
    assert p.shape == (len(DEGRADATION_TYPES), 32) and p.dtype == torch.long
    assert torch.equal(p, type_permutations(32, seed=0, block=1)), "same seed, same permutations"
    assert not torch.equal(p, type_permutations(32, seed=1, block=1)), "another seed, other permutations"
    assert not torch.equal(p, type_permutations(32, seed=0, block=2)), "each block has its own"
    for row in p:
        assert torch.equal(row.sort().values, torch.arange(32)), "must be a true permutation"
    assert len({tuple(r.tolist()) for r in p}) == len(DEGRADATION_TYPES), "types must differ"


def test_dfpir_model_permutations_depend_only_on_perm_seed():
    a, b = tiny("dfpir-tiny", seed=0), tiny("dfpir-tiny", seed=123)
    c = tiny("dfpir-tiny", perm_seed=5)
    blocks = [m for m in a.modules() if isinstance(m, DGPB)]
    assert len(blocks) == 4  # three skips and the latent
    for x, y, z in zip(a.blocks, b.blocks, c.blocks, strict=True):
        assert torch.equal(x.perms, y.perms)
        assert not torch.equal(x.perms, z.perms)
        assert x.keep_ratio == a.cfg.keep_ratio and x.alpha.item() == pytest.approx(a.cfg.alpha_init)


@pytest.mark.parametrize("n", [10, 16, 48])
def test_topk_mask_keeps_exactly_the_configured_share(n):
    logits = torch.randn(3, 4, n, n, generator=torch.Generator().manual_seed(n))
    masked = topk_mask(logits, 0.9)
    kept = torch.isfinite(masked)
    assert (kept.sum(-1) == math.ceil(0.9 * n)).all()
    assert torch.equal(masked[kept], logits[kept]), "kept logits are unchanged"
    # the kept ones are the largest of their row
    smallest_kept = masked.masked_fill(~kept, float("inf")).amin(-1)
    largest_dropped = logits.masked_fill(kept, float("-inf")).amax(-1)
    assert (smallest_kept >= largest_dropped).all()
    probs = masked.softmax(-1)
    assert torch.allclose(probs.sum(-1), torch.ones(3, 4, n))
    assert torch.equal(topk_mask(logits, 1.0), logits)


def test_networks_start_as_the_identity():
    x = image()
    for name in TINY:
        with torch.no_grad():
            assert torch.equal(tiny(name)(x)[0], x), name


def test_affine_head_scales_and_shifts_the_input():
    model = tiny("ndr-tiny")
    x = image()
    with torch.no_grad():
        model.unet.affine.bias.copy_(torch.tensor([math.log(2.0)] * 3 + [0.1, -0.1, 0.0]))
        out = model(x)[0]
    expected = x * 2 + torch.tensor([0.1, -0.1, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(out, expected, atol=1e-5)
    # A spatially varying gain is upsampled smoothly: no blocks at the unshuffled grid.
    with torch.no_grad():
        model.unet.affine.bias.zero_()
        model.unet.affine.weight.normal_(0, 0.3)
        gain = model(torch.ones(1, 3, 64, 64))[0] - 0.0
    step = (gain[..., 1:] - gain[..., :-1]).abs()
    assert step.max() < 0.5 * (gain.amax() - gain.amin())


def test_affine_head_switch_adds_one_convolution():
    with_head = names(tiny("ndr-tiny"))
    without = names(tiny("ndr-tiny", affine_head=False))
    assert with_head - without == {"unet.affine.weight", "unet.affine.bias"}
    assert without <= with_head


def test_noise_level_reads_the_sigma_of_white_noise_through_texture():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 128), torch.linspace(0, 1, 128), indexing="ij")
    scene = (0.5 + 0.3 * torch.sin(12 * xx + 5 * yy) + 0.1 * (xx > 0.5)).expand(2, 3, 128, 128)
    for sigma in (5, 15, 50):
        noisy = scene + sigma / 255 * torch.randn(2, 3, 128, 128, generator=g)
        est = noise_level(noisy) * 255  # in grey levels
        assert est.shape == (2, 3)
        assert torch.allclose(est, torch.full((2, 3), float(sigma)), rtol=0.1), (sigma, est)
    assert float(noise_level(scene).max()) * 255 < 1.0, "smooth shading and one edge are not noise"


def test_dfpir_estimator_reads_the_noise_level_when_asked():
    with_noise, without = tiny("dfpir-tiny"), tiny("dfpir-tiny", estimator_noise=False)
    assert with_noise.estimator.net[0].in_features == without.estimator.net[0].in_features + 3
    x = image(h=32, w=48)  # a multiple of the network's, so no padding: the estimate is the input's own
    with torch.no_grad():
        pooled = with_noise(x)[1]["estimator_input"]
    assert torch.allclose(pooled[:, -3:], torch.log(10 * noise_level(x) + 0.02))


def test_texture_pooling_sees_fine_structure():
    from restore.models.ndr import pooled_features

    flat = torch.full((1, 4, 8, 8), 0.25)
    checker = (torch.arange(8).view(1, 8) + torch.arange(8).view(8, 1)) % 2
    fine = checker.float().expand(1, 4, 8, 8) * 0.5
    assert pooled_features([flat]).shape == (1, 8)
    assert pooled_features([flat], texture=True).shape == (1, 12)
    assert torch.equal(pooled_features([flat], texture=True)[0, 8:], torch.zeros(4))
    assert torch.allclose(pooled_features([fine], texture=True)[0, 8:], torch.full((4,), 0.5))
    model = tiny("ndr-tiny")
    assert model.estimator.net[0].in_features == 3 * model.cfg.atoms * 3
    dfpir = tiny("dfpir-tiny", estimator_noise=False)
    chans = (*dfpir.unet.skip_channels, dfpir.unet.latent_channels)
    assert dfpir.estimator.net[0].in_features == 3 * sum(chans)
    with torch.no_grad():
        _, aux = dfpir(image())
    assert aux["estimator_input"].shape == (2, 3 * sum(chans))


def test_dfpir_blind_and_oracle_paths_differ():
    model = not_identity(tiny("dfpir-tiny"))
    x = image()
    rain = torch.zeros(2, len(DEGRADATION_TYPES))
    rain[:, DEGRADATION_TYPES.index("rain")] = 1
    haze = rain.roll(1, dims=1)
    with torch.no_grad():
        blind, aux_b = model(x)
        oracle, aux_o = model(x, weights=rain)
        other, _ = model(x, weights=haze)
        mixed, aux_m = model(x, weights=rain, blind=torch.tensor([True, False]))
    assert blind.shape == oracle.shape == x.shape
    assert torch.allclose(aux_b["weights"].sum(1), torch.ones(2))
    assert torch.equal(aux_o["weights"], rain)
    assert not torch.allclose(blind, oracle), "routing by the estimator and by the true type must differ"
    assert not torch.allclose(oracle, other), "different types must route differently"
    assert torch.equal(aux_m["weights"][0], aux_b["weights"][0]) and torch.equal(aux_m["weights"][1], rain[1])
    assert torch.allclose(mixed[1], oracle[1], atol=1e-6)


def test_routing_weights_sum_to_one():
    probs = torch.tensor([[0.9, 0.1, 0.0, 0.0, 0.3, 0.0], [0.0] * 6, [0.2] * 6])
    blend = routing_weights(probs, "blend")
    dominant = routing_weights(probs, "dominant")
    assert torch.allclose(blend.sum(1), torch.ones(3)) and torch.allclose(dominant.sum(1), torch.ones(3))
    assert torch.allclose(blend[0], probs[0] / probs[0].sum())
    assert torch.allclose(blend[1], torch.full((6,), 1 / 6)), "no evidence: uniform"
    assert dominant[0].argmax() == 0 and set(dominant.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="blend"):
        routing_weights(probs, "vote")


# --------------------------------------------------------------------------- weights I/O


@pytest.mark.parametrize("name", TINY)
def test_weights_round_trip_is_exact(name, tmp_path):
    cfg = preset(name)
    src = not_identity(tiny(name, seed=0))
    path = save_weights(src, tmp_path / f"{name}.safetensors", cfg, extra={"note": {"steps": 3}})
    assert read_config(path) == cfg
    dst = build_model(read_config(path))
    torch.manual_seed(99)
    for p in dst.parameters():  # make sure loading, not the seed, makes them equal
        torch.nn.init.normal_(p)
    load_weights(dst, path)
    a, b = src.state_dict(), dst.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
    assert all(v.dtype == torch.float32 for v in b.values() if v.is_floating_point())
    with torch.no_grad():
        assert torch.equal(src(image())[0], dst.eval()(image())[0])


def test_half_precision_file_loads_into_float32(tmp_path):
    cfg = preset("ndr-tiny")
    src = tiny("ndr-tiny")
    path = save_weights(src, tmp_path / "half.safetensors", cfg, dtype=torch.float16)
    dst = load_weights(build_model(cfg), path)
    for k, v in dst.state_dict().items():
        assert v.dtype == src.state_dict()[k].dtype
        assert torch.allclose(v, src.state_dict()[k], atol=1e-2, rtol=1e-3), k


def test_strict_loading_rejects_a_mismatched_file(tmp_path):
    path = save_weights(tiny("ndr-tiny"), tmp_path / "ndr.safetensors", preset("ndr-tiny"))
    for other in (tiny("plain-tiny"), tiny("ndr-tiny", cp_gate=False), tiny("ndr-tiny", width=16)):
        with pytest.raises(WeightsError, match="does not match"):
            load_weights(other, path)


def test_corrupt_or_missing_file_raises_weights_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).byte().numpy().tobytes())
    with pytest.raises(WeightsError, match="not a readable safetensors file") as exc:
        load_weights(tiny("ndr-tiny"), bad)
    assert str(bad) in str(exc.value)
    with pytest.raises(WeightsError, match="not a readable"):
        read_config(bad)
    with pytest.raises(WeightsError, match="not found"):
        load_weights(tiny("ndr-tiny"), tmp_path / "missing.safetensors")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(WeightsError):
        load_weights(tiny("ndr-tiny"), empty)


def test_clean_state_dict_strips_wrapper_prefixes():
    t = torch.zeros(1)
    state = OrderedDict(
        [
            ("module.a.weight", t),
            ("_orig_mod.b.bias", t),
            ("module._orig_mod.c.weight", t),
            ("module.module.d", t),
            ("e.weight", t),
            ("f._orig_mod.g", t),
        ]
    )
    assert list(clean_state_dict(state)) == ["a.weight", "b.bias", "c.weight", "d", "e.weight", "f.g"]
    model = tiny("ndr-tiny")
    wrapped = {f"module._orig_mod.{k}": v for k, v in model.state_dict().items()}
    model.load_state_dict(clean_state_dict(wrapped), strict=True)
