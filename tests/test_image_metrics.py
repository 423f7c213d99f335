"""Fusion metrics (issue 4, Sec. 3): hand-computable cases and independent implementations."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fsim import AUTHORS_ORIENTATIONS, PC_EPSILON, ZHANG_ORIENTATIONS, fsim, fsim_zhang
from mmlib.papers.dilran.image_metrics import (
    ALL_METRICS,
    AUTHORS_JPEG_QUALITY,
    METRIC_ORDER,
    OPTIONAL_METRICS,
    authors_uint8,
    check_fp32_precision,
    entropy_256,
    entropy_float_unique,
    entropy_saved_jpeg,
    fusion_metric_suite,
    jpeg_round_trip,
    psnr,
    ssim,
    ssim_torchmetrics,
)
from mmlib.papers.dilran.mutual_info import (
    feature_mutual_information,
    mutual_information,
    sobel_edge_map,
    to_uint8,
    window_fmi,
)


@pytest.fixture(scope="module")
def pair():
    """A smooth synthetic 'CT' and 'MR' pair with texture, 64 x 64, in [0, 1]."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    ct = np.clip(0.5 + 0.4 * np.sin(6 * xx) * np.cos(4 * yy) + 0.05 * rng.standard_normal((64, 64)), 0, 1)
    mr = np.clip(0.3 + 0.5 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.4) ** 2) * 8) + 0.05 * rng.random((64, 64)), 0, 1)
    return ct, mr


# ---------------------------------------------------------------- hand-computable


def test_identical_images(pair):
    ct, _ = pair
    assert psnr(ct, ct) == math.inf
    assert ssim(ct, ct) == pytest.approx(1.0)
    assert ssim(ct, ct, gaussian=True) == pytest.approx(1.0)
    c8 = to_uint8(ct)
    h_nats = entropy_256(ct) * math.log(2)
    assert mutual_information(c8, c8) == pytest.approx(h_nats, abs=1e-12)
    for feature in ("none", "edge", "gradient"):
        assert feature_mutual_information(ct, ct, ct, feature=feature) == 1.0
    assert fsim(ct, ct) == pytest.approx(1.0, abs=1e-12)


def test_constant_images(pair):
    ct, _ = pair
    flat = np.full((32, 32), 0.4)
    assert entropy_256(flat) == 0.0
    assert entropy_float_unique(flat) == 0.0
    assert mutual_information(to_uint8(flat), to_uint8(ct[:32, :32])) == pytest.approx(0.0, abs=1e-12)


def test_known_histograms():
    half = np.zeros((8, 8))
    half[:, 4:] = 1.0
    assert entropy_256(half) == pytest.approx(1.0)
    four = np.repeat([0.0, 1 / 3, 2 / 3, 1.0], 16).reshape(8, 8)
    assert entropy_256(four) == pytest.approx(2.0)
    # MI of two independent fair bits laid out as a 2x2 product = 0; of a bit with itself = ln 2.
    x = np.array([[0, 0, 255, 255]] * 4, dtype=np.uint8)
    y = np.array([[0, 255, 0, 255]] * 4, dtype=np.uint8)
    assert mutual_information(x, y) == pytest.approx(0.0, abs=1e-12)
    assert mutual_information(x, x) == pytest.approx(math.log(2))


@pytest.mark.parametrize("k", [3, 7, 1000])
def test_float_unique_entropy_is_log2_k(k):
    values = np.linspace(0.0, 1.0, k)
    image = np.repeat(values, 4)[None]  # each value 4 times
    assert entropy_float_unique(image) == pytest.approx(math.log2(k))
    # Above 8 bits once there are more than 256 distinct values; the 8-bit version cannot be.
    if k > 256:
        assert entropy_float_unique(image) > 8 >= entropy_256(image)


# ---------------------------------------------------------------- independent implementations


def test_psnr_ssim_against_numpy_formulas(pair):
    ct, mr = pair
    mse = np.mean((ct - mr) ** 2)
    assert psnr(ct, mr) == pytest.approx(10 * np.log10(1.0 / mse), rel=1e-12)
    # Wang et al.'s SSIM map with an 11x11 Gaussian window (population moments), border-cropped as skimage does.
    from scipy.ndimage import gaussian_filter

    c1, c2 = 0.01**2, 0.03**2
    g = lambda z: gaussian_filter(z, 1.5, truncate=3.5)  # noqa: E731 - 11x11 window
    mx, my = g(ct), g(mr)
    vx, vy, cxy = g(ct * ct) - mx**2, g(mr * mr) - my**2, g(ct * mr) - mx * my
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(ct, mr, gaussian=True) == pytest.approx(smap[5:-5, 5:-5].mean(), abs=1e-10)


