"""The public surface: version and __all__."""

import importlib
import re

import artmedium


def test_version_is_pep440():
    assert re.fullmatch(
        r"\d+\.\d+\.\d+(\.dev\d+|rc\d+|a\d+|b\d+)?", artmedium.__version__
    )


def test_all_names_exist():
    for name in artmedium.__all__:
        assert hasattr(artmedium, name), name


def test_subpackages_import():
    for sub in ("io", "datasets", "nets", "estimators", "explain", "cli"):
        importlib.import_module(f"artmedium.{sub}")
