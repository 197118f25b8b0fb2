"""The degradation library: contracts (shape, range, seeds), identities, physics, mixtures, sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restore.synthesis import ops
from restore.synthesis import registry as D
from restore.synthesis.registry import DEGRADATION_TYPES, DEGRADATIONS, ORDER, degrade, sample

H, W = 37, 53  # odd on purpose


def texture(b: int = 2, h: int = H, w: int = W, seed: int = 0) -> torch.Tensor:
    """A stationary textured batch ``(b, 3, h, w)`` in [0.2, 0.8] (room to move both ways)."""
    g = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(b, 3, h, w, generator=g)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def local_std(x: torch.Tensor, k: int = 5) -> torch.Tensor:
    """Per-pixel standard deviation over a ``k x k`` window, averaged over channels (valid region)."""
    m = F.avg_pool2d(x, k, 1)
    m2 = F.avg_pool2d(x * x, k, 1)
    return (m2 - m * m).clamp(min=0).sqrt().mean(1, keepdim=True)


def autocorr(layer: torch.Tensor, dy: int, dx: int) -> float:
    """Normalised autocorrelation of ``(..., H, W)`` at the offset ``(dy, dx)``."""
    a = layer - layer.mean()
    h, w = a.shape[-2:]
    p = a[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    q = a[..., max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
    return float((p * q).mean() / (a * a).mean())


# --------------------------------------------------------------------------- contracts


def test_types_and_registry_agree():
    assert DEGRADATION_TYPES == ("noise", "rain", "haze", "blur", "lowres", "lowlight")
    assert set(DEGRADATIONS) == set(DEGRADATION_TYPES)
    for name, d in DEGRADATIONS.items():
        assert d.name == name and d.doc
        for p in d.params:
            assert p.low <= p.default <= p.high, (name, p.name)
            assert p.low <= p.train[0] <= p.train[1] <= p.high, (name, p.name)


@pytest.mark.parametrize("name", DEGRADATION_TYPES)
def test_shape_dtype_range(name):
    x = texture()
    out = degrade(x, {name: {}}, seed=0)
    assert out.image.shape == x.shape
    assert out.image.dtype == torch.float32
    assert out.image.device == x.device
    assert float(out.image.min()) >= 0.0 and float(out.image.max()) <= 1.0
    assert torch.isfinite(out.image).all()
    assert not torch.equal(out.image, x), f"{name} at its default parameters left the image unchanged"


@pytest.mark.parametrize("name", DEGRADATION_TYPES)
def test_float64_keeps_dtype(name):
    x = texture().double()
    assert degrade(x, {name: {}}, seed=0).image.dtype == torch.float64


@pytest.mark.parametrize("name", DEGRADATION_TYPES)
def test_extreme_parameters_stay_in_range(name):
    d = DEGRADATIONS[name]
    x = torch.cat([torch.zeros(1, 3, H, W), torch.ones(1, 3, H, W)])
    for pick in (lambda p: p.low, lambda p: p.high):
        out = degrade(x, {name: {p.name: pick(p) for p in d.params}}, seed=3).image
        assert torch.isfinite(out).all()
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("name", DEGRADATION_TYPES)
def test_same_seed_same_image(name):
    x = texture()
    a = degrade(x, {name: {}}, seed=7).image
    b = degrade(x, {name: {}}, seed=7).image
    assert torch.equal(a, b)
    c = degrade(x, {name: {}}, generator=gen(7)).image
    assert torch.equal(a, c), "seed=s and generator=Generator().manual_seed(s) must agree"


@pytest.mark.parametrize("name", [t for t in DEGRADATION_TYPES if t != "lowres"])
def test_different_seed_different_image(name):
    x = texture()
    assert not torch.equal(degrade(x, {name: {}}, seed=1).image, degrade(x, {name: {}}, seed=2).image)


def test_lowres_is_deterministic_without_a_seed():
    x = texture()
    assert torch.equal(degrade(x, {"lowres": {}}, seed=1).image, degrade(x, {"lowres": {}}, seed=2).image)


def test_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        degrade(torch.rand(3, H, W), {"noise": {}}, seed=0)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        degrade(torch.rand(1, 4, H, W), {"noise": {}}, seed=0)


def test_uint8_round_trip():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    x = D.to_tensor(img)
    assert x.shape == (1, 3, H, W) and x.dtype == torch.float32
    assert np.array_equal(D.to_uint8(x), img)
    out = D.degrade_image(img, {"noise": {"sigma": 10}}, seed=0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out, D.degrade_image(img, {"noise": {"sigma": 10}}, seed=0))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        D.to_tensor(img.astype(np.float32))


# --------------------------------------------------------------------------- identity at zero strength

IDENTITY = {
    "noise": {"sigma": 0, "signal": 0},
    "rain": {"density": 0},
    "haze": {"beta": 0},
    "blur": {"length": 0},
    "lowres": {"scale": 1},
    "lowlight": {"gain": 1, "gamma": 1, "noise": 0},
}


@pytest.mark.parametrize("name", DEGRADATION_TYPES)
def test_identity_at_zero_strength(name):
    x = texture()
    out = degrade(x, {name: IDENTITY[name]}, seed=0).image
    assert torch.allclose(out, x, atol=1e-6), f"{name} {IDENTITY[name]} changed the image"


# --------------------------------------------------------------------------- physics


@pytest.mark.parametrize("sigma", [5.0, 15.0, 25.0, 50.0])
def test_noise_residual_std_matches_sigma(sigma):
    x = torch.full((1, 3, 128, 128), 0.5)
    y = ops.noise(x, gen(0), sigma=sigma)
    std = float((y - x).std())
    assert std == pytest.approx(sigma / 255, rel=0.03), f"residual std {std * 255:.2f} for sigma {sigma}"
    assert abs(float((y - x).mean())) < 0.1 * sigma / 255, "noise must be zero-mean"


def test_noise_signal_dependent_part_grows_with_brightness():
    dark, bright = torch.full((1, 3, 96, 96), 0.1), torch.full((1, 3, 96, 96), 0.6)
    k = 0.01
    for x in (dark, bright):
        std = float((ops.noise(x, gen(0), sigma=5.0, signal=k) - x).std())
        assert std == pytest.approx(math.sqrt((5 / 255) ** 2 + k * float(x[0, 0, 0, 0])), rel=0.03)


def _energy_above(x: torch.Tensor, cutoff: float) -> float:
    """Share of the (mean-removed) spectral energy at frequencies above ``cutoff`` cycles/px."""
    spec = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    fy = torch.fft.fftfreq(x.shape[-2]).abs().view(-1, 1)
    fx = torch.fft.fftfreq(x.shape[-1]).abs().view(1, -1)
    above = torch.maximum(fy, fx) > cutoff
    return float((spec * above).sum() / spec.sum())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lowres_removes_energy_above_the_new_nyquist(scale):
    x = torch.rand(2, 3, 129, 131, generator=gen(0))  # white noise: energy at every frequency
    y = ops.lowres(x, gen(0), scale=float(scale))
    before, after = _energy_above(x, 1 / (2 * scale)), _energy_above(y, 1 / (2 * scale))
    assert before > 0.7
    # Bicubic upsampling is not an ideal low-pass: a few per cent leak back above the cut-off.
    assert after < 0.1 and after < before / 10, f"x{scale}: {after:.3f} of the energy above Nyquist"


def test_lowres_is_antialiased():
    # Stripes with a 3 px period alias into visible bands when downscaled x4 without a low-pass.
    cols = torch.arange(W, dtype=torch.float32)
    stripes = (0.5 + 0.4 * torch.cos(2 * math.pi * cols / 3)).expand(1, 3, H, W).contiguous()
    out = ops.lowres(stripes, gen(0), scale=4.0)
    assert float(out[..., 4:-4, 4:-4].std()) < 0.03


def test_lowres_per_sample_scales():
    x = texture(3)
    out = ops.lowres(x, gen(0), scale=torch.tensor([1.0, 2.0, 4.0]))
    assert torch.equal(out[0], x[0])
    assert torch.allclose(out[1:2], ops.lowres(x[1:2], gen(0), scale=2.0))
    assert torch.allclose(out[2:3], ops.lowres(x[2:3], gen(0), scale=4.0))


def test_haze_contrast_falls_with_depth():
    x = texture(2, 96, 97)
    y = ops.haze(x, gen(5), beta=1.5, airlight=0.9)
    depth = ops.depth_map(x, gen(5))  # haze draws its depth map first, from the same generator
    kept = local_std(y) / local_std(x)  # ~ transmission t
    top, bottom = float(kept[..., :20, :].mean()), float(kept[..., -20:, :].mean())
    assert top < 0.7 * bottom, f"contrast kept at the top {top:.2f} vs bottom {bottom:.2f}"
    d = depth[..., 2:-2, 2:-2].flatten()
    r = torch.corrcoef(torch.stack([kept.flatten(), d]))[0, 1]
    assert r < -0.9, f"contrast should fall with depth (correlation {float(r):.2f})"


def test_haze_brightens_toward_the_airlight():
    x = texture(2, 96, 97)
    for beta in (0.5, 1.5, 3.0):
        y = ops.haze(x, gen(5), beta=beta, airlight=0.95)
        top, bottom = float(y[..., :20, :].mean()), float(y[..., -20:, :].mean())
        assert top > bottom > float(x.mean()), f"beta {beta}"
        assert top < 0.95 + 0.03 + 1e-6
    # A black scene shows the airlight alone: A * (1 - t) grows with depth.
    black = ops.haze(torch.zeros(2, 3, 64, 65), gen(5), beta=1.5)
    depth = ops.depth_map(torch.zeros(2, 3, 64, 65), gen(5))
    r = torch.corrcoef(torch.stack([black.mean(1).flatten(), depth.flatten()]))[0, 1]
    assert r > 0.95


def test_depth_map_is_far_at_the_top():
    d = ops.depth_map(texture(4, 64, 64), gen(0))
    assert d.shape == (4, 1, 64, 64)
    assert float(d.min()) >= 0 and float(d.max()) <= 1
    assert (d[..., :16, :].mean(dim=(1, 2, 3)) > d[..., -16:, :].mean(dim=(1, 2, 3))).all()


def test_lowlight_darkens_monotonically_in_gain():
    x = texture(2, 64, 64)
    means = [float(ops.lowlight(x, gen(0), gain=g, gamma=1.6, noise=4.0).mean()) for g in (0.05, 0.1, 0.25, 0.5, 1.0)]
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means
    assert means[-2] < float(x.mean()), "a dim exposure must be darker than the photo"
    # Gamma > 1 crushes shadows more than highlights.
    flat = ops.lowlight(x, gen(0), gain=1.0, gamma=2.0, noise=0.0)
    assert torch.allclose(flat, x**2, atol=1e-6)


def test_blur_kernels_are_normalised_and_non_negative():
    for length in (5.0, 15.0, 31.0):
        k = ops.motion_kernels(length, gen(0), batch=16, shake=0.7)
        assert k.shape[-1] % 2 == 1 and k.shape[-1] >= length
        assert (k >= 0).all()
        assert torch.allclose(k.sum(dim=(-1, -2)), torch.ones(16), atol=1e-5)


def _minor_axis_variance(k: torch.Tensor) -> torch.Tensor:
    """Smaller eigenvalue of each kernel's spatial covariance (px^2): ~0 for a straight line."""
    r = torch.arange(k.shape[-1], dtype=k.dtype)
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    my, mx = (k * yy).sum((1, 2)), (k * xx).sum((1, 2))
    dy, dx = yy - my.view(-1, 1, 1), xx - mx.view(-1, 1, 1)
    cyy, cxx, cxy = (k * dy * dy).sum((1, 2)), (k * dx * dx).sum((1, 2)), (k * dy * dx).sum((1, 2))
    half = (cyy + cxx) / 2
    return half - torch.sqrt((half**2 - (cyy * cxx - cxy**2)).clamp(min=0))


