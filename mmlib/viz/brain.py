"""Brain volume figures: nilearn slice views and a plotly slice viewer.

Static views (:func:`plot_slices`, :func:`plot_modalities`) are nilearn's
``plot_anat`` / ``plot_roi`` with the tumour or lesion mask drawn on top, the
way the papers show their inputs (guidance paper Fig. 1, M3 Fig. 1).
:func:`volume_viewer` is an interactive plotly figure for the book: a slider
over slices and a dropdown over modalities (hand-written layout; plotly has
no volume-slicer widget). Its volumes are downsampled and quantised to uint8 so
that the figure JSON stays small.
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import plotly.graph_objects as go
from nilearn import plotting
from skimage.measure import block_reduce

from mmlib.errors import ParameterError

_DISPLAY_MODE_OF_AXIS = {0: "x", 1: "y", 2: "z"}


def _as_image(volume, affine=None, name: str = "volume") -> nib.Nifti1Image:
    """A 3D NIfTI image from an image or an array (a leading channel of size 1 is dropped)."""
    if isinstance(volume, nib.spatialimages.SpatialImage):
        data, affine = np.asanyarray(volume.dataobj), volume.affine if affine is None else affine
    else:
        data = np.asarray(volume)
        if affine is None:
            affine = getattr(volume, "affine", None)
            affine = np.eye(4) if affine is None else np.asarray(affine, dtype=float)
    if data.ndim == 4 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 3:
        raise ParameterError(f"{name} must be a 3D volume, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ParameterError(f"{name} holds NaN or infinite voxels")
    return nib.Nifti1Image(np.asarray(data, dtype=np.float32), np.asarray(affine, dtype=float))


def _checked_mask(mask, reference: nib.Nifti1Image) -> nib.Nifti1Image:
    image = _as_image(mask, reference.affine, name="mask")
    if image.shape != reference.shape:
        raise ParameterError(f"mask shape {image.shape} differs from the volume shape {reference.shape}")
    return image


def _best_slice(mask_data: np.ndarray | None, shape: tuple[int, ...], axis: int) -> int:
    """The slice along ``axis`` with the largest mask area, or the middle slice without a mask."""
    if mask_data is not None and np.any(mask_data):
        other = tuple(a for a in range(3) if a != axis)
        return int(np.argmax(np.count_nonzero(mask_data, axis=other)))
    return shape[axis] // 2


def _world_coordinate(affine: np.ndarray, shape, axis: int, index: int) -> float:
    """World coordinate (mm) along ``axis`` of voxel slice ``index`` (at the volume centre)."""
    voxel = np.array([s / 2 for s in shape] + [1.0])
    voxel[axis] = index
    return float((affine @ voxel)[axis])


def plot_slices(
    volume,
    affine=None,
    title: str | None = None,
    mask=None,
    display_mode: str = "ortho",
    cut_coords=None,
    figsize=(9, 3.2),
    **kwargs,
) -> plt.Figure:
    """Show a volume with nilearn (``plot_anat``, or ``plot_roi`` over it when ``mask`` is given).

    ``volume`` is a nibabel image or an array (with ``affine``, default identity:
    voxel coordinates). ``display_mode`` and ``cut_coords`` are nilearn's
    (``"ortho"``; ``"z"`` with ``cut_coords=5`` for five axial slices). Without
    ``cut_coords`` the cuts go through the mask's largest slices (or the
    centre). Extra keyword arguments go to the nilearn function. Returns the
    matplotlib figure.
    """
    image = _as_image(volume, affine)
    fig = plt.figure(figsize=figsize)
    if mask is None:
        plotting.plot_anat(image, display_mode=display_mode, cut_coords=cut_coords, title=title,
                           figure=fig, draw_cross=False, **kwargs)
        return fig
    mask_image = _checked_mask(mask, image)
    if cut_coords is None and display_mode == "ortho":
        data = np.asarray(mask_image.dataobj)
        cut_coords = [
            _world_coordinate(image.affine, image.shape, axis, _best_slice(data, image.shape, axis))
            for axis in range(3)
        ]
    plotting.plot_roi(mask_image, bg_img=image, display_mode=display_mode, cut_coords=cut_coords, title=title,
                      figure=fig, draw_cross=False, alpha=0.5, cmap="autumn", **kwargs)
    return fig


def plot_modalities(
    images: Mapping[str, object],
    affine=None,
    mask=None,
    axis: int = 2,
    index: int | None = None,
    title: str | None = None,
) -> plt.Figure:
    """One nilearn slice per modality, side by side, with the mask contour in red.

    All modalities share one slice along ``axis`` (0 sagittal, 1 coronal, 2
    axial for RAS arrays): ``index``, or the mask's largest slice, or the
    middle. Returns the matplotlib figure.
    """
    if not images:
        raise ParameterError("plot_modalities got no images")
    if axis not in _DISPLAY_MODE_OF_AXIS:
        raise ParameterError(f"axis must be 0, 1 or 2, got {axis}")
    volumes = {name: _as_image(v, affine, name=name) for name, v in images.items()}
    first = next(iter(volumes.values()))
    for name, image in volumes.items():
        if image.shape != first.shape:
            raise ParameterError(f"modality {name!r} has shape {image.shape}, others {first.shape}")
    mask_image = _checked_mask(mask, first) if mask is not None else None
    mask_data = np.asarray(mask_image.dataobj) if mask_image is not None else None
    if index is None:
        index = _best_slice(mask_data, first.shape, axis)
    if not 0 <= index < first.shape[axis]:
        raise ParameterError(f"slice index {index} is outside 0..{first.shape[axis] - 1}")
    cut = _world_coordinate(first.affine, first.shape, axis, index)
    fig, axes = plt.subplots(1, len(volumes), figsize=(2.6 * len(volumes), 3.3), squeeze=False)
    for ax, (name, image) in zip(axes[0], volumes.items()):
        display = plotting.plot_anat(image, display_mode=_DISPLAY_MODE_OF_AXIS[axis], cut_coords=[cut],
                                     axes=ax, figure=fig, annotate=False, draw_cross=False, colorbar=False)
        ax.set_title(name, fontsize=9)  # above the panel; nilearn's own title box covers the image
        if mask_image is not None and np.any(mask_data):
            display.add_contours(nib.Nifti1Image((mask_data > 0).astype(np.float32), first.affine),
                                 levels=[0.5], colors="r", linewidths=1.0)
    fig.subplots_adjust(top=0.78 if title else 0.88)  # room for two-line panel titles under the figure title
    if title:
        fig.suptitle(title, y=0.98)
    return fig


def plot_class_examples(cohort, axis: int = 2) -> list[plt.Figure]:
    """The first case of each class of a phantom cohort (:class:`~mmlib.data.phantoms.PhantomCohort`), one
    :func:`plot_modalities` figure each, titled with its case id and class."""
    figures = []
    for label, name in enumerate(cohort.class_names):
        cases = np.flatnonzero(cohort.labels == label)
        if cases.size == 0:
            raise ParameterError(f"the cohort has no case of class {name!r}")
        i = int(cases[0])
        figures.append(plot_modalities({m: v[i] for m, v in cohort.images.items()}, cohort.affine,
                                       mask=cohort.masks[i] > 0, axis=axis, title=f"{cohort.case_ids[i]} ({name})"))
    return figures

def _to_uint8(volume: np.ndarray) -> np.ndarray:
    """Rescale the 0.5-99.5 percentile range of the shown slices to 0-255 (the guidance paper's rescale)."""
    lo, hi = np.percentile(volume, [0.5, 99.5])
    if hi <= lo:
        return np.zeros(volume.shape, dtype=np.uint8)
    return np.round(np.clip((volume - lo) / (hi - lo), 0.0, 1.0) * 255).astype(np.uint8)


def _slice_stack(volume: np.ndarray, axis: int, indices: np.ndarray, step: int, reduce) -> np.ndarray:
    """The chosen slices as ``(n, rows, cols)``: block-reduced in-plane by ``step``, transposed for display."""
    stack = np.moveaxis(np.take(volume, indices, axis=axis), axis, 0)
    return block_reduce(stack, (1, step, step), reduce).transpose(0, 2, 1)


def volume_viewer(
    images: Mapping[str, np.ndarray],
    mask: np.ndarray | None = None,
    axis: int = 0,
    title: str | None = None,
    max_slices: int = 64,
    max_size: int = 96,
) -> go.Figure:
    """Interactive plotly slice viewer: a slider over slices, a dropdown over modalities.

    ``images`` maps modality names to 3D arrays of one shape; slices are taken
    along ``axis`` (for RAS arrays 0 is sagittal, 2 axial) and shown transposed
    with the origin at the bottom, in greyscale with equal aspect. At most
    ``max_slices`` evenly spaced slices are kept (one animation frame and one
    slider step each) and each slice is block-averaged so its larger side is at
    most ``max_size`` pixels; intensities are quantised to uint8 on the 0.5-99.5
    percentiles. ``mask`` adds a red contour. Heatmap axes stay in voxel units.
    """
    if not images:
        raise ParameterError("volume_viewer got no images")
    volumes = {name: np.asarray(v) for name, v in images.items()}
    shape = next(iter(volumes.values())).shape
    for name, v in volumes.items():
        if v.ndim != 3 or v.shape != shape:
            raise ParameterError(f"modality {name!r} has shape {v.shape}; all must be 3D of shape {shape}")
        if not np.all(np.isfinite(v)):
            raise ParameterError(f"modality {name!r} holds NaN or infinite voxels")
    if axis not in (0, 1, 2):
        raise ParameterError(f"axis must be 0, 1 or 2, got {axis}")
    if max_slices < 1 or max_size < 1:
        raise ParameterError(f"max_slices and max_size must be >= 1, got {max_slices}, {max_size}")
    if mask is not None and np.shape(mask) != shape:
        raise ParameterError(f"mask shape {np.shape(mask)} differs from the volume shape {shape}")

    n = shape[axis]
    indices = np.unique(np.linspace(0, n - 1, min(n, max_slices)).round().astype(int))
    plane_shape = [s for a, s in enumerate(shape) if a != axis]
    step = int(np.ceil(max(plane_shape) / max_size))
    planes = {
        name: _to_uint8(_slice_stack(v.astype(np.float32), axis, indices, step, np.mean)) for name, v in volumes.items()
    }
    mask_planes = (
        _slice_stack((np.asarray(mask) > 0).astype(np.uint8), axis, indices, step, np.max)
        if mask is not None else None
    )
    mask_data = np.asarray(mask) > 0 if mask is not None else None
    start = int(np.argmin(np.abs(indices - _best_slice(mask_data, shape, axis))))
    names = list(planes)
    geometry = dict(x0=0, dx=step, y0=0, dy=step)

    def traces(i: int) -> list:
        out = [
            go.Heatmap(z=planes[name][i], colorscale="gray", zmin=0, zmax=255, showscale=False,
                       name=name, visible=(j == 0), hovertemplate="x %{x}<br>y %{y}<br>%{z}<extra></extra>",
                       **geometry)
            for j, name in enumerate(names)
        ]
        if mask_planes is not None:
            out.append(
                go.Contour(z=mask_planes[i], contours=dict(start=0.5, end=0.5, size=1, coloring="lines"),
                           line=dict(width=1.5), colorscale=[[0, "red"], [1, "red"]], showscale=False, hoverinfo="skip",
                           name="mask", **geometry)
            )
        return out

    def frame_traces(i: int) -> list:
        # Frames carry only z: the dropdown's visibility choice survives a slider move.
        out = [go.Heatmap(z=planes[name][i]) for name in names]
        if mask_planes is not None:
            out.append(go.Contour(z=mask_planes[i]))
        return out

    n_traces = len(names) + (mask_planes is not None)
    fig = go.Figure(
        data=traces(start),
        frames=[go.Frame(name=str(k), data=frame_traces(i), traces=list(range(n_traces)))
                for i, k in enumerate(indices)],
    )
    slider_steps = [
        dict(method="animate", label=str(k),
             args=[[str(k)], dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
        for k in indices
    ]
    buttons = [
        dict(method="restyle", label=name,
             args=[{"visible": [j == i for j in range(len(names))]}, list(range(len(names)))])
        for i, name in enumerate(names)
    ]
    fig.update_layout(
        title=title,
        height=580, margin=dict(l=40, r=20, t=90, b=40),
        sliders=[dict(active=start, steps=slider_steps, currentvalue=dict(prefix=f"slice (axis {axis}): "),
                      pad=dict(t=30))],
        updatemenus=[dict(type="dropdown", buttons=buttons, direction="down", x=1.0, y=1.02,
                          xanchor="right", yanchor="bottom", showactive=True)],
    )
    fig.update_xaxes(showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1, constrain="domain")
    return fig
