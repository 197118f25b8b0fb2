"""Degradation families: every generator's contract and physics, today's specs unchanged, the
family sampler, held-out generators, the JPEG and Lanczos building blocks, the generator sheet
and the generator benchmark."""

from __future__ import annotations

import hashlib
import io
import itertools
import json

import numpy as np
import pytest
import torch
from PIL import Image

from restore.evaluation import contact_sheet as C
from restore.evaluation import transfer
from restore.images import load_image
from restore.resources import example_photos
from restore.synthesis import families as Fm
from restore.synthesis import registry as D
from restore.synthesis import variants as V
from restore.synthesis.jpeg import dct_matrix, jpeg, quant_tables
from restore.synthesis.resample import METHODS, lanczos, lanczos_weights, resize
from restore.training.config import TrainConfig, load_train_config

GENERATORS = [(t, k) for t, fam in Fm.FAMILIES.items() for k in range(len(fam))]
# Generators that draw no randomness: the downsamplers and the fixed blur kernels.
DETERMINISTIC = {("lowres", n) for n in Fm.names("lowres")} | {("blur", "defocus"), ("blur", "gaussian")}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the hashes below were written with one thread
    yield
    torch.set_num_threads(threads)


def texture(b: int = 2, h: int = 32, w: int = 40, seed: int = 0, lo: float = 0.2, hi: float = 0.8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(b, 3, h, w, generator=g)


def run(name: str, kind: int, x: torch.Tensor, seed: int = 1, **params: float) -> torch.Tensor:
    return D.degrade(x, {name: {**Fm.example(name, kind), **params}}, seed=seed).image


def u8_hash(t: torch.Tensor) -> str:
    return hashlib.sha256((t.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- today's specs, bit for bit

# uint8 hashes of degrade()/sample() written before the families existed (seed 5; sample seeds 0-2).
BEFORE = {
    "noise/tex": ({"noise": {}}, "6c786435457d5036"),
    "noise2/photo": ({"noise": {"sigma": 40, "signal": 0.01}}, "7700645e714dca2f"),
    "rain/photo": ({"rain": {}}, "0c851711cff9ebfa"),
    "rain2/tex": ({"rain": {"density": 0.9, "length": 30, "angle": -15, "width": 1.4}}, "abd1346aba788bb4"),
    "haze/photo": ({"haze": {}}, "b05277e02726fceb"),
    "haze2/tex": ({"haze": {"beta": 2.5, "airlight": 0.7}}, "d968de09dfe6790a"),
    "blur/tex": ({"blur": {}}, "27814a48cf4520b3"),
    "blur2/photo": ({"blur": {"length": 25, "shake": 0.9}}, "84d9101e22a46f53"),
    "lowres/photo": ({"lowres": {}}, "c60291c9999a8bb7"),
    "lowres3/tex": ({"lowres": {"scale": 3}}, "58bf059277013c03"),
    "lowlight/photo": ({"lowlight": {}}, "233c55f8739eae9b"),
    "lowlight2/tex": ({"lowlight": {"gain": 0.1, "gamma": 2.2, "noise": 10}}, "6f2f6372c9776b81"),
    "mix/tex": ({t: {} for t in D.DEGRADATION_TYPES}, "cc79ef79a9b9af23"),
    "mix/photo": ({t: {} for t in D.DEGRADATION_TYPES}, "8f7bee07d08441a8"),
}
SAMPLE_BEFORE = {0: "9804a7bd9d60598d", 1: "24558388ea0da2f7"}


def before_inputs() -> dict[str, torch.Tensor]:
    tex = 0.05 + 0.9 * torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    return {"tex": tex, "photo": D.to_tensor(load_image(example_photos()[0])[:64, :80])}


def test_todays_specs_give_todays_images():
    inputs = before_inputs()
    for key, (spec, expected) in BEFORE.items():
        x = inputs[key.split("/")[1]]
        assert u8_hash(D.degrade(x, spec, seed=5).image) == expected, key
        with_kind = {t: {**p, "kind": 0} for t, p in spec.items()}
        assert torch.equal(D.degrade(x, with_kind, seed=5).image, D.degrade(x, spec, seed=5).image), key


def test_default_sampler_gives_todays_batches_and_records_generator_0():
    for seed, expected in SAMPLE_BEFORE.items():
        x = 0.05 + 0.9 * torch.rand(24, 3, 24, 24, generator=torch.Generator().manual_seed(seed))
        out = D.sample(x, torch.Generator().manual_seed(seed), p_mixture=0.3, p_clean=0.05)
        assert u8_hash(out.image) == expected
        for name, params in out.params.items():
            assert (params["kind"] == 0).all(), name
    x = 0.05 + 0.9 * torch.rand(24, 3, 24, 24, generator=torch.Generator().manual_seed(2))
    assert u8_hash(D.sample(x, torch.Generator().manual_seed(2), type_weights={"haze": 3}).image) == "02c3ac68961c28af"


def test_random_spec_keeps_family_parameters_at_their_defaults():
    for s in range(10):
        spec = D.random_spec(torch.Generator().manual_seed(s))
        for name, values in spec.items():
            for p in D.DEGRADATIONS[name].params:
                if p.family:
                    assert values[p.name] == p.default
    kinds = {
        v["kind"] for s in range(60) for v in D.random_spec(torch.Generator().manual_seed(s), families=True).values()
    }
    assert len(kinds) >= 4
    D.validate_spec(D.random_spec(torch.Generator().manual_seed(3), families=True))


# --------------------------------------------------------------------------- every generator's contract


def test_kind_parameter_is_registered_with_a_readable_label():
    for name, family in Fm.FAMILIES.items():
        kind = D.DEGRADATIONS[name].param("kind")
        assert (kind.low, kind.high, kind.default, kind.step) == (0, len(family) - 1, 0, 1) and kind.family
        assert kind.label.startswith("Generator (0: ") and family[-1].label in kind.label
        assert D.generator_names(name) == Fm.names(name)
        params = {p.name for p in D.DEGRADATIONS[name].params}
        for v in family:
            assert set(v.uses) <= params, (name, v.name)
            for pname in params - {"kind"}:
                r = v.ranges.get(pname, Fm.WIDE[name][pname])
                p = D.DEGRADATIONS[name].param(pname)
                assert p.low <= r.low <= r.high <= p.high, (name, v.name, pname)
    with pytest.raises(ValueError, match="whole number"):
        D.validate_spec({"blur": {"kind": 1.5}})


@pytest.mark.parametrize(("name", "kind"), GENERATORS)
def test_generator_contract(name, kind):
    x = texture()
    y = run(name, kind, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and float(y.min()) >= 0 and float(y.max()) <= 1
    assert (y - x).abs().mean() > 0.01, "the generator left the image unchanged"
    assert torch.equal(y, run(name, kind, x)), "same seed, same image"
    if (name, Fm.FAMILIES[name][kind].name) not in DETERMINISTIC:
        assert not torch.equal(y, run(name, kind, x, seed=2))
    assert run(name, kind, x.double()).dtype == torch.float64
    extremes = torch.cat([torch.zeros(1, 3, 24, 24), torch.ones(1, 3, 24, 24)])
    for pick in ("low", "high"):
        spec = {p.name: getattr(p, pick) for p in D.DEGRADATIONS[name].params if p.name != "kind"}
        out = D.degrade(extremes, {name: {**spec, "kind": kind}}, seed=0).image
        assert torch.isfinite(out).all() and float(out.min()) >= 0 and float(out.max()) <= 1


# Gaussian noise as is, quantised to 8 bits, or folded instead of clipped: the same noise, so the
# images differ only by the rounding or near black and white (their own tests check those).
SUBTLE = {("noise", 0, 1), ("noise", 0, 2), ("noise", 1, 2)}


@pytest.mark.parametrize("name", list(Fm.FAMILIES))
def test_generators_of_a_type_differ(name):
    x = texture(1, 48, 48)
    outs = [run(name, k, x) for k in range(len(Fm.FAMILIES[name]))]
    for (i, a), (j, b) in itertools.combinations(enumerate(outs), 2):
        assert not torch.equal(a, b), f"{name}: generators {i} and {j} give the same image"
        if (name, i, j) not in SUBTLE:
            assert (a - b).abs().mean() > 2e-3, f"{name}: generators {i} and {j} give nearly the same image"


def test_mixed_generators_in_one_batch_match_single_calls():
    x = texture(3)
    for name in ("noise", "blur", "lowres"):
        kinds = torch.tensor([1.0, 0.0, 2.0])
        spec = {name: {**Fm.EXAMPLES[name], "kind": kinds}}
        batch = D.degrade(x, spec, seed=0)
        assert torch.equal(batch.params[name]["kind"], kinds)
        if name == "lowres":  # deterministic: each sample must equal its own call
            for i, k in enumerate(kinds.tolist()):
                assert torch.allclose(batch.image[i], run(name, int(k), x[i : i + 1])[0], atol=1e-6)


# --------------------------------------------------------------------------- noise


def test_noise_sigma_is_respected_by_every_generator():
    x = texture(2, 48, 48, lo=0.25, hi=0.75)
    smooth = torch.linspace(0.3, 0.7, 48).view(1, 1, 1, 48).expand(2, 3, 48, 48)  # JPEG keeps it nearly intact
    for kind, v in enumerate(Fm.FAMILIES["noise"]):
        std = [float((run("noise", kind, smooth, sigma=s, signal=0, quality=90) - smooth).std()) for s in (8, 40)]
        assert std[1] > std[0] * 2, v.name
        if v.name != "jpeg":  # JPEG adds its own error
            for s in (8, 25):
                r = run("noise", kind, x, sigma=s, signal=0) - x
                assert float(r.std()) == pytest.approx(s / 255, rel=0.15), (v.name, s)


def test_8bit_noise_is_quantised():
    y = run("noise", Fm.names("noise").index("gaussian-8bit"), texture())
    assert torch.allclose(y * 255, torch.round(y * 255), atol=1e-4)


def test_unclipped_noise_has_no_pile_up_at_black_and_white():
    x = torch.cat([torch.full((1, 3, 48, 48), 0.02), torch.full((1, 3, 48, 48), 0.98)])
    clipped = run("noise", 0, x, sigma=25)
    folded = run("noise", Fm.names("noise").index("unclipped"), x, sigma=25)
    assert ((clipped == 0) | (clipped == 1)).float().mean() > 0.3
    assert ((folded == 0) | (folded == 1)).float().mean() < 0.01
    assert abs(float(folded.mean() - x.mean())) < abs(float(clipped.mean() - x.mean())) + 0.02


def test_poisson_gaussian_variance_grows_with_brightness():
    k = Fm.names("noise").index("poisson-gaussian")
    var = {}
    for level in (0.1, 0.8):
        x = torch.full((1, 3, 64, 64), level)
        var[level] = float((run("noise", k, x, sigma=1, signal=0.01) - x).var())
        assert var[level] == pytest.approx(0.01 * level + (1 / 255) ** 2, rel=0.2)
    assert var[0.8] > 4 * var[0.1]


def test_per_channel_noise_has_its_own_sigma_per_channel():
    x = torch.full((4, 3, 48, 48), 0.5)
    r = run("noise", Fm.names("noise").index("per-channel"), x, sigma=20) - x
    per_channel = r.std(dim=(2, 3))  # (B, 3)
    assert (per_channel.amax(1) / per_channel.amin(1) > 1.1).any()
    assert per_channel.pow(2).mean(1).sqrt().mean() * 255 == pytest.approx(20, rel=0.1)


def autocorr(r: torch.Tensor, dy: int, dx: int) -> float:
    h, w = r.shape[-2:]
    a = r - r.mean(dim=(-1, -2), keepdim=True)
    p, q = a[..., : h - dy, : w - dx], a[..., dy:, dx:]
    return float((p * q).mean() / (a * a).mean())


def test_correlated_noise_is_not_white_and_keeps_sigma():
    x = torch.full((4, 3, 48, 48), 0.5)
    white = run("noise", 0, x, sigma=20) - x
    corr = run("noise", Fm.names("noise").index("correlated"), x, sigma=20) - x
    assert abs(autocorr(white, 0, 1)) < 0.05 and abs(autocorr(white, 1, 0)) < 0.05
    assert autocorr(corr, 0, 1) > 0.3 and autocorr(corr, 1, 0) > 0.3, "a non-delta autocorrelation"
    assert float(corr.std()) * 255 == pytest.approx(20, rel=0.15)


def test_jpeg_after_noise_shows_8x8_blocks():
    x = torch.full((1, 3, 64, 64), 0.5)
    y = run("noise", Fm.names("noise").index("jpeg"), x, sigma=20, quality=10)
    steps = (y[..., :, 1:] - y[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # (63,) between columns c and c+1
    boundary = steps[7::8].mean()
    inside = steps[torch.arange(63) % 8 != 7].mean()
    assert boundary > 2 * inside


# --------------------------------------------------------------------------- JPEG and Lanczos


def test_jpeg_tracks_pil_and_quality():
    img = load_image(example_photos()[0])[:96, :120]
    x = D.to_tensor(img)
    last = 0.0
    for q in (10, 50, 90):
        ours = D.to_uint8(jpeg(x, q)).astype(float)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        pil = np.asarray(Image.open(buf)).astype(float)
        assert 10 * np.log10(255**2 / np.mean((ours - pil) ** 2)) > 38, f"quality {q}: far from a real JPEG"
        quality = 10 * np.log10(255**2 / np.mean((ours - img) ** 2))
        assert quality > last
        last = quality
    y = jpeg(x.expand(2, -1, -1, -1), torch.tensor([10.0, 90.0]))
    assert torch.equal(y[0], jpeg(x, 10)[0]) and torch.equal(y[1], jpeg(x, 90)[0])
    assert torch.allclose(y * 255, torch.round(y * 255), atol=1e-4)


def test_dct_and_tables():
    d = dct_matrix()
    assert torch.allclose(d @ d.T, torch.eye(8), atol=1e-6)
    luma, chroma = quant_tables(torch.tensor([50.0, 100.0]))
    assert luma[0, 0, 0] == 16 and chroma[0, 0, 0] == 17  # quality 50 is the standard table
    assert (luma[1] == 1).all() and (chroma[1] == 1).all()


def test_lanczos_matches_pil_and_keeps_flat_areas():
    img = load_image(example_photos()[1])[:128, :128]
    ours = D.to_uint8(lanczos(D.to_tensor(img), (64, 64)).clamp(0, 1)).astype(float)
    pil = np.asarray(Image.fromarray(img).resize((64, 64), Image.Resampling.LANCZOS)).astype(float)
    assert 10 * np.log10(255**2 / np.mean((ours - pil) ** 2)) > 35
    w = lanczos_weights(50, 17)
    assert torch.allclose(w.sum(1), torch.ones(17), atol=1e-5)
    flat = torch.full((1, 3, 30, 30), 0.3)
    for method in METHODS:
        assert torch.allclose(resize(flat, (11, 13), method), torch.full((1, 3, 11, 13), 0.3), atol=1e-5)
    with pytest.raises(ValueError, match="unknown resampling"):
        resize(flat, (10, 10), "box")


# --------------------------------------------------------------------------- rain, haze


def test_rain_density_adds_more_rain_in_every_generator():
    x = texture(1, 64, 64, lo=0.1, hi=0.3)
    for kind, v in enumerate(Fm.FAMILIES["rain"]):
        change = [float((run("rain", kind, x, density=d) - x).abs().mean()) for d in (0.2, 1.0)]
        assert change[1] > change[0], v.name
        assert float(run("rain", kind, x).mean()) > float(x.mean()), f"{v.name}: rain is light"


@pytest.mark.parametrize("kind", range(len(Fm.FAMILIES["haze"])))
def test_haze_beta_zero_is_the_identity(kind):
    x = texture()
    assert torch.allclose(run("haze", kind, x, beta=0), x, atol=1e-6)


def test_light_haze_transmission_stays_in_range():
    # On a black scene the output is A (1 - t), so t = 1 - y / A.
    x = torch.zeros(4, 3, 48, 48)
    y = run("haze", Fm.names("haze").index("light"), x, beta=3.0, airlight=1.0)
    t = 1 - y.amax(dim=1) / 1.0
    assert float(t.min()) > 0.28 and float(t.max()) < 0.97


def test_added_streaks_keep_their_strength_over_bright_ground():
    # The same streaks (same seed) over grey 0.1 and 0.7: a screen blend adds L (1 - x), a third as
    # much light over 0.7; added streaks add the same light (none reaches white here).
    dark, bright = torch.full((1, 3, 48, 48), 0.1), torch.full((1, 3, 48, 48), 0.7)
    for kind, expected in ((Fm.names("rain").index("added"), 1.0), (0, 0.3 / 0.9)):
        light = [float((run("rain", kind, x, seed=3, brightness=0.25) - x).sum()) for x in (dark, bright)]
        assert light[1] / light[0] == pytest.approx(expected, rel=0.02), Fm.names("rain")[kind]


def test_uniform_veil_hazes_near_and_far_alike():
    # On a black scene the output is A (1 - t), so t = 1 - y / A.
    x = torch.zeros(6, 3, 48, 48)
    beta = 1.0
    y = run("haze", Fm.names("haze").index("uniform"), x, beta=beta, airlight=1.0)
    t = 1 - y.amax(dim=1)
    assert float(t.min()) > np.exp(-beta) - 0.02 and float(t.max()) < np.exp(-beta * 0.5) + 0.02
    light = 1 - run("haze", Fm.names("haze").index("light"), x, beta=beta, airlight=1.0).amax(dim=1)
    spread = (t.amax(dim=(1, 2)) - t.amin(dim=(1, 2))).mean()
    assert float(spread) < float((light.amax(dim=(1, 2)) - light.amin(dim=(1, 2))).mean())


def test_depth_models_put_the_far_at_the_top_or_the_bottom():
    # Haze that always thickens upward teaches the direction, not the haze: the scene prior and
    # the vertical cue of the family's depth models point either way.
    x = torch.full((32, 3, 48, 48), 0.5)
    for depth in (V.any_depth, V.cue_depth):
        d = depth(x, torch.Generator().manual_seed(0))
        rise = d[:, 0, :16].mean(dim=(1, 2)) - d[:, 0, -16:].mean(dim=(1, 2))
        assert int((rise > 0.2).sum()) >= 4 and int((rise < -0.2).sum()) >= 4, depth.__name__


def test_tinted_airlight_is_coloured():
    x = torch.zeros(4, 3, 32, 32)
    grey = run("haze", 0, x, beta=3.0, airlight=0.9).mean(dim=(2, 3))
    tinted = run("haze", Fm.names("haze").index("tinted"), x, beta=3.0, airlight=0.9).mean(dim=(2, 3))
    assert float((grey.amax(1) - grey.amin(1)).max()) < 0.04
    assert float((tinted.amax(1) - tinted.amin(1)).max()) > 0.08


def test_cue_depth_puts_bright_grey_far_and_saturated_dark_near():
    x = torch.zeros(3, 3, 48, 64)
    x[..., :32] = 0.9  # a bright, grey left part (sky, distant haze)
    x[:, 0, :, 32:] = 0.4  # a dark, saturated red right part
    d = V.cue_depth(x, torch.Generator().manual_seed(0))
    assert d.shape == (3, 1, 48, 64) and float(d.min()) >= 0 and float(d.max()) <= 1
    assert (d[..., :16].mean(dim=(1, 2, 3)) > d[..., -16:].mean(dim=(1, 2, 3)) + 0.3).all()


def test_uneven_haze_varies_over_a_uniform_scene():
    x = torch.zeros(2, 3, 48, 48)
    even = run("haze", Fm.names("haze").index("light"), x, beta=2.0)
    uneven = run("haze", Fm.names("haze").index("uneven"), x, beta=2.0)
    assert float(uneven.std(dim=(2, 3)).mean()) > 0.02 and uneven.shape == even.shape


# --------------------------------------------------------------------------- blur


def test_every_blur_kernel_is_normalised_and_grows_with_length():
    g = torch.Generator().manual_seed(0)
    for kind, v in enumerate(Fm.FAMILIES["blur"]):
        spread = []
        for length in (3.0, 15.0, 31.0):
            p = {"length": torch.full((2,), length), "shake": torch.full((2,), 0.5), "kind": torch.full((2,), kind)}
            k = Fm.blur_kernels(p, g, batch=2, device=torch.device("cpu"))
            assert k.shape[-1] % 2 == 1 and k.shape[-1] >= length
            assert float(k.min()) >= 0 and torch.allclose(k.sum(dim=(1, 2)), torch.ones(2), atol=1e-5), v.name
            r = torch.arange(k.shape[-1]) - k.shape[-1] // 2
            spread.append(float((k * (r.view(1, -1, 1) ** 2 + r.view(1, 1, -1) ** 2)).sum(dim=(1, 2)).mean()))
        assert spread[0] < spread[1] < spread[2], v.name


def test_defocus_kernel_is_a_disc():
    p = {"length": torch.tensor([11.0]), "shake": torch.tensor([0.0]), "kind": torch.tensor([2.0])}
    k = Fm.blur_kernels(p, torch.Generator(), batch=1, device=torch.device("cpu"))[0]
    n = k.shape[-1]
    r = torch.arange(n) - n // 2
    dist = (r.view(-1, 1) ** 2 + r.view(1, -1) ** 2).float().sqrt()
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0)) and torch.allclose(k, k.flip(1))
    inside = k[dist <= 4.5]
    assert torch.allclose(inside, inside.max().expand_as(inside)), "flat inside the rim"
    assert (k[dist >= 6.5] == 0).all(), "nothing beyond the rim"
    assert float(k.sum()) == pytest.approx(1.0, abs=1e-5)


def test_linear_motion_kernel_is_a_line():
    p = {"length": torch.tensor([21.0]), "shake": torch.tensor([1.0]), "kind": torch.tensor([1.0])}
    k = Fm.blur_kernels(p, torch.Generator().manual_seed(3), batch=1, device=torch.device("cpu"))[0]
    r = (torch.arange(k.shape[-1]) - k.shape[-1] // 2).float()
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    cov = torch.tensor([[(k * xx * xx).sum(), (k * xx * yy).sum()], [(k * xx * yy).sum(), (k * yy * yy).sum()]])
    eig = torch.linalg.eigvalsh(cov)
    assert eig[1] > 20 * eig[0], "all the spread along one direction"


def test_degrade_returns_the_kernel_it_used():
    x = texture(2)
    for kind in range(len(Fm.FAMILIES["blur"])):
        out = D.degrade(x, {"blur": {"length": 9, "kind": kind}}, seed=4)
        k = out.extras["blur_kernel"]
        assert torch.allclose(k.sum(dim=(1, 2)), torch.ones(2), atol=1e-5)


# --------------------------------------------------------------------------- low resolution, low light


def test_lowres_downsamplers_alias_differently():
    # A fine grating above the new Nyquist limit: antialiased filters remove it, nearest folds it back.
    xx = torch.arange(64).float()
    x = (0.5 + 0.4 * torch.cos(torch.pi * 0.9 * xx)).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()
    energy = {v.name: float(run("lowres", k, x, scale=4).std()) for k, v in enumerate(Fm.FAMILIES["lowres"])}
    assert energy["nearest"] > 3 * energy["bicubic"] and energy["nearest"] > 3 * energy["lanczos"]
    x = texture(1, 48, 48)
    plain = run("lowres", 0, x, scale=2)
    assert torch.equal(plain, D.degrade(x, {"lowres": {"scale": 2}}).image)
    blurred = run("lowres", 0, x, scale=2, preblur=1.5)
    compressed = run("lowres", 0, x, scale=2, quality=20)
    assert (blurred - x).abs().mean() > (plain - x).abs().mean()
    assert not torch.equal(compressed, plain)
    for k in range(len(Fm.FAMILIES["lowres"])):
        assert torch.equal(run("lowres", k, x, scale=1, preblur=1, quality=20), x), "scale 1 is the identity"


def test_lowlight_generators_darken_with_gain():
    x = texture(2, 32, 32)
    for kind, v in enumerate(Fm.FAMILIES["lowlight"]):
        means = [float(run("lowlight", kind, x, gain=g, noise=1).mean()) for g in (0.1, 0.4)]
        assert means[0] < means[1] < float(x.mean()), v.name


def test_lowlight_curves():
    grey = torch.full((1, 3, 8, 8), 0.5)
    gamma = run("lowlight", Fm.names("lowlight").index("gamma"), grey, gain=0.3, gamma=1.4, noise=0)
    assert torch.allclose(gamma, torch.full_like(grey, 0.3 * 0.5**1.4), atol=1e-5), "mid-grey as generator 0 puts it"
    linear = run("lowlight", Fm.names("lowlight").index("linear"), grey, gain=0.3, noise=0)
    assert torch.allclose(linear, torch.full_like(grey, 0.15), atol=1e-6)
    x = texture()
    assert torch.allclose(V.linear_to_srgb(V.srgb_to_linear(x)), x, atol=1e-5)
    exposure = run("lowlight", Fm.names("lowlight").index("exposure"), x, gain=0.3, noise=0)
    assert torch.allclose(exposure, V.linear_to_srgb(V.srgb_to_linear(x) * 0.3**2.2), atol=1e-5)
    cast = run("lowlight", Fm.names("lowlight").index("cast"), torch.full((4, 3, 16, 16), 0.6), noise=0)
    ratios = cast.mean(dim=(2, 3))
    assert float((ratios.amax(1) / ratios.amin(1)).max()) > 1.2, "a visible colour cast"


# --------------------------------------------------------------------------- the family sampler


def test_family_sampler_covers_every_generator():
    x = texture(300, 12, 12)
    out = D.sample(x, torch.Generator().manual_seed(0), families=True, p_mixture=0.0, p_clean=0.0)
    assert float(out.image.min()) >= 0 and float(out.image.max()) <= 1
    for name, family in Fm.FAMILIES.items():
        kinds = out.params[name]["kind"]
        assert set(kinds.long().tolist()) == set(range(len(family))), name
        for pname, values in out.params[name].items():
            if pname == "kind":
                continue
            p = D.DEGRADATIONS[name].param(pname)
            assert float(values.min()) >= p.low and float(values.max()) <= p.high, (name, pname)
    scales = out.params["lowres"]["scale"]
    assert len(scales.unique()) > 10 and float(scales.min()) >= 1.5, "continuous factors"
    again = D.sample(x, torch.Generator().manual_seed(0), families=True, p_mixture=0.0, p_clean=0.0)
    assert torch.equal(out.image, again.image)
    assert not torch.equal(out.image, D.sample(x, torch.Generator().manual_seed(0), p_mixture=0.0, p_clean=0.0).image)


def test_exclusion_holds_generators_out():
    x = texture(200, 8, 8)
    held = {"blur": ("defocus",), "noise": ["jpeg", "correlated"]}
    out = D.sample(x, torch.Generator().manual_seed(1), families=True, exclude=held, p_mixture=0.0, p_clean=0.0)
    blur_kinds = set(out.params["blur"]["kind"].long().tolist())
    noise_kinds = set(out.params["noise"]["kind"].long().tolist())
    assert Fm.names("blur").index("defocus") not in blur_kinds and len(blur_kinds) == 3
    assert not noise_kinds & {Fm.names("noise").index("jpeg"), Fm.names("noise").index("correlated")}
    for bad, match in (
        ({"fog": ("x",)}, "no generator family"),
        ({"blur": ("bokeh",)}, "no generator"),
        ({"blur": Fm.names("blur")}, "keep at least one"),
    ):
        with pytest.raises(ValueError, match=match):
            D.sample(x, torch.Generator(), families=True, exclude=bad)
    with pytest.raises(ValueError, match="families=True"):
        D.sample(x, torch.Generator(), exclude={"blur": ("defocus",)})


def test_train_config_families_and_held_out_generators(tmp_path):
    assert TrainConfig().families is False and TrainConfig().exclude_generators == ()
    path = tmp_path / "cfg.yaml"
    path.write_text("families: true\nexclude_generators: {blur: [defocus], noise: jpeg}\n")
    cfg = load_train_config(path)
    assert cfg.families and dict(cfg.exclude_generators) == {"blur": ("defocus",), "noise": ("jpeg",)}
    from dataclasses import asdict

    assert load_train_config(None, **json.loads(json.dumps(asdict(cfg)))) == cfg, "checkpoint round trip"
    with pytest.raises(ValueError, match="families: true"):
        load_train_config(None, exclude_generators={"blur": ["defocus"]})
    with pytest.raises(ValueError, match="no generator"):
        load_train_config(None, families=True, exclude_generators={"blur": ["bokeh"]})


def test_trainer_passes_the_family_settings(monkeypatch):
    from restore.training import trainer as T

    seen = {}

    def spy(x, generator, **kw):
        seen.update(kw)
        raise StopIteration

    monkeypatch.setattr(T, "sample", spy)
    fake = type("Fake", (), {})()
    fake.cfg = TrainConfig(families=True, exclude_generators=(("blur", ("defocus",)),))
    fake.gdev, fake.mcfg = torch.Generator(), type("M", (), {"types": D.DEGRADATION_TYPES})()
    with pytest.raises(StopIteration):
        T.Trainer.degrade(fake, torch.zeros(1, 3, 8, 8))
    assert seen["families"] is True and seen["exclude"] == {"blur": ("defocus",)}


def test_family_share_splits_the_batch(monkeypatch):
    from restore.training import trainer as T

    calls = []

    def spy(x, generator, **kw):
        calls.append((x.shape[0], kw["families"], kw["exclude"]))
        return D.degrade(x, {}, seed=0)

    monkeypatch.setattr(T, "sample", spy)
    fake = type("Fake", (), {})()
    fake.gdev, fake.mcfg = torch.Generator(), type("M", (), {"types": D.DEGRADATION_TYPES})()
    held = (("blur", ("defocus",)),)
    fake.cfg = TrainConfig(families=True, family_share=0.5, exclude_generators=held)
    image, labels, sigma, scale = T.Trainer.degrade(fake, torch.rand(8, 3, 8, 8))
    assert calls == [(4, True, {"blur": ("defocus",)}), (4, False, {})]
    assert image.shape == (8, 3, 8, 8) and labels.shape[0] == 8 and sigma.shape == scale.shape == (8,)
    calls.clear()
    fake.cfg = TrainConfig(families=False, family_share=0.5)
    T.Trainer.degrade(fake, torch.rand(8, 3, 8, 8))
    assert calls == [(8, False, {})], "without families the share changes nothing"
    with pytest.raises(ValueError, match="family_share"):
        TrainConfig(family_share=1.5)


# --------------------------------------------------------------------------- sheet and benchmark


def test_family_sheet_has_one_cell_per_generator(tmp_path):
    rows = C.family_cells()
    assert [len(r) for r in rows] == [len(f) for f in Fm.FAMILIES.values()]
    for row, name in zip(rows, Fm.FAMILIES, strict=True):
        for k, cell in enumerate(row):
            assert cell.spec[name]["kind"] == k and name in cell.title
            D.validate_spec(cell.spec)
    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "fam.jpg"
    assert C.main(["--families", "--image", str(photo), "--out", str(out), "--size", "24"]) == 0
    columns = max(len(f) for f in Fm.FAMILIES.values())
    assert Image.open(out).size == C.grid_shape(len(rows) * columns, 24, columns)


def test_shipped_family_sheet_is_small_enough():
    if not C.FAMILIES_OUT.exists():
        pytest.skip("assets/contact_sheet_families.jpg not generated yet")
    assert C.FAMILIES_OUT.stat().st_size < 400_000


class Identity:
    def restore(self, img: np.ndarray, **kwargs) -> np.ndarray:
        return img


def test_generator_benchmark_scores_every_generator(tmp_path):
    for i in range(2):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(
            tmp_path / f"p{i}.png"
        )
    photos = sorted(tmp_path.glob("*.png"))
    crops = transfer.fixed_crops(photos, 2, 24, seed=3)
    assert [c.shape for c in crops] == [(24, 24, 3)] * 2
    assert all(np.array_equal(a, b) for a, b in zip(crops, transfer.fixed_crops(photos, 2, 24, seed=3), strict=True))
    rows = transfer.run(Identity(), crops, types=["blur", "lowres"])
    assert [(r.type, r.generator) for r in rows] == [(t, n) for t in ("blur", "lowres") for n in Fm.names(t)]
    assert all(r.gain == 0 and np.isfinite(r.input_psnr) for r in rows)
    table = transfer.markdown(rows, "identity")
    assert "| blur | 2: defocus |" in table and "| lowres | +0.00 |" in table
    with pytest.raises(ValueError, match="no generator family"):
        transfer.run(Identity(), crops, types=["fog"])
    with pytest.raises(ValueError, match="no photos"):
        transfer.fixed_crops([], 1, 24)


def test_generator_benchmark_network_alone_and_weights_dir(tmp_path, capsys):
    seen = []

    class Recorder:
        def restore(self, img: np.ndarray, **kwargs) -> np.ndarray:
            seen.append(kwargs)
            return img

    crops = [np.full((16, 16, 3), 128, np.uint8)]
    transfer.run(Recorder(), crops, types=["blur"], refine=False)
    assert seen and all(k == {"refine": False} for k in seen)
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "p.png")
    empty = tmp_path / "export"
    empty.mkdir()
    code = transfer.main(["--photos", str(tmp_path), "--n", "1", "--size", "16", "--weights-dir", str(empty), "--raw"])
    assert code == 1
    assert "not found" in capsys.readouterr().err
