"""The gallery's examples: sphinx-gallery's format, and the quick start runs.

Every example runs for real on the Tate sample when the docs are built
(``sphinx-build docs``, a step of ``.ci/run``), which takes minutes; the test suite
does not pay for them twice. Here each example is checked to be what sphinx-gallery
renders (a titled docstring, ``# %%`` cells, code that compiles), and the quick
start, seconds long, runs on the Tate sample when it is there.
"""

import ast
import runpy
from pathlib import Path

import pytest

from conftest import find_tate_dir

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("plot_*.py"))
GALLERY = Path(__file__).resolve().parents[1] / "docs" / "_gallery.py"


def test_there_are_the_gallerys_examples():
    assert len(EXAMPLES) >= 6
    assert (EXAMPLES_DIR / "GALLERY_HEADER.rst").is_file()


def test_the_gallery_lists_every_example_in_its_order():
    namespace = runpy.run_path(str(GALLERY))
    assert sorted(namespace["ORDER"]) == [path.name for path in EXAMPLES]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_in_sphinx_gallery_format(path):
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))  # it compiles
    docstring = ast.get_docstring(tree)
    assert docstring, "a gallery example starts with its docstring"
    title, underline = docstring.splitlines()[:2]
    assert title.strip() and set(underline) == {"="}, "a titled docstring"
    assert len(underline) >= len(title)
    assert source.count("\n# %%\n") >= 2, "text and code cells"
    # Real data: the Tate sample, else a small download; never a fake task.
    assert "ARTMEDIUM_TATE_DIR" in source and "fetch_tate" in source


@pytest.mark.tate
def test_quick_start_runs_on_the_tate_sample(monkeypatch, capsys):
    tate_dir = find_tate_dir()
    if tate_dir is None:
        pytest.skip("real Tate sample not found (see tests/conftest.py)")
    monkeypatch.setenv("ARTMEDIUM_TATE_DIR", str(tate_dir))
    monkeypatch.setenv("MPLBACKEND", "agg")
    import matplotlib.pyplot as plt

    try:
        runpy.run_path(str(EXAMPLES_DIR / "plot_quick_start.py"), run_name="__main__")
    finally:
        plt.close("all")
    out = capsys.readouterr().out
    assert "answer:" in out and "Tate:" in out
    assert any(status in out for status in ("ok", "uncertain", "unknown"))
