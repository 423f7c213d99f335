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
from mmlib.papers.dilran.fsim import fsim
from mmlib.papers.dilran.image_metrics import (
    ALL_METRICS,
    entropy_256,
    entropy_float_unique,
    fusion_metric_suite,
    psnr,
    ssim,
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
    """Agreement within 5e-5 (measured <= 1.1e-5 on AANLIB pairs): piq uses machine epsilon
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


def test_fsim_unit_scale_inflates_gradient_term(pair):
    ct, mr = pair
    assert fsim(ct, mr, intensity_scale=1.0) > fsim(ct, mr)


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
