"""Entry point of ``python -m mmlib.runs`` (see :mod:`mmlib.runs.cli`)."""

from mmlib.runs.cli import main

raise SystemExit(main())
