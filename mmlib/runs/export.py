"""Command line: export a finished sweep on the glioma phantoms to ``results/``, with provenance.

The last step of the glioma reference scripts (``scripts/reference-guidance-*.sh``)::

    python -m mmlib.runs.export guidance/unimodal tables-v-vi results/guidance/tables-v-vi \\
        --command "bash scripts/reference-guidance-tables-v-vi.sh" --wall-time 660 --seed 0 --n-cases 90

It describes the data as the phantom generator and its settings (the phantom grid is the
chapter's default ``phantom_shape`` unless ``--shape`` is given) and calls
:func:`mmlib.runs.provenance.export_run`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import jupytext

from mmlib.runs.provenance import export_run
from mmlib.runs.runner import chapter_parameters, resolve_chapter

#: How the glioma phantoms of the reference runs are drawn (``mmlib.data.glioma_dataset.glioma_cases``).
GENERATOR = "mmlib.data.phantoms.glioma_phantoms (task='grade', difficulty=0.5)"


def phantom_data_record(chapter: str, n_cases: int, seed: int, shape: Sequence[int] | None = None) -> dict:
    """The provenance ``data`` record of a sweep of ``chapter`` on the glioma phantoms."""
    path, _ = resolve_chapter(chapter)
    defaults = chapter_parameters(jupytext.read(path), path)
    return {"dataset": defaults["dataset"], "generator": GENERATOR, "n_cases": n_cases,
            "shape_xyz": list(shape if shape is not None else defaults["phantom_shape"]), "seed": seed}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmlib.runs.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="chapter of the sweep, e.g. guidance/unimodal")
    parser.add_argument("tag", help="the sweep's tag (runs/<chapter>/<tag>)")
    parser.add_argument("dest", help="folder under results/ to write")
    parser.add_argument("--command", required=True, help="the command that regenerates the run")
    parser.add_argument("--wall-time", type=float, required=True, help="wall time of the sweep in seconds")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--n-cases", type=int, required=True)
    parser.add_argument("--shape", type=int, nargs=3, default=None, help="phantom grid x y z (default: the chapter's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--git-at-start", default=None,
                        help="JSON of mmlib.runs.provenance.git_state() taken before the sweep (default: the state now)")
    args = parser.parse_args(argv)
    data = phantom_data_record(args.chapter, args.n_cases, args.seed, args.shape)
    dest = export_run(args.chapter, args.tag, None, args.dest, command=args.command, data_files_or_checksums=data,
                      wall_time_s=args.wall_time, device=args.device,
                      git_at_start=json.loads(args.git_at_start) if args.git_at_start else None)
    print(f"exported to {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
