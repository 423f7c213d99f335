"""MASAN's networks (mmlib.papers.masan): the patch grid, the batched sPM against a loop of 64 modules, fPM,
attention, fusion, H-FCN and the losses, on tiny tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmlib.errors import DataError, ParameterError
from mmlib.papers.masan.attention import RegionSelfAttention, T1GuidedFusion
from mmlib.papers.masan.autoencoders import (PAPER_CHANNELS, FunctionalPatchModule, PatchAutoencoders, norm_groups,
                                             scaled_channels)
from mmlib.papers.masan.hfcn import HFCN, hfcn_loss
from mmlib.papers.masan.model import MASAN, SingleBranchMASAN
from mmlib.papers.masan.patches import centred_patches, fit_to_grid, from_patches, patch_means, to_patches, unfit
from mmlib.papers.masan.training import masan_losses, recalibrate_batch_norm, sparse_penalty


def test_patches_round_trip_and_follow_the_grid_in_c_order():
    x = torch.arange(2 * 3 * 8 * 12 * 4, dtype=torch.float32).reshape(2, 3, 8, 12, 4)
    patches = to_patches(x, (2, 3, 2))
    assert patches.shape == (2, 12 * 3, 4, 4, 2)
    assert torch.equal(from_patches(patches, (2, 3, 2)), x)
    # patch j = (1, 2, 0) in C order is j = 1*6 + 2*2 + 0 = 10; its channel 1 is x[:, 1, 4:8, 8:12, 0:2]
    assert torch.equal(patches[:, 10 * 3 + 1], x[:, 1, 4:8, 8:12, 0:2])
    means = patch_means(patches, 12)
    assert means.shape == (2, 3, 12) and torch.allclose(means[:, 1, 10], x[:, 1, 4:8, 8:12, 0:2].mean((1, 2, 3)))


def test_an_undivided_shape_is_refused_then_padded_symmetrically_and_unpadded():
    x = torch.ones(1, 1, 10, 9, 8)
    with pytest.raises(DataError, match="not divisible by the patch grid"):
        to_patches(x, (4, 4, 4))
    padded, padding = fit_to_grid(x, (4, 4, 4))
    assert padded.shape == (1, 1, 12, 12, 8) and padding == [(1, 1), (1, 2), (0, 0)]
    assert padded.sum() == x.sum() and padded[0, 0, 0].sum() == 0  # zeros added, nothing lost
    assert torch.equal(unfit(padded, padding), x)
    cropped, _ = fit_to_grid(x, (4, 4, 4), mode="crop")
    assert cropped.shape == (1, 1, 8, 8, 8)
    with pytest.raises(DataError, match="too small"):
        fit_to_grid(torch.ones(1, 1, 3, 8, 8), (4, 4, 4), mode="crop")


def test_the_64_subnetworks_as_one_grouped_computation_equal_a_loop_over_64_modules():
    torch.manual_seed(0)
    batched = PatchAutoencoders((4, 4, 4), 1, (2, 4, 4, 4))
    for p in batched.parameters():  # random affine GroupNorm parameters too, so a mix-up would show
        p.data.normal_(0, 0.3)
    x = torch.randn(2, 1, 16, 16, 16)
    out = batched(x)
    patches = to_patches(x, (4, 4, 4))
    loop = [batched.single(j)(patches[:, j:j + 1]) for j in range(64)]
    recon = from_patches(torch.cat([o["recon"] for o in loop], dim=1), (4, 4, 4))
    assert torch.allclose(recon, out["recon"], atol=1e-5)
    for level in range(3):
        assert torch.allclose(torch.cat([o["levels"][level] for o in loop], dim=1), out["levels"][level], atol=1e-5)
    assert sum(p.numel() for p in batched.parameters()) == 64 * sum(p.numel() for p in batched.single(0).parameters())
    # a different patch's weights give a different result: the test would catch a shared-weight bug
    assert not torch.allclose(batched.single(1)(patches[:, :1])["recon"], loop[0]["recon"])


def test_spm_follows_table_1_and_scales():
    assert scaled_channels(1.0) == PAPER_CHANNELS == (32, 64, 128, 128)
    assert scaled_channels(0.125) == (4, 8, 16, 16)
    assert norm_groups(16) == 8 and norm_groups(4) == 4 and norm_groups(12) == 6
    net = PatchAutoencoders((4, 4, 4), 1, (4, 8, 16, 16))
    out = net(torch.randn(1, 1, 32, 40, 32))  # 8 x 10 x 8 patches: three stride-2 steps
    assert [tuple(level.shape[2:]) for level in out["levels"]] == [(4, 5, 4), (2, 3, 2), (1, 2, 1)]
    assert out["recon"].shape == (1, 1, 32, 40, 32)
    with pytest.raises(ParameterError):
        PatchAutoencoders((4, 4, 4), 1, (4, 8, 16))
    with pytest.raises(DataError, match="not \\(batch"):
        net(torch.randn(1, 2, 32, 40, 32))


@pytest.mark.parametrize("reading", ["channels", "frames"])
def test_fpm_readings_reconstruct_the_window_and_refuse_another_length(reading):
    fpm = FunctionalPatchModule((2, 2, 2), window=6, channels=(2, 4, 4, 4), reading=reading)
    out = fpm(torch.randn(2, 6, 8, 8, 8))
    assert out["recon"].shape == (2, 6, 8, 8, 8)
    assert [lv.shape[1] for lv in out["levels"]] == [8 * 4] * 3
    assert fpm.regions(out["levels"][0]).shape == (2, 4, 8)
    with pytest.raises(DataError, match="6 time points"):
        fpm(torch.randn(2, 5, 8, 8, 8))
    with pytest.raises(ParameterError):
        FunctionalPatchModule((2, 2, 2), window=6, reading="pixels")


def test_region_self_attention_is_eqs_3_to_5():
    torch.manual_seed(0)
    attention = RegionSelfAttention(4, residual=False)
    regions = torch.randn(2, 4, 5)
    out, weight = attention(regions)
    q, k, v = attention.query(regions), attention.key(regions), attention.value(regions)
    expected_weight = torch.softmax(q.transpose(1, 2) @ k, dim=-1)  # weight_ij = softmax_j(q_i . k_j)
    assert torch.allclose(weight, expected_weight, atol=1e-6) and torch.allclose(weight.sum(-1), torch.ones(2, 5))
    assert torch.allclose(out, v @ expected_weight.transpose(1, 2), atol=1e-6)  # new_i = sum_j w_ij v_j
    residual = RegionSelfAttention(4)
    assert torch.equal(residual(regions)[0], regions)  # gamma starts at 0: the identity


def test_t1_guided_fusion_reweights_fmri_by_t1_attention_and_add_is_plain_addition():
    torch.manual_seed(0)
    t1, fmri = torch.randn(2, 8, 27), torch.randn(2, 8, 27)
    fusion = T1GuidedFusion(8, (3, 3, 3))
    fused, maps = fusion(t1, fmri)
    assert maps["channel"].shape == (2, 8) and maps["spatial"].shape == (2, 27)
    assert torch.allclose(fused, t1 + maps["channel"][:, :, None] * maps["spatial"][:, None] * fmri)
    assert torch.equal(fusion(t1, torch.zeros_like(fmri))[0], t1)  # the fMRI enters only through the gates
    other, _ = fusion(t1 + 1.0, fmri)  # the gates depend on the T1 features
    assert not torch.allclose(other - 1.0, fused)
    added, none = T1GuidedFusion(8, (3, 3, 3), fusion="add")(t1, fmri)
    assert torch.equal(added, t1 + fmri) and none == {}
    with pytest.raises(DataError):
        fusion(t1, fmri[:, :, :8])
    with pytest.raises(ParameterError):
        T1GuidedFusion(8, (3, 3, 3), fusion="concat")


def test_masan_outputs_and_the_eq8_loss():
    torch.manual_seed(0)
    model = MASAN((2, 2, 2), window=6, channels=(2, 4, 4, 4), hidden=8)
    batch = {"t1": torch.randn(4, 1, 8, 8, 8), "fmri": torch.randn(4, 6, 8, 8, 8), "label": torch.tensor([0, 1, 0, 1])}
    out = model(batch["t1"], batch["fmri"])
    assert out["logits"].shape == (4, 2) and out["embedding"].shape == (4, 12, 8)
    assert len(out["maps"]["spatial"]) == 3 and out["maps"]["spatial"][0].shape == (4, 8)
    model.eval()
    terms = masan_losses(model, batch, "cpu", class_weight=None, sparsity=0.01)
    out = model(batch["t1"], batch["fmri"])
    l_s = torch.nn.functional.mse_loss(out["recon"]["t1"], batch["t1"]) + sparse_penalty(out["codes"]["t1"], 0.01)
    l_f = torch.nn.functional.mse_loss(out["recon"]["fmri"], batch["fmri"]) + sparse_penalty(out["codes"]["fmri"], 0.01)
    cls = torch.nn.functional.cross_entropy(out["logits"], batch["label"])
    assert torch.allclose(terms["loss"], 0.5 * l_s + 0.5 * l_f + cls, atol=1e-5)  # Eq. 8, alpha = beta = 0.5
    pre = masan_losses(model, batch, "cpu", class_weight=None, sparsity=0.01, classify=False)
    assert "cls" not in pre and torch.allclose(pre["loss"], l_s + l_f, atol=1e-5)
    with pytest.raises(DataError, match="pairs must match"):
        model(batch["t1"], batch["fmri"][:3])


def test_sparse_penalty_is_eq_1():
    h = torch.tensor([[1.0, -2.0], [0.5, 0.5]])
    assert float(sparse_penalty(h, 0.1)) == pytest.approx(0.1 * (3.0 + 1.0) / 2)
    with pytest.raises(ParameterError):
        sparse_penalty(h, -1.0)


def test_single_branch_models_for_the_real_data():
    slices = SingleBranchMASAN((4, 4), in_channels=3, channels=(2, 4, 4, 4), hidden=8)
    assert slices(torch.randn(3, 3, 32, 32))["logits"].shape == (3, 2)
    series = SingleBranchMASAN((5,), channels=(2, 4, 4, 4), hidden=8)  # 5 regions x 16 time points
    out = series(torch.randn(3, 1, 5 * 16))
    assert out["logits"].shape == (3, 2) and out["maps"]["self"][0].shape == (3, 5, 5)


def test_hfcn_levels_follow_the_keras_code():
    net = HFCN((4, 4, 4), patch_size=25, width=0.25)  # valid convolutions: 25 -> ... -> one voxel
    out = net(torch.randn(2, 1, 60, 60, 60))
    assert out["patch"].shape == (2, 64) and out["region"].shape == (2, 27) and out["subject"].shape == (2,)
    small = HFCN((4, 4), patch_size=8, in_channels=3, width=0.25, batch_norm=True)  # "same" on a CPU grid
    assert small(torch.randn(2, 3, 32, 32))["region"].shape == (2, 9)
    cubes = centred_patches(torch.arange(64.0).reshape(1, 1, 4, 4, 4), (2, 2, 2), 2)
    assert cubes.shape == (1, 8, 1, 2, 2, 2) and float(cubes[0, 0, 0, 1, 1, 1]) == 21.0  # centre of cell 0 = voxel 1,1,1
    target = torch.tensor([0, 1])
    terms = hfcn_loss(out, target)
    expected = sum(torch.nn.functional.binary_cross_entropy_with_logits(
        out[k], target.float()[:, None].expand_as(out[k]) if out[k].ndim == 2 else target.float()) for k in
        ("patch", "region", "subject"))
    assert torch.allclose(terms["loss"], expected, atol=1e-5)  # 1:1:1
    with pytest.raises(ParameterError):
        HFCN((1, 4, 4), patch_size=8)


def test_batch_norm_recalibration_uses_the_final_weights():
    torch.manual_seed(0)
    model = SingleBranchMASAN((2, 2), in_channels=1, channels=(2, 4, 4, 4), hidden=8)
    data = [{"x": torch.randn(4, 1, 16, 16) + 3.0, "label": torch.tensor([0, 1, 0, 1])} for _ in range(3)]
    norm = model.classifier[0]
    assert torch.equal(norm.running_mean, torch.zeros_like(norm.running_mean))
    assert recalibrate_batch_norm(model, data, device="cpu") == 1
    with torch.no_grad():
        embedding = torch.cat([model(b["x"])["embedding"].flatten(1) for b in data])
    assert torch.allclose(norm.running_mean, embedding.mean(0), atol=1e-4)  # the cumulative average of the batches
    assert norm.momentum == 0.1 and not model.training
    assert recalibrate_batch_norm(MASAN((2, 2, 2), 4, (2, 4, 4, 4), batch_norm=False), [], device="cpu") == 0
    assert np.isfinite(norm.running_var.numpy()).all()


def test_table_1_shapes_at_the_paper_size_are_computed_without_memory():
    from mmlib.papers.masan.inspection import activation_bytes, fpm_shapes, loop_difference, table_1_shapes

    table = table_1_shapes(PAPER_CHANNELS, (240, 256, 176))
    assert table.loc["InitConv", "assembled"] == "32x240x256x176" == table.loc["InitConv", "Table 1 (as printed)"]
    assert table.loc["EncoderDown1", "assembled"] == "64x120x128x88"
    assert table.loc["EncoderBlock2", "per patch"] == "128x15x16x11"
    fpm = fpm_shapes(976, (60, 64, 44), PAPER_CHANNELS)  # the paper's "2 x 2 x 2" after three steps
    assert fpm.loc["EncoderBlock3", "channels"] == "128x2x2x2" and fpm.loc["InitConv", "frames"].endswith("976 frames")
    small = PatchAutoencoders((2, 2, 2), 1, (2, 4, 4, 4))
    assert activation_bytes(small, (2, 1, 8, 8, 8)) > 4 * 2 * 8 * 8 * 8  # at least the reconstruction
    assert loop_difference(PatchAutoencoders((2, 2, 2), 1, (2, 4, 4, 4)), torch.randn(2, 1, 8, 8, 8)) < 1e-5


def test_region_patch_ranks_name_the_patch_of_each_structure():
    from mmlib.data.phantoms.anatomy import tissue_maps
    from mmlib.papers.masan.inspection import patch_of, region_patch_ranks

    shape, grid = (32, 40, 32), (4, 4, 4)
    affine = tissue_maps(shape).affine
    weights = np.zeros(64)
    hippocampus = patch_of((-26, -22, -14), affine, shape, grid)
    weights[hippocampus] = 1.0
    ranks = region_patch_ranks(weights, grid, affine, shape)
    assert ranks.loc["hippocampus_left", "rank"] == 1 and ranks.loc["hippocampus_left", "patch"] == hippocampus
    others = ranks[ranks["patch"] != hippocampus]
    assert len(others) > 0 and (others["rank"] > 1).all() and (others["weight"] == 0).all()
