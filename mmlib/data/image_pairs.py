"""Torch datasets of AANLIB image-fusion pairs (DILRAN paper Sec. 2.3 and Fig. 1).

The DILRAN autoencoder is trained to reconstruct SINGLE images, CT and MR mixed
together; the two images of a pair meet only at test time, in the fusion rule
(NOTES.md, DILRAN, "Training"). :class:`FusionImageDataset` serves those single
images; :func:`pair_tensors` serves one pair for fusion.

A colour PET image contributes its luminance Y (BT.601, :func:`mmlib.data.io.rgb_to_ycbcr`):
the PET-MRI experiment the paper names as future work (Sec. 4) fuses Y with the grey MR and
keeps the PET chroma (:mod:`mmlib.papers.dilran.color`).

Bad input: reading goes through :meth:`mmlib.data.aanlib.FusionPair.load` and
:func:`mmlib.data.io.load_png`, which raise :class:`DataError` naming the file for a
missing, corrupt or wrongly coloured image. On top of that, partners of different
sizes and all-zero (blank) images raise :class:`DataError` naming the file: a blank
slice has nothing to fuse and makes every fusion score against it meaningless.
(The fusion rules themselves stay finite on blank input, see ``tests/test_image_fusion_bad_input.py``.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.transforms import RandSpatialCrop, Resize
from torch.utils.data import Dataset

from mmlib.data.aanlib import FusionPair
from mmlib.data.io import rgb_to_ycbcr
from mmlib.errors import DataError, ParameterError


def _grey_images(pair: FusionPair, modalities: Sequence[str]) -> list[np.ndarray]:
    """The pair's images for ``modalities`` as ``(H, W)`` float32 in [0, 1]; colour -> its Y channel."""
    missing = [m for m in modalities if m not in pair.paths]
    if missing:
        raise ParameterError(f"pair {pair.name} ({pair.kind}) has no modality {missing}; it has {sorted(pair.paths)}")
    loaded = pair.load()
    images = []
    for modality in modalities:
        image = loaded[modality]
        if image.ndim == 3:  # Y of BT.601 is a convex mix of R, G, B: [0, 1] up to rounding
            image = np.clip(rgb_to_ycbcr(image)[..., 0], 0.0, 1.0)
        if not np.any(image):
            raise DataError(pair.paths[modality], "image is all zero (blank); there is nothing to fuse")
        images.append(np.ascontiguousarray(image, dtype=np.float32))
    shapes = {m: im.shape for m, im in zip(modalities, images)}
    if len(set(shapes.values())) > 1:
        first = modalities[0]
        other = next(m for m in modalities if shapes[m] != shapes[first])
        raise DataError(
            pair.paths[other],
            f"size {shapes[other]} differs from its partner {pair.paths[first]} of size {shapes[first]}",
        )
    return images


def _resizer(size: int | tuple[int, int] | None):
    """MONAI ``Resize`` to ``size`` (area interpolation, which averages: values stay in [0, 1])."""
    if size is None:
        return None
    spatial = (size, size) if isinstance(size, int) else tuple(size)
    if len(spatial) != 2 or min(spatial) < 1:
        raise ParameterError(f"size must be a positive int or (H, W), got {size!r}")
    return Resize(spatial_size=spatial, mode="area")


def _to_tensor(image: np.ndarray, resize) -> torch.Tensor:
    """``(H, W)`` array -> ``(1, H', W')`` float32 tensor, resized when ``resize`` is set."""
    tensor = torch.from_numpy(image)[None]
    if resize is not None:
        tensor = torch.as_tensor(resize(tensor)).as_subclass(torch.Tensor)
    return tensor.float().contiguous()


class FusionImageDataset(Dataset):
    """Single grey images of the named pairs, CT (or PET's Y) and MR mixed: each item ``(1, H, W)`` float32.

    ``pairs``: :func:`mmlib.data.aanlib.load_aanlib_pairs` output; ``names``: the pair
    names to use (a part of a split, e.g. ``paper_split(...)["train"]``);
    ``modalities``: which images of each pair to serve (``("PET", "MRI")`` for PET-MRI);
    ``size``: optional resize (int or ``(H, W)``) for CPU-size runs.

    All images are read and checked when the dataset is built, so a bad file fails at
    once (a :class:`DataError` naming it), not mid-epoch. Item ``i`` is image
    :attr:`items` ``[i]`` = ``(pair name, modality)``, ordered pair by pair.
    """

    def __init__(
        self,
        pairs: Sequence[FusionPair],
        names: Sequence[str],
        *,
        modalities: Sequence[str] = ("CT", "MRI"),
        size: int | tuple[int, int] | None = None,
    ):
        by_name = {p.name: p for p in pairs}
        unknown = sorted(set(names) - set(by_name))
        if unknown:
            raise ParameterError(f"{len(unknown)} name(s) are not among the pairs, e.g. {unknown[:5]}")
        if not names:
            raise ParameterError("FusionImageDataset needs at least one pair name")
        resize = _resizer(size)
        self.items: list[tuple[str, str]] = []
        self._images: list[torch.Tensor] = []
        for name in names:
            for modality, image in zip(modalities, _grey_images(by_name[name], modalities)):
                self.items.append((name, modality))
                self._images.append(_to_tensor(image, resize))

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self._images[index]


class RandomCrops(Dataset):
    """Each item of ``dataset`` (a ``(1, H, W)`` tensor, or a tuple whose first item is one)
    cut to a random ``size x size`` square, a new position on every access.

    For cheaper autoencoder training on CPU: the fusion autoencoders are fully convolutional,
    so a model trained on crops still fuses whole images, and a 128 x 128 crop costs a
    quarter of a 256 x 256 image. MONAI's :class:`~monai.transforms.RandSpatialCrop`,
    seeded with ``seed``; the crop sequence is reproducible for a single-process loader.
    """

    def __init__(self, dataset: Dataset, size: int, seed: int = 0):
        if not isinstance(size, int) or size < 8:
            raise ParameterError(f"crop size must be an integer >= 8, got {size!r}")
        self.dataset, self.size = dataset, size
        self.crop = RandSpatialCrop((size, size), random_size=False)
        self.crop.set_random_state(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        item = self.dataset[index]
        image = item[0] if isinstance(item, (tuple, list)) else item
        if min(image.shape[-2:]) < self.size:
            raise ParameterError(f"crop size {self.size} exceeds image {index}'s size {tuple(image.shape[-2:])}")
        return torch.as_tensor(self.crop(image)).clone()


def pair_tensors(pair: FusionPair, size: int | tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two images of one pair as ``(1, 1, H, W)`` float32 tensors in [0, 1], for fusion.

    CT-MRI: ``(ct, mr)``; PET-MRI: ``(Y of the PET, mr)``. Raises :class:`DataError`
    naming the file for an unreadable, wrongly coloured, blank or size-mismatched image.
    """
    first = next(m for m in pair.paths if m != "MRI")
    resize = _resizer(size)
    a, b = (_to_tensor(image, resize)[None] for image in _grey_images(pair, (first, "MRI")))
    return a, b