def test_blur_shake_bends_the_trajectory():
    straight = _minor_axis_variance(ops.motion_kernels(21.0, gen(0), batch=64, shake=0.0))
    shaky = _minor_axis_variance(ops.motion_kernels(21.0, gen(0), batch=64, shake=0.8))
    assert float(straight.max()) < 0.5, "shake=0 must give straight lines"
    assert float((shaky > 2.0).float().mean()) > 0.3, "shake>0 must often bend the path"


def test_blur_uses_the_returned_kernel_and_keeps_flat_areas():
    x = texture()
    out = degrade(x, {"blur": {"length": 11}}, seed=4)
    k = out.extras["blur_kernel"]
    assert k.shape[0] == 2
    assert torch.allclose(out.image, ops.blur(x, gen(0), kernel=k), atol=1e-6)
    flat = torch.full((2, 3, H, W), 0.4)
    assert torch.allclose(ops.blur(flat, gen(0), length=21.0), flat, atol=1e-5)
    assert float(out.image.std()) < float(x.std()), "blur must lower the variance of a texture"


def test_rain_adds_light_only():
    x = texture(2, 64, 64)
    for density in (0.2, 1.0):
        y = ops.rain(x, gen(1), density=density)
        assert float((y - x).min()) >= -1e-6, "rain is screen-blended: it never darkens"
        assert float((y - x).mean()) > 0


