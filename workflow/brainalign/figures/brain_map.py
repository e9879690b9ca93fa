"""Brain map of encoding performance per voxel, one row per subject (nilearn's ``plot_stat_map``).

Each voxel of an ROI shows its encoding score, Pearson r between held-out betas and predictions
averaged over the held-out runs (``r`` of the encoding store, mean over ``fold``), for the layer
that scores best on that ROI in that subject (highest mean r over the ROI's voxels, among every
layer of every model). Voxels are put back on the acquisition grid with the voxel indices
``i, j, k`` of the stores and the grid (``affine``, ``grid_shape``) the brain store keeps; voxels
outside every ROI are left blank. Axial slices through the ROIs are shown over an anatomical
underlay: the MNI152 template when the data are in an MNI152 space (fMRIPrep ``space:
MNI152...``), else the subject's own mean EPI image (``mean_image`` of the brain store, native
space and simulated grids), else a blank background (a betas dataset keeps no image).

Layout: a fixed grid (no automatic layout, which cannot see the axes nilearn adds inside each
panel): one row per subject under the figure title, the row's best layers named above it, one
colour bar in its own column at the right, so neither the title nor the bar can overlap a slice.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import nibabel as nib
import numpy as np
import xarray as xr
from nilearn import plotting
from nilearn.datasets import load_mni152_template

from ._common import STYLE, save

BLANK = 1e-6  # |r| below this is not drawn: voxels outside the ROIs are 0


def best_layer_maps(encoding: list[xr.DataTree]) -> dict[str, tuple[str, str, xr.DataArray]]:
    """``{roi: (model, layer, r per voxel)}`` of one subject: each ROI's best layer over all
    ``encoding`` stores (one per model), ``r`` averaged over held-out runs."""
    best = {}
    for tree in encoding:
        model = tree.attrs["model"]
        for roi, node in tree.children.items():
            r = node.dataset.r.mean("fold")
            scores = r.mean("unit")
            layer = str(scores.layer.values[int(np.argmax(scores.values))])
            if roi not in best or float(scores.max()) > float(best[roi][2].mean()):
                best[roi] = (model, layer, r.sel(layer=layer))
    return best


def voxel_image(maps: dict, affine, grid_shape) -> nib.Nifti1Image:
    """A volume holding each map's values at its voxels ``(i, j, k)``, 0 elsewhere."""
    volume = np.zeros(tuple(grid_shape), dtype=np.float32)
    for _, _, r in maps.values():
        volume[r.i.values, r.j.values, r.k.values] = r.values
    return nib.Nifti1Image(volume, np.asarray(affine, dtype=np.float64))


def _cuts(maps: dict, affine, n: int = 3) -> list[float]:
    """Up to ``n`` axial slice positions (z, mm) spread over the voxels of the maps."""
    k = np.unique(np.concatenate([r.k.values for _, _, r in maps.values()]))
    k = k[np.linspace(0, len(k) - 1, min(n, len(k))).round().astype(int)]
    return [float((np.asarray(affine) @ [0, 0, kk, 1])[2]) for kk in np.unique(k)]


def _label_rois(display, maps: dict, affine) -> None:
    """Name each ROI below its voxels (x, y in mm)."""
    for roi, (_, _, r) in maps.items():
        xyz = np.c_[r.i.values, r.j.values, r.k.values, np.ones(r.sizes["unit"])] @ np.asarray(affine).T
        for cut in display.axes.values():
            cut.ax.text(xyz[:, 0].mean(), xyz[:, 1].min() - 0.8 * abs(np.asarray(affine)[1, 1]), roi,
                        ha="center", va="top", fontsize=8.5)


def underlay(brain: xr.DataTree, mni_space: bool) -> nib.Nifti1Image | None:
    """The anatomical background of a subject's slices (module docstring)."""
    if mni_space:
        return load_mni152_template()
    root = brain.to_dataset()
    if "mean_image" in root:
        return nib.Nifti1Image(root.mean_image.values, np.asarray(brain.attrs["affine"], dtype=np.float64))
    return None


def plot_brain_map(encoding: dict[str, list[xr.DataTree]], brain: dict[str, xr.DataTree], path, *,
                   mni_space: bool, dataset: str = "") -> dict[str, nib.Nifti1Image]:
    """Draw the figure (module docstring) to ``path``. ``encoding``: subject -> that subject's
    encoding stores (one per model); ``brain``: subject -> brain store. Returns the images drawn."""
    subjects = sorted(encoding)
    maps = {s: best_layer_maps(encoding[s]) for s in subjects}
    vmax = max(float(np.abs(r).max()) for m in maps.values() for _, _, r in m.values())
    images = {s: voxel_image(maps[s], brain[s].attrs["affine"], brain[s].attrs["grid_shape"]) for s in subjects}
    cuts = {s: _cuts(maps[s], brain[s].attrs["affine"]) for s in subjects}
    n_cuts = max(len(c) for c in cuts.values())
    affine, shape = np.asarray(brain[subjects[0]].attrs["affine"]), brain[subjects[0]].attrs["grid_shape"]
    aspect = (shape[1] * abs(affine[1, 1])) / (shape[0] * abs(affine[0, 0]))  # an axial slice's height / width
    width, height = 3.0 * n_cuts + 1.4, (min(3.0 * aspect, 3.0) + 1.3) * len(subjects) + 0.8  # inches
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(width, height))
        grid = fig.add_gridspec(len(subjects), n_cuts, left=0.1 / width, right=1 - 1.3 / width, top=1 - 1.05 / height,
                                bottom=0.1 / height, hspace=0.75, wspace=0.08)
        for r, s in enumerate(subjects):
            background = underlay(brain[s], mni_space)
            for c, z in enumerate(cuts[s]):
                ax = fig.add_subplot(grid[r, c])
                display = plotting.plot_stat_map(
                    images[s], bg_img=background, display_mode="z",
                    cut_coords=[z], axes=ax, figure=fig, threshold=BLANK, vmin=-vmax, vmax=vmax,
                    symmetric_cbar=True, cmap="RdBu_r", colorbar=False, black_bg=False, annotate=False,
                    draw_cross=False)
                _label_rois(display, maps[s], brain[s].attrs["affine"])
                next(iter(display.axes.values())).ax.set_title(f"z = {z:g} mm", fontsize=9.5)
            best = "; ".join(f"{roi}: {m} {layer}" for roi, (m, layer, _) in sorted(maps[s].items()))
            top = grid[r, :].get_position(fig).y1
            fig.text(0.1 / width, top + 0.42 / height, f"sub-{s}, best layers: {best}", fontsize=9.5, va="bottom",
                     wrap=True)
        bar = fig.colorbar(plt.cm.ScalarMappable(plt.Normalize(-vmax, vmax), "RdBu_r"),
                           cax=fig.add_axes([1 - 0.95 / width, 0.2, 0.18 / width, 0.6]))
        bar.set_label("Pearson r, held-out runs")
        background = "MNI152 template" if mni_space else "the subject's mean EPI" if underlay(
            brain[subjects[0]], False) is not None else "none"
        fig.suptitle(f"{dataset + ': ' if dataset else ''}encoding performance per voxel, each ROI's best layer\n"
                     f"(axial slices; anatomical underlay: {background})", y=1 - 0.08 / height, va="top")
        save(fig, path)
    return images
