"""Command line: export a finished fold sweep to ``results/``, with provenance.

The last step of every reference script (``scripts/reference-*.sh``)::

    python -m mmlib.runs.export guidance/unimodal tables-v-vi results/guidance/tables-v-vi \\
        --command "bash scripts/reference-guidance-tables-v-vi.sh" --wall-time 660 --git-at-start "$git_at_start"

The data of the provenance record come from the folds' records (each chapter
passes ``data=`` to :func:`mmlib.runs.record_fold_result`: the checksums of the
real files it read, or the phantom generator and its settings); see
:func:`mmlib.runs.provenance.export_run`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mmlib.runs.provenance import export_run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmlib.runs.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="chapter of the sweep, e.g. guidance/unimodal")
    parser.add_argument("tag", help="the sweep's tag (runs/<chapter>/<tag>)")
    parser.add_argument("dest", help="folder under results/ to write")
    parser.add_argument("--command", required=True, help="the command that regenerates the run")
    parser.add_argument("--wall-time", type=float, required=True, help="wall time of the sweep in seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="root of the sweeps (default: <repo>/runs)")
    parser.add_argument("--git-at-start", default=None,
                        help="JSON of mmlib.runs.provenance.git_state() taken before the sweep (default: the state now)")
    args = parser.parse_args(argv)
    dest = export_run(args.chapter, args.tag, args.out, args.dest, command=args.command, wall_time_s=args.wall_time,
                      device=args.device, git_at_start=json.loads(args.git_at_start) if args.git_at_start else None)
    print(f"exported to {dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
