"""Safe readers for NIfTI volumes, masks, 2-D images and CSV tables, plus checksum helpers.

Every failure (missing file, truncated or corrupt file, non-finite voxels,
modalities that do not line up, an empty mask, a colour image where a grey one
is expected) raises :class:`mmlib.errors.DataError` whose message names the file
and the problem. Nothing is silently repaired.

Reading is done by nibabel (NIfTI), Pillow (PNG/JPEG) and pandas (CSV); the colour transform by
scikit-image. What is hand-written here is only the checking.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from skimage.color import rgb2ypbpr, ypbpr2rgb

from mmlib.errors import DataError, ParameterError

_NIFTI_READ_ERRORS = (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError)
_IMAGE_READ_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError)


def read_csv(path: str | os.PathLike, *, what: str = "CSV", **options) -> pd.DataFrame:
    """``pd.read_csv(path, **options)``, with a malformed or unreadable file raised as a
    :class:`~mmlib.errors.DataError` naming it: ``"<path>: cannot read <what>: <reason>"``."""
    try:
        return pd.read_csv(path, **options)
    except (OSError, ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        raise DataError(path, f"cannot read {what}: {exc}") from None


def load_nifti(path: str | os.PathLike, *, allow_nonfinite: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read a NIfTI file with nibabel and return ``(data as float32, 4x4 affine)``.

    Raises
    ------
    DataError
        ``"file does not exist"``; ``"cannot read NIfTI (truncated or corrupt): <reason>"``
        for a damaged header or a truncated / corrupt gzip stream; ``"N NaN/inf voxels"``
        when the data hold non-finite values and ``allow_nonfinite`` is false.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file does not exist")
    try:
        image = nib.load(path)
        data = np.asarray(image.get_fdata(dtype=np.float32))
    except _NIFTI_READ_ERRORS as exc:
        raise DataError(path, f"cannot read NIfTI (truncated or corrupt): {exc}") from None
    if not allow_nonfinite:
        n_bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        if n_bad:
            raise DataError(path, f"{n_bad} NaN/inf voxels")
    return data, np.asarray(image.affine, dtype=np.float64)


def load_case_volumes(
    paths: dict[str, str | os.PathLike], *, atol: float = 1e-3
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Load the modalities of one case and check that they share one voxel grid.

    ``paths`` maps a modality name (``"t1"``, ``"flair"``, ``"seg"``...) to its file.
    Returns ``({modality: float32 array}, affine)``; the affine is the first file's.

    Raises
    ------
    DataError
        A missing file (naming the file and its modality); any read error of
        :func:`load_nifti`; a shape or affine (``atol``) that differs from the
        first modality's (naming both files and both shapes / affines).
    """
    if not paths:
        raise ParameterError("load_case_volumes needs at least one modality path")
    volumes: dict[str, np.ndarray] = {}
    ref_mod = ref_path = ref_affine = None
    for modality, path in paths.items():
        path = Path(path)
        if not path.is_file():
            raise DataError(path, f"file does not exist (modality {modality!r})")
        data, affine = load_nifti(path)
        if ref_path is None:
            ref_mod, ref_path, ref_affine = modality, path, affine
        else:
            ref_shape = volumes[ref_mod].shape
            if data.shape != ref_shape:
                raise DataError(
                    path,
                    f"modality {modality!r} has shape {data.shape} but {ref_mod!r} "
                    f"({ref_path}) has shape {ref_shape}",
                )
            if not np.allclose(affine, ref_affine, atol=atol):
                raise DataError(
                    path,
                    f"modality {modality!r} has affine {affine[:3].round(4).tolist()} but "
                    f"{ref_mod!r} ({ref_path}) has affine {ref_affine[:3].round(4).tolist()} "
                    f"(atol={atol})",
                )
        volumes[modality] = data
    return volumes, ref_affine


def check_label_map(path: str | os.PathLike, data: np.ndarray, *, allow_empty: bool = False) -> np.ndarray:
    """Check that ``data`` (read from ``path``) is a label map and return it as uint8.

    A label map holds small non-negative integers (a binary mask, or the BraTS
    labels 0/1/2/4). Raises :class:`DataError` if a value is not such an integer,
    or if no voxel is non-zero and ``allow_empty`` is false.
    """
    if data.size and (data.min() < 0 or data.max() > 255 or not np.array_equal(data, np.round(data))):
        raise DataError(path, "mask holds values that are not integer labels in 0..255")
    if not allow_empty and not np.any(data):
        raise DataError(path, "mask is empty (no non-zero voxel)")
    return data.astype(np.uint8)


def load_mask(
    path: str | os.PathLike, reference_shape: tuple[int, ...] | None = None, allow_empty: bool = False
) -> np.ndarray:
    """Read a NIfTI mask / label map as uint8; check its shape and that it is not empty.

    Raises
    ------
    DataError
        Read errors as :func:`load_nifti`; ``"mask is empty (no non-zero voxel)"``;
        non-integer values; a shape that differs from ``reference_shape``.
    """
    data, _ = load_nifti(path)
    if reference_shape is not None and tuple(data.shape) != tuple(reference_shape):
        raise DataError(path, f"mask has shape {data.shape} but the image has shape {tuple(reference_shape)}")
    return check_label_map(path, data, allow_empty=allow_empty)


