"""AUC uncertainty and paired tests (mmlib.eval.statistics), against brute-force definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mmlib.errors import ParameterError
from mmlib.eval.statistics import (_placements, bootstrap_auc, corrected_resampled_ttest, delong_test,
                                   paired_bootstrap)


def cohort(n=120, separation=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(int)
    latent = rng.standard_normal(n) + separation * y
    a = latent + rng.standard_normal(n)          # a noisy reading of the latent
    b = latent + 0.3 * rng.standard_normal(n)     # a sharper one: higher AUC, correlated with a
    return y, a, b


def test_structural_components_match_their_definition_with_ties():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.4, 0.4, 0.4, 0.1, 0.2, 0.95])
    auc, v10, v01 = _placements(y, s)
    pos, neg = s[y == 1], s[y == 0]
    brute10 = [np.mean((p > neg) + 0.5 * (p == neg)) for p in pos]
    brute01 = [np.mean((pos > q) + 0.5 * (pos == q)) for q in neg]
    assert np.allclose(v10, brute10) and np.allclose(v01, brute01) and auc == pytest.approx(roc_auc_score(y, s))


def test_bootstrap_auc_brackets_the_auc_and_narrows_with_more_cases():
    y, a, _ = cohort(100)
    small = bootstrap_auc(y, a, seed=1)
    assert small.value == pytest.approx(roc_auc_score(y, a)) and small.low < small.value < small.high
    y2, a2, _ = cohort(1000)
    large = bootstrap_auc(y2, a2, seed=1)
    assert (large.high - large.low) < 0.5 * (small.high - small.low)  # ~ 1/sqrt(n)


def test_a_real_difference_is_found_and_agrees_between_delong_and_bootstrap():
    y, a, b = cohort(300, separation=1.0)
    d = delong_test(y, a, b)
    boot = paired_bootstrap(y, a, b, seed=0)
    assert d.value == pytest.approx(roc_auc_score(y, b) - roc_auc_score(y, a)) == pytest.approx(boot.value)
    assert d.p_value < 0.05 and boot.p_value < 0.05 and d.low > 0 and boot.low > 0
    assert d.p_value == pytest.approx(boot.p_value, abs=0.01)
    assert (d.high - d.low) == pytest.approx(boot.high - boot.low, rel=0.3)  # the same standard error, roughly


def test_no_difference_gives_no_evidence():
    y, a, _ = cohort(200)
    assert delong_test(y, a, a).p_value == 1.0 and paired_bootstrap(y, a, a).p_value == 1.0
    assert delong_test(y, a, a * 2 + 1).p_value == 1.0  # a monotone transform changes no AUC
    rng = np.random.default_rng(5)
    p_values = np.array([delong_test(y, rng.random(200), rng.random(200)).p_value for _ in range(300)])
    assert 0.02 < np.mean(p_values < 0.05) < 0.09  # about 5 % false positives under the null
    noisy = a + rng.standard_normal(200)
    forward, backward = delong_test(y, a, noisy), delong_test(y, noisy, a)
    assert forward.value == pytest.approx(-backward.value) and forward.p_value == pytest.approx(backward.p_value)


def test_corrected_resampled_ttest_matches_the_formula():
    est = corrected_resampled_ttest([0.1, 0.2, 0.3], n_train=70, n_test=30)
    var = np.var([0.1, 0.2, 0.3], ddof=1) * (1 / 3 + 30 / 70)
    assert est.value == pytest.approx(0.2)
    assert est.p_value == pytest.approx(2 * stats.t.sf(0.2 / np.sqrt(var), 2))
    naive = stats.ttest_1samp([0.1, 0.2, 0.3], 0).pvalue
    assert est.p_value > naive  # the overlap correction is conservative
    with pytest.raises(ParameterError):
        corrected_resampled_ttest([0.1], 70, 30)


def test_bad_input_is_refused():
    with pytest.raises(ParameterError, match="one class"):
        bootstrap_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ParameterError, match="NaN"):
        delong_test([0, 1, 1], [0.1, np.nan, 0.3], [0.1, 0.2, 0.3])
    with pytest.raises(ParameterError, match="shape"):
        paired_bootstrap([0, 1], [0.1, 0.2], [0.1])


def test_verdict_frame_shows_statistics_only_when_some_verdict_has_them():
    from mmlib.eval.claims import Verdict, verdict_frame

    plain = verdict_frame({"paper": [Verdict(2, True, "a"), Verdict(1, False, "b")]})
    assert list(plain["claim"]) == [1, 2] and "statistics" not in plain and list(plain["holds"]) == ["NO", "yes"]
    y, a, b = cohort(150)
    with_stats = verdict_frame({"book": [Verdict(3, True, "c", delong_test(y, a, b))]})
    assert "DeLong" in with_stats.loc[0, "statistics"] and "p =" in with_stats.loc[0, "statistics"]
    assert verdict_frame({}).empty
