"""Full-scale settings (mmlib.runs.full_scale): every paper's boxes name real parameters and a runnable command."""

from __future__ import annotations

import shlex

import pytest

from mmlib.errors import ParameterError
from mmlib.papers.dilran import paper as dilran_paper
from mmlib.papers.guidance import paper as guidance_paper
from mmlib.runs.cli import parse_param
from mmlib.runs.full_scale import FullScale

ALL = [guidance_paper.FULL_SCALE_UNIMODAL, guidance_paper.FULL_SCALE_GUIDANCE, guidance_paper.FULL_SCALE_FUSION,
       dilran_paper.FULL_SCALE]


@pytest.mark.parametrize("full_scale", ALL, ids=lambda f: f.chapter)
def test_settings_are_parameters_of_their_chapter_and_differ_from_the_defaults(full_scale):
    full_scale.check()
    assert full_scale.source and full_scale.settings


@pytest.mark.parametrize("full_scale", ALL, ids=lambda f: f.chapter)
def test_the_command_passes_every_setting_back_unchanged(full_scale):
    words = shlex.split(full_scale.command())
    assert words[:4] == ["python", "-m", "mmlib.runs", full_scale.chapter]
    given = dict(parse_param(words[i + 1]) for i, w in enumerate(words) if w == "-p")
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in full_scale.settings.items()}
    assert given == expected


def test_check_names_unknown_and_unchanged_settings():
    with pytest.raises(ParameterError, match="not parameters"):
        FullScale("guidance/unimodal", {"epochs": 200}, source="x").check()
    with pytest.raises(ParameterError, match="equal the chapter's defaults"):
        FullScale("guidance/unimodal", {"seed": 0, "max_epochs": 200}, source="x").check()


@pytest.mark.parametrize("full_scale", ALL, ids=lambda f: f.chapter)
def test_the_box_wraps_the_command_without_changing_it(full_scale):
    from mmlib.viz.admonition import wrap_command

    wrapped = wrap_command(full_scale.command())
    assert all(len(line) <= 90 for line in wrapped.splitlines())
    assert shlex.split(wrapped.replace(" \\\n", " ")) == shlex.split(full_scale.command())