def _torchmetrics_ssim_transcription(x: np.ndarray, y: np.ndarray, crop: int = 0) -> float:
    """torchmetrics' ``_ssim_update`` procedure, step by step in torch (float64): 11-tap Gaussian kernel from
    ``exp(-(d / sigma)^2 / 2)``, ``F.pad(..., mode="reflect")`` by 5, a valid ``conv2d``, variances clamped at 0,
    the map averaged after cropping ``crop`` pixels (0: torchmetrics >= 1.4.2; 5: earlier releases)."""
    import torch
    import torch.nn.functional as F

    d = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-((d / 1.5) ** 2) / 2)
    g = g / g.sum()
    kernel = torch.outer(g, g)[None, None]
    p, t = (F.pad(torch.from_numpy(np.asarray(a, np.float64))[None, None], (5, 5, 5, 5), mode="reflect") for a in (x, y))
    mp, mt, pp, tt, pt = (F.conv2d(z, kernel) for z in (p, t, p * p, t * t, p * t))
    vp, vt, cov = (pp - mp**2).clamp(min=0), (tt - mt**2).clamp(min=0), pt - mp * mt
    c1, c2 = 0.01**2, 0.03**2
    smap = ((2 * mp * mt + c1) * (2 * cov + c2)) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
    smap = smap[..., crop : smap.shape[-2] - crop, crop : smap.shape[-1] - crop]
    return float(smap.mean())


def test_ssim_torchmetrics_against_a_transcription_of_torchmetrics(pair):
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    for x, y in ((fused, ct), (fused, mr), (ct, mr)):
        # torchmetrics >= 1.4.2 averages the whole reflect-padded map ...
        assert ssim_torchmetrics(x, y) == pytest.approx(_torchmetrics_ssim_transcription(x, y), abs=1e-12)
        # ... earlier releases cropped the 5-pixel border first, which is scikit-image's (and ``ssim_gaussian``'s) number.
        assert ssim(x, y, gaussian=True) == pytest.approx(_torchmetrics_ssim_transcription(x, y, crop=5), abs=1e-9)
        assert abs(ssim_torchmetrics(x, y) - ssim(x, y, gaussian=True)) > 1e-4


def test_ssim_torchmetrics_against_torchmetrics(pair):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image", reason="torchmetrics is not a dependency of mmlib")
    ct, mr = pair
    got = tm.structural_similarity_index_measure(torch.from_numpy(ct)[None, None], torch.from_numpy(mr)[None, None],
                                                  data_range=1.0).item()
    from importlib.metadata import version

    release = tuple(int(v) for v in version("torchmetrics").split("+")[0].split(".")[:3])
    want = ssim_torchmetrics(ct, mr) if release >= (1, 4, 2) else ssim(ct, mr, gaussian=True)
    assert got == pytest.approx(want, abs=1e-6)


def test_mi_against_sklearn(pair):
    ct, mr = pair
    a, b = to_uint8(ct), to_uint8(mr)
    assert mutual_information(a, b) == pytest.approx(mutual_info_score(a.ravel(), b.ravel()), abs=1e-10)


