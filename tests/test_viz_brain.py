"""Brain figures (mmlib.viz.brain): nilearn slice views and the plotly volume viewer."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmlib.errors import ParameterError  # noqa: E402
from mmlib.viz.brain import plot_modalities, plot_slices, volume_viewer  # noqa: E402


def _phantom(shape=(40, 48, 36)):
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    brain = (np.sum(grid**2, axis=0) < 0.8).astype(np.float32)
    mask = (np.sum((grid - np.array([0.3, 0.2, 0.1])[:, None, None, None]) ** 2, axis=0) < 0.05).astype(np.uint8)
    images = {
        "t1": brain * 100 + rng.normal(0, 5, shape),
        "flair": brain * 80 + mask * 120 + rng.normal(0, 5, shape),
    }
    return images, mask


def test_volume_viewer_has_one_frame_and_step_per_slice():
    images, mask = _phantom()
    fig = volume_viewer(images, mask=mask, axis=2)
    assert len(fig.frames) == 36 == len(fig.layout.sliders[0].steps)
    assert [b.label for b in fig.layout.updatemenus[0].buttons] == ["t1", "flair"]
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert [t.visible for t in heatmaps] == [True, False]
    assert sum(t.type == "contour" for t in fig.data) == 1
    # the first view is the slice where the mask is largest; transposed (rows = axis 1)
    start = fig.layout.sliders[0].active
    assert start == int(np.argmax(mask.sum(axis=(0, 1))))
    z = np.asarray(heatmaps[0].z)
    assert z.shape == (48, 40) and z.dtype == np.uint8
    assert fig.layout.yaxis.scaleanchor == "x"


def test_volume_viewer_keeps_the_figure_small():
    images, _ = _phantom((200, 220, 150))
    fig = volume_viewer({"t1": images["t1"]}, max_slices=64, max_size=96)
    assert len(fig.frames) == 64
    z = np.asarray(fig.frames[0].data[0].z)
    assert max(z.shape) <= 96 and z.dtype == np.uint8
    assert len(fig.to_json()) < 2_000_000


def test_volume_viewer_refuses_mismatched_shapes():
    images, _ = _phantom()
    images["t2"] = np.zeros((10, 10, 10))
    with pytest.raises(ParameterError, match="'t2'"):
        volume_viewer(images)


def test_plot_slices_with_and_without_mask():
    images, mask = _phantom()
    fig = plot_slices(images["flair"], title="flair", mask=mask)
    assert isinstance(fig, plt.Figure) and len(fig.axes) >= 3
    plt.close(fig)
    fig = plot_slices(nib.Nifti1Image(images["t1"].astype(np.float32), np.eye(4)), display_mode="z", cut_coords=3)
    assert len(fig.axes) >= 3
    plt.close(fig)


def test_plot_slices_refuses_a_2d_array_and_nan():
    with pytest.raises(ParameterError, match="3D"):
        plot_slices(np.zeros((4, 4)))
    bad = np.zeros((4, 4, 4))
    bad[1, 1, 1] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        plot_slices(bad)


def test_plot_modalities_one_panel_per_modality():
    images, mask = _phantom()
    fig = plot_modalities(images, mask=mask, title="phantom")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["t1", "flair"]
    assert fig.texts[0].get_text() == "phantom"
    # the mask contour is drawn on each panel
    assert sum(len(ax.collections) > 0 for ax in fig.axes) == 2
    plt.close(fig)


@pytest.mark.realdata
def test_plot_modalities_on_a_real_brats_case(real_data_root):
    root = real_data_root("brats-samples")
    case = root / "brats2018-hgg" / "Brats18_2013_2_1" / "Brats18_2013_2_1"
    t1ce = nib.load(f"{case}_t1ce.nii.gz")
    volume = t1ce.get_fdata(dtype=np.float32)
    seg = np.asarray(nib.load(f"{case}_seg.nii.gz").dataobj)
    fig = plot_modalities({"t1ce": volume}, affine=t1ce.affine, mask=seg)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["t1ce"]
    plt.close(fig)
    viewer = volume_viewer({"t1ce": volume}, mask=seg, axis=2)
    assert len(viewer.frames) == 64  # 155 axial slices, kept to 64
    # the opening slice is where the tumour is largest, so the contour is there
    assert np.asarray(viewer.data[1].z).max() == 1


def test_plot_class_examples_one_figure_per_class_titled_by_case_and_class():
    from mmlib.data.phantoms import glioma_phantoms
    from mmlib.viz.brain import plot_class_examples

    cohort = glioma_phantoms(n_cases=8, shape=(16, 20, 12), task="grade", seed=0)
    figures = plot_class_examples(cohort)
    assert len(figures) == len(cohort.class_names) == 2
    for figure, name in zip(figures, cohort.class_names):
        assert figure._suptitle.get_text().endswith(f"({name})")
        assert len(figure.axes) >= len(cohort.images)
    plt.close("all")