@pytest.mark.parametrize("angle", [0.0, 20.0, -20.0])
def test_rain_streaks_are_elongated_along_the_angle(angle):
    layer = ops.rain(torch.zeros(2, 3, 128, 128), gen(1), density=0.5, length=20, angle=angle, width=1.0)[:, :1]
    a, r = math.radians(angle), 6
    # Angle 0 is vertical and positive angles lean the top to the right: along = (sin a, -cos a).
    along = autocorr(layer, round(-r * math.cos(a)), round(r * math.sin(a)))
    across = autocorr(layer, round(r * math.sin(a)), round(r * math.cos(a)))
    assert along > 0.5 and along > 5 * abs(across), f"along {along:.2f} across {across:.2f}"
    if angle:
        mirrored = autocorr(layer, round(-r * math.cos(a)), round(-r * math.sin(a)))
        assert along > 5 * abs(mirrored), "the streaks lean the wrong way"


def test_rain_brightness_bounds_the_streaks():
    layer = ops.rain(torch.zeros(1, 3, 64, 64), gen(2), density=1.0, brightness=0.4)
    assert float(layer.max()) <= 0.4 + 1e-6
    assert torch.equal(layer[:, 0], layer[:, 1]), "streaks are colourless light"


# --------------------------------------------------------------------------- mixtures and specs


