"""A chapter's full-scale settings: the parameters that turn a CPU build into the paper's run.

Each paper package types its chapters' full-scale settings once, as
:class:`FullScale` records in its ``paper.py``; the chapters render them with
:func:`mmlib.viz.admonition.full_scale_box`, and ``tests/test_full_scale.py``
checks that every setting names a parameter of its chapter and differs from
the chapter's default. (Hand-written: no library holds this.)
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Mapping

from mmlib.errors import ParameterError
from mmlib.runs.runner import chapter_defaults, papermill_value


@dataclass(frozen=True)
class FullScale:
    """The paper's setting of one chapter.

    ``settings`` maps parameter -> full-scale value (every parameter that
    differs from the CPU default, weights files included); ``source`` names
    where in the paper the values come from; ``note`` says what else a reader
    needs (run time, files to obtain); ``folds`` is the fold runner's
    ``--folds`` and ``tag`` its ``--tag``.
    """

    chapter: str
    settings: Mapping[str, Any]
    source: str
    note: str = ""
    folds: str = "0-2"
    tag: str | None = None

    def defaults(self) -> dict[str, Any]:
        """The chapter's own (CPU) defaults, read from its parameters cell."""
        return chapter_defaults(self.chapter)

    def check(self) -> None:
        """Raise unless every setting is a parameter of the chapter and differs from its default."""
        defaults = self.defaults()
        unknown = sorted(set(self.settings) - set(defaults))
        if unknown:
            raise ParameterError(f"{self.chapter}: full-scale settings {unknown} are not parameters of the chapter")
        same = sorted(k for k, v in self.settings.items() if papermill_value(v) == papermill_value(defaults[k]))
        if same:
            raise ParameterError(f"{self.chapter}: full-scale settings {same} equal the chapter's defaults")

    def command(self) -> str:
        """The fold-runner command that runs the chapter at full scale (sequences written as JSON lists)."""
        words = ["python", "-m", "mmlib.runs", self.chapter, "--folds", self.folds]
        if self.tag:
            words += ["--tag", self.tag]
        for key, value in self.settings.items():
            value = papermill_value(value)
            text = value if isinstance(value, str) else json.dumps(value)
            words += ["-p", f"{key}={text}"]
        return " ".join(shlex.quote(w) for w in words)
