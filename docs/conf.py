"""Sphinx configuration for the artmedium documentation.

Build with the ``docs`` extra installed (``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

The gallery (``examples/plot_*.py``) runs for real on the Tate sample:
``$ARTMEDIUM_TATE_DIR``, else ``../shared/data/tate`` beside the repository, else
each example downloads a small sample with :func:`artmedium.datasets.fetch_tate`.
``-D plot_gallery=0`` skips running the examples; ``-D
sphinx_gallery_conf.filename_pattern=quick_start`` runs only the matching one.
"""

import os
import re
import sys
from pathlib import Path

import artmedium

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS))  # _gallery

# The gallery and the tests find the Tate sample the same way (tests/conftest.py).
_shared_tate = REPO.parent / "shared" / "data" / "tate"
if "ARTMEDIUM_TATE_DIR" not in os.environ and (_shared_tate / "images").is_dir():
    os.environ["ARTMEDIUM_TATE_DIR"] = str(_shared_tate)
# Headless, and no progress bars in the rendered output.
os.environ.setdefault("MPLBACKEND", "agg")

project = "artmedium"
author = "artmedium developers"
copyright = "artmedium developers (BSD-3-Clause)"
release = artmedium.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "**/sg_execution_times.rst"]
templates_path = ["_templates"]
default_role = "literal"
# Help text and commands are shown as typed: "--format", not an en dash.
smartquotes = False

# --- API reference -----------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"
# Methods are listed by the class template (_templates/autosummary/class.rst);
# numpydoc's own member tables would repeat them, and inherited scikit-learn
# methods carry scikit-learn's cross-references, which do not resolve here.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Validation (warnings, so errors under -W): the checks every public docstring
# passes: known section names (GL06) in numpydoc's order (GL07), no documented
# parameter the signature lacks (PR02), "name : type" spacing (PR10). Not PR01
# (every parameter documented): the fields of NamedTuples and dataclasses are
# described in prose; not RT02: named returns ("data : Bunch") are our style.
numpydoc_validation_checks = {"GL06", "GL07", "PR02", "PR10"}
numpydoc_validation_exclude = {
    r"\.__init__$",
    # scikit-learn's and skorch's inherited methods are theirs to document
    r"\.get_params$",
    r"\.set_params$",
    r"\.score$",
    r"\.set_.*_request$",
}

# --- Cross-references to Python, NumPy and scikit-learn ----------------------
# The builds (CI included) are offline: intersphinx reads the inventories
# committed in docs/_intersphinx/ and never fetches anything.
intersphinx_mapping = {
    name: (url, str(DOCS / "_intersphinx" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3",
        "numpy": "https://numpy.org/doc/stable",
        "sklearn": "https://scikit-learn.org/stable",
        "pandas": "https://pandas.pydata.org/docs",
        "torch": "https://docs.pytorch.org/docs/stable",
        "PIL": "https://pillow.readthedocs.io/en/stable",
        "joblib": "https://joblib.readthedocs.io/en/stable",
    }.items()
    if (DOCS / "_intersphinx" / f"{name}.inv").is_file()
}
intersphinx_timeout = 1

# --- Gallery -----------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(REPO / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "_gallery.ExampleOrder",
    "image_scrapers": ("_gallery.figure_scraper", "matplotlib"),
    "backreferences_dir": "generated",
    "doc_module": ("artmedium",),
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "min_reported_time": 1,
    "show_memory": False,
    "download_all_examples": False,
    "thumbnail_size": (400, 280),
}

# --- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"artmedium {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": {
        "auto_examples/*": ["page-toc", "sg_download_links"],
        "[!a]*": ["page-toc"],
        "api": ["page-toc"],
    },
}
html_sidebars = {"index": [], "install": []}
html_show_sourcelink = False


# --- CLI reference -------------------------------------------------------------
# sphinx-click parses click's help text as reStructuredText, but it is plain text:
# "scans/**/*.jpg" would start emphasis and "\\n" would lose its backslash. Escape
# the markup characters so the page shows exactly what --help prints.
_RST_SPECIAL = re.compile(r"([\\*`|])")
_TRAILING_UNDERSCORE = re.compile(r"(\w)_(?=\W|$)")


def _escape_help(text):
    return _TRAILING_UNDERSCORE.sub(r"\1\\_", _RST_SPECIAL.sub(r"\\\1", text))


def _escape_click_lines(app, ctx, lines):
    for i, line in enumerate(lines):
        text = line.lstrip()
        # What sphinx-click itself writes is markup already.
        if text.startswith((".. ", ":default:", ":options:")):
            continue
        head = line[: len(line) - len(text)]
        for markup in ("| ", "**Required** "):
            if text.startswith(markup):
                head, text = head + markup, text[len(markup) :]
        lines[i] = head + _escape_help(text)


def setup(app):
    for event in ("description", "epilog", "options", "arguments"):
        app.connect(f"sphinx-click-process-{event}", _escape_click_lines)
