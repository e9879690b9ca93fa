"""Reading human judgements (brainalign.behaviour_io): stated conventions, presets, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from brainalign.behaviour_io import (ItemMap, PRESETS, read_choices, read_matrices, resolved_format,
                                     write_triplets, SIMULATED_FORMAT)
from brainalign.config import ConfigError, validate_config
from brainalign.errors import InputError
from scipy.io import savemat

N = 6  # stimuli


def _write(tmp_path, text, name="t.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _read(path, fmt, kind="triplets", items=None):
    fmt = resolved_format(fmt)
    return read_choices(path, kind, fmt, items or ItemMap(N, fmt["item_base"]))


@pytest.mark.parametrize("base", [0, 1])
def test_item_base_and_choice_position_or_item(tmp_path, base):
    # the same three judgements written 0- or 1-based, with the choice as a position and as an item
    rows = np.array([[0, 1, 2], [3, 4, 5], [5, 0, 3]])
    odd_position = np.array([3, 1, 2])
    odd_item = rows[np.arange(3), odd_position - 1]
    lines = ["item1\titem2\titem3\tchoice\tsubject"]
    for r, p in zip(rows + base, odd_position):
        lines.append("\t".join(map(str, r)) + f"\t{p}\tp1")
    by_position = _read(_write(tmp_path, "\n".join(lines)), {"item_base": base, "choice": "position"})
    lines = ["item1\titem2\titem3\tchoice"] + ["\t".join(map(str, r)) + f"\t{o}" for r, o in
                                                    zip(rows + base, odd_item + base)]
    by_item = _read(_write(tmp_path, "\n".join(lines), "i.tsv"), {"item_base": base, "choice": "item"})
    for read in (by_position, by_item):
        np.testing.assert_array_equal(read.items, rows)
        np.testing.assert_array_equal(read.choice, odd_item)
    assert by_position.subject.tolist() == ["p1"] * 3 and by_item.subject.tolist() == [""] * 3


def test_things_preset_is_the_spose_layout(tmp_path):
    # THINGS/SPoSE trainset.txt: whitespace, no header, 0-based, the third item the odd one out
    path = _write(tmp_path, "0 1 2\n1853 7 3\n", "trainset.txt")
    fmt = resolved_format({"preset": "things"})
    assert fmt["item_base"] == 0 and fmt["choice"] == "third" and not fmt["header"]
    read = read_choices(path, "triplets", fmt, ItemMap(1854, 0))
    np.testing.assert_array_equal(read.items, [[0, 1, 2], [1853, 7, 3]])
    np.testing.assert_array_equal(read.choice, [2, 3])
    assert PRESETS["things"]["names"][:3] == ["item1", "item2", "item3"]


def test_item_column_maps_through_the_stimulus_table(tmp_path):
    # the stimulus table lists concept numbers in another order: item 40 is stimulus row 2
    items = ItemMap(3, 1, np.array([10, 20, 40]), "concept")
    read = _read(_write(tmp_path, "a,b,c,odd\n10,20,40,40\n"), {"sep": "comma", "items": ["a", "b", "c"],
                                                                "choice_column": "odd", "item_base": 1,
                                                                "choice": "item"}, items=items)
    np.testing.assert_array_equal(read.items, [[0, 1, 2]])
    np.testing.assert_array_equal(read.choice, [2])
    with pytest.raises(InputError, match=r"t.tsv, column 'c': item\(s\) 41 are not in stimulus table column 'concept'"):
        _read(_write(tmp_path, "a,b,c,odd\n10,20,41,41\n"), {"sep": "comma", "items": ["a", "b", "c"],
                                                              "choice_column": "odd", "item_base": 1,
                                                              "choice": "item"}, items=items)


def test_two_afc_choice_by_position_and_item(tmp_path):
    text = "reference\toption_a\toption_b\tchoice\n0\t1\t2\t2\n3\t4\t5\t1\n"
    read = _read(_write(tmp_path, text), {"item_base": 0, "choice": "position"}, kind="two_afc")
    np.testing.assert_array_equal(read.choice, [2, 4])
    text = "reference\toption_a\toption_b\tchoice\n0\t1\t2\t2\n3\t4\t5\t4\n"
    read = _read(_write(tmp_path, text), {"item_base": 0, "choice": "item"}, kind="two_afc")
    np.testing.assert_array_equal(read.choice, [2, 4])
    with pytest.raises(InputError, match=r"column 'choice': row\(s\) 0 choose an item that is not one of the row's "
                                         r"two options"):
        _read(_write(tmp_path, "reference\toption_a\toption_b\tchoice\n0\t1\t2\t0\n"),
              {"item_base": 0, "choice": "item"}, kind="two_afc")


@pytest.mark.parametrize("text, fmt, message", [
    ("item1\titem2\titem3\tchoice\n0\t1\t6\t1\n", {"item_base": 0, "choice": "position"},
     r"t.tsv, column 'item3': item\(s\) 6 are outside \[0, 5\] \(item_base 0, 6 stimuli\)"),
    ("item1\titem2\titem3\tchoice\n0\t1\t2\t1\n", {"item_base": 1, "choice": "position"},
     r"t.tsv, column 'item1': item\(s\) 0 are outside \[1, 6\]"),
    ("item1\titem2\titem3\tchoice\n0\t1\t2\t4\n", {"item_base": 0, "choice": "position"},
     r"t.tsv, column 'choice': choice\(s\) 4 are not a position \[1, 2, 3\]"),
    ("item1\titem2\titem3\tchoice\n0\t1\t2\t5\n", {"item_base": 0, "choice": "item"},
     r"t.tsv, column 'choice': row\(s\) 0 choose an item that is not one of the row's three items"),
    ("item1\titem2\titem3\tchoice\n0\t1\t2\t1\n3\t3\t2\t1\n", {"item_base": 0, "choice": "position"},
     r"t.tsv, columns \['item1', 'item2', 'item3'\]: row\(s\) 1 repeat an item"),
    ("item1\titem2\titem3\tchoice\n0\tx\t2\t1\n", {"item_base": 0, "choice": "position"},
     r"t.tsv, column 'item2': row\(s\) 0 do not hold an integer item number \(e.g. 'x'\)"),
    ("item1\titem2\tchoice\n0\t1\t1\n", {"item_base": 0, "choice": "position"},
     r"t.tsv: no column 'item3'"),
])
def test_bad_input_is_one_line_naming_file_and_column(tmp_path, text, fmt, message):
    with pytest.raises(InputError, match=message) as err:
        _read(_write(tmp_path, text), fmt)
    assert "\n" not in str(err.value)


def test_similarity_matrices_in_npy_csv_mat(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.random((2, 4, 4))
    a = a + a.transpose(0, 2, 1)
    np.save(tmp_path / "m.npy", a)
    np.savetxt(tmp_path / "m.csv", a[0], delimiter=",")
    savemat(tmp_path / "m.mat", {"rdm": a[1]})
    (tmp_path / "ids.txt").write_text("4\n2\n1\n3\n")
    items = ItemMap(N, 1)
    npy, rows = read_matrices(tmp_path / "m.npy", {"item_base": 1}, items)
    np.testing.assert_array_equal(npy, a)
    np.testing.assert_array_equal(rows, [0, 1, 2, 3])
    csv, _ = read_matrices(tmp_path / "m.csv", {"item_base": 1, "measure": "similarity"}, items)
    np.testing.assert_allclose(csv[0], -a[0], rtol=1e-12)  # similarities become dissimilarities
    mat, rows = read_matrices(tmp_path / "m.mat", {"item_base": 1, "key": "rdm", "item_ids": tmp_path / "ids.txt"},
                              items)
    np.testing.assert_allclose(mat[0], a[1], rtol=1e-12)
    np.testing.assert_array_equal(rows, [3, 1, 0, 2])
    np.save(tmp_path / "bad.npy", np.arange(12.0).reshape(3, 4))
    with pytest.raises(InputError, match=r"bad.npy: expected a square matrix"):
        read_matrices(tmp_path / "bad.npy", {"item_base": 1}, items)


def test_simulated_file_reads_back(tmp_path):
    items = np.array([[0, 1, 2], [4, 3, 5]])
    odd = np.array([1, 5])
    write_triplets(tmp_path / "sim.tsv", items, odd, np.array(["s01", "s02"]))
    read = read_choices(tmp_path / "sim.tsv", "triplets", SIMULATED_FORMAT, ItemMap(N, 1))
    np.testing.assert_array_equal(read.items, items)
    np.testing.assert_array_equal(read.choice, odd)


def _config(tmp_path, dataset):
    return {"seed": 0, "results_dir": str(tmp_path / "results"),
            "stimuli": {"words": {"kind": "words", "items": ["a", "b", "c", "d"]}},
            "models": {"m": {"source": "random", "input": "text", "layers": ["features"], "n_units": 3}},
            "datasets": {"judged": {"modality": "behaviour", "stimuli": "words", **dataset}}}


def test_config_states_conventions(tmp_path, monkeypatch, shared_data):
    monkeypatch.chdir(tmp_path)
    schema = __import__("pathlib").Path(__file__).resolve().parents[1] / "config" / "schema.yaml"
    path = _write(tmp_path, "0 1 2\n")
    ok = validate_config(_config(tmp_path, {"kind": "triplets", "judgements": {"file": str(path), "preset": "things"}}),
                         schema)
    assert ok["datasets"]["judged"]["kind"] == "triplets"
    with pytest.raises(ConfigError, match=r"missing required key 'datasets.judged.judgements.item_base'"):
        validate_config(_config(tmp_path, {"kind": "triplets", "judgements": {"file": str(path), "choice": "third"}}),
                        schema)
    with pytest.raises(ConfigError, match=r"'datasets.judged.judgements.choice' is 'third', which two_afc"):
        validate_config(_config(tmp_path, {"kind": "two_afc", "judgements": {"file": str(path), "item_base": 0,
                                                                              "choice": "third"}}), schema)
    with pytest.raises(ConfigError, match=r"missing required key 'datasets.judged.kind'"):
        validate_config(_config(tmp_path, {"judgements": {"file": str(path)}}), schema)
    with pytest.raises(ConfigError, match=r"'datasets.judged.simulate_behaviour.layer' is 'nope'"):
        validate_config(_config(tmp_path, {"kind": "triplets", "simulate_behaviour": {"model": "m", "layer": "nope"}}),
                        schema)