def _fmi_window_reference(a: np.ndarray, f: np.ndarray) -> float:
    """Straightforward per-window Fast-FMI, written loop by loop from Haghighat & Razian (2014)."""
    if np.array_equal(a, f):
        return 1.0

    def pdf(v):
        v = np.ones_like(v) if v.max() == v.min() else (v - v.min()) / (v.max() - v.min())
        return v / v.sum()

    pa, pf = pdf(a), pdf(f)
    ca, cf = np.cumsum(pa), np.cumsum(pf)
    n = len(pa)
    ta, tf = pa - pa.mean(), pf - pf.mean()
    s = np.sum(ta * tf)
    c = 0.0 if s == 0 else s / math.sqrt(np.sum(ta * ta) * np.sum(tf * tf))
    idx = np.arange(1, n + 1)
    sd_a = math.sqrt(max(np.sum(idx**2 * pa) - np.sum(idx * pa) ** 2, 0.0))
    sd_f = math.sqrt(max(np.sum(idx**2 * pf) - np.sum(idx * pf) ** 2, 0.0))
    if c >= 0:
        bound = lambda x, y: min(x, y)  # noqa: E731 - Frechet upper bound
    else:
        bound = lambda x, y: max(x + y - 1.0, 0.0)  # noqa: E731 - Frechet lower bound
    if (c == 0) or sd_a == 0 or sd_f == 0:
        w = 0.0
    else:
        cov = sum(bound(cf[i], ca[j]) - cf[i] * ca[j] for i in range(n) for j in range(n))
        w = c / (cov / (sd_a * sd_f))
    h_joint = 0.0
    for i in range(n):
        for j in range(n):
            up = bound(cf[i], ca[j])
            if i:
                up -= bound(cf[i - 1], ca[j])
            if j:
                up -= bound(cf[i], ca[j - 1])
            if i and j:
                up += bound(cf[i - 1], ca[j - 1])
            p = w * up + (1 - w) * pf[i] * pa[j]
            if p != 0:
                h_joint -= p * math.log2(abs(p))
    ent = lambda p: -sum(q * math.log2(q) for q in p if q > 0)  # noqa: E731
    h_a, h_f = ent(pa), ent(pf)
    mi = h_a + h_f - h_joint
    return 0.0 if mi == 0 else 2 * mi / (h_a + h_f)


def _fmi_reference(fused, ct, mr, w=3):
    rows, cols = fused.shape
    scores = []
    for r in range(rows - w + 1):
        for c in range(cols - w + 1):
            win = lambda im: im[r : r + w, c : c + w].ravel(order="F")  # noqa: E731 - MATLAB (:)
            scores.append(0.5 * (_fmi_window_reference(win(ct), win(fused)) + _fmi_window_reference(win(mr), win(fused))))
    return float(np.mean(scores))


@pytest.mark.parametrize("feature", ["none", "edge"])
def test_fmi_against_slow_reference(pair, feature):
    ct, mr = (im[20:44, 20:44] for im in pair)
    fused = 0.6 * ct + 0.4 * mr
    fused[:6, :6] = ct[:6, :6]  # some windows identical to the CT source
    if feature == "none":
        expected = _fmi_reference(fused, ct, mr)
    else:
        expected = _fmi_reference(sobel_edge_map(fused), sobel_edge_map(ct), sobel_edge_map(mr))
    assert feature_mutual_information(fused, ct, mr, feature=feature) == pytest.approx(expected, abs=1e-10)


def test_window_fmi_against_reference_on_random_windows():
    """Random windows exercise both Frechet bounds (negative and positive correlations)."""
    rng = np.random.default_rng(1)
    source, fused = rng.random((2, 9, 400))
    got = window_fmi(source, fused)
    want = [_fmi_window_reference(source[:, k], fused[:, k]) for k in range(400)]
    np.testing.assert_allclose(got, want, atol=1e-10)
    corr = [np.corrcoef(source[:, k] / source[:, k].sum(), fused[:, k] / fused[:, k].sum())[0, 1] for k in range(400)]
    assert min(corr) < 0 < max(corr)


def _piq_fsim():
    """piq's fsim without importing piq/__init__ (which needs torchvision, absent here)."""
    torch = pytest.importorskip("torch")
    if "piq" not in sys.modules:
        spec = importlib.util.find_spec("piq")
        if spec is None:
            pytest.skip("piq is not installed (pip install --no-deps piq==0.8.0)")
        package = types.ModuleType("piq")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["piq"] = package
    return importlib.import_module("piq.fsim").fsim, torch


@pytest.mark.parametrize("orientations", [4, 6])
def test_fsim_against_piq(pair, orientations):
    """Agreement within 5e-5 (measured <= 2.2e-5 on AANLIB pairs): piq uses machine epsilon
    where FeatureSIM.m uses 1e-4 in the phase-congruency normalisation."""
    piq_fsim, torch = _piq_fsim()
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    for x, y in ((fused, ct), (fused, mr), (ct, mr)):
        ref = piq_fsim(
            torch.from_numpy(x)[None, None],
            torch.from_numpy(y)[None, None],
            data_range=1.0,
            chromatic=False,
            orientations=orientations,
        ).item()
        assert fsim(x, y, orientations=orientations) == pytest.approx(ref, abs=5e-5)


