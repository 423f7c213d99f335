"""Fusion rules of DILRAN Sec. 2.2.2 / Table 1: SFNN (Eq. 1), FER, FL1N, addition, average."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.dilran.fusion_rules import FER, FL1N, RULES, SFNN, Addition, Average, FusionRule, get_rule, nuclear_norms

NAMES = ["sfnn-max", "sfnn-mean", "sfnn-sum", "sfnn-max-sq", "fer", "fl1n", "add", "avg"]


def feats(seed: int, shape=(2, 4, 12, 10)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def test_registry_has_every_rule_under_its_name():
    assert list(RULES) == NAMES
    for name in NAMES:
        rule = get_rule(name)
        assert isinstance(rule, FusionRule) and rule.name == name
    assert get_rule(FER()).name == "fer"  # a rule passes through
    with pytest.raises(ParameterError, match="unknown fusion rule"):
        get_rule("sfnn-median")


@pytest.mark.parametrize("name", [n for n in NAMES if n != "add"])
def test_weighting_rules_return_the_input_for_identical_features(name):
    f = feats(0)
    torch.testing.assert_close(get_rule(name)(f, f.clone()), f, rtol=1e-6, atol=1e-6)


def test_addition_and_average():
    f1, f2 = feats(1), feats(2)
    torch.testing.assert_close(Addition()(f1, f2), f1 + f2)
    torch.testing.assert_close(Average()(f1, f2), (f1 + f2) / 2)


def test_nuclear_norms_match_numpy():
    maps = torch.rand(3, 5, 9, 7)
    expected = np.array([[np.linalg.norm(m, ord="nuc") for m in row] for row in maps.numpy()])
    np.testing.assert_allclose(nuclear_norms(maps).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("threads", [2, 3])
def test_nuclear_norms_in_a_thread_pool_equal_the_serial_values_and_restore_the_thread_count(threads):
    maps = torch.rand(2, 5, 12, 10)
    serial = nuclear_norms(maps)  # the tests run torch with one thread: no pool
    torch.set_num_threads(threads)
    try:
        pooled = nuclear_norms(maps)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(1)
    assert pooled.shape == (2, 5)
    torch.testing.assert_close(pooled, serial, rtol=0, atol=0)


@pytest.mark.parametrize("phi", ["max", "mean", "sum"])
def test_sfnn_weights_follow_eq1_against_a_per_map_reference(phi):
    f1, f2 = feats(3), 3.0 * feats(4)
    w1, w2 = SFNN(phi).weights(f1, f2)
    reduce = {"max": np.max, "mean": np.mean, "sum": np.sum}[phi]
    for b in range(f1.shape[0]):
        phis = []
        for f in (f1, f2):
            soft = torch.softmax(f[b], dim=0).numpy()  # softmax over channels
            phis.append(reduce([np.linalg.norm(s, ord="nuc") for s in soft]))
        assert w1[b].item() == pytest.approx(phis[0] / (phis[0] + phis[1]), rel=1e-5)
    torch.testing.assert_close(w1 + w2, torch.ones_like(w1))
    assert ((w1 > 0) & (w1 < 1)).all()


def test_sfnn_weights_are_half_for_identical_inputs_and_mean_equals_sum():
    f = feats(5)
    w1, w2 = SFNN("max").weights(f, f.clone())
    torch.testing.assert_close(w1, torch.full_like(w1, 0.5))
    torch.testing.assert_close(w2, torch.full_like(w2, 0.5))
    f2 = feats(6) * 2
    torch.testing.assert_close(SFNN("mean").weights(f, f2)[0], SFNN("sum").weights(f, f2)[0])


def test_sfnn_square_variant_squares_the_maxima():
    f1, f2 = feats(7), 4.0 * feats(8)
    plain, _ = SFNN("max").weights(f1, f2)
    squared, _ = SFNN("max", square=True).weights(f1, f2)
    ratio = plain / (1 - plain)  # phi_1 / phi_2
    torch.testing.assert_close(squared, ratio**2 / (ratio**2 + 1), rtol=1e-5, atol=1e-6)
    assert (squared - plain).abs().min() > 1e-4
    # the fused map is W1 f1 + W2 f2 with these scalar weights
    fused = SFNN("max", square=True)(f1, f2)
    torch.testing.assert_close(fused, squared.view(-1, 1, 1, 1) * f1 + (1 - squared).view(-1, 1, 1, 1) * f2)


def test_sfnn_rejects_unknown_phi():
    with pytest.raises(ParameterError, match="phi"):
        SFNN("median")


def test_fer_is_elementwise_energy_ratio_and_guards_zero():
    f1, f2 = feats(9), feats(10)
    w1 = f1**2 / (f1**2 + f2**2)
    torch.testing.assert_close(FER()(f1, f2), w1 * f1 + (1 - w1) * f2)
    zeros = torch.zeros(1, 2, 4, 4)
    out = FER()(zeros, zeros)
    assert torch.isfinite(out).all() and (out == 0).all()
    # where one input is zero the other wins outright
    mixed = FER()(zeros, torch.ones(1, 2, 4, 4))
    assert (mixed == 1).all()


def test_fl1n_uses_one_scalar_weight_per_image():
    f = feats(11)
    w1, w2 = FL1N().weights(f, 3 * f)
    torch.testing.assert_close(w1, torch.full((2,), 0.25))
    torch.testing.assert_close(w2, torch.full((2,), 0.75))
    g = feats(12)
    n1, n2 = f.abs().sum(dim=(1, 2, 3)), g.abs().sum(dim=(1, 2, 3))
    w = (n1 / (n1 + n2)).view(-1, 1, 1, 1)
    torch.testing.assert_close(FL1N()(f, g), w * f + (1 - w) * g)
    w_zero, _ = FL1N().weights(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
    assert w_zero.item() == 0.5


@pytest.mark.parametrize("name", NAMES)
def test_mismatched_feature_shapes_raise_data_error(name):
    with pytest.raises(DataError, match="fusion input"):
        get_rule(name)(torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 8, 9))
