"""The public surface: version and __all__."""

import importlib
import re
import subprocess
import sys

import pytest

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


def _fresh_python(code):
    """Run ``code`` in a new interpreter (a clean sys.modules); return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_and_cli_help_do_not_load_torch_or_sklearn():
    # `artmedium --help` / `--version` must answer without the heavy stack.
    code = (
        "import sys, artmedium, artmedium.cli\n"
        "from click.testing import CliRunner\n"
        "for args in (['--help'], ['--version'], ['predict', '--help']):\n"
        "    r = CliRunner().invoke(artmedium.cli.main, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'torchvision', 'sklearn', 'skorch', "
        "'matplotlib') if m in sys.modules]\n"
        "print(heavy)"
    )
    assert _fresh_python(code) == "[]"


def test_public_names_and_subpackages_load_on_first_use():
    code = (
        "import sys, artmedium\n"
        "assert set(artmedium.__all__) <= set(dir(artmedium))\n"
        "assert 'io' in dir(artmedium)\n"
        "from artmedium import MediumClassifier\n"
        "from artmedium.estimators import MediumClassifier as M\n"
        "assert MediumClassifier is M and 'torch' in sys.modules\n"
        "print(artmedium.io.read_image is artmedium.read_image)"
    )
    assert _fresh_python(code) == "True"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        artmedium.no_such_thing
    with pytest.raises(ImportError):
        from artmedium import no_such_thing  # noqa: F401
