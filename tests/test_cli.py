"""The click entry point: exit codes, --version and info."""

import subprocess
import sys

from click.testing import CliRunner

import artmedium
from artmedium.cli import environment_info, main


def test_version_option_prints_package_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert artmedium.__version__ in result.output


def test_info_lists_stack_versions_threads_and_gpu():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    for key in (
        "artmedium",
        "torch",
        "torchvision",
        "scikit-learn",
        "skorch",
        "Pillow",
    ):
        assert any(line.split()[0] == key for line in result.output.splitlines()), key
    assert "torch threads" in result.output
    assert "gpu" in result.output
    import torch

    assert environment_info()["torch threads"] == str(torch.get_num_threads())


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2


def test_console_script_runs_as_module():
    # The installed entry point and `python -m artmedium.cli` are the same group.
    proc = subprocess.run(
        [sys.executable, "-m", "artmedium.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert artmedium.__version__ in proc.stdout


def test_info_says_when_the_default_model_is_not_installed(tmp_path, monkeypatch):
    import artmedium.pretrained

    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path / "none")
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if s.startswith("default model"))
    assert line.split(None, 2)[2] == "not installed"


def test_info_summarises_the_default_model_card(tmp_path, monkeypatch):
    import numpy as np

    import artmedium.pretrained
    from artmedium import MediumClassifier
    from artmedium.persistence import save_model

    X = np.r_[np.zeros((4, 2)), np.ones((4, 2))]
    y = ["Etching on paper"] * 4 + ["Oil paint on canvas"] * 4
    clf = MediumClassifier(max_epochs=1, random_state=0).fit(X, y)
    metrics = {
        "random": {"accuracy": 0.8123, "balanced_accuracy": 0.7},
        "artist": {"accuracy": 0.61},
    }
    path = save_model(
        clf, tmp_path / "m", metadata={"name": "tate10", "metrics": metrics}
    )
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", path)
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    line = next(s for s in result.output.splitlines() if s.startswith("default model"))
    for text in (
        "tate10",
        "2 classes",
        "held-out accuracy 0.812",
        "balanced accuracy 0.700",
        "unseen-artist accuracy 0.610",
    ):
        assert text in line
    assert "Etching on paper; Oil paint on canvas" in result.output