def test_fsim_zhang_is_piqs_default_fsim(pair):
    """Zhang's FSIM (4 orientations, [0, 255]) is piq's fsim with its default orientations; the
    suite's ``fsim`` (the authors' 6 orientations) is a different number."""
    piq_fsim, torch = _piq_fsim()
    assert (ZHANG_ORIENTATIONS, AUTHORS_ORIENTATIONS) == (4, 6)
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    for x, y in ((fused, ct), (ct, mr)):
        ref = piq_fsim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None], data_range=1.0,
                       chromatic=False).item()
        assert fsim_zhang(x, y) == pytest.approx(ref, abs=5e-5)
        assert fsim(x, y) == fsim(x, y, orientations=6)
        assert abs(fsim(x, y) - fsim_zhang(x, y)) > 1e-3


@pytest.mark.parametrize("orientations", [4, 6])
def test_fsim_unit_against_piq_on_unscaled_input(pair, orientations):
    """``fsim_unit`` (FSIM on [0, 1] input) against piq given the same unscaled input (data_range=255, so it
    does not rescale). The gap is the epsilon: FeatureSIM.m's 1e-4 (measured <= 3.4e-4 on AANLIB pairs),
    which shrinks to piq's own once ``epsilon`` is piq's machine epsilon."""
    piq_fsim, torch = _piq_fsim()
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    assert PC_EPSILON == 1e-4
    gaps = []
    for x, y in ((fused, ct), (fused, mr), (ct, mr)):
        ref = piq_fsim(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None], data_range=255.0,
                       chromatic=False, orientations=orientations).item()
        ours = fsim(x, y, intensity_scale=1.0, orientations=orientations)
        with_piq_eps = fsim(x, y, intensity_scale=1.0, orientations=orientations, epsilon=np.finfo(np.float64).eps)
        assert ours == pytest.approx(ref, abs=1e-3)
        assert with_piq_eps == pytest.approx(ref, abs=2e-5)
        gaps.append((abs(ours - ref), abs(with_piq_eps - ref)))
    assert sum(g[1] for g in gaps) < sum(g[0] for g in gaps)
    # piq with data_range=1 rescales to [0, 255]: that is Zhang's scale, far from the [0, 1] variant.
    ref_255 = piq_fsim(torch.from_numpy(ct)[None, None], torch.from_numpy(mr)[None, None], data_range=1.0,
                       chromatic=False, orientations=orientations).item()
    assert fsim(ct, mr, intensity_scale=1.0, orientations=orientations) - ref_255 > 0.05


def test_fsim_unit_scale_inflates_gradient_term(pair):
    ct, mr = pair
    assert fsim(ct, mr, intensity_scale=1.0) > fsim(ct, mr)


# ---------------------------------------------------------------- precision of the float-unique entropy


@pytest.fixture(scope="module")
def fp32_fused(pair):
    """A float32 'network output': many distinct values, none of them exact bf16 numbers."""
    ct, mr = pair
    return (0.37 * ct + 0.63 * mr).astype(np.float32)


def test_float_unique_entropy_refuses_low_precision_dtypes(fp32_fused):
    torch = pytest.importorskip("torch")
    for image in (torch.from_numpy(fp32_fused).to(torch.bfloat16), torch.from_numpy(fp32_fused).half(),
                  fp32_fused.astype(np.float16)):
        with pytest.raises(ParameterError, match="too coarse"):
            entropy_float_unique(image)


def test_float_unique_entropy_refuses_bf16_values_cast_up_to_fp32(pair, fp32_fused):
    """The bf16 path's output converted to fp32 keeps bf16's few values, so converting cannot rescue it."""
    torch = pytest.importorskip("torch")
    ct, mr = pair
    cast_up = torch.from_numpy(fp32_fused).to(torch.bfloat16).float().numpy()
    assert len(np.unique(cast_up)) > 16
    with pytest.raises(ParameterError, match="bfloat16"):
        entropy_float_unique(cast_up)
    with pytest.raises(ParameterError, match="float16"):
        entropy_float_unique(fp32_fused.astype(np.float16).astype(np.float32))
    with pytest.raises(ParameterError, match="bfloat16"):
        fusion_metric_suite(cast_up, ct, mr, variants=["en_float_unique"])
    # The other metrics do not depend on it and still score that image.
    assert fusion_metric_suite(cast_up, ct, mr, variants=["psnr"])["psnr"] > 0
    # fp32 (and float64) results pass, scored over their own distinct values; the bf16 copy has far fewer.
    np.testing.assert_array_equal(check_fp32_precision(fp32_fused), fp32_fused)
    _, counts = np.unique(fp32_fused, return_counts=True)
    p = counts / counts.sum()
    assert entropy_float_unique(fp32_fused) == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-12)
    assert entropy_float_unique(fp32_fused.astype(np.float64)) == entropy_float_unique(fp32_fused)
    assert len(np.unique(cast_up)) < len(counts) / 2


