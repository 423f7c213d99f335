"""Harvard Whole Brain Atlas (AANLIB) co-registered image pairs for fusion (DILRAN paper, Sec. 4.1).

Layout (``harvard-aanlib/`` in the data root)::

    CT-MRI/CT/<name>.png   CT-MRI/MRI/<name>.png     184 pairs, both greyscale
    PET-MRI/PET/<name>.png PET-MRI/MRI/<name>.png    269 pairs, PET RGB (colour-coded)
    SHA256SUMS

A pair is the same file name in both folders. The file name is ``<series><slice>``
with a 3-digit slice number, so the series (one patient study) is the name without
its last three digits: ``16003`` -> series ``16``, ``2004`` -> series ``2``. Splits
must keep a series on one side (the DILRAN authors' per-slice split does not; see
``NOTES.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmlib.data.io import load_png, verify_checksums
from mmlib.errors import DataError, ParameterError

#: The two folders of each pair kind, and whether each image is colour.
PAIR_KINDS = {
    "CT-MRI": (("CT", "grey"), ("MRI", "grey")),
    "PET-MRI": (("PET", "rgb"), ("MRI", "grey")),
}


@dataclass
class FusionPair:
    """One co-registered pair.

    ``paths`` and ``modes`` map the modality (``"CT"``, ``"PET"``, ``"MRI"``) to its file and
    its colour mode (``"grey"`` or ``"rgb"``).
    """

    name: str
    series: str
    kind: str
    paths: dict[str, Path]
    modes: dict[str, str]

    def load(self) -> dict[str, np.ndarray]:
        """Read both images as float32 in [0, 1]: grey ``(H, W)``, PET ``(H, W, 3)`` (see :func:`load_png`)."""
        return {modality: load_png(path, self.modes[modality]) for modality, path in self.paths.items()}


def series_of(name: str) -> str:
    """Series (patient study) of an AANLIB file stem: all but the last three digits."""
    if len(name) < 4 or not name.isdigit():
        raise DataError(name, "AANLIB file name is not '<series><3-digit slice>'")
    return name[:-3]


def load_aanlib_pairs(root: str | os.PathLike, pair: str = "CT-MRI", *, verify: bool = True) -> list[FusionPair]:
    """List the image pairs of ``root/<pair>`` sorted by (series, slice).

    ``root`` is the ``harvard-aanlib`` folder. With ``verify`` and a ``SHA256SUMS``
    file in ``root``, every file of this pair kind is checked against it first.
    Image sizes are read from the headers (cheap) and must agree within a pair; like every
    image shape in this package they are ``(height, width)``, the array's shape.

    Raises
    ------
    DataError
        Missing folder; a file whose partner is missing (naming the missing file);
        partners of different sizes (naming both); a checksum mismatch.
    """
    if pair not in PAIR_KINDS:
        raise ParameterError(f"pair must be one of {sorted(PAIR_KINDS)}, got {pair!r}")
    root = Path(root)
    (mod_a, mode_a), (mod_b, mode_b) = PAIR_KINDS[pair]
    dir_a, dir_b = root / pair / mod_a, root / pair / mod_b
    for folder in (dir_a, dir_b):
        if not folder.is_dir():
            raise DataError(folder, f"AANLIB {pair} folder does not exist")
    if verify and (root / "SHA256SUMS").is_file():
        verify_checksums(root, only=f"{pair}/")

    names_a = {p.stem for p in dir_a.glob("*.png")}
    names_b = {p.stem for p in dir_b.glob("*.png")}
    for present_dir, missing_dir, names in ((dir_a, dir_b, names_a - names_b), (dir_b, dir_a, names_b - names_a)):
        if names:
            name = sorted(names)[0]
            raise DataError(
                missing_dir / f"{name}.png",
                f"partner of {present_dir / (name + '.png')} is missing ({len(names)} unpaired file(s))",
            )
    if not names_a:
        raise DataError(dir_a, "no PNG images found")

    pairs = []
    for name in sorted(names_a, key=lambda n: (int(series_of(n)), int(n[-3:]))):
        path_a, path_b = dir_a / f"{name}.png", dir_b / f"{name}.png"
        size_a, size_b = _image_size(path_a), _image_size(path_b)
        if size_a != size_b:
            raise DataError(path_b, f"size {size_b} differs from its partner {path_a} of size {size_a}")
        pairs.append(
            FusionPair(
                name=name,
                series=series_of(name),
                kind=pair,
                paths={mod_a: path_a, mod_b: path_b},
                modes={mod_a: mode_a, mod_b: mode_b},
            )
        )
    return pairs


def _image_size(path: Path) -> tuple[int, int]:
    """``(height, width)`` from the image header (the package's convention, NumPy's array shape), as a
    DataError when unreadable. PIL's ``Image.size`` is ``(width, height)``: reversed here."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            return height, width
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(path, f"cannot read image (truncated or corrupt): {exc}") from None
