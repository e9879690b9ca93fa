"""Image-folder stimulus sets: tables, categories, resizing, pixel formats, bad input.

References: pixels against direct numpy arithmetic (crops, padding, 16-bit scaling, alpha
compositing; exact, or within 1 grey level where the formula rounds) and against PIL's own
resizing functions where a resampling is involved (exact: the same uint8 pipeline).
"""

import numpy as np
import pytest
from PIL import Image, ImageOps

from brainalign.image_folder import read_rgb, square_image
from brainalign.stimuli import build_stimulus_set, image_folder, stimulus_ids, stimulus_inputs


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def stripes(h=20, w=40):
    """RGB image with a different value in every column, so any crop or shift shows."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 0] = np.arange(w)[None, :] * 5
    img[:, :, 1] = np.arange(h)[:, None] * 10
    img[:, :, 2] = 77
    return img


# ------------------------------------------------------------------------------ tables and folders
def test_table_gives_ids_files_coordinates_and_captions(tmp_path):
    for name, colour in (("x.png", 10), ("y.jpg", 200), ("z.png", 90)):
        save(tmp_path / "img" / name, np.full((8, 8, 3), colour, np.uint8))
    (tmp_path / "stim.tsv").write_text("stimulus_id\tfile\tcategory\tconcept\tcaption\trepeat\n"
                                       "s2\ty.jpg\tanimal\tdog\ta dog\t1\n"
                                       "s1\tx.png\tobject\tcup\ta cup\t2\n"
                                       "s3\tz.png\tanimal\tcat\ta cat\t1\n")
    ds = image_folder(tmp_path / "img", table=tmp_path / "stim.tsv", image_size=8)
    assert ds.stimulus_id.values.tolist() == ["s2", "s1", "s3"]  # table order
    assert ds.file.values.tolist() == ["y.jpg", "x.png", "z.png"]
    assert ds.category.values.tolist() == ["animal", "object", "animal"]
    assert ds.concept.values.tolist() == ["dog", "cup", "cat"]
    assert ds.repeat.values.tolist() == [1, 2, 1] and ds.repeat.dtype.kind == "i"
    assert ds.text.values.tolist() == ["a dog", "a cup", "a cat"] and "caption" not in ds.coords
    assert ds.image.values[1, 4, 4].tolist() == [10, 10, 10]
    spec = {"kind": "image_folder", "path": str(tmp_path / "img"), "table": str(tmp_path / "stim.tsv")}
    assert stimulus_inputs(spec) == {"image", "text"}
    assert stimulus_inputs({**spec, "caption_column": "concept"}) == {"image", "text"}
    assert build_stimulus_set({**spec, "caption_column": "concept", "image_size": 8}, seed=0).text.values[0] == "dog"
    csv = tmp_path / "stim.csv"
    csv.write_text("stimulus_id,file\ns1,x.png\n")
    assert stimulus_inputs({**spec, "table": str(csv)}) == {"image"}
    with pytest.raises(ValueError, match=r"caption_column 'label' is not a column of table .*stim.csv"):
        stimulus_inputs({**spec, "table": str(csv), "caption_column": "label"})


def test_subfolders_are_categories(tmp_path):
    save(tmp_path / "faces" / "f2.png", np.zeros((6, 6, 3), np.uint8))
    save(tmp_path / "faces" / "f1.png", np.zeros((6, 6, 3), np.uint8))
    save(tmp_path / "houses" / "h1.png", np.zeros((6, 6, 3), np.uint8))
    (tmp_path / "houses" / "notes.txt").write_text("not an image")  # ignored: no image suffix
    (tmp_path / "houses" / "._h1.png").write_bytes(b"\x00\x05")  # ignored: hidden (a macOS resource fork)
    ds = image_folder(tmp_path, image_size=6)
    assert ds.stimulus_id.values.tolist() == ["f1", "f2", "h1"]
    assert ds.category.values.tolist() == ["faces", "faces", "houses"]
    assert ds.file.values.tolist() == ["faces/f1.png", "faces/f2.png", "houses/h1.png"]
    assert stimulus_inputs({"kind": "image_folder", "path": str(tmp_path)}) == {"image"}
    assert stimulus_ids({"kind": "image_folder", "path": str(tmp_path)}) == ["f1", "f2", "h1"]


# ------------------------------------------------------------------------------ resizing
def test_center_crop_keeps_the_central_square(tmp_path):
    img = stripes(20, 40)
    np.testing.assert_array_equal(square_image(img, 20, "center_crop"), img[:, 10:30])
    np.testing.assert_array_equal(square_image(img.transpose(1, 0, 2), 20, "center_crop"),
                                  img.transpose(1, 0, 2)[10:30])
    expected = np.asarray(ImageOps.fit(Image.fromarray(img), (13, 13), method=Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(square_image(img, 13, "center_crop"), expected)
    # the shorter side scaled to the size, then cropped: cropping then scaling, within 1 grey level
    # (the bicubic kernel at the crop's edge reads the columns just outside it)
    crop = np.asarray(Image.fromarray(img[:, 10:30]).resize((10, 10), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(square_image(img, 10, "center_crop").astype(int), crop, atol=1)


def test_pad_centres_the_image_on_the_background(tmp_path):
    img = stripes(20, 40)
    out = square_image(img, 40, "pad", background=(1, 2, 3))
    np.testing.assert_array_equal(out[10:30], img)
    assert (out[:10] == [1, 2, 3]).all() and (out[30:] == [1, 2, 3]).all()
    small = square_image(img, 20, "pad", background=(9, 9, 9))
    scaled = np.asarray(Image.fromarray(img).resize((20, 10), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(small[5:15], scaled)
    assert (small[:5] == 9).all() and (small[15:] == 9).all()


def test_squash_scales_each_side():
    img = stripes(20, 40)
    expected = np.asarray(Image.fromarray(img).resize((16, 16), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(square_image(img, 16, "squash"), expected)
    with pytest.raises(ValueError, match="resize 'stretch' is not one of"):
        square_image(img, 16, "stretch")


def test_resize_setting_reaches_the_set(tmp_path):
    save(tmp_path / "a.png", stripes(20, 40))
    crop = image_folder(tmp_path, image_size=20).image.values[0]
    np.testing.assert_array_equal(crop, stripes(20, 40)[:, 10:30])  # center_crop is the default
    padded = image_folder(tmp_path, image_size=40, resize="pad", background=[0, 0, 0]).image.values[0]
    assert (padded[:10] == 0).all()


# ------------------------------------------------------------------------------ pixel formats
def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 1000], [30000, 65535, 40000]], np.uint16)
    for name in ("g.png", "g.tif"):
        rgb = read_rgb(save(tmp_path / name, values))
        expected = np.rint(values * (255 / 65535)).astype(np.uint8)
        np.testing.assert_array_equal(rgb, np.repeat(expected[:, :, None], 3, axis=2))
        assert rgb.max() == 255 and len(np.unique(rgb)) == 6  # clipping would give 0, 255, 255, ...


def test_alpha_is_composited_on_the_background(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 100, 0
    rgba[..., 3] = np.array([0, 64, 128, 255], np.uint8)[None, :]
    path = save(tmp_path / "a.png", rgba)
    for bg in ((128, 128, 128), (255, 255, 255)):
        a = rgba[..., 3:] / 255
        expected = np.rint(a * rgba[..., :3] + (1 - a) * np.array(bg)).astype(np.uint8)
        np.testing.assert_array_equal(read_rgb(path, bg), expected)
    la = np.stack([np.full((3, 3), 50, np.uint8), np.full((3, 3), 51, np.uint8)], axis=2)
    got = read_rgb(save(tmp_path / "la.png", la, "LA"), (255, 0, 0))
    expected = np.rint(0.2 * 50 + 0.8 * np.array([255, 0, 0])).astype(np.uint8)
    assert (got == expected).all()
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 250, 10, 10])
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert read_rgb(tmp_path / "p.png", (7, 8, 9)).tolist() == [[[7, 8, 9], [250, 10, 10]]]


def test_grayscale_is_expanded_to_rgb(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgb = read_rgb(save(tmp_path / "g.png", grey))
    np.testing.assert_array_equal(rgb, np.repeat(grey[:, :, None], 3, axis=2))
    ds = image_folder(tmp_path, image_size=3)
    assert ds.image.shape == (1, 3, 3, 3) and ds.image.dtype == np.uint8


# ------------------------------------------------------------------------------ bad input
def test_truncated_image_is_named(tmp_path):
    save(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    data = (tmp_path / "ok.png").read_bytes()
    good = save(tmp_path / "big.png", (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    good.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match=r"big\.png cannot be read as an image"):
        image_folder(tmp_path, image_size=8)
    assert data  # the other file was fine


def test_text_file_with_an_image_suffix_is_named(tmp_path):
    save(tmp_path / "ok.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "fake.jpg").write_text("this is not a picture")
    with pytest.raises(ValueError, match=r"fake\.jpg cannot be read as an image"):
        image_folder(tmp_path, image_size=8)


def test_id_clash_names_both_files(tmp_path):
    save(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    save(tmp_path / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"stimulus id 'a' is given twice .*a\.jpg and .*a\.png"):
        image_folder(tmp_path, image_size=8)
    (tmp_path / "t.csv").write_text("stimulus_id,file\nx,a.png\nx,a.jpg\n")
    with pytest.raises(ValueError, match=r"stimulus id 'x' is given twice in table .*t\.csv: a\.png and a\.jpg"):
        image_folder(tmp_path, table=tmp_path / "t.csv", image_size=8)


def test_clash_across_category_folders_names_both_files(tmp_path):
    save(tmp_path / "cats" / "a.png", np.zeros((8, 8, 3), np.uint8))
    save(tmp_path / "dogs" / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"stimulus id 'a' is given twice .*cats/a\.png and .*dogs/a\.png"):
        image_folder(tmp_path, image_size=8)


@pytest.mark.parametrize("name, text, match", [
    ("t.tsv", "stimulus_id\tcategory\na\tx\n", r"table .*t\.tsv has no column 'file'"),
    ("t.tsv", "file\tcategory\na.png\tx\n", r"table .*t\.tsv has no column 'stimulus_id'"),
    ("t.tsv", "stimulus_id\tfile\timage\na\ta.png\tx\n", r"table .*t\.tsv: column name\(s\) \['image'\] are reserved"),
    ("t.tsv", "stimulus_id\tfile\na\ta.png\nb\tb.png\n", r"table .*t\.tsv names missing image file\(s\) \['.*b\.png'\]"),
    ("t.xlsx", "stimulus_id\tfile\n", r"table .*t\.xlsx is neither \.tsv nor \.csv"),
])
def test_bad_tables_are_named(tmp_path, name, text, match):
    save(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / name).write_text(text)
    with pytest.raises(ValueError, match=match):
        image_folder(tmp_path, table=tmp_path / name, image_size=8)


def test_unknown_table_file_is_named(tmp_path):
    save(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"table .*nowhere\.tsv does not exist"):
        image_folder(tmp_path, table=tmp_path / "nowhere.tsv", image_size=8)


def test_loose_image_beside_category_folders_is_named(tmp_path):
    save(tmp_path / "cats" / "a.png", np.zeros((8, 8, 3), np.uint8))
    save(tmp_path / "b.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match=r"b\.png lies beside the category subfolders"):
        image_folder(tmp_path, image_size=8)


# ------------------------------------------------------------------------------ RDM figure axes
def test_rdm_axes_name_categories_or_few_stimuli():
    """Haxby's 8 category-level stimuli (a words set, no grouping attribute) are each named; a
    folder's categories name their groups; past MAX_LABELS stimuli, every k-th one is named."""
    from brainalign.figures.rdms import MAX_LABELS, axis_labels, category_order
    from brainalign.stimuli import words

    haxby = words({c: c for c in ("bottle", "cat", "chair", "face", "house", "scissors", "scrambledpix", "shoe")})
    order, attrs = category_order(haxby)
    edges, centres, names = axis_labels(haxby, order, attrs)
    assert attrs == [] and names == list(haxby.stimulus_id.values) and centres.tolist() == list(range(8))
    assert len(edges) == 0
    many = words([f"w{i}" for i in range(MAX_LABELS + 1)])
    _, centres, names = axis_labels(many, *category_order(many))
    step = int(centres[1] - centres[0])
    assert 1 < len(names) <= MAX_LABELS and step > 1 and centres.tolist() == list(range(0, MAX_LABELS + 1, step))
    assert names == [f"w{i}" for i in centres.astype(int)]
    folder = haxby.assign_coords(category=("stimulus", ["object", "animal", "object", "animal", "place",
                                                        "object", "none", "object"]))
    order, attrs = category_order(folder)
    edges, centres, names = axis_labels(folder, order, attrs)
    assert attrs == ["category"] and names == ["object", "animal", "place", "none"]
    assert edges.tolist() == [3.5, 5.5, 6.5] and centres.tolist() == [1.5, 4.5, 6.0, 7.0]
