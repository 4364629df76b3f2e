"""The public surface: version and __all__."""

import importlib
import re
import subprocess
import sys

import pytest

import artmedium
from conftest import REPO_ROOT


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


def _import_graph():
    """Module -> the artmedium modules it imports (at any depth in its code)."""
    import ast

    src = REPO_ROOT / "src"
    modules = {}
    for path in sorted((src / "artmedium").rglob("*.py")):
        name = ".".join(path.relative_to(src).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def test_no_import_cycles_in_src():
    """#13: the layers import one way; no module reaches back, even lazily."""
    graph = _import_graph()
    done, path = set(), []

    def visit(node):
        if node in path:
            cycle = path[path.index(node) :] + [node]
            raise AssertionError(" -> ".join(cycle))
        if node in done:
            return
        path.append(node)
        for target in sorted(graph[node]):
            # A package's __init__ importing its own submodules is not a cycle.
            if not target.startswith(node + "."):
                visit(target)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_no_package_imports_another_packages_private_modules():
    """Shared helpers live in root-level private modules (artmedium._x)."""
    bad = []
    for module, targets in _import_graph().items():
        package = (module.split(".") + [""])[1]
        for target in targets:
            parts = target.split(".")
            private = any(
                p.startswith("_") and not p.startswith("__") for p in parts[2:]
            )
            if private and parts[1] != package:
                bad.append(f"{module} imports {target}")
    assert not bad, bad


def test_readme_figures_of_the_embedded_tagger_equal_its_card():
    """The README quotes the tagger's held-out figures; they must be the card's."""
    from artmedium.persistence import default_tagger_dir, model_info

    folder = default_tagger_dir()
    if not (folder / "model.json").is_file():
        pytest.skip("embedded tagger not trained yet")
    results = model_info(folder)["metadata"].get("cross_validation") or []
    by = {r["protocol"]: r for r in results if "protocol" in r}
    if not by:
        pytest.skip("the embedded tagger's card has no cross-validation yet")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    for protocol, key in [
        ("random", "exact_match"),
        ("artist", "exact_match"),
        ("random", "poster_exact_match"),
        ("random", "poster_classifier_accuracy"),
    ]:
        figure = f"{by[protocol][key]:.3f} ± {by[protocol][key + '_sd']:.3f}"
        assert figure in card, (protocol, key, figure)
        assert figure in readme, (protocol, key, figure)


def test_readme_card_and_info_agree_on_the_default_models_figures():
    """``artmedium info``, the model card and the README quote the default
    model's cross-validated figures alike (they once said .811, 81.2 % and .812)."""
    from artmedium.cli._info import default_model_line
    from artmedium.persistence import default_model_dir, default_model_summary

    summary = default_model_summary()
    if summary is None:
        pytest.skip("no embedded default model")
    line = default_model_line(summary)
    card = (default_model_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for key in ("accuracy", "balanced_accuracy", "artist_accuracy"):
        figure = f"{100 * summary[key]:.1f} %"
        assert figure in line, (key, figure, line)
        assert figure in card, (key, figure)
        assert figure in readme, (key, figure)
