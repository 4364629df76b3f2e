"""benchmarks/reproduce_poster.py runs end to end on a small sample and resumes."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def poster(monkeypatch):
    """The reproduce_poster module, imported from benchmarks/ as a script would."""
    pytest.importorskip("matplotlib")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("reproduce_poster", "classifier_accuracy"):
        sys.modules.pop(name, None)
    return importlib.import_module("reproduce_poster")


def test_split_is_stratified_60_20_20_and_disjoint(poster):
    y = np.repeat(["a", "b", "c"], [50, 30, 20])
    train, val, test = poster.split_60_20_20(y)
    assert len(train) + len(val) + len(test) == len(y)
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    for part in (train, val, test):
        share = {c: np.mean(y[part] == c) for c in "abc"}
        assert share == pytest.approx({"a": 0.5, "b": 0.3, "c": 0.2}, abs=0.05)


def test_stratified_cap_keeps_proportions_and_a_minimum(poster):
    y = np.repeat(["big", "mid", "tiny"], [900, 95, 5])
    keep = poster.stratified_cap(y, 100, minimum=3)
    counts = {c: int(np.sum(y[keep] == c)) for c in ("big", "mid", "tiny")}
    assert counts == {"big": 90, "mid": 10, "tiny": 3}  # tiny: 0.5 raised to 3
    assert len(set(keep)) == len(keep)


def test_quick_run_writes_table_figures_and_resumes(poster, tate_dir, tmp_path, capsys):
    out, cache = tmp_path / "out", tmp_path / "cache"
    argv = [
        "--data",
        str(tate_dir),
        "--out",
        str(out),
        "--cache",
        str(cache),
        "--max-images",
        "40",
        "--max-epochs",
        "1",
        "--image-size",
        "32",
    ]
    assert poster.main(argv) == 0
    table = (out / "results.md").read_text()
    rows = [
        line
        for line in table.splitlines()
        if line.startswith("| ") and "|--" not in line
    ]
    numbers = [row.split("|")[1].strip() for row in rows[1:]]
    assert numbers == ["1", "2", "3", "4", "4", "5"]  # in experiment order
    for row, poster_value in zip(rows[1:], ["0.565", "0.743", "0.749", "0.477"]):
        assert poster_value in row
    records = json.loads((out / "results.json").read_text())["records"]
    names = [r["name"] for r in records]
    assert names == list(poster.EXPERIMENTS)[:3] + ["tags", "tags_valid", "best"]
    for rec in records:
        for part in ("train", "validation", "test"):
            for value in rec[part].values():
                assert 0.0 <= value <= 1.0
    for figure in (
        "per_class_accuracy.png",
        "per_tag_accuracy.png",
        "saliency.png",
        "confusion_matrix.png",
    ):
        assert (out / figure).stat().st_size > 10_000, figure
    for name in poster.EXPERIMENTS:
        assert (out / "experiments" / name / "record.json").is_file()
        assert (out / "experiments" / name / "model" / "model.json").is_file()

    # --resume loads every finished experiment instead of fitting it again.
    def refit(*args, **kwargs):
        raise AssertionError("--resume refitted a finished experiment")

    poster.run_classifier = poster.run_tagger = refit
    (out / "results.md").unlink()
    assert poster.main([*argv, "--resume"]) == 0
    assert (out / "results.md").read_text() == table

    # Resuming into a run made with other settings is refused, naming them.
    with pytest.raises(SystemExit):
        poster.main([*argv[:-1], "48", "--resume"])  # another image size
    assert "image_size" in capsys.readouterr().err
