"""Dataset manifests (``data/<dataset>/manifest.json``) and a check of a local copy against one.

A manifest records where a dataset comes from and what a complete copy looks
like. Keys: ``name``, ``folder`` (its folder under the data root), ``source``,
``terms``, ``citation``, ``how_to_obtain``, ``expected_files`` (a list of
``{"path": ...}`` or ``{"glob": ..., "count": n}``), ``checksums``
(``{relative path: sha256}``) and optionally ``checksum_file`` (a ``sha256sum``
file shipped with the data, every line of which is checked too).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mmlib.config import REPO_ROOT, data_root
from mmlib.data.io import read_sha256sums, sha256_file
from mmlib.errors import DataError, ParameterError

#: Folder holding one sub-folder per dataset manifest.
MANIFEST_DIR = REPO_ROOT / "data"
REQUIRED_KEYS = ("name", "folder", "source", "terms", "citation", "how_to_obtain", "expected_files", "checksums")


def list_manifests() -> list[str]:
    """Names of the datasets that have a manifest."""
    return sorted(p.parent.name for p in MANIFEST_DIR.glob("*/manifest.json"))


def load_manifest(name: str) -> dict:
    """Read and validate ``data/<name>/manifest.json``."""
    path = MANIFEST_DIR / name / "manifest.json"
    if not path.is_file():
        raise ParameterError(f"no manifest for dataset {name!r}; known: {list_manifests()}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"invalid JSON: {exc}") from None
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise DataError(path, f"missing key(s) {missing}")
    for entry in manifest["expected_files"]:
        if not ("path" in entry or ("glob" in entry and "count" in entry)):
            raise DataError(path, f"expected_files entry {entry} needs 'path', or 'glob' and 'count'")
    return manifest


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found; ``ok`` when nothing is missing or wrong."""

    name: str
    folder: Path
    present: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    wrong_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # glob -> (found, expected)
    checksum_ok: list[str] = field(default_factory=list)
    checksum_bad: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_counts or self.checksum_bad)

    def summary(self) -> str:
        """One line for logs and the data chapter."""
        state = "complete" if self.ok else "INCOMPLETE"
        return (
            f"{self.name} at {self.folder}: {state}; {len(self.present)} expected entries present, "
            f"{len(self.missing)} missing, {len(self.wrong_counts)} wrong counts, "
            f"{len(self.checksum_ok)} checksums match, {len(self.checksum_bad)} differ"
        )


def check_dataset(name: str, folder: str | os.PathLike | None = None) -> DatasetReport:
    """Compare a local copy of dataset ``name`` with its manifest, without raising on a difference.

    ``folder`` is the dataset's own folder; by default ``<data root>/<manifest folder>``
    (:func:`mmlib.config.data_root`). Missing checksummed files count as missing.
    """
    manifest = load_manifest(name)
    folder = Path(folder) if folder is not None else data_root() / manifest["folder"]
    report = DatasetReport(name, folder)
    if not folder.is_dir():
        report.missing.append(str(folder))
        return report

    for entry in manifest["expected_files"]:
        if "path" in entry:
            (report.present if (folder / entry["path"]).exists() else report.missing).append(entry["path"])
        else:
            found = sum(1 for _ in folder.glob(entry["glob"]))
            if found == entry["count"]:
                report.present.append(entry["glob"])
            else:
                report.wrong_counts[entry["glob"]] = (found, entry["count"])

    checksums = dict(manifest["checksums"])
    if manifest.get("checksum_file") and (folder / manifest["checksum_file"]).is_file():
        checksums.update(read_sha256sums(folder / manifest["checksum_file"]))
    for relative, expected in sorted(checksums.items()):
        path = folder / relative
        if not path.is_file():
            if relative not in report.missing:
                report.missing.append(relative)
        elif sha256_file(path) == expected:
            report.checksum_ok.append(relative)
        else:
            report.checksum_bad.append(relative)
    return report
