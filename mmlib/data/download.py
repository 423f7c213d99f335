"""Download a public dataset with a stable URL, verify its SHA-256, unpack it atomically.

Hand-written on the standard library (``urllib``, ``zipfile``, ``tarfile``) with a
tqdm progress bar: MONAI's ``download_url`` / ``extractall`` neither remove a
partial file on a checksum mismatch nor unpack atomically.

Guarantees: a download that fails, or whose digest is wrong, leaves nothing behind
in ``dest_dir``; an archive is unpacked into a temporary folder that is renamed
onto the target only when complete; a second call with the same URL and digest is
a no-op.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm.auto import tqdm

from mmlib.atomic import write_text
from mmlib.data.io import sha256_file
from mmlib.errors import DataError, ParameterError

#: Archive suffixes :func:`download` can unpack.
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
#: File written inside an unpacked folder, holding the archive's digest.
MARKER = ".mmlib-sha256"


def download(
    url: str, dest_dir: str | os.PathLike, sha256: str, *, extract: bool = True, progress: bool = True
) -> Path:
    """Fetch ``url`` into ``dest_dir`` and return the file, or the unpacked folder.

    With ``extract`` and an archive URL, the archive ``<name><suffix>`` is unpacked
    into ``dest_dir/<name>/`` (which carries a ``.mmlib-sha256`` marker) and the
    archive is deleted; otherwise the file is kept as ``dest_dir/<file name>``.

    Raises
    ------
    ParameterError
        ``sha256`` is not 64 hex digits; ``extract`` asked for a non-archive URL.
    DataError
        The download fails (naming the URL); the digest differs (naming the URL and
        both digests; the partial file is removed); the archive is corrupt or holds
        a path outside its folder; the target folder exists but was not made by this
        download.
    """
    expected = sha256.lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ParameterError(f"sha256 must be 64 hex digits, got {sha256!r}")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    file_name = Path(unquote(urlparse(url).path)).name
    if not file_name:
        raise ParameterError(f"cannot take a file name from URL {url!r}")
    suffix = next((s for s in ARCHIVE_SUFFIXES if file_name.endswith(s)), None)
    if extract and suffix is None:
        raise ParameterError(f"extract=True but {file_name!r} is not one of {ARCHIVE_SUFFIXES}")

    target = dest_dir / (file_name[: -len(suffix)] if extract else file_name)
    if extract and target.exists():
        marker = target / MARKER
        if marker.is_file() and marker.read_text().strip() == expected:
            return target
        raise DataError(
            target, f"exists but was not unpacked from {url} with sha256 {expected}; remove it to re-download"
        )
    if not extract and target.is_file() and sha256_file(target) == expected:
        return target

    archive = _fetch(url, dest_dir, expected, progress)
    try:
        if not extract:
            os.replace(archive, target)
            return target
        _unpack(archive, target, url, expected)
    finally:
        archive.unlink(missing_ok=True)
    return target


def _fetch(url: str, dest_dir: Path, expected: str, progress: bool) -> Path:
    """Stream ``url`` to a temporary file in ``dest_dir``, hashing as it goes."""
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=dest_dir)
    partial = Path(name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(urlparse(url).path).name,
                      disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise DataError(url, f"download failed: {exc}") from None
    actual = digest.hexdigest()
    if actual != expected:
        partial.unlink(missing_ok=True)
        raise DataError(url, f"sha256 mismatch: expected {expected}, got {actual}; the partial file was removed")
    return partial


def _unpack(archive: Path, target: Path, url: str, expected: str) -> None:
    """Unpack into a temporary sibling folder, then rename it onto ``target``."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".unpack", dir=target.parent))
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                root = staging.resolve()
                for member in bundle.namelist():
                    if not (staging / member).resolve().is_relative_to(root):
                        raise DataError(url, f"archive member {member!r} points outside its folder")
                bundle.extractall(staging)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(staging, filter="data")
        write_text(staging / MARKER, expected + "\n")
        os.replace(staging, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(url, f"cannot unpack archive: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging)

