"""The project's error types.

Every problem with input data raises :class:`DataError`, whose message names the
file (or case) and says what is wrong with it, so that a user with a corrupt scan
knows which one to fix.
"""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data: ``DataError(path, problem)`` prints ``"<path>: <problem>"``."""

    def __init__(self, where: str | Path, problem: str):
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class ParameterError(ValueError):
    """A wrong parameter name or value (for a chapter, a run or a function)."""
