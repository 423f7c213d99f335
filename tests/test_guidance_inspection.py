"""The method chapter's measurements on the guidance networks (mmlib.papers.guidance.inspection)."""

from __future__ import annotations

import pytest
import torch

from mmlib.errors import ParameterError
from mmlib.papers.guidance.inspection import attention_megabytes, block_shapes, copy_differences
from mmlib.papers.guidance.model import GuidanceModel
from mmlib.papers.guidance.rmc import RMC


def test_block_shapes_follow_table_i_and_work_on_the_meta_device():
    rmc = RMC(1, 2, width=0.25).eval()
    shapes = block_shapes(rmc, torch.zeros(1, 1, 8, 32, 32))
    assert [s[2] for s in shapes[:5]] == [8] * 5  # no stride on the slice axis
    assert [s[3] for s in shapes[:5]] == [16, 16, 8, 4, 2]  # stem and blocks 3-5 halve H
    assert shapes[-1] == (1, 2)
    with torch.device("meta"):
        big = RMC(1, 2, width=1.0).eval()
    paper = block_shapes(big, torch.empty(1, 1, 150, 240, 240, device="meta"))
    assert paper[4] == (1, 512, 150, 15, 15)


def test_attention_megabytes():
    sizes = attention_megabytes((1, 512, 150, 15, 15))
    assert sizes["hw: D (HW)^2"] == pytest.approx(150 * 225**2 * 4 / 2**20)
    assert sizes["dhw: (DHW)^2"] == pytest.approx(33750**2 * 4 / 2**20)  # 4.2 GiB: why attention is per slice
    with pytest.raises(ParameterError):
        attention_megabytes((150, 15, 15))


def test_copy_differences_vanish_after_the_copy_of_algorithm_1():
    torch.manual_seed(0)
    model = GuidanceModel("t1ce", ("t2",), width=0.125)
    with torch.no_grad():  # stage 1 moved the primary away from the branches
        for p in model.primary.parameters():
            p.add_(0.01)
    before = copy_differences(model)
    assert list(before.index) == [("t2", "LFE vs blocks 1-3"), ("t2", "HFE vs blocks 4-5")]
    assert (before > 0).all()
    model.copy_primary_blocks()
    assert (copy_differences(model) == 0).all()