def test_order_is_physical_and_documented():
    assert sorted(ORDER) == sorted(DEGRADATION_TYPES)
    pos = ORDER.index
    assert pos("haze") < pos("rain") < pos("noise")
    assert pos("blur") < pos("noise") and pos("lowres") < pos("noise")
    assert pos("lowlight") < pos("noise")
    assert "ORDER" in D.__doc__ or "order" in D.__doc__.lower()


def op_defaults(name: str) -> dict[str, float]:
    """The defaults of a type's operator in ``ops`` (generator 0): its parameters minus the family ones."""
    return {p.name: p.default for p in DEGRADATIONS[name].params if not p.family}


def test_mixture_applies_the_order_whatever_the_spec_order():
    x = texture()
    a = degrade(x, {"noise": {"sigma": 20}, "haze": {"beta": 1.0}, "rain": {}}, seed=3)
    b = degrade(x, {"rain": {}, "haze": {"beta": 1.0}, "noise": {"sigma": 20}}, seed=3)
    assert torch.equal(a.image, b.image)
    # ... and equals the chain of single functions drawing from one generator in ORDER.
    g = gen(3)
    y = ops.haze(x, g, **op_defaults("haze") | {"beta": 1.0})
    y = ops.rain(y, g, **op_defaults("rain"))
    y = ops.noise(y, g, **op_defaults("noise") | {"sigma": 20})
    assert torch.allclose(a.image, y, atol=1e-6)