def test_fp32_precision_check_keeps_8bit_and_few_valued_images():
    """8-bit images read as floats, and images of at most 16 values (even bf16 numbers), are not refused."""
    levels = np.repeat(np.arange(256) / 255.0, 4).reshape(32, 32).astype(np.float32)
    assert entropy_float_unique(levels) == pytest.approx(8.0)
    sixteen = np.repeat(np.arange(16) / 16.0, 2)[None]
    assert entropy_float_unique(sixteen) == pytest.approx(4.0)
    with pytest.raises(ParameterError, match="bfloat16"):
        entropy_float_unique(np.repeat(np.arange(17) / 16.0, 2)[None])


# ---------------------------------------------------------------- the authors' MI column


def test_authors_uint8_is_numpys_cast_without_clipping():
    import platform

    values = np.array([[0.0, 0.999, 1.0, 1.2, -0.1, 2.5, -1.5, 0.5]], dtype=np.float32)
    np.testing.assert_array_equal(authors_uint8(values), [[0, 254, 255, 50, 231, 125, 130, 127]])
    if platform.machine().lower() in ("x86_64", "amd64"):
        with np.errstate(invalid="ignore"):
            numpy_cast = (values * 255).astype(np.uint8)  # the authors' expression, as it runs on x86-64
        np.testing.assert_array_equal(authors_uint8(values), numpy_cast)
    # 8-bit levels read as float32 come back as themselves (truncation, not rounding, elsewhere).
    x32 = (np.arange(256) / 255.0).astype(np.float32)
    np.testing.assert_array_equal(authors_uint8(x32), np.arange(256))
    np.testing.assert_array_equal(authors_uint8(x32 - np.float32(1e-3)), np.r_[0, np.arange(255)])  # -0.255 truncates to 0
    with pytest.raises(DataError, match="NaN"):
        authors_uint8(np.array([[np.nan]]))


def test_jpeg_round_trip_and_saved_entropy(pair):
    from PIL import Image

    assert AUTHORS_JPEG_QUALITY == 75
    flat = np.full((16, 16), 77, dtype=np.uint8)
    np.testing.assert_array_equal(jpeg_round_trip(flat), flat)
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    # Independently: Pillow's default quality (75) on the truncated image, a 256-bin histogram in bits.
    import io

    buffer = io.BytesIO()
    Image.fromarray((fused * 255).astype(np.uint8)).save(buffer, format="JPEG")
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    p = np.bincount(decoded.ravel(), minlength=256) / decoded.size
    p = p[p > 0]
    assert entropy_saved_jpeg(fused) == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-12)
    # JPEG ringing at a sharp edge (inside an 8 x 8 block) adds grey levels: a two-level image gains entropy.
    half = np.zeros((32, 32))
    half[:, 13:] = 1.0
    assert entropy_256(half) == pytest.approx(-(13 / 32) * math.log2(13 / 32) - (19 / 32) * math.log2(19 / 32))
    assert entropy_saved_jpeg(half) > entropy_256(half) + 0.5
    assert entropy_saved_jpeg(half, quality=100) < entropy_saved_jpeg(half)
    for bad in (0, 101, 75.0, True):
        with pytest.raises(ParameterError, match="quality"):
            jpeg_round_trip(flat, bad)
    with pytest.raises(DataError, match="uint8"):
        jpeg_round_trip(flat.astype(np.float32))


def test_saved_entropy_scores_wrapped_values(pair):
    """Values outside [0, 1] are wrapped, not clipped: the suite's checked metrics refuse them, this one does not."""
    ct, _ = pair
    stretched = 1.4 * ct - 0.2
    assert stretched.min() < 0 and stretched.max() > 1
    clipped = np.clip(stretched, 0, 1)
    assert entropy_saved_jpeg(stretched) != pytest.approx(entropy_saved_jpeg(clipped), abs=1e-3)


# ---------------------------------------------------------------- suite and input checks


