"""The click entry point: exit codes, --version and info."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import artmedium
from artmedium.cli import main
from artmedium.cli._info import environment_info


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
        "held-out accuracy 81.2 %",
        "balanced accuracy 70.0 %",
        "unseen-artist accuracy 61.0 %",
    ):
        assert text in line
    assert "Etching on paper; Oil paint on canvas" in result.output
    assert "answers: not calibrated" in result.output


def test_info_says_what_a_calibrated_default_models_statuses_mean(
    tmp_path, monkeypatch
):
    import numpy as np

    import artmedium.pretrained
    from artmedium import MediumClassifier
    from artmedium.persistence import save_model

    X = np.r_[np.zeros((10, 2)), np.ones((10, 2))]
    y = ["Etching on paper"] * 10 + ["Oil paint on canvas"] * 10
    clf = MediumClassifier(max_epochs=1, calibration_size=0.4, random_state=0)
    path = save_model(clf.fit(X, y), tmp_path / "m", metadata={"name": "tate10"})
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", path)
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert "answers: calibrated on 8 held-out images" in result.output
    assert "unknown: not one of these media, or not an artwork" in result.output


@pytest.mark.parametrize(
    "sidecar",
    [b"\xff\xfe not json", b'{"format": "artmedium-model", "format_version": 99}'],
    ids=["not JSON", "unknown version"],
)
def test_info_survives_an_unreadable_default_model(tmp_path, monkeypatch, sidecar):
    # Issue #13: the summary was read twice, the second time unguarded.
    import artmedium.pretrained
    from artmedium.persistence import SIDECAR

    (tmp_path / SIDECAR).write_bytes(sidecar)
    monkeypatch.setattr(artmedium.pretrained, "DEFAULT_MODEL_DIR", tmp_path)
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0, result.output
    assert result.exception is None
    line = next(s for s in result.output.splitlines() if s.startswith("default model"))
    assert line.split(None, 2)[2].startswith(f"unreadable ({tmp_path / SIDECAR}")
    assert "classes:" not in result.output


def test_info_reads_the_default_model_once(tmp_path, monkeypatch):
    import artmedium.persistence

    calls = []

    def summary():
        calls.append(1)
        return None

    monkeypatch.setattr(artmedium.persistence, "default_model_summary", summary)
    assert CliRunner().invoke(main, ["info"]).exit_code == 0
    assert calls == [1]


def test_each_command_lives_in_its_own_module():
    from artmedium.cli import COMMANDS

    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name, target in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
        assert command.callback.__module__ == target.split(":")[0]


def test_version_loads_no_command_module():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from artmedium.cli import main\n"
        "assert CliRunner().invoke(main, ['--version']).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('artmedium.cli.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_cli_exports_its_entry_point_only():
    # The inference helpers were re-exported here before their first release;
    # they live in artmedium.inference only.
    import artmedium.cli

    assert artmedium.cli.__all__ == ["main"]
    for name in ("collect_inputs", "IMAGE_EXTENSIONS", "BatchPredictor"):
        assert not hasattr(artmedium.cli, name)