@pytest.mark.parametrize(
    "spec", [{"lowlight": {}, "noise": {}}, {"haze": {}, "noise": {}}, {"rain": {}, "haze": {}}, {"blur": {}}, {}]
)
def test_mixture_labels_and_severity(spec):
    out = degrade(texture(), spec, seed=0)
    assert out.labels.shape == out.severity.shape == (2, len(DEGRADATION_TYPES))
    for i, name in enumerate(DEGRADATION_TYPES):
        if name in spec:
            assert (out.labels[:, i] == 1).all() and (out.severity[:, i] > 0).all(), name
            assert set(out.params[name]) == {p.name for p in DEGRADATIONS[name].params}
        else:
            assert (out.labels[:, i] == 0).all() and (out.severity[:, i] == 0).all(), name
    assert out.names(0) == [t for t in DEGRADATION_TYPES if t in spec]
    assert float(out.severity.min()) >= 0 and float(out.severity.max()) <= 1


def test_severity_grows_with_strength():
    x = texture()
    for name, key, lo, hi in [
        ("noise", "sigma", 10, 50),
        ("haze", "beta", 0.5, 2.5),
        ("blur", "length", 5, 25),
        ("lowres", "scale", 2, 4),
        ("rain", "density", 0.2, 0.9),
    ]:
        i = DEGRADATION_TYPES.index(name)
        s_lo = degrade(x, {name: {key: lo}}, seed=0).severity[0, i]
        s_hi = degrade(x, {name: {key: hi}}, seed=0).severity[0, i]
        assert s_lo < s_hi, name
    i = DEGRADATION_TYPES.index("lowlight")
    dim = degrade(x, {"lowlight": {"gain": 0.1}}, seed=0).severity[0, i]
    assert dim > degrade(x, {"lowlight": {"gain": 0.8}}, seed=0).severity[0, i]


def test_validate_spec_fills_defaults():
    full = D.validate_spec({"noise": {"sigma": 10}, "haze": {}})
    assert full["noise"] == {"sigma": 10, "signal": 0, "kind": 0, "quality": 50}
    assert full["haze"] == DEGRADATIONS["haze"].defaults()


def test_validate_spec_errors_name_the_valid_choices():
    with pytest.raises(ValueError, match="unknown degradation 'snow'") as exc:
        D.validate_spec({"snow": {}})
    assert all(t in str(exc.value) for t in DEGRADATION_TYPES)
    with pytest.raises((ValueError, KeyError), match="sigma") as exc:
        D.validate_spec({"noise": {"sgima": 3}})
    assert "signal" in str(exc.value) and "sgima" in str(exc.value)
    with pytest.raises(ValueError, match=r"noise\.sigma=99.*\[0, 60\]"):
        D.validate_spec({"noise": {"sigma": 99}})
    with pytest.raises(ValueError, match=r"lowres\.scale"):
        D.validate_spec({"lowres": {"scale": 0.5}})
    with pytest.raises(ValueError, match="outside"):
        degrade(texture(), {"haze": {"beta": -1}}, seed=0)


def test_per_sample_tensor_parameters():
    x = texture(3)
    sigma = torch.tensor([0.0, 10.0, 50.0])
    out = degrade(x, {"noise": {"sigma": sigma}}, seed=0)
    assert torch.equal(out.image[0], x[0])
    stds = [float((out.image[i] - x[i]).std()) for i in (1, 2)]
    assert stds[0] == pytest.approx(10 / 255, rel=0.15) and stds[1] == pytest.approx(50 / 255, rel=0.15)
    sev = out.severity[:, DEGRADATION_TYPES.index("noise")]
    assert sev[0] < sev[1] < sev[2]
    assert torch.equal(out.params["noise"]["sigma"], sigma)
    # Per-sample parameters for every type run and keep the batch.
    for name, d in DEGRADATIONS.items():
        params = {p.name: torch.linspace(p.train[0], p.train[1], 3) for p in d.params}
        assert degrade(x, {name: params}, seed=0).image.shape == x.shape
    lowlight = degrade(x, {"lowlight": {"gain": torch.tensor([1.0, 0.5, 0.1]), "gamma": 1.0, "noise": 0.0}}, seed=0)
    assert torch.allclose(lowlight.image, x * torch.tensor([1.0, 0.5, 0.1]).view(-1, 1, 1, 1), atol=1e-6)