def test_suite_keys_and_consistency(pair):
    ct, mr = pair
    fused = 0.5 * (ct + mr)
    scores = fusion_metric_suite(fused, ct, mr)
    assert tuple(scores) == ALL_METRICS
    assert all(np.isfinite(v) for v in scores.values())
    assert scores["psnr"] == pytest.approx(0.5 * (psnr(fused, ct) + psnr(fused, mr)))
    assert scores["fsim"] == pytest.approx(0.5 * (fsim(fused, ct) + fsim(fused, mr)))
    assert 0 <= scores["en_256"] <= 8
    # The optional variants come only when asked for, in report order, and leave the others unchanged.
    assert not set(OPTIONAL_METRICS) & set(scores) and set(METRIC_ORDER) == set(ALL_METRICS) | set(OPTIONAL_METRICS)
    every = fusion_metric_suite(fused, ct, mr, variants=OPTIONAL_METRICS + ALL_METRICS)
    assert tuple(every) == METRIC_ORDER and {k: every[k] for k in ALL_METRICS} == scores
    assert every["en_saved_jpeg"] == entropy_saved_jpeg(fused) and 0 <= every["en_saved_jpeg"] <= 8
    assert every["fsim_zhang"] == pytest.approx(0.5 * (fsim_zhang(fused, ct) + fsim_zhang(fused, mr)))
    assert every["ssim_torchmetrics"] == pytest.approx(0.5 * (ssim_torchmetrics(fused, ct) + ssim_torchmetrics(fused, mr)))
    only = fusion_metric_suite(fused, ct, mr, variants=["mi_mean", "en_256"])
    assert only == {"mi_mean": scores["mi_mean"], "en_256": scores["en_256"]}


def test_mi_variants_mean_and_sum(pair):
    # With images that already span [0, 1] on 8-bit levels, VIFB's stretch changes nothing, so Qu = 2 x mean.
    ct, mr = (to_uint8(im) / 255.0 for im in pair)
    ct = (ct - ct.min()) / (ct.max() - ct.min())
    mr = (mr - mr.min()) / (mr.max() - mr.min())
    fused = to_uint8(0.5 * (ct + mr), stretch=True) / 255.0
    s = fusion_metric_suite(fused, ct, mr, variants=["mi_mean", "mi_qu"])
    assert s["mi_qu"] == pytest.approx(2 * s["mi_mean"], rel=1e-9)


@pytest.mark.parametrize(
    ("fused", "ct", "problem"),
    [
        (np.zeros((8, 8)), np.zeros((8, 9)), "shapes differ"),
        (np.zeros((8, 8, 3)), np.zeros((8, 8)), "2-D"),
        (np.full((8, 8), np.nan), np.zeros((8, 8)), "NaN"),
        (np.full((8, 8), 2.0), np.zeros((8, 8)), "[0, 1]"),
    ],
)
def test_bad_inputs(fused, ct, problem):
    with pytest.raises(DataError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        fusion_metric_suite(fused, ct, np.zeros_like(ct))


def test_bad_parameters(pair):
    ct, mr = pair
    with pytest.raises(ParameterError, match="unknown fusion metric"):
        fusion_metric_suite(ct, ct, mr, variants=["qabf"])
    with pytest.raises(ParameterError, match="feature"):
        feature_mutual_information(ct, ct, mr, feature="dct")


# ---------------------------------------------------------------- real pair


def test_real_aanlib_pair(real_data_root):
    from skimage.io import imread

    root = real_data_root("harvard-aanlib") / "CT-MRI"
    ct = imread(root / "CT" / "2007.png").astype(np.float64) / 255.0
    mr = imread(root / "MRI" / "2007.png").astype(np.float64) / 255.0
    assert ct.shape == mr.shape == (256, 256)
    s = fusion_metric_suite(0.5 * (ct + mr), ct, mr)
    assert 10 < s["psnr"] < 30
    assert 0.3 < s["ssim"] < 1 and 0.3 < s["ssim_gaussian"] < 1
    assert 0 < s["mi_mean"] < math.log(256) and s["mi_qu"] > s["mi_mean"]
    assert 0.3 < s["fmi_none"] < 1 and 0.3 < s["fmi_edge"] < 1
    assert 0.3 < s["fsim"] < s["fsim_unit"] < 1
    assert 0 < s["en_256"] <= 8
    assert s["en_float_unique"] >= s["en_256"] - 1e-9
