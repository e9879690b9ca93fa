"""Stimulus sets: the procedural shapes, words and image folders."""

import numpy as np
import pytest
from PIL import Image

from brainalign.stimuli import build_stimulus_set, image_folder, render_shapes, words


def test_shapes_are_every_combination_with_captions():
    ds = render_shapes(seed=0, image_size=24)
    assert ds.image.shape == (4 * 3 * 4 * 2, 24, 24, 3) and ds.image.dtype == np.uint8
    assert len(set(ds.stimulus_id.values)) == 96
    for sid, caption in zip(ds.stimulus_id.values, ds.text.values):
        shape, colour, position, size = sid.split("-")
        where = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom"}
        assert all(w in caption for w in (shape, colour, size, where[position])), (sid, caption)
    assert len({c.split(" ")[0] for c in ds.text.values}) > 2  # several wordings
    one = render_shapes(seed=0, image_size=24, caption_templates=("a {size} {colour} {shape} {where}",))
    i = list(one.stimulus_id.values).index("circle-green-top-small")
    assert one.text.values[i] == "a small green circle at the top"


def test_shapes_are_drawn_where_and_in_the_colour_the_caption_says():
    ds = render_shapes(seed=1, image_size=32, jitter=0.0, background_noise=0.0)
    for sid, img in zip(ds.stimulus_id.values, ds.image.values.astype(int)):
        shape, colour, position, size = sid.split("-")
        ink = np.abs(img - 128).sum(axis=2) > 60  # pixels that differ from the grey background
        ys, xs = np.nonzero(ink)
        cx, cy = xs.mean() / 31, ys.mean() / 31
        expected = {"left": (0.3, 0.5), "right": (0.7, 0.5), "top": (0.5, 0.3), "bottom": (0.5, 0.7)}[position]
        assert abs(cx - expected[0]) < 0.08 and abs(cy - expected[1]) < 0.12, sid  # a triangle's centroid is r/3 low
        mean_rgb = img[ink].mean(axis=0)
        assert np.argmax(mean_rgb) == {"red": 0, "green": 1, "blue": 2}[colour], sid
    large = ink_area(ds, "square-red-left-large")
    assert large > 2.5 * ink_area(ds, "square-red-left-small")


def ink_area(ds, sid):
    img = ds.image.values[list(ds.stimulus_id.values).index(sid)].astype(int)
    return int((np.abs(img - 128).sum(axis=2) > 60).sum())


def test_shapes_are_deterministic_from_the_seed():
    a, b, c = (render_shapes(seed=s, image_size=16).image.values for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_words_and_image_folder(tmp_path):
    ds = words({"face": "a face", "house": "a house"})
    assert ds.stimulus_id.values.tolist() == ["face", "house"] and ds.text.values[1] == "a house"
    for name, colour in (("b", (0, 0, 255)), ("a", (255, 0, 0))):
        Image.new("RGB", (40, 30), colour).save(tmp_path / f"{name}.png")
    ds = image_folder(tmp_path, image_size=16)
    assert ds.stimulus_id.values.tolist() == ["a", "b"] and ds.image.shape == (2, 16, 16, 3)
    assert ds.image.values[0, 8, 8].tolist() == [255, 0, 0]


@pytest.mark.parametrize("spec, match", [
    ({"kind": "shapes", "colours": ["mauve"]}, "colours"),
    ({"kind": "shapes", "image_size": 4}, "image_size"),
    ({"kind": "words", "items": ["a", "a"]}, "duplicated"),
    ({"kind": "sounds"}, "sounds"),
])
def test_bad_stimulus_specs_are_named(spec, match):
    with pytest.raises(ValueError, match=match):
        build_stimulus_set(spec, seed=0)


@pytest.mark.parametrize("spec", [
    {"kind": "shapes", "image_size": 16},
    {"kind": "shapes", "image_size": 16, "colours": ["yellow"], "sizes": ["small"], "shapes": ["cross", "circle"]},
    {"kind": "words", "items": {"face": "a face", "house": "a house"}},
    {"kind": "words", "items": ["b", "a"]},
])
def test_stimulus_ids_without_building_the_set(spec):
    from brainalign.stimuli import stimulus_ids

    assert stimulus_ids(spec) == build_stimulus_set(spec, seed=0).stimulus_id.values.tolist()


def test_set_coordinates_reach_every_store_with_a_stimulus_dimension(study):
    """The shapes' attributes label ``stimulus`` in the features, RSA, MEG (per-stimulus averages)
    and meg_align stores of the default study, stimulus by stimulus."""
    from brainalign import store

    stimuli = store.open_dataset(study / "stimuli" / "shapes.zarr")
    expected = dict(zip(stimuli.stimulus_id.values, zip(stimuli["shape"].values, stimuli.colour.values)))
    stores = [store.open_dataset(study / "features" / "shapes" / "cnn.zarr", group="conv1"),
              store.open_dataset(study / "rsa" / "sim" / "sub-01" / "minilm.zarr"),
              store.open_dataset(study / "brain" / "meg" / "sub-01.zarr"),
              store.open_dataset(study / "meg_align" / "meg" / "sub-02" / "resnet20.zarr", group="encoding")]
    for ds in stores:
        assert dict(zip(ds.stimulus_id.values, zip(ds["shape"].values, ds.colour.values))) == expected