def load_png(path: str | os.PathLike, mode: str = "grey") -> np.ndarray:
    """Read a 2-D image (PNG or JPEG, through Pillow) as float32 in [0, 1].

    ``mode="grey"`` returns ``(H, W)``; ``mode="rgb"`` returns ``(H, W, 3)``.

    An image stored as RGB whose three channels are identical at every pixel *is*
    greyscale and is accepted (and returned as one channel) for ``mode="grey"``;
    only an image with real colour (channels that differ somewhere) is refused.
    Conversely a single-channel image is refused for ``mode="rgb"``. An alpha channel
    is accepted only when fully opaque. 16-bit greyscale is scaled by 65535.

    Raises
    ------
    DataError
        Missing file; corrupt or truncated file (``"cannot read image ..."``); a colour
        image where grey is expected (``"expected a greyscale image but it is RGB colour"``)
        or the reverse.
    """
    if mode not in ("grey", "rgb"):
        raise ParameterError(f"load_png mode must be 'grey' or 'rgb', got {mode!r}")
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file does not exist")
    try:
        with Image.open(path) as image:
            image.load()
            pil_mode = image.mode
            if pil_mode == "P":
                image = image.convert("RGBA")
                pil_mode = "RGBA"
            array = np.asarray(image)
    except _IMAGE_READ_ERRORS as exc:
        raise DataError(path, f"cannot read image (truncated or corrupt): {exc}") from None

    if pil_mode in ("RGBA", "LA"):
        if not np.all(array[..., -1] == 255):
            raise DataError(path, "image has a transparent alpha channel")
        array = array[..., :-1] if pil_mode == "RGBA" else array[..., 0]
        pil_mode = pil_mode[:-1]
    if pil_mode in ("I;16", "I;16B", "I;16L", "I"):
        scaled = array.astype(np.float32) / 65535.0
    elif pil_mode in ("L", "RGB"):
        scaled = array.astype(np.float32) / 255.0
    elif pil_mode == "1":
        scaled = array.astype(np.float32)
    else:
        raise DataError(path, f"unsupported image mode {pil_mode!r}")

    is_colour = scaled.ndim == 3
    if mode == "grey":
        if is_colour:
            if not (np.array_equal(scaled[..., 0], scaled[..., 1]) and np.array_equal(scaled[..., 0], scaled[..., 2])):
                raise DataError(
                    path, f"expected a greyscale image but it is RGB colour (shape {array.shape}, mode {pil_mode})"
                )
            scaled = scaled[..., 0]
        return np.ascontiguousarray(scaled)
    if not is_colour:
        raise DataError(
            path, f"expected an RGB colour image but it is greyscale (shape {array.shape}, mode {pil_mode})"
        )
    return np.ascontiguousarray(scaled)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> full-range ITU-R BT.601 YCbCr in [0, 1] (channels last).

    Y = 0.299 R + 0.587 G + 0.114 B; Cb, Cr are the BT.601 colour differences offset
    by 0.5 (the JPEG/JFIF convention, as ``cv2.COLOR_RGB2YCrCb``). Colour fusion
    (PET-MRI) fuses the grey MRI with Y and keeps Cb, Cr; Y stays on the same
    [0, 1] scale as the grey image, unlike the studio-range ``rgb2ycbcr``.
    Computed with :func:`skimage.color.rgb2ypbpr`.
    """
    ycc = rgb2ypbpr(np.asarray(rgb, dtype=np.float64))
    ycc[..., 1:] += 0.5
    return ycc.astype(np.float32)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr`, clipped to [0, 1] (fused Y can leave the gamut)."""
    ypbpr = np.array(ycbcr, dtype=np.float64)
    ypbpr[..., 1:] -= 0.5
    return np.clip(ypbpr2rgb(ypbpr), 0.0, 1.0).astype(np.float32)


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_sha256sums(path: str | os.PathLike) -> dict[str, str]:
    """Parse a ``sha256sum``-style file into ``{relative path: digest}``."""
    path = Path(path)
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise DataError(path, f"line {number} is not '<sha256>  <file>': {line!r}")
        sums[parts[1].lstrip("*").strip()] = parts[0].lower()
    return sums


def verify_checksums(
    folder: str | os.PathLike, sums_file: str = "SHA256SUMS", only: str | None = None
) -> list[Path]:
    """Check the files listed in ``folder/sums_file`` against their SHA-256 digests.

    ``only`` restricts the check to listed paths starting with that prefix (for
    example ``"CT-MRI/"``). Returns the checked paths.

    Raises
    ------
    DataError
        A listed file is missing, or its digest differs (both digests are named).
    """
    folder = Path(folder)
    checked = []
    for relative, expected in read_sha256sums(folder / sums_file).items():
        if only is not None and not relative.startswith(only):
            continue
        path = folder / relative
        if not path.is_file():
            raise DataError(path, f"listed in {folder / sums_file} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise DataError(path, f"sha256 {actual} does not match {expected} in {folder / sums_file}")
        checked.append(path)
    return checked