# --------------------------------------------------------------------------- training sampler


def test_sample_labels_severities_and_mixtures():
    x = texture(96, 24, 24)
    out = sample(x, gen(0), p_mixture=0.3, p_clean=0.05)
    assert out.image.shape == x.shape
    assert float(out.image.min()) >= 0 and float(out.image.max()) <= 1
    counts = out.labels.sum(1)
    assert (counts == 1).any() and (counts >= 2).any(), "a batch should hold single types and mixtures"
    assert set(out.labels.unique().tolist()) <= {0.0, 1.0}
    assert float(out.severity.min()) >= 0 and float(out.severity.max()) <= 1
    assert (out.severity[out.labels == 0] == 0).all(), "severity must be 0 where a type is absent"
    assert (out.severity[out.labels == 1] > 0).all()
    mixtures = {frozenset(m) for m in D.TRAIN_MIXTURES}
    for row in out.labels[counts >= 2]:
        assert frozenset(t for t, v in zip(DEGRADATION_TYPES, row.tolist(), strict=True) if v) in mixtures
    singles = out.labels[counts == 1].argmax(1)
    assert len(singles.unique()) >= 4, "single types should be spread over the six"
    clean = counts == 0
    assert torch.equal(out.image[clean], x[clean]), "a clean sample must be left alone"
    changed = (out.image - x).abs().flatten(1).amax(1) > 0
    assert changed[~clean].all()


def test_sample_mix_controls():
    x = texture(16, 16, 16)
    assert (sample(x, gen(0), p_mixture=0.0, p_clean=0.0).labels.sum(1) == 1).all()
    assert (sample(x, gen(0), p_mixture=1.0, p_clean=0.0).labels.sum(1) >= 2).all()
    everything_clean = sample(x, gen(0), p_clean=1.0)
    assert (everything_clean.labels == 0).all() and torch.equal(everything_clean.image, x)


def test_sample_type_weights_shift_the_single_types():
    x = texture(600, 8, 8)
    labels = sample(x, gen(3), p_mixture=0.0, p_clean=0.0, type_weights={"haze": 5}).labels
    counts = labels.sum(0)
    haze = DEGRADATION_TYPES.index("haze")
    # haze has odds 5 of 10, every other type 1 of 10: ~300 against ~60 each
    assert 240 < counts[haze] < 360
    assert all(20 < counts[i] < 110 for i in range(len(DEGRADATION_TYPES)) if i != haze)
    only_noise = sample(x, gen(3), p_mixture=0.0, p_clean=0.0, type_weights={t: 0 for t in DEGRADATION_TYPES[1:]})
    assert (only_noise.labels[:, 0] == 1).all()
    for bad in ({"fog": 2}, {"haze": -1}, {t: 0 for t in DEGRADATION_TYPES}):
        with pytest.raises(ValueError, match="type_weights"):
            sample(x, gen(3), type_weights=bad)


def test_sample_is_seeded_and_keeps_params_in_training_ranges():
    x = texture(32, 20, 20)
    a, b = sample(x, gen(9)), sample(x, gen(9))
    assert torch.equal(a.image, b.image) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.image, sample(x, gen(10)).image)
    for name, params in a.params.items():
        for p in DEGRADATIONS[name].params:
            v = params[p.name]
            if (name, p.name) == ("lowres", "scale"):
                assert set(v.tolist()) <= {2.0, 3.0, 4.0}
            else:
                assert float(v.min()) >= p.train[0] - 1e-6 and float(v.max()) <= p.train[1] + 1e-6, (name, p.name)


def test_random_spec_is_valid_and_seeded():
    specs = [D.random_spec(gen(s), max_types=3, p_mixture=0.5) for s in range(40)]
    assert D.random_spec(gen(3), max_types=3, p_mixture=0.5) == specs[3]
    assert any(len(s) == 1 for s in specs) and any(len(s) >= 2 for s in specs)
    for spec in specs:
        assert 1 <= len(spec) <= 3
        D.validate_spec(spec)
